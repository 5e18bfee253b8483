/*
 * Systematic crash consistency of the sector store (the SQLite crash-test
 * idea): a deterministic workload is run once to count its disk operations
 * T; then for every k in 0..T it is run again with a power cut right after
 * operation k (lose, keep, tear the last write, or random per file), the
 * store is recovered and checked:
 *  - every store reported durable before the cut survives (ts >= it);
 *  - every sector holds one whole submitted triple or the zero one: its ts
 *    was submitted for it, its wr and data are those of that very store;
 *  - the recovered store works: new stores survive a second cut.
 * Bounded: a workload of 40 stores, a few hundred operations, ~1000 runs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"
#include "sector_store.h"

#define N_SECTORS 64
#define N_USED 5
#define N_STORES 40

typedef struct world {
	add_sim_disk *disk;
	add_sector_store *store;
	uint64_t durable_ts[N_SECTORS]; /* highest ts reported durable */
	bool submitted[N_USED][N_STORES + 2]; /* ts submitted for the sector */
	int fatal;
} world;

static uint64_t sector_of(size_t i)
{
	return (i * 7 + i / 3) % N_USED;
}

static uint8_t wr_of(uint64_t ts)
{
	return (uint8_t)(ts % 3 + 1);
}

static void fill(uint8_t *buf, uint64_t sector, uint64_t ts)
{
	for (size_t i = 0; i < ADD_SECTOR_SIZE; i++)
		buf[i] = (uint8_t)(sector * 131 + ts * 17 + i * 3);
}

static void on_durable(void *arg, uint64_t cookie)
{
	world *w = arg;
	uint64_t sector = cookie >> 32, ts = cookie & 0xffffffff;

	if (ts > w->durable_ts[sector])
		w->durable_ts[sector] = ts;
}

static void on_fatal(void *arg, const char *why)
{
	world *w = arg;

	(void)why;
	w->fatal++;
}

static add_sector_store *open_store(world *w)
{
	char err[128] = "";
	add_sector_store_config cfg = {
		.disk = add_sim_disk_ops(w->disk),
		.n_sectors = N_SECTORS,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = w,
		.journal_max_bytes = 6 * (ADD_SECTOR_SIZE + 64), /* checkpoints mid-run */
	};
	add_sector_store *s = add_sector_store_open(&cfg, err, sizeof(err));

	cr_assert_not_null(s, "open failed: %s", err);
	return s;
}

static bool down(const world *w)
{
	return add_sim_disk_past_crash_point(w->disk);
}

/* The workload; returns early once the machine is "down". */
static void workload(world *w)
{
	uint8_t buf[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();

	w->store = open_store(w);
	for (size_t i = 0; i < N_STORES && !down(w); i++) {
		uint64_t sector = sector_of(i), ts = i + 1;

		fill(buf, sector, ts);
		cr_assert_eq(ops->store(w->store, sector, ts, wr_of(ts), buf, sector << 32 | ts),
			     0);
		w->submitted[sector][ts] = true;
		if (i % 3 == 2)
			add_sector_store_kick(w->store);
		if (i % 4 == 3 && !down(w))
			add_sim_disk_complete_flushes(w->disk);
		if (i == 25 && !down(w))
			add_sector_store_checkpoint(w->store);
	}
	for (int guard = 0; guard < 100 && !down(w); guard++) {
		add_sector_store_kick(w->store);
		if (add_sim_disk_complete_flushes(w->disk) == 0 && add_sector_store_idle(w->store))
			break;
	}
	if (!down(w))
		add_sector_store_checkpoint(w->store);
	for (int guard = 0; guard < 10 && !down(w); guard++)
		add_sim_disk_complete_flushes(w->disk);
}

static void check(world *w, uint64_t k, const char *mode)
{
	const add_store_ops *ops = add_sector_store_ops();
	uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];

	for (uint64_t sector = 0; sector < N_USED; sector++) {
		uint64_t ts;
		uint8_t wr;

		ops->get_meta(w->store, sector, &ts, &wr);
		cr_assert_geq(ts, w->durable_ts[sector],
			      "crash after op %llu (%s): sector %llu lost durable ts %llu (has "
			      "%llu)",
			      (unsigned long long)k, mode, (unsigned long long)sector,
			      (unsigned long long)w->durable_ts[sector], (unsigned long long)ts);
		cr_assert(ts == 0 || (ts <= N_STORES && w->submitted[sector][ts]),
			  "crash after op %llu (%s): sector %llu has ts %llu never stored there",
			  (unsigned long long)k, mode, (unsigned long long)sector,
			  (unsigned long long)ts);
		cr_assert_eq(wr, ts ? wr_of(ts) : 0, "crash after op %llu (%s): wr mixed",
			     (unsigned long long)k, mode);
		cr_assert_eq(ops->read_data(w->store, sector, got), 0);
		if (ts)
			fill(want, sector, ts);
		else
			memset(want, 0, sizeof(want));
		cr_assert_arr_eq(got, want, sizeof(got),
				 "crash after op %llu (%s): sector %llu data not that of ts %llu",
				 (unsigned long long)k, mode, (unsigned long long)sector,
				 (unsigned long long)ts);
	}
}

/* After recovery the store must take and keep new stores. */
static void check_still_works(world *w, uint64_t k)
{
	uint8_t buf[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();

	fill(buf, 9, 1000);
	cr_assert_eq(ops->store(w->store, 9, 1000, 1, buf, 9ull << 32 | 1000), 0);
	add_sector_store_kick(w->store);
	add_sim_disk_complete_flushes(w->disk);
	add_sim_disk_crash_mode(w->disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(w->store);
	w->store = open_store(w);
	uint64_t ts;
	uint8_t wr;

	ops->get_meta(w->store, 9, &ts, &wr);
	cr_assert_eq(ts, 1000, "crash after op %llu: the recovered store lost a new store",
		     (unsigned long long)k);
}

static uint64_t count_ops(void)
{
	world w = { 0 };

	w.disk = add_sim_disk_create(1);
	workload(&w);
	uint64_t t = add_sim_disk_op_count(w.disk);

	cr_assert_eq(w.fatal, 0);
	add_sector_store_close(w.store);
	add_sim_disk_destroy(w.disk);
	return t;
}

static void crash_at_every_op(add_sim_crash_mode mode, const char *name)
{
	uint64_t total = count_ops();

	cr_assert_gt(total, 50, "the workload should do real work (%llu ops)",
		     (unsigned long long)total);
	for (uint64_t k = 0; k <= total; k++) {
		world w = { 0 };

		w.disk = add_sim_disk_create(k * 7919 + 1);
		add_sim_disk_set_crash_after(w.disk, k);
		workload(&w);
		add_sim_disk_crash_mode(w.disk, mode);
		add_sector_store_close(w.store); /* its handles died with the crash */
		w.store = open_store(&w);
		check(&w, k, name);
		if (k % 8 == 0)
			check_still_works(&w, k);
		cr_assert_eq(w.fatal, 0);
		add_sector_store_close(w.store);
		add_sim_disk_destroy(w.disk);
	}
	printf("sector store crash test (%s): %llu crash points checked\n", name,
	       (unsigned long long)total + 1);
}

Test(crash_sector_store, every_crash_point_losing_unflushed_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_LOSE, "lose");
}

Test(crash_sector_store, every_crash_point_keeping_unflushed_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_KEEP, "keep");
}

Test(crash_sector_store, every_crash_point_with_torn_last_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_TEAR, "tear");
}

Test(crash_sector_store, every_crash_point_with_random_per_file_damage_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_RANDOM, "random");
}

/* Random workloads (seeded): bursts of stores, kicks, completions held back
 * and delivered in bursts, idle checkpoints, a journal bound of a few
 * records; a power cut at a random operation; the same checks. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

Test(crash_sector_store, random_workloads_cut_at_random_points_recover_consistently)
{
	uint64_t checkpoints = 0;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		world w = { 0 };
		uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
		uint8_t buf[ADD_SECTOR_SIZE];
		const add_store_ops *ops = add_sector_store_ops();

		w.disk = add_sim_disk_create(seed);
		add_sim_disk_set_crash_after(w.disk, 20 + rnd(&x) % 400);
		w.store = open_store(&w);
		for (uint64_t ts = 1; ts <= N_STORES && !down(&w); ts++) {
			uint64_t sector = rnd(&x) % N_USED;

			fill(buf, sector, ts);
			cr_assert_eq(ops->store(w.store, sector, ts, wr_of(ts), buf,
						sector << 32 | ts), 0);
			w.submitted[sector][ts] = true;
			switch (rnd(&x) % 6) {
			case 0:
				add_sector_store_kick(w.store);
				break;
			case 1:
				if (!down(&w))
					add_sim_disk_complete_one(w.disk);
				break;
			case 2:
				if (!down(&w))
					add_sim_disk_complete_flushes(w.disk);
				add_sector_store_kick(w.store);
				break;
			case 3:
				if (!down(&w))
					add_sector_store_checkpoint(w.store);
				break;
			default:
				break;
			}
		}
		for (int guard = 0; guard < 100 && !down(&w); guard++) {
			add_sector_store_kick(w.store);
			if (add_sim_disk_complete_flushes(w.disk) == 0 &&
			    add_sector_store_idle(w.store))
				break;
		}
		add_sector_store_stats st;

		add_sector_store_get_stats(w.store, &st);
		checkpoints += st.checkpoints;
		add_sim_disk_crash(w.disk);
		add_sector_store_close(w.store);
		w.store = open_store(&w);
		check(&w, seed, "random workload");
		cr_assert_eq(w.fatal, 0);
		add_sector_store_close(w.store);
		add_sim_disk_destroy(w.disk);
	}
	printf("sector store random crash test: 300 workloads, %llu checkpoints before the cuts\n",
	       (unsigned long long)checkpoints);
	cr_assert_gt(checkpoints, 100, "the workloads should exercise checkpoints");
}
