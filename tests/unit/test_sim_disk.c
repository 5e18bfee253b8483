/* The simulated disk's model of durability, crashes and faults. */
#include <criterion/criterion.h>
#include <errno.h>
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
