/* The simulated disk's model of durability, crashes and faults. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"

static const add_disk *D;

static int mkfile(add_sim_disk *d, const char *name)
{
	D = add_sim_disk_ops(d);
	int h = D->open(D->ctx, name, true);

	cr_assert_geq(h, 0);
	return h;
}

static void put(int h, const void *buf, size_t len, uint64_t off)
{
	cr_assert_eq(D->pwrite(D->ctx, h, buf, len, off), (int64_t)len);
}

static int64_t get(const char *name, void *buf, size_t len, uint64_t off)
{
	int h = D->open(D->ctx, name, false);

	if (h < 0)
		return h;
	int64_t n = D->pread(D->ctx, h, buf, len, off);

	D->close(D->ctx, h);
	return n;
}

static void done_cb(void *arg, int result)
{
	int *r = arg;

	*r = result;
}

Test(sim_disk, reads_see_written_data_and_holes_read_as_zeros)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	uint8_t out[8];

	put(h, "abc", 3, 10000);
	cr_assert_eq(D->size(D->ctx, h), 10003);
	cr_assert_eq(D->pread(D->ctx, h, out, 8, 9998), 5);
	cr_assert_arr_eq(out, "\0\0abc", 5);
	add_sim_disk_destroy(d);
}

Test(sim_disk, synced_data_and_a_synced_directory_survive_a_crash)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	char out[4] = "";

	put(h, "abc", 3, 0);
	cr_assert_eq(D->sync(D->ctx, h), 0);
	cr_assert_eq(D->sync_dir(D->ctx), 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("f", out, 3, 0), 3);
	cr_assert_str_eq(out, "abc");
	add_sim_disk_destroy(d);
}

Test(sim_disk, unsynced_writes_are_lost_or_kept_as_the_crash_mode_says)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	char out[4] = "";

	D->sync_dir(D->ctx);
	put(h, "old", 3, 0);
	D->sync(D->ctx, h);
	put(h, "new", 3, 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_KEEP);
	cr_assert_eq(get("f", out, 3, 0), 3);
	cr_assert_str_eq(out, "new");
	h = D->open(D->ctx, "f", false);
	put(h, "xyz", 3, 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("f", out, 3, 0), 3);
	cr_assert_str_eq(out, "new", "'new' was made durable by the crash that kept it");
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_torn_write_keeps_a_prefix_cut_at_a_512_byte_boundary)
{
	for (uint64_t seed = 1; seed <= 20; seed++) {
		add_sim_disk *d = add_sim_disk_create(seed);
		int h = mkfile(d, "f");
		uint8_t buf[8192], out[8192];

		D->sync_dir(D->ctx);
		memset(buf, 0xaa, sizeof(buf));
		put(h, buf, sizeof(buf), 0);
		D->sync(D->ctx, h);
		memset(buf, 0xbb, sizeof(buf));
		put(h, buf, sizeof(buf), 0);
		add_sim_disk_crash_mode(d, ADD_SIM_CRASH_TEAR);
		cr_assert_eq(get("f", out, sizeof(out), 0), 8192);
		size_t cut = 0;

		while (cut < sizeof(out) && out[cut] == 0xbb)
			cut++;
		cr_assert_eq(cut % 512, 0, "cut at %zu", cut);
		cr_assert(cut > 0 && cut < sizeof(out), "torn strictly inside the write");
		for (size_t i = cut; i < sizeof(out); i++)
			cr_assert_eq(out[i], 0xaa);
		add_sim_disk_destroy(d);
	}
}

Test(sim_disk, directory_operations_need_sync_dir_to_survive)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "a");
	char out[2] = "";

	put(h, "A", 1, 0);
	D->sync(D->ctx, h);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("a", out, 1, 0), -ENOENT, "creation was not durable");
	h = mkfile(d, "a");
	put(h, "A", 1, 0);
	D->sync(D->ctx, h);
	D->sync_dir(D->ctx);
	cr_assert_eq(D->rename(D->ctx, "a", "b"), 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("a", out, 1, 0), 1, "the rename was lost");
	cr_assert_eq(get("b", out, 1, 0), -ENOENT);
	cr_assert_eq(D->rename(D->ctx, "a", "b"), 0);
	cr_assert_eq(D->sync_dir(D->ctx), 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("b", out, 1, 0), 1);
	cr_assert_str_eq(out, "A");
	add_sim_disk_destroy(d);
}

Test(sim_disk, sync_async_completes_only_when_the_owner_delivers_it)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	int r = 1;
	char out[2] = "";

	D->sync_dir(D->ctx);
	put(h, "x", 1, 0);
	cr_assert_eq(D->sync_async(D->ctx, h, done_cb, &r), 0);
	cr_assert_eq(r, 1);
	cr_assert_eq(add_sim_disk_pending_flushes(d), 1);
	cr_assert_eq(add_sim_disk_complete_flushes(d), 1);
	cr_assert_eq(r, 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("f", out, 1, 0), 1);
	cr_assert_str_eq(out, "x");
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_crash_drops_pending_completions_and_their_data)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	int r = 1;
	char out[2] = "";

	D->sync_dir(D->ctx);
	put(h, "x", 1, 0);
	D->sync_async(D->ctx, h, done_cb, &r);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(add_sim_disk_pending_flushes(d), 0);
	cr_assert_eq(add_sim_disk_complete_flushes(d), 0);
	cr_assert_eq(r, 1, "never delivered");
	cr_assert_eq(get("f", out, 1, 0), 0);
	add_sim_disk_destroy(d);
}

Test(sim_disk, fail_next_flush_reports_eio_and_makes_nothing_durable)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	int r = 1;
	char out[2] = "";

	D->sync_dir(D->ctx);
	put(h, "x", 1, 0);
	add_sim_disk_fail_next_flush(d);
	cr_assert_eq(D->sync(D->ctx, h), -EIO);
	add_sim_disk_fail_next_flush(d);
	D->sync_async(D->ctx, h, done_cb, &r);
	add_sim_disk_complete_flushes(d);
	cr_assert_eq(r, -EIO);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("f", out, 1, 0), 0);
	add_sim_disk_destroy(d);
}

Test(sim_disk, operations_after_the_crash_point_never_become_durable)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f"); /* op 1 */
	char out[2] = "";

	D->sync_dir(D->ctx);	  /* op 2 */
	put(h, "a", 1, 0);	  /* op 3 */
	D->sync(D->ctx, h);	  /* op 4 */
	cr_assert_eq(add_sim_disk_op_count(d), 4);
	add_sim_disk_set_crash_after(d, 5);
	put(h, "b", 1, 0); /* op 5: before the crash, unsynced */
	cr_assert_not(add_sim_disk_past_crash_point(d));
	D->sync(D->ctx, h); /* op 6: after the crash point: no effect */
	cr_assert(add_sim_disk_past_crash_point(d));
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("f", out, 1, 0), 1);
	cr_assert_str_eq(out, "a");
	add_sim_disk_destroy(d);
}

Test(sim_disk, the_same_seed_gives_the_same_crash)
{
	uint8_t out1[8192], out2[8192];

	for (int run = 0; run < 2; run++) {
		add_sim_disk *d = add_sim_disk_create(77);
		int h = mkfile(d, "f");
		uint8_t buf[8192];

		D->sync_dir(D->ctx);
		for (int i = 0; i < 8; i++) {
			memset(buf, i + 1, sizeof(buf));
			put(h, buf, sizeof(buf), 0);
		}
		add_sim_disk_crash(d);
		memset(run ? out2 : out1, 0, 8192);
		get("f", run ? out2 : out1, 8192, 0);
		add_sim_disk_destroy(d);
	}
	cr_assert_arr_eq(out1, out2, sizeof(out1));
}

Test(sim_disk, bytes_used_counts_only_the_pages_written)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");

	put(h, "x", 1, 1ull << 33); /* 8 GiB into the file */
	put(h, "y", 1, 0);
	cr_assert_eq(add_sim_disk_bytes_used(d), 2 * 4096);
	cr_assert_eq(D->truncate(D->ctx, h, 1), 0);
	cr_assert_eq(add_sim_disk_bytes_used(d), 4096);
	add_sim_disk_destroy(d);
}

Test(sim_disk, an_unflushed_truncate_is_undone_by_a_crash_that_loses_it)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	uint8_t buf[10000], out[10000];

	D->sync_dir(D->ctx);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	put(h, buf, sizeof(buf), 0);
	D->sync(D->ctx, h);
	cr_assert_eq(D->truncate(D->ctx, h, 100), 0);
	cr_assert_eq(D->size(D->ctx, h), 100);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(get("f", out, sizeof(out), 0), (int64_t)sizeof(out));
	cr_assert_arr_eq(out, buf, sizeof(buf));
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_handle_from_before_a_crash_is_dead_even_if_its_slot_is_reused)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int old = mkfile(d, "f");

	D->sync_dir(D->ctx);
	add_sim_disk_crash(d);
	int fresh = D->open(D->ctx, "f", false);

	cr_assert_geq(fresh, 0);
	cr_assert_neq(fresh, old);
	cr_assert_eq(D->pwrite(D->ctx, old, "x", 1, 0), -EBADF);
	cr_assert_eq(D->close(D->ctx, old), -EBADF);
	cr_assert_eq(D->pwrite(D->ctx, fresh, "y", 1, 0), 1);
	add_sim_disk_destroy(d);
}

/* ---- storage faults ---- */

static int popcount_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	int bits = 0;

	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount((unsigned)(a[i] ^ b[i]));
	return bits;
}

Test(sim_disk, a_read_error_fails_overlapping_preads_until_the_range_is_rewritten)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	uint8_t buf[12288], out[12288];

	memset(buf, 0x5a, sizeof(buf));
	put(h, buf, sizeof(buf), 0);
	D->sync(D->ctx, h);
	D->sync_dir(D->ctx);
	cr_assert_eq(add_sim_disk_inject_read_error(d, "nope", 0, 1), -ENOENT);
	cr_assert_eq(add_sim_disk_inject_read_error(d, "f", 12288, 1), -EINVAL, "past the end");
	cr_assert_eq(add_sim_disk_inject_read_error(d, "f", 12000, 4096), -EINVAL);
	cr_assert_eq(add_sim_disk_read_errors_active(d), 0, "a refused fault changes nothing");
	cr_assert_eq(add_sim_disk_inject_read_error(d, "f", 4096, 4096), 0);
	cr_assert_eq(add_sim_disk_read_errors_active(d), 1);
	cr_assert_eq(D->pread(D->ctx, h, out, 4096, 0), 4096, "before the bad range");
	cr_assert_eq(D->pread(D->ctx, h, out, 4096, 8192), 4096, "after it");
	cr_assert_eq(D->pread(D->ctx, h, out, 200, 4000), -EIO, "overlapping its start");
	cr_assert_eq(D->pread(D->ctx, h, out, sizeof(out), 0), -EIO, "spanning it");
	cr_assert_eq(add_sim_disk_peek(d, "f", out, sizeof(out), 0), (int64_t)sizeof(out),
		     "peek ignores read errors");
	/* It is on the medium: a crash keeps it. */
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	h = D->open(D->ctx, "f", false);
	cr_assert_eq(D->pread(D->ctx, h, out, 1, 5000), -EIO, "survives a crash");
	/* Rewriting half of it clears that half only. */
	memset(buf, 0x77, sizeof(buf));
	put(h, buf, 2048, 4096);
	cr_assert_eq(D->pread(D->ctx, h, out, 2048, 4096), 2048);
	cr_assert_arr_eq(out, buf, 2048);
	cr_assert_eq(D->pread(D->ctx, h, out, 1, 6144), -EIO, "the other half still fails");
	cr_assert_eq(add_sim_disk_read_errors_active(d), 1);
	put(h, buf, 2048, 6144);
	cr_assert_eq(add_sim_disk_read_errors_active(d), 0);
	cr_assert_eq(D->pread(D->ctx, h, out, sizeof(out), 0), (int64_t)sizeof(out));
	cr_assert_arr_eq(out + 4096, buf, 4096, "the rewritten data reads back");
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_rewrite_inside_a_read_error_splits_it)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	uint8_t buf[16384] = { 0 }, out[4];

	put(h, buf, sizeof(buf), 0);
	cr_assert_eq(add_sim_disk_inject_read_error(d, "f", 0, sizeof(buf)), 0);
	put(h, "abcd", 4, 8000);
	cr_assert_eq(add_sim_disk_read_errors_active(d), 2);
	cr_assert_eq(D->pread(D->ctx, h, out, 4, 8000), 4);
	cr_assert_eq(D->pread(D->ctx, h, out, 1, 7999), -EIO);
	cr_assert_eq(D->pread(D->ctx, h, out, 1, 8004), -EIO);
	/* A truncate drops the part past the new end; an unlinked file its errors. */
	cr_assert_eq(D->truncate(D->ctx, h, 8002), 0);
	cr_assert_eq(add_sim_disk_read_errors_active(d), 1);
	cr_assert_eq(D->unlink(D->ctx, "f"), 0);
	D->close(D->ctx, h);
	D->sync_dir(D->ctx);
	cr_assert_eq(add_sim_disk_read_errors_active(d), 0);
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_bit_flip_is_in_the_written_and_the_durable_image_and_survives_crashes)
{
	add_sim_disk *d = add_sim_disk_create(3);
	int h = mkfile(d, "f");
	uint8_t oldb[8192], newb[8192], out[8192];

	memset(oldb, 0x11, sizeof(oldb));
	memset(newb, 0x22, sizeof(newb));
	put(h, oldb, sizeof(oldb), 0);
	D->sync(D->ctx, h);
	D->sync_dir(D->ctx);
	cr_assert_eq(add_sim_disk_flip_bit(d, "f", 100, 8), -EINVAL, "bit 0..7");
	cr_assert_eq(add_sim_disk_flip_bit(d, "f", 8192, 0), -EINVAL, "past the end");
	cr_assert_eq(add_sim_disk_flip_bit(d, "g", 0, 0), -ENOENT);
	/* Flushed data: a crash keeps the flip. */
	cr_assert_eq(add_sim_disk_flip_bit(d, "f", 100, 3), 0);
	cr_assert_eq(add_sim_disk_peek(d, "f", out, sizeof(out), 0), (int64_t)sizeof(out));
	cr_assert_eq(out[100], 0x11 ^ 0x08);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	add_sim_disk_peek(d, "f", out, sizeof(out), 0);
	cr_assert_eq(out[100], 0x11 ^ 0x08, "rot at rest survives a crash");
	cr_assert_eq(popcount_diff(out, oldb, sizeof(out)), 1, "one bit, nothing else");
	/* Under an unflushed overwrite: whichever version the crash leaves has it. */
	for (int m = 0; m < 2; m++) {
		h = D->open(D->ctx, "f", false);
		put(h, newb, sizeof(newb), 0);
		cr_assert_eq(add_sim_disk_flip_bit(d, "f", 5000, 0), 0);
		add_sim_disk_peek(d, "f", out, sizeof(out), 0);
		cr_assert_eq(out[5000], 0x22 ^ 0x01, "the written image");
		add_sim_disk_crash_mode(d, m == 0 ? ADD_SIM_CRASH_LOSE : ADD_SIM_CRASH_KEEP);
		add_sim_disk_peek(d, "f", out, sizeof(out), 0);
		if (m == 0) {
			cr_assert_eq(out[5000], 0x11 ^ 0x01, "the durable image (write lost)");
			cr_assert_eq(out[100], 0x11 ^ 0x08);
			cr_assert_eq(popcount_diff(out, oldb, sizeof(out)), 2);
		} else {
			cr_assert_eq(out[5000], 0x22 ^ 0x01, "the kept write");
			cr_assert_eq(popcount_diff(out, newb, sizeof(out)), 1);
		}
	}
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_flip_under_an_unflushed_truncate_comes_back_with_the_bytes)
{
	add_sim_disk *d = add_sim_disk_create(3);
	int h = mkfile(d, "f");
	uint8_t buf[12288], out[12288];

	memset(buf, 0x33, sizeof(buf));
	put(h, buf, sizeof(buf), 0);
	D->sync(D->ctx, h);
	D->sync_dir(D->ctx);
	cr_assert_eq(D->truncate(D->ctx, h, 5000), 0);
	cr_assert_eq(add_sim_disk_flip_bit(d, "f", 6000, 0), -EINVAL, "gone from the written image");
	cr_assert_eq(add_sim_disk_flip_bit(d, "f", 4500, 7), 0);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(add_sim_disk_file_size(d, "f"), (int64_t)sizeof(buf), "truncate undone");
	add_sim_disk_peek(d, "f", out, sizeof(out), 0);
	cr_assert_eq(out[4500], 0x33 ^ 0x80);
	cr_assert_eq(popcount_diff(out, buf, sizeof(out)), 1);
	add_sim_disk_destroy(d);
}

Test(sim_disk, a_full_disk_fails_with_enospc_writes_nothing_and_recovers_when_raised)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	uint8_t buf[4096], out[4096];

	memset(buf, 0x44, sizeof(buf));
	add_sim_disk_set_capacity(d, 2 * 4096);
	put(h, buf, 4096, 0);
	put(h, buf, 4096, 8192);
	cr_assert_eq(add_sim_disk_bytes_used(d), 8192);
	uint64_t ops = add_sim_disk_op_count(d);

	cr_assert_eq(D->pwrite(D->ctx, h, buf, 1, 4096), -ENOSPC, "a third page");
	cr_assert_eq(D->pwrite(D->ctx, h, buf, 4096, 20000), -ENOSPC, "growing the file");
	cr_assert_eq(D->truncate(D->ctx, h, 5 * 4096), -ENOSPC, "growing truncate");
	cr_assert_eq(D->size(D->ctx, h), 12288, "size unchanged");
	cr_assert_eq(add_sim_disk_file_size(d, "f"), 12288);
	cr_assert_eq(add_sim_disk_bytes_used(d), 8192, "nothing allocated");
	cr_assert_eq(add_sim_disk_op_count(d), ops, "a refused call is no operation");
	cr_assert_eq(D->pread(D->ctx, h, out, 4096, 4096), 4096);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0, "the hole still reads as zeros");
	put(h, "z", 1, 8192 + 17); /* within an allocated page: fine */
	cr_assert_eq(D->truncate(D->ctx, h, 100), 0, "shrinking always works");
	cr_assert_eq(add_sim_disk_bytes_used(d), 4096);
	put(h, buf, 4096, 4096);
	cr_assert_eq(D->pwrite(D->ctx, h, buf, 1, 8192), -ENOSPC);
	add_sim_disk_set_capacity(d, 4 * 4096);
	put(h, buf, 4096, 8192);
	cr_assert_eq(D->truncate(D->ctx, h, 4 * 4096), 0, "fits once raised");
	cr_assert_eq(D->truncate(D->ctx, h, 4 * 4096 + 1), -ENOSPC);
	add_sim_disk_set_capacity(d, 0);
	cr_assert_eq(D->truncate(D->ctx, h, 1ull << 40), 0, "0 = unlimited");
	add_sim_disk_destroy(d);
}

/* 8 KiB of 0xaa flushed, then 8 KiB of 0xbb unflushed, then a crash. */
static void tear_8k(add_sim_disk *d, add_sim_crash_mode mode, uint8_t *out)
{
	int h = mkfile(d, "f");
	uint8_t buf[8192];

	D->sync_dir(D->ctx);
	memset(buf, 0xaa, sizeof(buf));
	put(h, buf, sizeof(buf), 0);
	D->sync(D->ctx, h);
	memset(buf, 0xbb, sizeof(buf));
	put(h, buf, sizeof(buf), 0);
	add_sim_disk_crash_mode(d, mode);
	cr_assert_eq(add_sim_disk_peek(d, "f", out, 8192, 0), 8192);
}

static size_t count_of(const uint8_t *p, size_t n, uint8_t v)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += p[i] == v;
	return c;
}

Test(sim_disk, a_garbage_tear_keeps_a_prefix_and_the_rest_is_neither_old_nor_new)
{
	for (uint64_t seed = 1; seed <= 20; seed++) {
		add_sim_disk *d = add_sim_disk_create(seed);
		uint8_t out[8192];

		tear_8k(d, ADD_SIM_CRASH_GARBAGE, out);
		size_t cut = 0;

		while (cut < sizeof(out) && out[cut] == 0xbb)
			cut++;
		cut -= cut % 512; /* garbage may begin with a 0xbb byte by chance */
		cr_assert(cut > 0 && cut < sizeof(out), "torn inside the write (cut %zu)", cut);
		size_t rest = sizeof(out) - cut;

		cr_assert_lt(count_of(out + cut, rest, 0xaa), rest / 16, "not the old bytes");
		cr_assert_lt(count_of(out + cut, rest, 0xbb), rest / 16, "not the new bytes");
		add_sim_disk_destroy(d);
	}
}

Test(sim_disk, a_garbage_tear_of_a_write_within_one_sector_garbles_all_of_it)
{
	add_sim_disk *d = add_sim_disk_create(9);
	int h = mkfile(d, "f");
	uint8_t buf[300], out[300];

	D->sync_dir(D->ctx);
	memset(buf, 0xaa, sizeof(buf));
	put(h, buf, sizeof(buf), 0);
	D->sync(D->ctx, h);
	memset(buf, 0xbb, sizeof(buf));
	put(h, buf, sizeof(buf), 100);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_GARBAGE);
	cr_assert_eq(add_sim_disk_file_size(d, "f"), 400, "the size the write gave");
	cr_assert_eq(add_sim_disk_peek(d, "f", out, 100, 0), 100);
	cr_assert_eq(count_of(out, 100, 0xaa), 100, "bytes before the write untouched");
	cr_assert_eq(add_sim_disk_peek(d, "f", out, 300, 100), 300);
	cr_assert_lt(count_of(out, 300, 0xbb), 20);
	cr_assert_lt(count_of(out, 200, 0xaa), 20);
	add_sim_disk_destroy(d);
}

Test(sim_disk, random_crashes_sometimes_leave_garbage)
{
	int garbage = 0, clean = 0;

	for (uint64_t seed = 1; seed <= 40; seed++) {
		add_sim_disk *d = add_sim_disk_create(seed);
		uint8_t out[8192];

		tear_8k(d, ADD_SIM_CRASH_RANDOM, out);
		size_t known = count_of(out, 8192, 0xaa) + count_of(out, 8192, 0xbb);

		if (known == 8192)
			clean++;
		else
			garbage++;
		add_sim_disk_destroy(d);
	}
	cr_assert_gt(garbage, 0, "RANDOM draws GARBAGE sometimes");
	cr_assert_gt(clean, garbage, "and lose/keep/tear more often");
}

Test(sim_disk, rot_random_damages_one_allocated_spot_and_says_where)
{
	add_sim_disk *d = add_sim_disk_create(5);
	char desc[96];
	uint8_t buf[10000], out[10000];

	cr_assert_eq(add_sim_disk_rot_random(d, true, desc, sizeof(desc)), -ENOENT, "no data");
	int h = mkfile(d, "data");

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13);
	put(h, buf, sizeof(buf), 0);
	mkfile(d, "empty");
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(add_sim_disk_rot_random(d, false, desc, sizeof(desc)), 0);
		cr_assert_eq(strncmp(desc, "flip data@", 10), 0, "%s", desc);
		cr_assert_eq(add_sim_disk_peek(d, "data", out, sizeof(out), 0), (int64_t)sizeof(out));
		cr_assert_eq(popcount_diff(out, buf, sizeof(out)), 1, "one bit (%s)", desc);
		unsigned long long off;
		unsigned bit;

		cr_assert_eq(sscanf(desc, "flip data@%llu bit %u", &off, &bit), 2);
		cr_assert_lt(off, sizeof(buf));
		cr_assert_eq(out[off] ^ buf[off], 1u << bit, "the description is true");
		memcpy(buf, out, sizeof(buf));
	}
	int errs = 0;

	for (int i = 0; i < 20; i++) {
		cr_assert_eq(add_sim_disk_rot_random(d, true, desc, sizeof(desc)), 0);
		if (strncmp(desc, "read-error data@", 16) == 0) {
			unsigned long long off, len;

			cr_assert_eq(sscanf(desc, "read-error data@%llu+%llu", &off, &len), 2);
			cr_assert_eq(off % 4096, 0);
			cr_assert(len == 4096 || off + len == sizeof(buf), "%s", desc);
			cr_assert_eq(D->pread(D->ctx, h, out, 1, off), -EIO, "%s", desc);
			errs++;
		}
	}
	cr_assert_gt(errs, 0);
	cr_assert_eq(add_sim_disk_read_errors_active(d), (size_t)errs);
	add_sim_disk_destroy(d);
}

/* A run of every fault and a GARBAGE crash; its transcript. */
static void fault_run(uint64_t seed, char *log, size_t log_len, uint8_t *image)
{
	add_sim_disk *d = add_sim_disk_create(seed);
	int h = mkfile(d, "a");
	uint8_t buf[20000];
	size_t at = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	put(h, buf, sizeof(buf), 0);
	D->sync(D->ctx, h);
	D->sync_dir(D->ctx);
	for (int i = 0; i < 12; i++) {
		char desc[96];

		cr_assert_eq(add_sim_disk_rot_random(d, true, desc, sizeof(desc)), 0);
		at += (size_t)snprintf(log + at, log_len - at, "%s;", desc);
	}
	put(h, buf + 7, 9000, 1000);
	add_sim_disk_crash_mode(d, ADD_SIM_CRASH_GARBAGE);
	cr_assert_eq(add_sim_disk_peek(d, "a", image, sizeof(buf), 0), (int64_t)sizeof(buf));
	add_sim_disk_destroy(d);
}

Test(sim_disk, the_same_seed_gives_the_same_faults_and_garbage)
{
	static char l1[2048], l2[2048], l3[2048];
	static uint8_t i1[20000], i2[20000], i3[20000];

	fault_run(42, l1, sizeof(l1), i1);
	fault_run(42, l2, sizeof(l2), i2);
	fault_run(43, l3, sizeof(l3), i3);
	cr_assert_str_eq(l1, l2);
	cr_assert_arr_eq(i1, i2, sizeof(i1));
	cr_assert(strcmp(l1, l3) != 0 || memcmp(i1, i3, sizeof(i1)) != 0,
		  "another seed, another run");
}

Test(sim_disk, file_size_and_peek_see_the_written_image)
{
	add_sim_disk *d = add_sim_disk_create(1);
	int h = mkfile(d, "f");
	char out[8] = "";

	cr_assert_eq(add_sim_disk_file_size(d, "g"), -ENOENT);
	cr_assert_eq(add_sim_disk_peek(d, "g", out, 1, 0), -ENOENT);
	put(h, "hello", 5, 3);
	cr_assert_eq(add_sim_disk_file_size(d, "f"), 8);
	cr_assert_eq(add_sim_disk_peek(d, "f", out, sizeof(out), 2), 6, "short at the end");
	cr_assert_arr_eq(out, "\0hello", 6);
	cr_assert_eq(add_sim_disk_peek(d, "f", out, 4, 8), 0);
	add_sim_disk_destroy(d);
}
