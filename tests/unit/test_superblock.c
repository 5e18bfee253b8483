/* The superblock (core/superblock.h) on the simulated disk and on real files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runtime-real/posix_disk.h"
#include "../../runtime-sim/sim_disk.h"
#include "crc32c.h"
#include "disk_prefix.h"
#include "kv_store.h"
#include "superblock.h"

static add_superblock sb_make(uint64_t n_sectors, uint64_t incarnation)
{
	add_superblock sb;

	memset(&sb, 0, sizeof(sb));
	sb.format_version = ADD_SUPERBLOCK_FORMAT;
	sb.rank = 3;
	sb.n_sectors = n_sectors;
	for (int i = 0; i < ADD_CLUSTER_ID_SIZE; i++)
		sb.cluster_id[i] = (uint8_t)(0xc0 + i);
	sb.incarnation = incarnation;
	sb.ts_floor = n_sectors * 7;
	return sb;
}

static bool sb_eq(const add_superblock *a, const add_superblock *b)
{
	return a->format_version == b->format_version && a->rank == b->rank &&
	       a->n_sectors == b->n_sectors &&
	       memcmp(a->cluster_id, b->cluster_id, ADD_CLUSTER_ID_SIZE) == 0 &&
	       a->incarnation == b->incarnation && a->ts_floor == b->ts_floor;
}

static void sb_write_ok(const add_disk *d, const add_superblock *sb)
{
	char err[256] = "";

	cr_assert_eq(add_superblock_write(d, sb, err, sizeof(err)), 0, "%s", err);
}

static void expect_sb(const add_disk *d, const add_superblock *want)
{
	char err[256] = "";
	add_superblock got;

	cr_assert_eq(add_superblock_read(d, &got, err, sizeof(err)), 0, "%s", err);
	cr_assert(sb_eq(&got, want), "read back what was written");
}

static int read_rc(const add_disk *d, char *err, size_t err_len)
{
	add_superblock got;

	return add_superblock_read(d, &got, err, err_len);
}

/* The value layout of superblock.c, for values it would never write. */
static void raw_value(uint8_t b[60], uint32_t version, uint32_t format, bool good_crc)
{
	add_superblock sb = sb_make(100, 1);

	memset(b, 0, 60);
	memcpy(b, "ADSB", 4);
	b[4] = (uint8_t)version;
	b[8] = (uint8_t)format;
	b[12] = sb.rank;
	b[16] = 100;
	uint32_t crc = add_crc32c(0, b, 56) ^ (good_crc ? 0u : 1u);

	for (int i = 0; i < 4; i++)
		b[56 + i] = (uint8_t)(crc >> (8 * i));
}

/* Puts a raw value under the superblock's key, as superblock.c keeps it. */
static void put_raw(const add_disk *d, const void *v, size_t len)
{
	add_disk_prefix view;
	char err[128] = "";

	cr_assert(add_disk_prefix_init(&view, d, "sb."));
	add_kv *kv = add_kv_open(&view.ops, err, sizeof(err));

	cr_assert_not_null(kv, "%s", err);
	cr_assert_eq(add_kv_put(kv, "superblock", 10, v, len), 0);
	add_kv_close(kv);
}

static void find_sb_file(void *arg, const char *name)
{
	char *out = arg;

	if (strncmp(name, "sb.v", 4) == 0)
		snprintf(out, 96, "%s", name);
}

Test(superblock, a_written_superblock_reads_back_and_a_rewrite_replaces_it)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	add_superblock a = sb_make(1u << 20, 11), b = sb_make(1u << 21, 12);

	sb_write_ok(d, &a);
	expect_sb(d, &a);
	sb_write_ok(d, &b);
	expect_sb(d, &b);
	add_sim_disk_crash_mode(sd, ADD_SIM_CRASH_LOSE);
	expect_sb(d, &b); /* durable when write returned */
	add_sim_disk_destroy(sd);
}

Test(superblock, a_directory_without_one_reads_enoent)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	char err[256] = "";

	cr_assert_eq(read_rc(add_sim_disk_ops(sd), err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "superblock"), "%s", err);
	add_sim_disk_destroy(sd);
}

Test(superblock, damage_at_rest_reads_ebadmsg)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	add_superblock a = sb_make(4096, 1);
	char file[96] = "", err[256] = "";

	sb_write_ok(d, &a);
	d->list(d->ctx, find_sb_file, file);
	cr_assert(file[0], "the superblock's kv file");
	int64_t size = add_sim_disk_file_size(sd, file);

	cr_assert_gt(size, 60);
	for (int64_t off = 0; off < size; off += 7) {
		cr_assert_eq(add_sim_disk_flip_bit(sd, file, (uint64_t)off, (unsigned)off % 8), 0);
		cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "flip at %lld", (long long)off);
		cr_assert(strstr(err, "corrupt"), "%s", err);
		cr_assert_eq(add_sim_disk_flip_bit(sd, file, (uint64_t)off, (unsigned)off % 8), 0);
	}
	expect_sb(d, &a);
	add_sim_disk_destroy(sd);
}

Test(superblock, a_value_failing_its_own_checksum_reads_ebadmsg)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	uint8_t v[60];
	char err[256] = "";

	raw_value(v, 1, ADD_SUPERBLOCK_FORMAT, true);
	put_raw(d, v, sizeof(v));
	cr_assert_eq(read_rc(d, err, sizeof(err)), 0, "the test's layout is the real one: %s",
		     err);
	raw_value(v, 1, ADD_SUPERBLOCK_FORMAT, false);
	put_raw(d, v, sizeof(v));
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG);
	cr_assert(strstr(err, "checksum"), "%s", err);
	put_raw(d, v, 59);
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "short");
	put_raw(d, "hello", 5);
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "no magic");
	static uint8_t big[1000];

	memcpy(big, v, sizeof(v));
	put_raw(d, big, sizeof(big));
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "too long");
	add_sim_disk_destroy(sd);
}

Test(superblock, unknown_versions_are_refused_with_ebadmsg)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	uint8_t v[60];
	char err[256] = "";

	raw_value(v, 1, ADD_SUPERBLOCK_FORMAT + 1, true);
	put_raw(d, v, sizeof(v));
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "a newer store layout");
	cr_assert(strstr(err, "format 3 unknown"), "%s", err);
	raw_value(v, 1, 0, true);
	put_raw(d, v, sizeof(v));
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "format 0");
	raw_value(v, 2, ADD_SUPERBLOCK_FORMAT, true);
	put_raw(d, v, sizeof(v));
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG, "a newer record");
	cr_assert(strstr(err, "record version 2 unknown"), "%s", err);
	raw_value(v, 1, 1, true);
	put_raw(d, v, sizeof(v));
	cr_assert_eq(read_rc(d, err, sizeof(err)), 0, "an older store layout is the caller's call");
	/* And it never writes what it could not read. */
	add_superblock bad = sb_make(1, 1);

	bad.format_version = ADD_SUPERBLOCK_FORMAT + 1;
	cr_assert_eq(add_superblock_write(d, &bad, err, sizeof(err)), -EINVAL);
	bad.format_version = 0;
	cr_assert_eq(add_superblock_write(d, &bad, err, sizeof(err)), -EINVAL);
	add_sim_disk_destroy(sd);
}

Test(superblock, an_unreadable_or_full_disk_is_an_error_naming_the_operation)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	add_superblock a = sb_make(64, 1), b = sb_make(128, 2);
	char file[96] = "", err[256] = "";

	sb_write_ok(d, &a);
	d->list(d->ctx, find_sb_file, file);
	cr_assert_eq(add_sim_disk_inject_read_error(sd, file, 0, 16), 0);
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EIO);
	cr_assert(strstr(err, "read") && strstr(err, "EIO"), "%s", err);
	/* A rewrite makes a new file: readable again. */
	sb_write_ok(d, &a);
	expect_sb(d, &a);
	add_sim_disk_set_capacity(sd, add_sim_disk_bytes_used(sd));
	cr_assert_eq(add_superblock_write(d, &b, err, sizeof(err)), -ENOSPC);
	cr_assert(strstr(err, "write") && strstr(err, "ENOSPC"), "%s", err);
	expect_sb(d, &a); /* the old one stays */
	add_sim_disk_set_capacity(sd, 0);
	sb_write_ok(d, &b);
	expect_sb(d, &b);
	add_sim_disk_fail_next_flush(sd);
	cr_assert_eq(add_superblock_write(d, &a, err, sizeof(err)), -EIO);
	cr_assert(strstr(err, "write"), "%s", err);
	add_sim_disk_crash_mode(sd, ADD_SIM_CRASH_RANDOM);
	expect_sb(d, &b);
	add_sim_disk_destroy(sd);
}

static void check_owned(void *arg, const char *name)
{
	int *n = arg;

	cr_assert(add_superblock_owns_file(name), "%s belongs to the superblock", name);
	(*n)++;
}

Test(superblock, it_owns_exactly_its_kv_files_and_leaves_the_others_alone)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);
	add_superblock a = sb_make(64, 1);
	int n = 0;

	sb_write_ok(d, &a);
	d->list(d->ctx, check_owned, &n);
	cr_assert_eq(n, 1, "one file when at rest");
	const char *others[] = { "data", "meta", "journal-a", "tmp", "txn", "sb.", "", "vsb." };

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		cr_assert_not(add_superblock_owns_file(others[i]), "%s", others[i]);
	cr_assert(add_superblock_owns_file("sb.tmp"));
	cr_assert(add_superblock_owns_file("sb.txn.tmp"));
	/* A "tmp" of someone else survives the kv store's recovery. */
	int h = d->open(d->ctx, "tmp", true);

	cr_assert_geq(h, 0);
	cr_assert_eq(d->pwrite(d->ctx, h, "x", 1, 0), 1);
	d->close(d->ctx, h);
	expect_sb(d, &a);
	sb_write_ok(d, &a);
	cr_assert_eq(add_sim_disk_file_size(sd, "tmp"), 1);
	add_sim_disk_destroy(sd);
}

/* ---- crash at every operation of a write ---- */

static uint64_t ops_of_write(const add_superblock *a, const add_superblock *b)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	const add_disk *d = add_sim_disk_ops(sd);

	if (a)
		sb_write_ok(d, a);
	uint64_t before = add_sim_disk_op_count(sd);

	sb_write_ok(d, b);
	uint64_t n = add_sim_disk_op_count(sd) - before;

	add_sim_disk_destroy(sd);
	return n;
}

static void crash_every_op(add_sim_crash_mode mode, bool first)
{
	add_superblock a = sb_make(1000, 1), b = sb_make(2000, 2);
	uint64_t total = ops_of_write(first ? NULL : &a, &b);
	int saw_old = 0, saw_new = 0;

	cr_assert_gt(total, 3);
	for (uint64_t k = 0; k <= total; k++) {
		for (uint64_t seed = 1; seed <= (mode == ADD_SIM_CRASH_RANDOM ? 8 : 1); seed++) {
			add_sim_disk *sd = add_sim_disk_create(k * 7919 + seed);
			const add_disk *d = add_sim_disk_ops(sd);
			char err[256] = "";
			add_superblock got;

			if (!first)
				sb_write_ok(d, &a);
			add_sim_disk_set_crash_after(sd, add_sim_disk_op_count(sd) + k);
			sb_write_ok(d, &b);
			add_sim_disk_crash_mode(sd, mode);
			int rc = add_superblock_read(d, &got, err, sizeof(err));

			if (first && rc == -ENOENT) {
				saw_old++;
			} else {
				cr_assert_eq(rc, 0, "crash after op %llu of %llu: %s",
					     (unsigned long long)k, (unsigned long long)total, err);
				bool is_new = sb_eq(&got, &b);

				cr_assert(is_new || (!first && sb_eq(&got, &a)),
					  "old or new, never neither (op %llu)", (unsigned long long)k);
				saw_new += is_new;
				saw_old += !is_new;
			}
			if (k == total)
				cr_assert_eq(rc, 0, "every op done: durable");
			if (k == total)
				cr_assert(sb_eq(&got, &b));
			/* And the next write after the recovery works. */
			sb_write_ok(d, &a);
			expect_sb(d, &a);
			add_sim_disk_destroy(sd);
		}
	}
	cr_assert_gt(saw_old, 0);
	cr_assert_gt(saw_new, 0);
	printf("superblock crash test (mode %d, %s write): %llu crash points, %d old, %d new\n",
	       (int)mode, first ? "first" : "re-", (unsigned long long)total + 1, saw_old,
	       saw_new);
}

Test(superblock_crash, a_crash_at_any_op_of_a_rewrite_leaves_old_or_new)
{
	crash_every_op(ADD_SIM_CRASH_LOSE, false);
	crash_every_op(ADD_SIM_CRASH_KEEP, false);
	crash_every_op(ADD_SIM_CRASH_TEAR, false);
	crash_every_op(ADD_SIM_CRASH_GARBAGE, false);
	crash_every_op(ADD_SIM_CRASH_RANDOM, false);
}

Test(superblock_crash, a_crash_at_any_op_of_the_first_write_leaves_none_or_it)
{
	crash_every_op(ADD_SIM_CRASH_LOSE, true);
	crash_every_op(ADD_SIM_CRASH_KEEP, true);
	crash_every_op(ADD_SIM_CRASH_GARBAGE, true);
	crash_every_op(ADD_SIM_CRASH_RANDOM, true);
}

/* ---- real files ---- */

static void remove_cb(void *arg, const char *name)
{
	const add_disk *d = arg;

	d->unlink(d->ctx, name);
}

Test(superblock_posix, round_trip_missing_and_corrupt_on_real_files)
{
	char dir[64] = "/tmp/add-sb-XXXXXX", err[256] = "", file[96] = "", path[192];
	add_superblock a = sb_make(1u << 16, 5), b = sb_make(1u << 17, 6);

	cr_assert_not_null(mkdtemp(dir));
	add_posix_disk *pd = add_posix_disk_open(dir, err, sizeof(err));

	cr_assert_not_null(pd, "%s", err);
	const add_disk *d = add_posix_disk_ops(pd);

	cr_assert_eq(read_rc(d, err, sizeof(err)), -ENOENT, "%s", err);
	sb_write_ok(d, &a);
	expect_sb(d, &a);
	sb_write_ok(d, &b);
	expect_sb(d, &b);
	d->list(d->ctx, find_sb_file, file);
	cr_assert(file[0]);
	/* Rot one byte of the value behind the disk's back. */
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDWR);
	uint8_t byte;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &byte, 1, 40), 1);
	byte ^= 0x10;
	cr_assert_eq(pwrite(fd, &byte, 1, 40), 1);
	close(fd);
	cr_assert_eq(read_rc(d, err, sizeof(err)), -EBADMSG);
	cr_assert(strstr(err, "corrupt"), "%s", err);
	sb_write_ok(d, &a); /* a rewrite heals it */
	expect_sb(d, &a);
	d->list(d->ctx, remove_cb, (void *)(uintptr_t)d);
	add_posix_disk_close(pd);
	cr_assert_eq(rmdir(dir), 0, "only the superblock's files were there");
}

Test(superblock, null_arguments_are_einval)
{
	add_sim_disk *sd = add_sim_disk_create(1);
	add_superblock sb = sb_make(1, 1);
	char err[128] = "";

	cr_assert_eq(add_superblock_read(NULL, &sb, err, sizeof(err)), -EINVAL);
	cr_assert_eq(add_superblock_read(add_sim_disk_ops(sd), NULL, err, sizeof(err)), -EINVAL);
	cr_assert_eq(add_superblock_write(NULL, &sb, err, sizeof(err)), -EINVAL);
	cr_assert_eq(add_superblock_write(add_sim_disk_ops(sd), NULL, err, sizeof(err)), -EINVAL);
	cr_assert_eq(add_sim_disk_file_count(sd), 0, "nothing written");
	add_sim_disk_destroy(sd);
}
