/*
 * Systematic crash consistency of the sector store (the SQLite crash-test
 * idea): a deterministic workload of stores and repairs (a repair lowers
 * the tag and is applied in order), with checkpoints and two journal
 * flushes in flight at times, is run once to count
 * its disk operations T; then for every k in 0..T it is run again with a
 * power cut right after operation k, in each crash mode (lose, keep, tear,
 * random per file, garbage in the torn part). The store is recovered, and
 * that recovery is cut in turn after each of its own operations r, then
 * recovered again. After each recovery:
 *  - the sector's value is the last durable operation on it or a later one
 *    (durable tags never go back; a durable repair is never undone);
 *  - its data is exactly that operation's data, its wr that operation's;
 *  - nothing is marked damaged (no damage was injected);
 *  - the recovered store works: new stores survive a second cut.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"
#include "sector_store.h"

#define N_SECTORS 64
#define N_USED 5
#define N_OPS 40
#define STILL_WORKS_COOKIE (UINT64_MAX >> 1)
#define STORE_TS0 100 /* stores use ts 100.., repairs ts 1..: a repair lowers */

typedef struct op {
	uint64_t sector, ts;
	uint8_t wr;
	bool repair;
} op;

typedef struct world {
	add_sim_disk *disk;
	add_sector_store *store;
	op ops[N_OPS + 8];
	size_t n_ops;
	int64_t last_durable[N_SECTORS]; /* index into ops, -1 none */
	int fatal;
} world;

static uint64_t sector_of(size_t i)
{
	return (i * 7 + i / 3) % N_USED;
}

static void fill(uint8_t *buf, uint64_t sector, uint64_t ts, uint8_t wr)
{
	for (size_t i = 0; i < ADD_SECTOR_SIZE; i++)
		buf[i] = (uint8_t)(sector * 131 + ts * 17 + wr * 5 + i * 3);
}

static void on_durable(void *arg, uint64_t cookie)
{
	world *w = arg;

	if (cookie == STILL_WORKS_COOKIE)
		return;
	cr_assert_lt(cookie, w->n_ops);
	uint64_t sector = w->ops[cookie].sector;

	cr_assert((int64_t)cookie > w->last_durable[sector], "completions out of order");
	w->last_durable[sector] = (int64_t)cookie;
}

static void on_fatal(void *arg, const char *why)
{
	world *w = arg;

	(void)why;
	w->fatal++;
}

static add_sector_store *try_open(world *w, char *err, size_t err_len)
{
	add_sector_store_config cfg = {
		.disk = add_sim_disk_ops(w->disk),
		.n_sectors = N_SECTORS,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = w,
		.journal_max_bytes = 8 * 4096, /* checkpoints mid-run */
	};

	return add_sector_store_open(&cfg, err, err_len);
}

static add_sector_store *open_store(world *w)
{
	char err[256] = "";
	add_sector_store *s = try_open(w, err, sizeof(err));

	cr_assert_not_null(s, "open failed: %s", err);
	return s;
}

static bool down(const world *w)
{
	return add_sim_disk_past_crash_point(w->disk);
}

static void submit(world *w, size_t i)
{
	uint8_t buf[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();
	op *o = &w->ops[w->n_ops];

	o->sector = sector_of(i);
	o->repair = i % 7 == 5;
	o->ts = o->repair ? i + 1 : STORE_TS0 + i;
	o->wr = (uint8_t)(i % 3 + 1);
	fill(buf, o->sector, o->ts, o->wr);
	uint64_t cookie = w->n_ops++;

	if (o->repair)
		cr_assert_eq(ops->repair(w->store, o->sector, o->ts, o->wr, buf, cookie), 0);
	else
		cr_assert_eq(ops->store(w->store, o->sector, o->ts, o->wr, buf, cookie), 0);
}

/* The workload; returns early once the machine is "down". */
static void workload(world *w)
{
	w->store = open_store(w);
	for (size_t i = 0; i < N_OPS && !down(w); i++) {
		submit(w, i);
		if (i % 3 == 2)
			add_sector_store_kick(w->store);
		if (i % 4 == 3 && !down(w))
			add_sim_disk_complete_flushes(w->disk);
		if ((i == 17 || i == 30) && !down(w))
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

static void check(world *w, const char *where)
{
	const add_store_ops *ops = add_sector_store_ops();
	uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];
	add_sector_store_stats st;

	for (uint64_t sector = 0; sector < N_USED; sector++) {
		uint64_t ts;
		uint8_t wr;
		int64_t match = -1;

		ops->get_meta(w->store, sector, &ts, &wr);
		for (int64_t i = w->last_durable[sector] < 0 ? 0 : w->last_durable[sector];
		     i < (int64_t)w->n_ops; i++)
			if (w->ops[i].sector == sector && w->ops[i].ts == ts && w->ops[i].wr == wr)
				match = i;
		cr_assert(match >= 0 || (ts == 0 && wr == 0 && w->last_durable[sector] < 0),
			  "%s: sector %llu has (%llu, %u): not its last durable operation (#%lld) "
			  "or a later one",
			  where, (unsigned long long)sector, (unsigned long long)ts, wr,
			  (long long)w->last_durable[sector]);
		cr_assert_not(ops->damaged(w->store, sector), "%s: sector %llu marked damaged",
			      where, (unsigned long long)sector);
		cr_assert_eq(ops->read_data(w->store, sector, got), 0, "%s: sector %llu read failed",
			     where, (unsigned long long)sector);
		if (ts)
			fill(want, sector, ts, wr);
		else
			memset(want, 0, sizeof(want));
		cr_assert_arr_eq(got, want, sizeof(got), "%s: sector %llu data not that of (%llu, %u)",
				 where, (unsigned long long)sector, (unsigned long long)ts, wr);
	}
	add_sector_store_get_stats(w->store, &st);
	cr_assert_eq(st.damaged_now, 0, "%s: damage reported", where);
	cr_assert_eq(st.corrupt_records, 0, "%s: a crash is not corruption", where);
	cr_assert_eq(ops->next_damaged(w->store, 0), UINT64_MAX, "%s", where);
}

/* After recovery the store must take and keep new stores. */
static void check_still_works(world *w, const char *where)
{
	uint8_t buf[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();
	uint64_t ts;
	uint8_t wr;

	fill(buf, 9, 1000, 1);
	cr_assert_eq(ops->store(w->store, 9, 1000, 1, buf, STILL_WORKS_COOKIE), 0);
	add_sector_store_kick(w->store);
	add_sim_disk_complete_flushes(w->disk);
	add_sim_disk_crash_mode(w->disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(w->store);
	w->store = open_store(w);
	ops->get_meta(w->store, 9, &ts, &wr);
	cr_assert_eq(ts, 1000, "%s: the recovered store lost a new store", where);
}

static void world_init(world *w, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < N_SECTORS; i++)
		w->last_durable[i] = -1;
	w->disk = add_sim_disk_create(seed);
}

static uint64_t count_ops(void)
{
	world w;

	world_init(&w, 1);
	workload(&w);
	uint64_t t = add_sim_disk_op_count(w.disk);
	add_sector_store_stats st;

	add_sector_store_get_stats(w.store, &st);
	cr_assert_geq(st.flights_max, 2, "the workload should have two journal flushes in flight");
	cr_assert_eq(w.fatal, 0);
	add_sector_store_close(w.store);
	add_sim_disk_destroy(w.disk);
	return t;
}

/* Runs the workload cut after op k (mode), then recovery cut after its own
 * op r (UINT64_MAX: not cut), then checks the final recovery. */
static void one_run(uint64_t k, uint64_t r, add_sim_crash_mode mode, const char *name,
		    uint64_t *recovery_ops)
{
	world w;
	char where[96];

	world_init(&w, k * 7919 + r * 104729 + 1);
	add_sim_disk_set_crash_after(w.disk, k);
	workload(&w);
	add_sim_disk_crash_mode(w.disk, mode);
	add_sector_store_close(w.store); /* its handles died with the crash */
	uint64_t before = add_sim_disk_op_count(w.disk);

	if (r != UINT64_MAX)
		add_sim_disk_set_crash_after(w.disk, before + r);
	w.store = open_store(&w);
	if (recovery_ops)
		*recovery_ops = add_sim_disk_op_count(w.disk) - before;
	if (r != UINT64_MAX) {
		add_sim_disk_crash_mode(w.disk, mode);
		add_sector_store_close(w.store);
		w.store = open_store(&w);
	}
	snprintf(where, sizeof(where), "crash after op %llu (%s), recovery cut after op %lld",
		 (unsigned long long)k, name, r == UINT64_MAX ? -1ll : (long long)r);
	check(&w, where);
	if (k % 16 == 0 && (r == UINT64_MAX || r % 8 == 0))
		check_still_works(&w, where);
	cr_assert_eq(w.fatal, 0);
	add_sector_store_close(w.store);
	add_sim_disk_destroy(w.disk);
}

static void crash_at_every_op(add_sim_crash_mode mode, const char *name)
{
	uint64_t total = count_ops(), runs = 0;

	cr_assert_gt(total, 80, "the workload should do real work (%llu ops)",
		     (unsigned long long)total);
	for (uint64_t k = 0; k <= total; k++) {
		uint64_t rops = 0;

		one_run(k, UINT64_MAX, mode, name, &rops);
		runs++;
		for (uint64_t r = 0; r <= rops; r++, runs++)
			one_run(k, r, mode, name, NULL);
	}
	printf("sector store crash test (%s): %llu workload crash points, %llu runs with "
	       "recovery cut too\n",
	       name, (unsigned long long)total + 1, (unsigned long long)runs);
}

Test(crash_sector_store, every_crash_point_losing_unflushed_writes_recovers_consistently,
     .timeout = 300)
{
	crash_at_every_op(ADD_SIM_CRASH_LOSE, "lose");
}

Test(crash_sector_store, every_crash_point_keeping_unflushed_writes_recovers_consistently,
     .timeout = 300)
{
	crash_at_every_op(ADD_SIM_CRASH_KEEP, "keep");
}

Test(crash_sector_store, every_crash_point_with_torn_last_writes_recovers_consistently,
     .timeout = 300)
{
	crash_at_every_op(ADD_SIM_CRASH_TEAR, "tear");
}

Test(crash_sector_store, every_crash_point_with_garbage_in_torn_writes_recovers_consistently,
     .timeout = 300)
{
	crash_at_every_op(ADD_SIM_CRASH_GARBAGE, "garbage");
}

Test(crash_sector_store, every_crash_point_with_random_per_file_damage_recovers_consistently,
     .timeout = 300)
{
	crash_at_every_op(ADD_SIM_CRASH_RANDOM, "random");
}

/* Random workloads (seeded): bursts of stores and repairs, kicks,
 * completions held back and delivered in bursts or newest first, idle
 * checkpoints, a
 * journal bound of a few chunks; a power cut at a random operation, then
 * one inside the recovery; the same checks. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

Test(crash_sector_store, random_workloads_cut_at_random_points_recover_consistently,
     .timeout = 300)
{
	uint64_t checkpoints = 0, waited = 0;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		world w;
		uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
		uint8_t buf[ADD_SECTOR_SIZE];
		const add_store_ops *ops = add_sector_store_ops();

		world_init(&w, seed);
		add_sim_disk_set_crash_after(w.disk, 20 + rnd(&x) % 400);
		w.store = open_store(&w);
		for (uint64_t i = 0; i < N_OPS && !down(&w); i++) {
			op *o = &w.ops[w.n_ops];

			o->sector = rnd(&x) % N_USED;
			o->repair = rnd(&x) % 8 == 0;
			o->ts = o->repair ? i + 1 : STORE_TS0 + i;
			o->wr = (uint8_t)(rnd(&x) % 3 + 1);
			fill(buf, o->sector, o->ts, o->wr);
			uint64_t cookie = w.n_ops++;

			cr_assert_eq((o->repair ? ops->repair : ops->store)(w.store, o->sector, o->ts,
									      o->wr, buf, cookie),
				     0);
			switch (rnd(&x) % 6) {
			case 0:
				add_sector_store_kick(w.store);
				break;
			case 1: /* the oldest flush completes, or the newest first */
				if (!down(&w) && rnd(&x) % 2)
					add_sim_disk_complete_one(w.disk);
				else if (!down(&w))
					add_sim_disk_complete_newest(w.disk);
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
		waited += st.flights_waited;
		add_sim_disk_crash(w.disk);
		add_sector_store_close(w.store);
		add_sim_disk_set_crash_after(w.disk, add_sim_disk_op_count(w.disk) + rnd(&x) % 40);
		w.store = open_store(&w);
		add_sim_disk_crash(w.disk);
		add_sector_store_close(w.store);
		w.store = open_store(&w);
		check(&w, "random workload");
		cr_assert_eq(w.fatal, 0);
		add_sector_store_close(w.store);
		add_sim_disk_destroy(w.disk);
	}
	printf("sector store random crash test: 300 workloads, %llu checkpoints before the cuts, "
	       "%llu flushes completed before an earlier one\n",
	       (unsigned long long)checkpoints, (unsigned long long)waited);
	cr_assert_gt(checkpoints, 100, "the workloads should exercise checkpoints");
	cr_assert_gt(waited, 20, "the workloads should complete flushes out of order");
}
