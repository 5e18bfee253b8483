/* The prefixed-name view of a disk (core/disk_prefix.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"
#include "disk_prefix.h"

static void collect(void *arg, const char *name)
{
	char *acc = arg;

	strcat(acc, name);
	strcat(acc, ";");
}

Test(disk_prefix, names_carry_the_prefix_and_list_shows_only_the_view)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	add_disk_prefix p;
	const add_disk *v = &p.ops;
	char all[256] = "", mine[256] = "";
	uint8_t out[4] = { 0 };

	cr_assert(add_disk_prefix_init(&p, d, "sb."));
	int h = v->open(v->ctx, "tmp", true);

	cr_assert_geq(h, 0);
	cr_assert_eq(v->pwrite(v->ctx, h, "abc", 3, 0), 3);
	cr_assert_eq(v->sync(v->ctx, h), 0);
	cr_assert_eq(v->close(v->ctx, h), 0);
	cr_assert_eq(add_sim_disk_file_size(sd, "sb.tmp"), 3, "the real name has the prefix");
	cr_assert_eq(add_sim_disk_file_size(sd, "tmp"), -ENOENT);
	int other = d->open(d->ctx, "tmp", true); /* someone else's "tmp" */

	cr_assert_geq(other, 0);
	d->close(d->ctx, other);
	cr_assert_eq(v->rename(v->ctx, "tmp", "v1"), 0);
	cr_assert_eq(v->sync_dir(v->ctx), 0);
	cr_assert_eq(add_sim_disk_peek(sd, "sb.v1", out, 3, 0), 3);
	cr_assert_arr_eq(out, "abc", 3);
	d->list(d->ctx, collect, all);
	v->list(v->ctx, collect, mine);
	cr_assert(strstr(all, "sb.v1;") && strstr(all, "tmp;"), "%s", all);
	cr_assert_str_eq(mine, "v1;", "the view sees its own files, without the prefix");
	cr_assert_eq(v->unlink(v->ctx, "tmp"), -ENOENT, "not the other's tmp");
	cr_assert_eq(v->unlink(v->ctx, "v1"), 0);
	cr_assert_eq(add_sim_disk_file_size(sd, "tmp"), 0, "the other's file is untouched");
	add_sim_disk_destroy(sd);
}

Test(disk_prefix, bad_prefixes_and_names_are_refused)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	add_disk_prefix p;
	char longname[300];

	cr_assert_not(add_disk_prefix_init(&p, d, ""));
	cr_assert_not(add_disk_prefix_init(&p, d, "a/b"));
	cr_assert_not(add_disk_prefix_init(&p, d, "0123456789abcdefg"));
	cr_assert_not(add_disk_prefix_init(&p, NULL, "x."));
	cr_assert(add_disk_prefix_init(&p, d, "x."));
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(p.ops.open(p.ops.ctx, longname, true), -ENAMETOOLONG);
	cr_assert_eq(p.ops.open(p.ops.ctx, "", true), -EINVAL);
	cr_assert_eq(add_sim_disk_file_count(sd), 0, "nothing created");
	add_sim_disk_destroy(sd);
}
