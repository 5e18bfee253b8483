/* The key-value store on real files (the POSIX disk in a temporary dir). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runtime-real/posix_disk.h"
#include "kv_store.h"

static void remove_cb(void *arg, const char *name)
{
	const add_disk *d = add_posix_disk_ops(arg);

	d->unlink(d->ctx, name);
}

Test(kv_store_posix, puts_removes_and_a_commit_survive_a_reopen_on_real_files)
{
	char dir[64] = "/tmp/add-kv-XXXXXX", err[256] = "";
	uint8_t out[64];
	size_t n = 0;

	cr_assert_not_null(mkdtemp(dir));
	add_posix_disk *pd = add_posix_disk_open(dir, err, sizeof(err));

	cr_assert_not_null(pd, "%s", err);
	add_kv *kv = add_kv_open(add_posix_disk_ops(pd), err, sizeof(err));

	cr_assert_not_null(kv, "%s", err);
	cr_assert_eq(add_kv_put(kv, "a", 1, "alpha", 5), 0);
	cr_assert_eq(add_kv_put(kv, "b", 1, "beta", 4), 0);
	cr_assert_eq(add_kv_remove(kv, "a", 1), 1);
	cr_assert_eq(add_kv_remove(kv, "a", 1), 0);
	add_kv_op ops[] = {
		{ .key = "c", .key_len = 1, .value = "gamma", .value_len = 5 },
		{ .remove = true, .key = "b", .key_len = 1 },
	};

	cr_assert_eq(add_kv_commit(kv, ops, 2), 0);
	add_kv_close(kv);
	kv = add_kv_open(add_posix_disk_ops(pd), err, sizeof(err));
	cr_assert_not_null(kv, "%s", err);
	cr_assert_eq(add_kv_get(kv, "a", 1, out, sizeof(out), &n), -ENOENT);
	cr_assert_eq(add_kv_get(kv, "b", 1, out, sizeof(out), &n), -ENOENT);
	cr_assert_eq(add_kv_get(kv, "c", 1, out, sizeof(out), &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_arr_eq(out, "gamma", 5);
	add_kv_close(kv);
	add_posix_disk_ops(pd)->list(add_posix_disk_ops(pd)->ctx, remove_cb, pd);
	add_posix_disk_close(pd);
	cr_assert_eq(rmdir(dir), 0, "only the store's files were there");
}
