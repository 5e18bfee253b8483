/*
 * core/rejoin.h with the scripted runtime: a fresh cluster founds itself
 * without any step; a process that comes back with empty storage (srt_wipe,
 * the amnesia fault) serves nothing it has not re-learned, ACKs nothing of
 * it, re-learns every sector from K others, records its progress durably and
 * becomes a member; the measured sequence loses nothing; when a
 * majority lost its storage the cluster refuses; --force-rejoin.
 * Mutants 44 (serves unknown), 45 (ACKs unknown), 46 (skips a sector) are
 * each caught here (tests/suites/61-unit-mutants.sh).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "rejoin.h"
#include "script_runtime.h"
#include "wire.h"

#define MS (1000ull * 1000)
#define S (1000ull * MS)

static srt_world *w;
static uint64_t next_req = 1;

static void teardown(void)
{
	if (w != NULL)
		srt_free(w);
	w = NULL;
}

TestSuite(rejoin, .fini = teardown);

static add_rejoin_state state_of(uint8_t rank)
{
	cr_assert_not_null(w->procs[rank].rj);
	return add_rejoin_get_state(w->procs[rank].rj);
}

/* Writes `seed` data to every sector in [0, n) through `rank`, all answered. */
static void write_all(uint8_t rank, uint64_t n, uint8_t seed)
{
	uint8_t data[ADD_SECTOR_SIZE];
	uint64_t first = next_req;

	for (uint64_t s = 0; s < n; s++) {
		srt_fill(data, (uint8_t)(seed + s));
		srt_client_write(w, rank, 1, next_req++, s, data);
	}
	srt_run(w);
	for (uint64_t q = first; q < next_req; q++) {
		const srt_reply *r = srt_reply_for(w, rank, q);

		cr_assert_not_null(r, "write %llu through %u not answered", (unsigned long long)q,
				   rank);
		cr_assert_eq(r->status, ADD_STATUS_OK);
	}
}

/* Lets time pass (ticks, retransmissions) and delivers everything. */
static void settle(uint64_t ns)
{
	for (uint64_t t = 0; t < ns; t += 50 * MS) {
		srt_advance(w, 50 * MS);
		srt_run(w);
	}
}

static void expect_durable_seed(uint8_t rank, uint64_t sector, uint8_t seed)
{
	uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	srt_fill(want, (uint8_t)(seed + sector));
	srt_durable(w, rank, sector, &ts, &wr, got);
	cr_assert(ts > 0 && memcmp(got, want, ADD_SECTOR_SIZE) == 0,
		  "process %u sector %llu: not the last written value (ts %llu)", rank,
		  (unsigned long long)sector, (unsigned long long)ts);
}

Test(rejoin, fresh_cluster_founds_itself)
{
	w = srt_new_rejoin(3, 8);
	for (uint8_t r = 1; r <= 3; r++)
		cr_assert_eq(state_of(r), ADD_REJOIN_MEMBER, "rank %u", r);
	write_all(2, 8, 10);
	for (uint8_t r = 1; r <= 3; r++)
		expect_durable_seed(r, 7, 10);
	/* a plain restart keeps the membership (storage continues) */
	srt_crash(w, 1);
	srt_restart(w, 1);
	cr_assert_eq(state_of(1), ADD_REJOIN_MEMBER);
}

/* The measured sequence (real addd, N=3, 16 sectors), in the
 * scripted runtime: it must not return X once Y was acknowledged. */
Test(rejoin, wiped_node_sequence_loses_nothing)
{
	const uint64_t n = 16;
	uint64_t reads;

	w = srt_new_rejoin(3, n);
	write_all(1, n, 1);           /* X everywhere */
	srt_crash(w, 3);              /* 3 is down */
	write_all(1, n, 100);         /* Y, acknowledged by {1, 2} */
	srt_wipe(w, 2);               /* kill 2, delete its storage, restart it */
	srt_restart(w, 2);
	srt_run(w);
	cr_assert_eq(state_of(2), ADD_REJOIN_RECOVERING);
	srt_restart(w, 3);            /* start 3 */
	srt_run(w);
	cr_assert_eq(state_of(3), ADD_REJOIN_MEMBER);
	srt_crash(w, 1);              /* kill 1 */
	reads = next_req;
	for (uint64_t s = 0; s < n; s++) {
		srt_client_read(w, 2, 7, next_req++, s);
		srt_client_read(w, 3, 7, next_req++, s);
	}
	settle(3 * S);
	for (uint64_t q = reads; q < next_req; q++) {
		const srt_reply *r = srt_reply_for(w, (q - reads) % 2 ? 3 : 2, q);
		uint8_t want[ADD_SECTOR_SIZE];

		if (r == NULL)
			continue; /* waiting is allowed: answering X is not */
		srt_fill(want, (uint8_t)(100 + (q - reads) / 2));
		cr_assert_arr_eq(r->data, want, ADD_SECTOR_SIZE,
				 "read %llu returned an older value than an acknowledged write",
				 (unsigned long long)q);
	}
	cr_assert_eq(state_of(2), ADD_REJOIN_RECOVERING, "2 cannot re-learn without 1");
	srt_restart(w, 1);            /* once 1 is back: Y, and 2 completes */
	settle(5 * S);
	for (uint64_t q = reads; q < next_req; q++)
		cr_assert_not_null(srt_reply_for(w, (q - reads) % 2 ? 3 : 2, q), "read %llu",
				   (unsigned long long)q);
	cr_assert_eq(state_of(2), ADD_REJOIN_MEMBER);
	for (uint64_t s = 0; s < n; s++)
		expect_durable_seed(2, s, 100);
}

/* A recovering process's ACK of a sector it has not re-learned must not
 * count: the write's read phase completes with 3, then its WRITE_PROC to 3
 * is lost (and 2's repairs get no answers): 2's stored copy alone must not
 * complete the write. */
Test(rejoin, acks_of_unknown_sectors_do_not_count)
{
	uint8_t data[ADD_SECTOR_SIZE];
	uint64_t q;

	w = srt_new_rejoin(3, 4);
	write_all(1, 4, 1);
	srt_wipe(w, 2);
	srt_restart(w, 2);
	srt_run(w);
	cr_assert_eq(state_of(2), ADD_REJOIN_RECOVERING);
	srt_fill(data, 77);
	q = next_req++;
	srt_client_write(w, 1, 1, q, 0, data);
	for (unsigned steps = 0; w->n_msgs > 0; steps++) {
		const srt_msg *m = srt_msg_at(w, 0);

		cr_assert_lt(steps, 100000);
		if ((m->type == ADD_TYPE_WRITE_PROC && m->to == 3) ||
		    (m->type == ADD_TYPE_READ_PROC && m->from == 2))
			srt_drop(w, 0);
		else
			srt_deliver(w, 0);
	}
	cr_assert_null(srt_reply_for(w, 1, q),
		       "a write was acknowledged with one intact holder (2's ACK counted)");
	settle(3 * S); /* retransmissions reach 3; 2 re-learns */
	cr_assert_not_null(srt_reply_for(w, 1, q));
	cr_assert_eq(state_of(2), ADD_REJOIN_MEMBER);
	expect_durable_seed(2, 0, 77);
}

/* The rebuild re-learns every sector (more than REPAIRS_NODE_MAX at once). */
Test(rejoin, rebuild_relearns_every_sector)
{
	const uint64_t n = 40;

	w = srt_new_rejoin(3, n);
	write_all(1, n, 5);
	srt_wipe(w, 3);
	srt_restart(w, 3);
	srt_run(w);
	cr_assert_eq(state_of(3), ADD_REJOIN_RECOVERING);
	for (int i = 0; i < 400 && state_of(3) != ADD_REJOIN_MEMBER; i++)
		settle(100 * MS);
	cr_assert_eq(state_of(3), ADD_REJOIN_MEMBER);
	for (uint64_t s = 0; s < n; s++)
		expect_durable_seed(3, s, 5);
	/* and the other two can go: 3 alone with one of them serves Y */
	srt_crash(w, 1);
	uint64_t q = next_req++;
	srt_client_read(w, 3, 1, q, n - 1);
	settle(1 * S);
	const srt_reply *r = srt_reply_for(w, 3, q);
	uint8_t want[ADD_SECTOR_SIZE];
	cr_assert_not_null(r);
	srt_fill(want, (uint8_t)(5 + n - 1));
	cr_assert_arr_eq(r->data, want, ADD_SECTOR_SIZE);
}

/* A crash mid-rebuild resumes from the recorded cursor, still recovering. */
Test(rejoin, progress_is_durable)
{
	const uint64_t n = 3 * ADD_REJOIN_PERSIST_EVERY;

	w = srt_new_rejoin(3, n);
	write_all(1, 4, 9);
	srt_wipe(w, 2);
	srt_restart(w, 2);
	srt_run(w);
	for (int i = 0; i < 2000 && add_rejoin_known(w->procs[2].rj) < ADD_REJOIN_PERSIST_EVERY + 50;
	     i++)
		settle(50 * MS);
	cr_assert_geq(add_rejoin_known(w->procs[2].rj), ADD_REJOIN_PERSIST_EVERY + 50);
	cr_assert_eq(state_of(2), ADD_REJOIN_RECOVERING);
	srt_crash(w, 2);
	srt_restart(w, 2);
	cr_assert_eq(state_of(2), ADD_REJOIN_RECOVERING, "a crash must not make it a member");
	cr_assert_geq(add_rejoin_cursor(w->procs[2].rj), ADD_REJOIN_PERSIST_EVERY);
	cr_assert_lt(add_rejoin_cursor(w->procs[2].rj), n);
	for (int i = 0; i < 4000 && state_of(2) != ADD_REJOIN_MEMBER; i++)
		settle(50 * MS);
	cr_assert_eq(state_of(2), ADD_REJOIN_MEMBER);
	for (uint64_t s = 0; s < 4; s++)
		expect_durable_seed(2, s, 9);
}

/* A majority lost its storage: nobody guesses, reads and writes wait. */
Test(rejoin, majority_wiped_refuses)
{
	uint64_t q1, q3;

	w = srt_new_rejoin(3, 4);
	write_all(1, 4, 3);
	srt_wipe(w, 1);
	srt_wipe(w, 2);
	srt_restart(w, 1);
	srt_restart(w, 2);
	srt_run(w);
	q1 = next_req++;
	srt_client_read(w, 1, 1, q1, 2);
	q3 = next_req++;
	srt_client_read(w, 3, 1, q3, 2);
	settle(10 * S);
	/* recovering, or still fresh when the member never heard of it: either
	 * way nothing re-learned and nothing served */
	cr_assert_neq(state_of(1), ADD_REJOIN_MEMBER);
	cr_assert_neq(state_of(2), ADD_REJOIN_MEMBER);
	cr_assert(state_of(1) == ADD_REJOIN_RECOVERING || state_of(2) == ADD_REJOIN_RECOVERING);
	cr_assert_eq(add_rejoin_known(w->procs[1].rj), 0);
	cr_assert_eq(add_rejoin_known(w->procs[2].rj), 0);
	cr_assert_null(srt_reply_for(w, 1, q1), "a wiped majority answered a read");
	cr_assert_null(srt_reply_for(w, 3, q3), "a read was answered from a wiped majority");
	cr_assert_gt(w->log_warnings, 0, "the waiting processes say why");
	/* the documented force flag: members at once (writes may be lost) */
	w->rejoin_force = true;
	srt_crash(w, 1);
	srt_restart(w, 1);
	cr_assert_eq(state_of(1), ADD_REJOIN_MEMBER);
}

/* Everyone wiped at once is a new cluster (nobody holds anything to lose). */
Test(rejoin, all_wiped_is_a_new_cluster)
{
	w = srt_new_rejoin(3, 4);
	write_all(1, 4, 3);
	for (uint8_t r = 1; r <= 3; r++)
		srt_wipe(w, r);
	for (uint8_t r = 1; r <= 3; r++)
		srt_restart(w, r);
	srt_run(w);
	for (uint8_t r = 1; r <= 3; r++)
		cr_assert_eq(state_of(r), ADD_REJOIN_MEMBER, "rank %u", r);
	write_all(3, 4, 50);
}
