/*
 * Damaged local copies (store_ops.h, node.h "Damage"), with the scripted
 * runtime's fake store: a damaged copy never answers READ_PROC(_META) and
 * none of its bytes leave; a client op on a damaged sector runs after a
 * REPAIR that stores the highest value the others answered, once one is at
 * or above its own tag or every other answered; ops wait until then;
 * damage found while answering or deciding;
 * the background repair of what the store lists; scrub; the writers' floor.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "script_runtime.h"
#include "srt_expect.h"
#include "wire.h"

#define MS (1000ull * 1000)
#define S (1000ull * MS)

static srt_world *w;

static void teardown(void)
{
	if (w != NULL)
		srt_free(w);
	w = NULL;
}

TestSuite(node_damage, .fini = teardown);

static void seed_all(uint64_t sector, uint64_t ts, uint8_t wr, const uint8_t *data)
{
	for (uint8_t r = 1; r <= w->n; r++)
		srt_seed(w, r, sector, ts, wr, data);
}

static bool is_value(uint8_t type)
{
	return type == ADD_TYPE_VALUE || type == ADD_TYPE_VALUE_META;
}

/* Delivers everything (stores auto-complete) like srt_run, but drops the
 * READ_PROCs `rank` sends (its repairs never get their answers), and fails
 * if `rank` ever sends a VALUE or VALUE_META. */
static void run_starving_repairs_of(uint8_t rank)
{
	for (unsigned steps = 0; w->n_msgs > 0; steps++) {
		const srt_msg *m = srt_msg_at(w, 0);

		cr_assert_lt(steps, 100000);
		cr_assert_not(m->from == rank && is_value(m->type),
			      "the damaged process %u sent type %#x", rank, m->type);
		if (m->from == rank && m->type == ADD_TYPE_READ_PROC)
			srt_drop(w, 0);
		else
			srt_deliver(w, 0);
	}
}

static void expect_durable(uint8_t rank, uint64_t sector, uint64_t ts, uint8_t wr,
			   const uint8_t *want)
{
	uint8_t got[ADD_SECTOR_SIZE];
	uint64_t t;
	uint8_t r;

	srt_durable(w, rank, sector, &t, &r, got);
	cr_assert_eq(t, ts, "process %u sector %llu: ts %llu, want %llu", rank,
		     (unsigned long long)sector, (unsigned long long)t, (unsigned long long)ts);
	cr_assert_eq(r, wr);
	cr_assert_arr_eq(got, want, ADD_SECTOR_SIZE);
}

static void link(uint8_t a, uint8_t b, bool up)
{
	w->link_down[a][b] = !up;
	w->link_down[b][a] = !up;
}

/* ---- a damaged copy is never served ------------------------------------- */

Test(node_damage, a_damaged_replica_answers_no_read_proc_and_sends_no_data)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE], v9[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_fill(v9, 9);
	seed_all(4, 1, 1, v1);
	/* 3's (9, 3) reached nobody, and went bad: nothing the others write
	 * below it supersedes it */
	srt_seed(w, 3, 4, 9, 3, v9);
	srt_damage(w, 3, 4, false);
	/* a write's read phase (READ_PROC_META) and write phase */
	srt_client_write(w, 1, 1, 1, 4, v2);
	run_starving_repairs_of(3);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "the write completes with {1, 2}");
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 3, 0), 0);
	/* a read that asks for values: READ_PROC_META, then READ_PROC */
	srt_seed(w, 2, 4, 5, 2, v1); /* 2 newer than 1: the read asks again for values */
	srt_client_read(w, 1, 1, 2, 4);
	run_starving_repairs_of(3);
	r = srt_reply_for(w, 1, 2);
	cr_assert_not_null(r);
	cr_assert_arr_eq(r->data, v1, ADD_SECTOR_SIZE);
	cr_assert_geq(srt_stats(w, 3).reads_refused_damaged, 2, "READ_PROC(_META)s refused");
	cr_assert(srt_is_damaged(w, 3, 4), "its repair never got an answer");
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 3)), 1);
}

Test(node_damage, a_read_through_a_damaged_process_returns_the_others_highest_and_repairs_it)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_seed(w, 1, 7, 1, 1, v1);
	srt_seed(w, 2, 7, 2, 2, v2);
	srt_seed(w, 3, 7, 2, 2, v2);
	srt_damage(w, 3, 7, false);
	srt_client_read(w, 3, 1, 1, 7);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 3, 0), 2, "a repair asks both others");
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 3, 0), 0, "the read waits behind it");
	srt_run(w);
	r = srt_reply_for(w, 3, 1);
	cr_assert_not_null(r);
	cr_assert_eq(r->status, ADD_STATUS_OK);
	cr_assert_arr_eq(r->data, v2, ADD_SECTOR_SIZE, "the others' highest value");
	cr_assert_not(srt_is_damaged(w, 3, 7));
	expect_durable(3, 7, 2, 2, v2);
	cr_assert_eq(srt_store_of(w, 3)->repairs_total, 1);
	cr_assert_eq(srt_stats(w, 3).repairs_done, 1);
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 3)), 0);
	cr_assert_eq(srt_stats(w, 3).registers_active, 0);
	cr_assert_eq(srt_stats(w, 3).ops_completed, 1, "a repair is not a client op");
}

Test(node_damage, a_write_through_a_damaged_process_repairs_first_then_writes)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	seed_all(2, 3, 1, v1);
	srt_damage(w, 2, 2, false);
	srt_client_write(w, 2, 1, 1, 2, v2);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 2, 1));
	cr_assert_eq(srt_stats(w, 2).repairs_done, 1);
	for (uint8_t p = 1; p <= 3; p++)
		expect_durable(p, 2, 4, 2, v2);
}

/* ---- K others, never fewer, never the own copy -------------------------- */

Test(node_damage, ops_on_a_damaged_sector_wait_until_an_answer_reaches_its_tag_or_every_other_answered)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];
	const srt_reply *r;

	/* v2 was written by 2 with the majority {2, 3}; 1 missed it; 3's copy
	 * of it went bad. With only 1 reachable (below 3's tag, and not every
	 * other), 3 must not settle for v1. */
	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_seed(w, 1, 5, 1, 1, v1);
	srt_seed(w, 2, 5, 2, 2, v2);
	srt_seed(w, 3, 5, 2, 2, v2);
	srt_damage(w, 3, 5, false);
	link(2, 3, false);
	srt_client_read(w, 3, 1, 1, 5);
	for (int i = 0; i < 20; i++) {
		srt_run(w);
		srt_advance(w, 500 * MS);
	}
	cr_assert_null(srt_reply_for(w, 3, 1), "1's older answer is not enough");
	cr_assert(srt_is_damaged(w, 3, 5));
	cr_assert_eq(srt_store_of(w, 3)->repairs_total, 0);
	cr_assert_gt(srt_stats(w, 3).retransmissions, 0, "the repair is retransmitted");
	link(2, 3, true);
	srt_advance(w, 2 * S);
	srt_run(w);
	r = srt_reply_for(w, 3, 1);
	cr_assert_not_null(r, "answered once 2 is reachable");
	cr_assert_arr_eq(r->data, v2, ADD_SECTOR_SIZE);
	expect_durable(3, 5, 2, 2, v2);
}

Test(node_damage, one_process_cannot_repair_and_its_op_waits)
{
	uint8_t v1[ADD_SECTOR_SIZE];

	w = srt_new(1, 4);
	srt_fill(v1, 1);
	srt_seed(w, 1, 0, 1, 1, v1);
	srt_damage(w, 1, 0, false);
	srt_client_read(w, 1, 1, 1, 0);
	srt_advance(w, 10 * S);
	srt_run(w);
	cr_assert_null(srt_reply_for(w, 1, 1), "no other process: no repair, no answer");
	cr_assert_eq(w->n_msgs, 0);
	cr_assert_eq(srt_store_of(w, 1)->repairs_total, 0);
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 1)), 1);
	/* another sector is served as usual */
	srt_client_read(w, 1, 1, 2, 1);
	cr_assert_not_null(srt_reply_for(w, 1, 2));
}

Test(node_damage, two_processes_repair_from_the_one_other)
{
	uint8_t v1[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(2, 4);
	srt_fill(v1, 1);
	seed_all(3, 6, 1, v1);
	srt_damage(w, 2, 3, true); /* latent: found when the read decides */
	srt_client_read(w, 2, 1, 1, 3);
	srt_run(w);
	r = srt_reply_for(w, 2, 1);
	cr_assert_not_null(r);
	cr_assert_arr_eq(r->data, v1, ADD_SECTOR_SIZE);
	cr_assert_eq(srt_stats(w, 2).damaged_found, 1);
	cr_assert_eq(srt_stats(w, 2).repairs_done, 1);
	expect_durable(2, 3, 6, 1, v1);
}

/* ---- damage found while answering or deciding --------------------------- */

Test(node_damage, a_read_error_while_answering_sends_nothing_and_repairs)
{
	uint8_t v1[ADD_SECTOR_SIZE];
	const srt_reply *r;
	long i;

	w = srt_new_bare(3, 16); /* standard messages: reads ask for values */
	srt_fill(v1, 1);
	seed_all(9, 2, 3, v1);
	srt_damage(w, 3, 9, true);
	srt_store_of(w, 3)->read_error_rc = -5; /* -EIO: unreadable */
	srt_client_read(w, 1, 1, 1, 9);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 3);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE, 3, 1), 0, "nothing leaves");
	cr_assert_eq(srt_stats(w, 3).damaged_found, 1);
	cr_assert_eq(srt_stats(w, 3).reads_refused_damaged, 1);
	cr_assert(srt_is_damaged(w, 3, 9));
	cr_assert_gt(w->log_warnings, 0, "a WARN says so");
	i = srt_find(w, ADD_TYPE_READ_PROC, 3, 0);
	cr_assert_geq(i, 0, "3 repairs at once");
	srt_run(w);
	r = srt_reply_for(w, 1, 1);
	cr_assert_not_null(r);
	cr_assert_arr_eq(r->data, v1, ADD_SECTOR_SIZE);
	cr_assert_not(srt_is_damaged(w, 3, 9));
	expect_durable(3, 9, 2, 3, v1);
}

Test(node_damage, a_read_whose_own_value_is_unreadable_restarts_after_a_repair)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_seed(w, 1, 6, 4, 1, v2);
	srt_seed(w, 2, 6, 4, 1, v2);
	srt_seed(w, 3, 6, 1, 1, v1);
	srt_damage(w, 1, 6, true);
	srt_client_read(w, 1, 1, 1, 6);
	srt_run(w);
	r = srt_reply_for(w, 1, 1);
	cr_assert_not_null(r);
	cr_assert_arr_eq(r->data, v2, ADD_SECTOR_SIZE, "never the damaged bytes");
	cr_assert_eq(srt_stats(w, 1).damaged_found, 1);
	cr_assert_eq(srt_stats(w, 1).repairs_done, 1);
	expect_durable(1, 6, 4, 1, v2);
	for (size_t k = 0; k < w->n_replies; k++)
		cr_assert_eq(w->replies[k].request, 1, "one reply only");
}

Test(node_damage, a_write_proc_not_newer_than_a_damaged_copy_is_acked_only_after_the_repair)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_seed(w, 1, 3, 2, 2, v2);
	srt_seed(w, 2, 3, 1, 1, v1);
	srt_seed(w, 3, 3, 2, 2, v2);
	srt_damage(w, 3, 3, false);
	/* a read at 1 writes (2, 2) back */
	srt_client_read(w, 1, 1, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 3), 1, "a write-back");
	srt_drop_all(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 3);
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 3, 1), 0, "no ACK from a damaged copy");
	cr_assert_geq(srt_find(w, ADD_TYPE_READ_PROC, 3, 0), 0, "it repairs instead");
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	expect_durable(3, 3, 2, 2, v2);
	/* the retransmission is ACKed now (nothing stalls) */
	srt_advance(w, 3 * S);
	srt_run(w);
	cr_assert_eq(srt_stats(w, 1).registers_active, 0);
}

Test(node_damage, a_newer_write_proc_supersedes_a_damaged_copy)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	seed_all(1, 1, 1, v1);
	srt_damage(w, 3, 1, false);
	srt_client_write(w, 1, 1, 1, 1, v2);
	/* hold 3's repair answers until the write is through */
	for (unsigned k = 0; k < 1000 && w->n_msgs > 0; k++) {
		const srt_msg *m = srt_msg_at(w, 0);

		if (m->type == ADD_TYPE_READ_PROC && m->from == 3)
			srt_dup(w, 0), srt_drop(w, 0); /* to the back */
		else if (srt_reply_for(w, 1, 1) == NULL)
			srt_deliver(w, 0);
		else
			break;
	}
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	cr_assert_not(srt_is_damaged(w, 3, 1), "the newer store cleared the mark");
	srt_run(w);
	cr_assert_eq(srt_store_of(w, 3)->repairs_total, 0, "nothing left to repair");
	expect_durable(3, 1, 2, 1, v2);
	cr_assert_eq(srt_stats(w, 3).registers_active, 0);
}

/* ---- background repair and scrub ---------------------------------------- */

Test(node_damage, sectors_the_store_lists_as_damaged_are_repaired_in_the_background)
{
	uint8_t v[ADD_SECTOR_SIZE];
	add_node_stats st;

	w = srt_new(3, 64);
	for (uint64_t s = 0; s < 40; s++) {
		srt_fill(v, (uint8_t)s);
		seed_all(s, s + 1, 1, v);
		srt_damage(w, 2, s, false);
	}
	srt_reconfigure(w); /* as after a recovery that found them */
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 2)), 40);
	cr_assert_lt(add_node_next_tick_ns(srt_node(w, 2)), UINT64_MAX, "a tick is due");
	add_node_tick(srt_node(w, 2));
	st = srt_stats(w, 2);
	cr_assert_gt(st.registers_active, 0);
	cr_assert_leq(st.registers_active, 16, "a bounded number at a time");
	for (int i = 0; i < 40 && add_node_repairs_pending(srt_node(w, 2)) > 0; i++) {
		srt_run(w);
		srt_advance(w, 100 * MS);
	}
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 2)), 0);
	cr_assert_eq(srt_stats(w, 2).repairs_done, 40);
	for (uint64_t s = 0; s < 40; s++) {
		srt_fill(v, (uint8_t)s);
		cr_assert_not(srt_is_damaged(w, 2, s));
		expect_durable(2, s, s + 1, 1, v);
	}
	srt_run(w);
	cr_assert_eq(srt_stats(w, 2).registers_active, 0);
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 2)), UINT64_MAX, "nothing owed");
}

Test(node_damage, a_sector_busy_with_a_client_op_gets_one_repair_in_its_queue)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	seed_all(0, 1, 1, v1);
	srt_damage(w, 1, 0, false);
	srt_reconfigure(w); /* recovery found it */
	srt_client_write(w, 1, 1, 1, 0, v2); /* a repair runs first, messages held */
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 2);
	srt_advance(w, 60 * MS); /* the background walk finds the sector busy */
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 2, "no second repair");
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_store_of(w, 1)->repairs_total, 1);
	cr_assert_eq(srt_stats(w, 1).repairs_done, 1);
	for (uint8_t p = 1; p <= 3; p++)
		expect_durable(p, 0, 2, 1, v2);
	srt_advance(w, 60 * MS);
	cr_assert_eq(w->n_msgs, 0, "nothing left to repair");
}

Test(node_damage, scrub_verifies_every_written_sector_and_repairs_what_it_finds)
{
	uint8_t v[ADD_SECTOR_SIZE];
	size_t done;

	w = srt_new(3, 64);
	for (uint64_t s = 10; s < 20; s++) {
		srt_fill(v, (uint8_t)s);
		seed_all(s, 2, 2, v);
	}
	srt_damage(w, 1, 13, true);
	srt_damage(w, 1, 17, true);
	done = add_node_scrub_step(srt_node(w, 1), 4);
	cr_assert_eq(done, 4);
	cr_assert_eq(add_node_scrub_passes(srt_node(w, 1)), 0);
	cr_assert_eq(srt_stats(w, 1).damaged_found, 1, "13 is the 4th");
	done = add_node_scrub_step(srt_node(w, 1), 100);
	cr_assert_eq(done, 6, "the rest of the pass");
	cr_assert_eq(add_node_scrub_passes(srt_node(w, 1)), 1);
	cr_assert_eq(srt_stats(w, 1).scrubbed, 10);
	cr_assert_eq(srt_stats(w, 1).damaged_found, 2);
	cr_assert_eq(srt_stats(w, 2).scrubbed, 0);
	srt_run(w);
	cr_assert_eq(srt_stats(w, 1).repairs_done, 2);
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 1)), 0);
	for (uint64_t s = 10; s < 20; s++) {
		srt_fill(v, (uint8_t)s);
		expect_durable(1, s, 2, 2, v);
	}
	cr_assert_eq(add_node_scrub_step(srt_node(w, 1), 100), 10, "a second pass");
	cr_assert_eq(srt_stats(w, 1).damaged_found, 2, "finds nothing more");
}

/* ---- the writers' floor ------------------------------------------------- */

Test(node_damage, a_writer_picks_a_ts_above_the_stores_floor)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	seed_all(8, 2, 3, v1);
	srt_store_of(w, 1)->ts_floor = 7;
	srt_client_write(w, 1, 1, 1, 8, v2);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	for (uint8_t p = 1; p <= 3; p++)
		expect_durable(p, 8, 8, 1, v2);
}

Test(node_damage, a_repair_that_lowers_an_own_tag_raises_the_floor_of_later_writes)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE], v5[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_fill(v5, 5);
	seed_all(2, 2, 2, v1);
	srt_seed(w, 1, 2, 5, 1, v5); /* 1's write of (5, 1) reached nobody */
	srt_damage(w, 1, 2, false);
	srt_client_write(w, 1, 1, 1, 2, v2);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_store_of(w, 1)->ts_floor, 5);
	for (uint8_t p = 1; p <= 3; p++)
		expect_durable(p, 2, 6, 1, v2); /* not (3, 1) */
}

/* ---- stores without the damage ops -------------------------------------- */

Test(node_damage, a_store_without_damage_ops_works_as_before)
{
	uint8_t v1[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(3, 16);
	w->store_minimal_ops = true;
	srt_reconfigure(w);
	srt_fill(v1, 1);
	srt_client_write(w, 2, 1, 1, 3, v1);
	srt_run(w);
	srt_client_read(w, 3, 1, 2, 3);
	srt_run(w);
	r = srt_reply_for(w, 3, 2);
	cr_assert_not_null(r);
	cr_assert_arr_eq(r->data, v1, ADD_SECTOR_SIZE);
	cr_assert_eq(add_node_scrub_step(srt_node(w, 1), 10), 0);
	cr_assert_eq(add_node_repairs_pending(srt_node(w, 1)), 0);
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 1)), UINT64_MAX);
}

Test(node_damage, a_read_error_other_than_damage_stops_the_process)
{
	uint8_t v1[ADD_SECTOR_SIZE];

	w = srt_new_bare(3, 16);
	srt_fill(v1, 1);
	seed_all(2, 1, 1, v1);
	srt_damage(w, 3, 2, true);
	srt_store_of(w, 3)->read_error_rc = -22; /* -EINVAL: not damage, a bug */
	srt_client_read(w, 1, 1, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 3);
	cr_assert(add_node_failed(srt_node(w, 3)), "fatal, like a failed store");
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE, 3, 0), 0, "and nothing left");
	cr_assert_eq(srt_stats(w, 3).damaged_found, 0);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "the others complete the read");
}

/* Delivers every queued message (type, from -> to); fails if there is none. */
static void deliver_all(uint8_t type, uint8_t from, uint8_t to)
{
	long i;

	srt_expect_deliver(w, type, from, to);
	while ((i = srt_find(w, type, from, to)) >= 0)
		srt_deliver(w, (size_t)i);
}

/* N = 5: 2 writes (2, 2); 1 stores it and ACKs, then 1's copy goes bad. Its
 * repair hears 3, 4, 5 (all still (1, 1)) before 3 gets the WRITE_PROC;
 * then 3 ACKs and the write completes with {2, 1, 3}. Had the repair
 * stopped at K = 3 others, 1 would hold (1, 1), and a read through
 * {5, 1, 4} would return the value before a completed write. Below its own
 * tag, it waits for every other: 2's answer brings (2, 2). */
Test(node_damage, n5_a_repair_below_its_own_tag_waits_for_every_other_so_a_write_in_flight_survives)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(5, 4);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	seed_all(0, 1, 1, v1);
	srt_client_write(w, 2, 1, 1, 0, v2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 2, 3);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 2, 4);
	deliver_all(ADD_TYPE_VALUE_META, 3, 2);
	deliver_all(ADD_TYPE_VALUE_META, 4, 2);
	srt_drop_all(w, ADD_TYPE_READ_PROC_META, 2, 0);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 2, 0), 4, "the write phase");
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 1, 2), 1, "1 ACKs (2, 2) durably");
	srt_damage(w, 1, 0, false);
	srt_client_read(w, 1, 9, 100, 0); /* a repair runs first */
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 4);
	for (uint8_t p = 3; p <= 5; p++) {
		srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, p);
		deliver_all(ADD_TYPE_VALUE, p, 1);
	}
	cr_assert_eq(srt_stats(w, 1).repairs_done, 0, "K = 3 others, all below (2, 2): waits");
	cr_assert(srt_is_damaged(w, 1, 0));
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 2, 3);
	deliver_all(ADD_TYPE_ACK, 1, 2);
	deliver_all(ADD_TYPE_ACK, 3, 2);
	cr_assert_not_null(srt_reply_for(w, 2, 1), "the write of v2 completed");
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	deliver_all(ADD_TYPE_VALUE, 2, 1);
	cr_assert_eq(srt_stats(w, 1).repairs_done, 1);
	expect_durable(1, 0, 2, 2, v2);
	while (w->n_msgs > 0)
		srt_drop(w, 0);
	/* a read at 5 through {5, 1, 4}: whatever 2 and 3 would say is lost */
	srt_client_read(w, 5, 1, 2, 0);
	for (unsigned k = 0; k < 1000 && w->n_msgs > 0; k++) {
		const srt_msg *m = srt_msg_at(w, 0);
		bool among = (m->from == 1 || m->from == 4 || m->from == 5) &&
			     (m->to == 1 || m->to == 4 || m->to == 5);

		if (among)
			srt_deliver(w, 0);
		else
			srt_drop(w, 0);
	}
	r = srt_reply_for(w, 5, 2);
	cr_assert_not_null(r, "the read completes through {5, 1, 4}");
	cr_assert_arr_eq(r->data, v2, ADD_SECTOR_SIZE, "never the value before a completed write");
}

Test(node_damage, a_repair_completes_with_the_first_answer_at_or_above_its_own_tag)
{
	uint8_t v1[ADD_SECTOR_SIZE];

	/* N = 5 with three others down: one answer holding the damaged copy's
	 * tag is enough */
	w = srt_new(5, 4);
	srt_fill(v1, 1);
	seed_all(1, 4, 3, v1);
	srt_damage(w, 1, 1, false);
	for (uint8_t p = 3; p <= 5; p++)
		link(1, p, false);
	srt_client_read(w, 1, 1, 1, 1);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	deliver_all(ADD_TYPE_VALUE, 2, 1);
	cr_assert_eq(srt_stats(w, 1).repairs_done, 1);
	expect_durable(1, 1, 4, 3, v1);
}

/* 3's repair has 1's older answer; then 3 stores and ACKs a newer write
 * (3, 1), whose copy goes bad too; then 2's answer, given before 2 saw the
 * write, arrives. Deciding now would put 3 below the write it ACKed (the
 * write completes with {1, 3}): the repair asks again instead. */
Test(node_damage, a_repair_whose_sector_was_rewritten_and_damaged_again_asks_again)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE], v3[ADD_SECTOR_SIZE];
	const srt_reply *r;

	w = srt_new(3, 4);
	srt_fill(v1, 1);
	srt_fill(v2, 2);
	srt_fill(v3, 3);
	srt_seed(w, 1, 0, 1, 1, v1);
	srt_seed(w, 2, 0, 2, 2, v2);
	srt_seed(w, 3, 0, 2, 2, v2);
	srt_damage(w, 3, 0, false);
	srt_reconfigure(w);
	srt_advance(w, 60 * MS); /* the background repair starts */
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 3, 0), 2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 3, 2); /* 2 answers (2, 2) now */
	deliver_all(ADD_TYPE_VALUE, 1, 3);              /* (1, 1): below (2, 2) */
	/* a write of v3 at 1 with {1, 3}: (3, 1) */
	srt_client_write(w, 1, 1, 1, 0, v3);
	srt_drop_all(w, ADD_TYPE_READ_PROC_META, 1, 3);
	deliver_all(ADD_TYPE_READ_PROC_META, 1, 2);
	deliver_all(ADD_TYPE_VALUE_META, 2, 1);
	srt_drop_all(w, ADD_TYPE_WRITE_PROC, 1, 2);
	deliver_all(ADD_TYPE_WRITE_PROC, 1, 3); /* newer: stored, clears the mark */
	cr_assert_not(srt_is_damaged(w, 3, 0));
	deliver_all(ADD_TYPE_ACK, 3, 1);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "the write completed with {1, 3}");
	srt_damage(w, 3, 0, false); /* and 3's new copy goes bad */
	deliver_all(ADD_TYPE_VALUE, 2, 3); /* the old answer: (2, 2) */
	cr_assert_eq(srt_stats(w, 3).repairs_done, 0, "not from answers older than its ACK");
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 3, 0), 2, "it asks again");
	srt_run(w);
	cr_assert_eq(srt_stats(w, 3).repairs_done, 1);
	expect_durable(3, 0, 3, 1, v3);
	/* a read at 2 through {2, 3} sees the write */
	srt_client_read(w, 2, 1, 2, 0);
	for (unsigned k = 0; k < 1000 && w->n_msgs > 0; k++) {
		const srt_msg *m = srt_msg_at(w, 0);

		if ((m->from == 2 || m->from == 3) && (m->to == 2 || m->to == 3))
			srt_deliver(w, 0);
		else
			srt_drop(w, 0);
	}
	r = srt_reply_for(w, 2, 2);
	cr_assert_not_null(r);
	cr_assert_arr_eq(r->data, v3, ADD_SECTOR_SIZE);
}
