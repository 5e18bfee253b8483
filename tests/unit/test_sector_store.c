/*
 * The sector store's contract (core/sector_store.h, core/store_ops.h), on the
 * simulated disk, which lets a test hold flush completions back, fail a
 * flush and cut the power.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sector_store.h"
#include "../../runtime-sim/sim_disk.h"

#define N_SECTORS (1ull << 21)
#define MAX_EVENTS 4096

typedef struct harness {
	add_sim_disk *disk;
	add_sector_store *store;
	const add_store_ops *ops;
	uint64_t durable[MAX_EVENTS];
	size_t n_durable;
	int fatal_calls;
	uint64_t journal_max;
	uint32_t batch_max;
} harness;

static void on_durable(void *arg, uint64_t cookie)
{
	harness *h = arg;

	cr_assert_lt(h->n_durable, MAX_EVENTS);
	h->durable[h->n_durable++] = cookie;
}

static void on_fatal(void *arg, const char *why)
{
	harness *h = arg;

	(void)why;
	h->fatal_calls++;
}

static void open_store(harness *h)
{
	char err[128] = "";
	add_sector_store_config cfg = {
		.disk = add_sim_disk_ops(h->disk),
		.n_sectors = N_SECTORS,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = h,
		.journal_max_bytes = h->journal_max,
		.batch_max = h->batch_max,
	};

	h->store = add_sector_store_open(&cfg, err, sizeof(err));
	cr_assert_not_null(h->store, "open failed: %s", err);
	h->ops = add_sector_store_ops();
}

static void setup(harness *h, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	h->disk = add_sim_disk_create(seed);
	cr_assert_not_null(h->disk);
	open_store(h);
}

static void teardown(harness *h)
{
	add_sector_store_close(h->store);
	add_sim_disk_destroy(h->disk);
}

static void fill(uint8_t *buf, uint64_t sector, uint64_t ts)
{
	for (size_t i = 0; i < ADD_SECTOR_SIZE; i++)
		buf[i] = (uint8_t)(sector * 31 + ts * 7 + i);
}

static int store(harness *h, uint64_t sector, uint64_t ts, uint8_t wr, uint64_t cookie)
{
	uint8_t buf[ADD_SECTOR_SIZE];

	fill(buf, sector, ts);
	return h->ops->store(h->store, sector, ts, wr, buf, cookie);
}

static void expect_sector(harness *h, uint64_t sector, uint64_t ts, uint8_t wr)
{
	uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];
	uint64_t gts;
	uint8_t gwr;

	h->ops->get_meta(h->store, sector, &gts, &gwr);
	cr_assert_eq(gts, ts, "sector %llu: ts %llu, want %llu", (unsigned long long)sector,
		     (unsigned long long)gts, (unsigned long long)ts);
	cr_assert_eq(gwr, wr);
	cr_assert_eq(h->ops->read_data(h->store, sector, got), 0);
	if (ts == 0)
		memset(want, 0, sizeof(want));
	else
		fill(want, sector, ts);
	cr_assert_arr_eq(got, want, sizeof(got), "sector %llu: data differs",
			 (unsigned long long)sector);
}

/* Runs kick/complete until the store is idle and nothing is pending. */
static void drain(harness *h)
{
	for (int i = 0; i < 1000; i++) {
		add_sector_store_kick(h->store);
		if (add_sim_disk_complete_flushes(h->disk) == 0 && add_sector_store_idle(h->store))
			return;
	}
	cr_assert_fail("store did not drain");
}

Test(sector_store, a_stored_sector_reads_back_before_and_after_it_is_durable)
{
	harness h;

	setup(&h, 1);
	cr_assert_eq(store(&h, 7, 3, 2, 100), 0);
	expect_sector(&h, 7, 3, 2);
	drain(&h);
	expect_sector(&h, 7, 3, 2);
	teardown(&h);
}

Test(sector_store, a_never_written_sector_is_zeros_with_ts_0_wr_0)
{
	harness h;

	setup(&h, 1);
	expect_sector(&h, 0, 0, 0);
	expect_sector(&h, N_SECTORS - 1, 0, 0);
	cr_assert_eq(add_sector_store_written(h.store), 0);
	teardown(&h);
}

Test(sector_store, the_last_store_of_a_sector_wins)
{
	harness h;

	setup(&h, 1);
	cr_assert_eq(store(&h, 5, 1, 1, 1), 0);
	add_sector_store_kick(h.store);
	cr_assert_eq(store(&h, 5, 2, 3, 2), 0);
	expect_sector(&h, 5, 2, 3);
	drain(&h);
	expect_sector(&h, 5, 2, 3);
	cr_assert_eq(add_sector_store_written(h.store), 1);
	teardown(&h);
}

Test(sector_store, a_store_outside_the_device_is_rejected)
{
	harness h;
	uint8_t buf[ADD_SECTOR_SIZE];

	setup(&h, 1);
	cr_assert_eq(store(&h, N_SECTORS, 1, 1, 1), -EINVAL);
	cr_assert_eq(h.ops->read_data(h.store, N_SECTORS, buf), -EINVAL);
	teardown(&h);
}

Test(sector_store, on_durable_comes_only_after_the_flush_completes)
{
	harness h;

	setup(&h, 1);
	cr_assert_eq(store(&h, 1, 1, 1, 42), 0);
	cr_assert_eq(h.n_durable, 0, "not from inside store()");
	add_sector_store_kick(&*h.store);
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 1);
	cr_assert_eq(h.n_durable, 0, "not before the flush completes");
	cr_assert_not(add_sector_store_idle(h.store));
	cr_assert(add_sim_disk_complete_one(h.disk));
	cr_assert_eq(h.n_durable, 1);
	cr_assert_eq(h.durable[0], 42);
	add_sector_store_kick(h.store); /* writes the batch home */
	cr_assert(add_sector_store_idle(h.store));
	teardown(&h);
}

Test(sector_store, a_batch_closing_during_a_flush_gets_its_own_flush_at_once)
{
	harness h;

	setup(&h, 1);
	cr_assert_eq(store(&h, 0, 1, 1, 0), 0);
	add_sector_store_kick(h.store);
	uint64_t flushes_before = add_sim_disk_flush_count(h.disk);

	for (uint64_t i = 1; i <= 50; i++)
		cr_assert_eq(store(&h, i * 1000, 1, 1, i), 0);
	add_sector_store_kick(h.store); /* one flush runs: the second starts now */
	cr_assert_eq(add_sim_disk_flush_count(h.disk), flushes_before + 1);
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 2);
	for (uint64_t i = 51; i <= 100; i++) {
		cr_assert_eq(store(&h, i * 1000, 1, 1, i), 0);
		add_sector_store_kick(h.store); /* two run: no third */
	}
	cr_assert_eq(add_sim_disk_flush_count(h.disk), flushes_before + 1);
	cr_assert(add_sim_disk_complete_one(h.disk)); /* the first flush */
	cr_assert_eq(h.n_durable, 1);
	cr_assert_eq(add_sim_disk_flush_count(h.disk), flushes_before + 2,
		     "the 50 waiting stores start exactly one flush");
	cr_assert(add_sim_disk_complete_one(h.disk));
	cr_assert_eq(h.n_durable, 51);
	cr_assert(add_sim_disk_complete_one(h.disk));
	cr_assert_eq(h.n_durable, 101);
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 0);
	for (uint64_t i = 0; i <= 100; i++)
		cr_assert_eq(h.durable[i], i);
	printf("group commit: 100 stores made durable by %llu flushes, two in flight\n",
	       (unsigned long long)(add_sim_disk_flush_count(h.disk) - flushes_before));
	teardown(&h);
}

/* Mutant ADD_MUTANT_STORE_FLUSH_OUT_OF_ORDER: the later flush completes
 * first; its stores must wait for the earlier batch's. */
Test(sector_store, a_later_flush_completing_first_waits_for_the_earlier)
{
	harness h;

	setup(&h, 1);
	for (uint64_t i = 0; i < 5; i++)
		cr_assert_eq(store(&h, i, 1, 1, i), 0);
	add_sector_store_kick(h.store);
	for (uint64_t i = 5; i < 12; i++)
		cr_assert_eq(store(&h, i, 1, 1, i), 0);
	add_sector_store_kick(h.store);
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 2, "two flushes in flight");
	cr_assert(add_sim_disk_complete_newest(h.disk));
	cr_assert_eq(h.n_durable, 0, "the later batch reported before the earlier one");
	cr_assert_not(add_sector_store_idle(h.store));
	/* Its stores are readable meanwhile (pending) and the third batch waits
	 * for a free flight only, not for the report. */
	expect_sector(&h, 7, 1, 1);
	cr_assert(add_sim_disk_complete_one(h.disk));
	cr_assert_eq(h.n_durable, 12);
	for (uint64_t i = 0; i < 12; i++)
		cr_assert_eq(h.durable[i], i, "completion %llu out of order",
			     (unsigned long long)i);
	drain(&h);
	for (uint64_t i = 0; i < 12; i++)
		expect_sector(&h, i, 1, 1);
	teardown(&h);
}

/* Random interleavings of kicks, in-order and out-of-order completions:
 * every completion in submission order, every store durable once. */
Test(sector_store, flushes_completing_in_any_order_report_in_submission_order)
{
	harness h;
	uint64_t x = 88172645463325252ull;

	setup(&h, 3);
	for (uint64_t i = 0; i < 2000; i++) {
		cr_assert_eq(store(&h, (i * 7919) % 300, i + 1, 1, i), 0);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (x % 5 == 0)
			add_sector_store_kick(h.store);
		if (x % 7 == 0)
			add_sim_disk_complete_newest(h.disk);
		if (x % 11 == 0)
			add_sim_disk_complete_one(h.disk);
	}
	drain(&h);
	cr_assert_eq(h.n_durable, 2000);
	for (uint64_t i = 0; i < 2000; i++)
		cr_assert_eq(h.durable[i], i);
	teardown(&h);
}

Test(sector_store, completions_come_in_submission_order)
{
	harness h;

	setup(&h, 1);
	for (uint64_t i = 0; i < 300; i++) {
		cr_assert_eq(store(&h, (i * 7919) % 50, i + 1, 1, i), 0);
		if (i % 37 == 0)
			add_sector_store_kick(h.store);
		if (i % 53 == 0)
			add_sim_disk_complete_flushes(h.disk);
	}
	drain(&h);
	cr_assert_eq(h.n_durable, 300);
	for (uint64_t i = 0; i < 300; i++)
		cr_assert_eq(h.durable[i], i);
	teardown(&h);
}

Test(sector_store, a_failed_flush_is_fatal_and_nothing_is_reported_durable)
{
	harness h;

	setup(&h, 1);
	cr_assert_eq(store(&h, 3, 1, 1, 1), 0);
	add_sim_disk_fail_next_flush(h.disk);
	add_sector_store_kick(h.store);
	add_sim_disk_complete_flushes(h.disk);
	cr_assert_eq(h.fatal_calls, 1);
	cr_assert_eq(h.n_durable, 0);
	cr_assert_lt(store(&h, 4, 1, 1, 2), 0, "a store after a fatal error is refused");
	teardown(&h);
}

Test(sector_store, after_a_failed_flush_a_restart_recovers_every_durable_store)
{
	harness h;

	setup(&h, 9);
	for (uint64_t i = 0; i < 20; i++)
		cr_assert_eq(store(&h, i, 5, 1, i), 0);
	drain(&h);
	cr_assert_eq(h.n_durable, 20);
	cr_assert_eq(store(&h, 3, 6, 1, 99), 0);
	add_sim_disk_fail_next_flush(h.disk);
	add_sector_store_kick(h.store);
	add_sim_disk_complete_flushes(h.disk);
	cr_assert_eq(h.fatal_calls, 1);
	add_sim_disk_crash(h.disk); /* the process stops; say the machine does too */
	add_sector_store_close(h.store);
	open_store(&h);
	for (uint64_t i = 0; i < 20; i++) {
		uint64_t ts;
		uint8_t wr;

		h.ops->get_meta(h.store, i, &ts, &wr);
		cr_assert(ts == 5 || (i == 3 && ts == 6), "sector %llu: ts %llu",
			  (unsigned long long)i, (unsigned long long)ts);
		expect_sector(&h, i, ts, 1);
	}
	teardown(&h);
}

Test(sector_store, the_batch_bound_refuses_with_eagain_and_keeps_the_store_intact)
{
	harness h;

	memset(&h, 0, sizeof(h));
	h.disk = add_sim_disk_create(1);
	h.batch_max = 64;
	open_store(&h);
	cr_assert_eq(store(&h, 0, 1, 1, 0), 0);
	add_sector_store_kick(h.store); /* flush of 1 running */
	for (uint64_t i = 1; i <= 64; i++)
		cr_assert_eq(store(&h, i, 1, 1, i), 0);
	cr_assert_eq(store(&h, 65, 1, 1, 65), -EAGAIN);
	expect_sector(&h, 65, 0, 0);
	drain(&h);
	cr_assert_eq(h.n_durable, 65);
	cr_assert_eq(store(&h, 65, 1, 1, 65), 0);
	drain(&h);
	expect_sector(&h, 65, 1, 1);
	teardown(&h);
}

Test(sector_store, everything_survives_a_clean_close_and_reopen)
{
	harness h;

	setup(&h, 1);
	for (uint64_t i = 0; i < 200; i++)
		cr_assert_eq(store(&h, i * 9973 % N_SECTORS, i + 1, (uint8_t)(i % 5 + 1), i), 0);
	drain(&h);
	add_sector_store_close(h.store);
	open_store(&h);
	cr_assert_eq(add_sector_store_written(h.store), 200);
	for (uint64_t i = 0; i < 200; i++)
		expect_sector(&h, i * 9973 % N_SECTORS, i + 1, (uint8_t)(i % 5 + 1));
	expect_sector(&h, 1, 0, 0);
	teardown(&h);
}

Test(sector_store, durable_stores_survive_a_crash_that_loses_the_home_writes)
{
	harness h;

	setup(&h, 1);
	for (uint64_t i = 0; i < 50; i++)
		cr_assert_eq(store(&h, i, 10 + i, 1, i), 0);
	drain(&h); /* durable in the journal, written home in the page cache only */
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	open_store(&h);
	add_sector_store_stats st;

	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.recovered_records, 50, "replayed from the journal");
	for (uint64_t i = 0; i < 50; i++)
		expect_sector(&h, i, 10 + i, 1);
	teardown(&h);
}

Test(sector_store, a_crash_keeps_durable_stores_and_old_or_new_for_the_rest)
{
	for (uint64_t seed = 1; seed <= 40; seed++) {
		harness h;
		uint64_t ts_durable[64] = { 0 }, ts_submitted[64] = { 0 };

		setup(&h, seed);
		for (uint64_t i = 0; i < 120; i++) {
			uint64_t sector = (i * 13 + seed) % 64;
			uint64_t ts = i + 1;

			cr_assert_eq(store(&h, sector, ts, 1, sector << 32 | ts), 0);
			ts_submitted[sector] = ts;
			if (i % 10 == 3)
				add_sector_store_kick(h.store);
			if (i % 25 == 0)
				add_sim_disk_complete_flushes(h.disk);
			if (i % 40 == 39)
				add_sector_store_checkpoint(h.store);
			for (; 0 < h.n_durable; h.n_durable--) {
				uint64_t c = h.durable[h.n_durable - 1];

				if ((c & 0xffffffff) > ts_durable[c >> 32])
					ts_durable[c >> 32] = c & 0xffffffff;
			}
		}
		add_sim_disk_crash(h.disk);
		add_sector_store_close(h.store);
		open_store(&h);
		for (uint64_t sector = 0; sector < 64; sector++) {
			uint64_t ts;
			uint8_t wr;
			uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];

			h.ops->get_meta(h.store, sector, &ts, &wr);
			cr_assert_geq(ts, ts_durable[sector],
				      "seed %llu sector %llu lost a durable store",
				      (unsigned long long)seed, (unsigned long long)sector);
			cr_assert_leq(ts, ts_submitted[sector]);
			cr_assert_eq(h.ops->read_data(h.store, sector, got), 0);
			if (ts == 0)
				memset(want, 0, sizeof(want));
			else
				fill(want, sector, ts);
			cr_assert_arr_eq(got, want, sizeof(got), "seed %llu sector %llu: data of a "
				"different store than its ts", (unsigned long long)seed,
				(unsigned long long)sector);
		}
		teardown(&h);
	}
}

Test(sector_store, a_checkpoint_trims_the_journal_once_idle)
{
	harness h;
	add_sector_store_stats st;

	setup(&h, 1);
	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(store(&h, i * 17, 1, 1, i), 0);
	drain(&h);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_gt(st.journal_bytes, 100 * ADD_SECTOR_SIZE);
	cr_assert(add_sector_store_checkpoint(h.store));
	drain(&h);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.checkpoints, 1);
	cr_assert_leq(st.journal_bytes, 2 * 4096, "two empty journals: their header blocks");
	uint64_t used = add_sim_disk_bytes_used(h.disk);

	cr_assert_leq(used, 100 * ADD_SECTOR_SIZE * 11 / 10 + 64 * 1024,
		      "bytes used %llu", (unsigned long long)used);
	teardown(&h);
}

Test(sector_store, a_journal_over_its_bound_is_checkpointed_without_losing_stores)
{
	harness h;
	add_sector_store_stats st;

	memset(&h, 0, sizeof(h));
	h.disk = add_sim_disk_create(3);
	h.journal_max = 64 * 1024;
	open_store(&h);
	for (uint64_t i = 0; i < 400; i++) {
		cr_assert_eq(store(&h, i % 97, i + 1, 1, i), 0);
		if (i % 8 == 7) {
			add_sector_store_kick(h.store);
			add_sim_disk_complete_flushes(h.disk);
		}
	}
	drain(&h);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_gt(st.checkpoints, 3);
	cr_assert_eq(h.n_durable, 400);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	open_store(&h);
	for (uint64_t s = 0; s < 97; s++) {
		uint64_t last = 0;

		for (uint64_t i = 0; i < 400; i++)
			if (i % 97 == s)
				last = i + 1;
		expect_sector(&h, s, last, 1);
	}
	teardown(&h);
}

Test(sector_store, group_commit_goes_on_while_a_checkpoint_runs)
{
	harness h;
	add_sector_store_stats st;

	memset(&h, 0, sizeof(h));
	h.disk = add_sim_disk_create(1);
	h.journal_max = 5 * 4096; /* 3 records = 5 blocks + the header: over it */
	open_store(&h);
	for (uint64_t i = 0; i < 3; i++)
		cr_assert_eq(store(&h, i, 1, 1, i), 0);
	add_sector_store_kick(h.store);
	cr_assert(add_sim_disk_complete_one(h.disk)); /* journal over its bound */
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 1, "the checkpoint's data flush");
	cr_assert_eq(store(&h, 10, 1, 1, 10), 0);
	add_sector_store_kick(h.store);
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 2,
		     "the next batch does not wait for the checkpoint");
	drain(&h);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.checkpoints, 1);
	cr_assert_eq(h.n_durable, 4);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	open_store(&h);
	expect_sector(&h, 10, 1, 1);
	expect_sector(&h, 2, 1, 1);
	teardown(&h);
}

Test(sector_store, memory_per_written_sector_is_a_few_tens_of_bytes)
{
	harness h;
	add_sector_store_stats st;
	const uint64_t n = 10000;

	setup(&h, 1);
	for (uint64_t i = 0; i < n; i++) {
		cr_assert_eq(store(&h, (i * 104729) % N_SECTORS, 1, 1, i), 0);
		if (i % 512 == 511) {
			drain(&h);
			h.n_durable = 0;
		}
	}
	drain(&h);
	cr_assert_eq(add_sector_store_written(h.store), n);
	add_sector_store_get_stats(h.store, &st);
	double per = (double)st.index_bytes / (double)n;

	printf("sector store memory: %.1f bytes per written sector (%llu sectors, index %llu B)\n",
	       per, (unsigned long long)n, (unsigned long long)st.index_bytes);
	cr_assert_leq(per, 48.0);
	teardown(&h);
}
