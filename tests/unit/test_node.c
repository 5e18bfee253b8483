/*
 * core/node: one process around the registers. Client statuses, queues per
 * sector, concurrency across sectors, register lifetime, crashes and
 * restarts, stubborn links, self-delivery, robustness to the network.
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

TestSuite(node, .fini = teardown);

/* Delivers the messages about one sector until there are none. */
static void deliver_sector(uint64_t sector)
{
	for (size_t i = 0; i < w->n_msgs;) {
		if (add_get_be64(srt_msg_at(w, i)->bytes + ADD_PEER_OFF_SECTOR) == sector)
			srt_deliver(w, i), i = 0;
		else
			i++;
	}
}

static void expect_read(uint8_t rank, uint64_t request, uint64_t sector,
			const uint8_t want[ADD_SECTOR_SIZE])
{
	const srt_reply *r;

	srt_client_read(w, rank, 1, request, sector);
	srt_run(w);
	r = srt_reply_for(w, rank, request);
	cr_assert_not_null(r, "read %llu at %u answered", (unsigned long long)request, rank);
	cr_assert_eq(r->status, ADD_STATUS_OK);
	cr_assert_arr_eq(r->data, want, ADD_SECTOR_SIZE);
}

/* ---- client commands ---------------------------------------------------- */

Test(node, client_command_with_bad_hmac_gets_status_1)
{
	const srt_reply *r;

	w = srt_new(3, 16);
	srt_client_bad_hmac(w, 1, 4, 0x1122334455667788ull, ADD_TYPE_WRITE, 2);
	r = srt_reply_for(w, 1, 0x1122334455667788ull);
	cr_assert_not_null(r, "answered at once");
	cr_assert_eq(r->status, ADD_STATUS_AUTH_FAILURE);
	cr_assert_eq(r->type, ADD_TYPE_WRITE_RESPONSE);
	cr_assert_eq(r->len, ADD_RSP_EMPTY_SIZE);
	cr_assert(r->hmac_ok, "signed with the client key");
	cr_assert_eq(r->conn, 4);
	cr_assert_eq(w->n_msgs, 0, "no operation started");
	cr_assert_eq(srt_stats(w, 1).bad_hmac_client, 1);
	srt_client_bad_hmac(w, 1, 4, 9, ADD_TYPE_READ, 2);
	cr_assert_eq(srt_reply_for(w, 1, 9)->type, ADD_TYPE_READ_RESPONSE);
	cr_assert_eq(srt_reply_for(w, 1, 9)->status, ADD_STATUS_AUTH_FAILURE);
}

Test(node, sector_out_of_range_gets_status_2)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 1);
	srt_client_read(w, 1, 1, 1, 16);
	srt_client_write(w, 1, 1, 2, UINT64_MAX, v);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_INVALID_SECTOR_INDEX);
	cr_assert_eq(srt_reply_for(w, 1, 1)->len, ADD_RSP_EMPTY_SIZE);
	cr_assert_eq(srt_reply_for(w, 1, 2)->status, ADD_STATUS_INVALID_SECTOR_INDEX);
	cr_assert_eq(srt_reply_for(w, 1, 2)->type, ADD_TYPE_WRITE_RESPONSE);
	cr_assert_eq(w->n_msgs, 0);
}

Test(node, reply_comes_only_after_the_register_completes)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 2);
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_null(srt_reply_for(w, 1, 1));
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	cr_assert_eq(srt_reply_for(w, 1, 1)->len, ADD_RSP_EMPTY_SIZE);
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 0);
}

Test(node, closed_connection_gets_no_reply_and_its_unstarted_write_is_abandoned)
{
	uint8_t v[ADD_SECTOR_SIZE], got[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(v, 3);
	srt_client_write(w, 1, 7, 1, 0, v);
	add_node_on_connection_closed(srt_node(w, 1), 7);
	srt_run(w);
	cr_assert_null(srt_reply_for(w, 1, 1));
	/* still in its read phase: no tag chosen, nothing written
	 * (test_node_abandon.c has the cases past the tag) */
	cr_assert_eq(srt_stats(w, 1).ops_completed, 0);
	cr_assert_eq(srt_stats(w, 1).ops_abandoned, 1);
	srt_durable(w, 2, 0, &ts, &wr, got);
	cr_assert_eq(ts, 0);
}

Test(node, backpressure_when_pending_client_commands_reach_the_bound)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	w->cfg.client_cmds_max = 2;
	srt_reconfigure(w);
	srt_fill(v, 4);
	cr_assert(add_node_accepting_clients(srt_node(w, 1)));
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert(add_node_accepting_clients(srt_node(w, 1)));
	srt_client_write(w, 1, 2, 2, 1, v);
	cr_assert_not(add_node_accepting_clients(srt_node(w, 1)));
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 2);
	srt_run(w);
	cr_assert(add_node_accepting_clients(srt_node(w, 1)));
}

/* ---- queues and concurrency -------------------------------------------- */

Test(node, different_sectors_proceed_concurrently)
{
	uint8_t a[ADD_SECTOR_SIZE], b[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(a, 1);
	srt_fill(b, 2);
	srt_client_write(w, 1, 1, 1, 3, a);
	srt_client_write(w, 1, 2, 2, 4, b);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 4, "both ops broadcast at once");
	/* the second completes while the first has not even left its read phase */
	deliver_sector(4);
	cr_assert_not_null(srt_reply_for(w, 1, 2));
	cr_assert_null(srt_reply_for(w, 1, 1));
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
}

Test(node, same_sector_commands_complete_in_fifo_order)
{
	uint8_t v[3][ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	for (int i = 0; i < 3; i++) {
		srt_fill(v[i], (uint8_t)(10 + i));
		srt_client_write(w, 1, (uint64_t)(1 + i), (uint64_t)(1 + i), 5, v[i]);
	}
	srt_client_read(w, 1, 4, 4, 5);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 2, "one op at a time per sector");
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 4);
	srt_run(w);
	cr_assert_eq(w->n_replies, 4);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(w->replies[i].request, i + 1, "reply %zu in order", i);
	cr_assert_arr_eq(w->replies[3].data, v[2], ADD_SECTOR_SIZE, "the read sees the last");
}

Test(node, commands_to_different_processes_on_one_sector_are_linearized)
{
	uint8_t a[ADD_SECTOR_SIZE], b[ADD_SECTOR_SIZE], got1[ADD_SECTOR_SIZE];
	uint64_t ts1, ts2;
	uint8_t wr1, wr2;

	w = srt_new(3, 16);
	srt_fill(a, 1);
	srt_fill(b, 2);
	srt_client_write(w, 1, 1, 1, 0, a);
	srt_client_write(w, 2, 1, 1, 0, b);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	cr_assert_not_null(srt_reply_for(w, 2, 1));
	/* both wrote; every process converged on one winner */
	srt_client_read(w, 3, 1, 2, 0);
	srt_run(w);
	memcpy(got1, srt_reply_for(w, 3, 2)->data, ADD_SECTOR_SIZE);
	cr_assert(memcmp(got1, a, ADD_SECTOR_SIZE) == 0 || memcmp(got1, b, ADD_SECTOR_SIZE) == 0);
	expect_read(1, 3, 0, got1);
	expect_read(2, 4, 0, got1);
	srt_durable(w, 1, 0, &ts1, &wr1, NULL);
	srt_durable(w, 2, 0, &ts2, &wr2, NULL);
	cr_assert(ts1 == ts2 && wr1 == wr2);
}

/* ---- register lifetime -------------------------------------------------- */

Test(node, registers_exist_only_while_work_is_in_flight)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, ADD_N_SECTORS_MAX);
	srt_fill(v, 5);
	for (uint64_t i = 0; i < 100; i++)
		srt_client_write(w, 1, 1, i, i * 20011 % ADD_N_SECTORS_MAX, v);
	cr_assert_eq(srt_stats(w, 1).registers_active, 100);
	/* a replica answers READ_PROC straight from its store */
	for (long i; (i = srt_find(w, ADD_TYPE_READ_PROC_META, 1, 2)) >= 0;)
		srt_deliver(w, (size_t)i);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 2, 1), 100);
	cr_assert_eq(srt_stats(w, 2).registers_active, 0);
	srt_run(w);
	cr_assert_eq(w->n_replies, 100);
	for (uint8_t p = 1; p <= 3; p++)
		cr_assert_eq(srt_stats(w, p).registers_active, 0, "process %u idle", p);
}

Test(node, replica_keeps_a_register_only_while_its_store_is_pending)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_store_of(w, 2)->auto_complete = false;
	srt_fill(v, 6);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "1 and 3 are a majority");
	cr_assert_eq(srt_stats(w, 2).registers_active, 1, "2's store is still pending");
	while (srt_store_complete(w, 2))
		;
	cr_assert_eq(srt_stats(w, 2).registers_active, 0);
}

/* ---- crashes ------------------------------------------------------------ */

Test(node, three_processes_complete_a_write_with_one_crashed)
{
	uint8_t v[ADD_SECTOR_SIZE], got[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(v, 7);
	srt_crash(w, 3);
	srt_client_write(w, 1, 1, 1, 2, v);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	for (uint8_t p = 1; p <= 2; p++) {
		srt_durable(w, p, 2, &ts, &wr, got);
		cr_assert_eq(ts, 1);
		cr_assert_eq(wr, 1);
		cr_assert_arr_eq(got, v, ADD_SECTOR_SIZE);
	}
	expect_read(2, 2, 2, v);
}

Test(node, nothing_completes_and_nothing_is_stored_with_two_of_three_crashed)
{
	uint8_t v[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(v, 8);
	srt_crash(w, 2);
	srt_crash(w, 3);
	srt_client_write(w, 1, 1, 1, 2, v);
	srt_client_read(w, 1, 2, 2, 3);
	for (int i = 0; i < 20; i++) {
		srt_run(w);
		srt_advance(w, 1 * S);
	}
	cr_assert_eq(w->n_replies, 0);
	cr_assert_eq(srt_store_of(w, 1)->stores_total, 0, "nothing stored");
	srt_current(w, 1, 2, &ts, &wr, NULL);
	cr_assert_eq(ts, 0);
	/* and once one comes back, both complete */
	srt_restart(w, 2);
	add_node_on_peer_connected(srt_node(w, 1), 2);
	srt_run(w);
	cr_assert_eq(w->n_replies, 2);
}

Test(node, restarted_process_recovers_its_durable_state_only)
{
	uint8_t v[ADD_SECTOR_SIZE], got[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(v, 9);
	srt_client_write(w, 1, 1, 1, 1, v);
	srt_run(w);
	srt_crash(w, 2);
	srt_restart(w, 2);
	cr_assert_eq(srt_stats(w, 2).registers_active, 0, "nothing resumed");
	srt_current(w, 2, 1, &ts, &wr, got);
	cr_assert_eq(ts, 1);
	cr_assert_arr_eq(got, v, ADD_SECTOR_SIZE);
	expect_read(2, 2, 1, v);
}

Test(node, writer_crash_before_its_store_is_durable_loses_only_that_write)
{
	uint8_t x[ADD_SECTOR_SIZE], y[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(x, 1);
	srt_fill(y, 2);
	srt_client_write(w, 1, 1, 1, 0, x);
	srt_run(w);
	srt_store_of(w, 1)->auto_complete = false;
	srt_client_write(w, 1, 1, 2, 0, y);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_store_pending(w, 1), 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 0, 0), 0);
	srt_crash(w, 1);
	srt_store_of(w, 1)->auto_complete = true;
	srt_restart(w, 1);
	srt_run(w);
	srt_durable(w, 1, 0, &ts, &wr, NULL);
	cr_assert_eq(ts, 1, "y was never durable anywhere");
	expect_read(3, 3, 0, x);
	expect_read(1, 4, 0, x);
}

Test(node, coordinator_crash_mid_write_then_restart_stays_linearizable)
{
	uint8_t x[ADD_SECTOR_SIZE], y[ADD_SECTOR_SIZE], z[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(x, 1);
	srt_fill(y, 2);
	srt_fill(z, 3);
	srt_client_write(w, 1, 1, 1, 0, x);
	srt_run(w);
	/* y reaches 1 (durable) and 2, not 3; then 1 crashes before any ACK */
	srt_client_write(w, 1, 1, 2, 0, y);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	srt_drop_all(w, ADD_TYPE_WRITE_PROC, 1, 3);
	srt_crash(w, 1);
	cr_assert_null(srt_reply_for(w, 1, 2));
	srt_run(w); /* the ACK from 2 reaches nobody */
	srt_restart(w, 1);
	srt_durable(w, 1, 0, &ts, &wr, NULL);
	cr_assert_eq(ts, 2, "the restarted writer kept its durable y");
	cr_assert_eq(wr, 1);
	/* a read from 3 whose majority is {3, 1}: y (the write may take effect) */
	srt_client_read(w, 3, 1, 3, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 3, 1); /* tags first: 1 is ahead */
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE, 1, 3);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 3, 3)->data, y, ADD_SECTOR_SIZE);
	/* once a read returned y, every later read does, wherever it runs */
	for (uint8_t p = 1; p <= 3; p++)
		expect_read(p, 10 + p, 0, y);
	/* a later write gets a higher ts than the interrupted one */
	srt_client_write(w, 1, 1, 20, 0, z);
	srt_run(w);
	srt_durable(w, 3, 0, &ts, &wr, NULL);
	cr_assert_eq(ts, 3);
	for (uint8_t p = 1; p <= 3; p++)
		expect_read(p, 30 + p, 0, z);
}

Test(node, interrupted_write_is_either_old_or_new_never_flipping_back)
{
	uint8_t x[ADD_SECTOR_SIZE], y[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(x, 1);
	srt_fill(y, 2);
	srt_client_write(w, 1, 1, 1, 0, x);
	srt_run(w);
	/* y reaches only 1 (durable); 1 crashes and stays down */
	srt_client_write(w, 1, 1, 2, 0, y);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_crash(w, 1);
	srt_drop_all(w, 0, 0, 0); /* its WRITE_PROCs never got out */
	/* 2 and 3 have not seen y: reads return x */
	expect_read(2, 3, 0, x);
	/* 1 comes back with y: a read including 1 returns y, and from then on y */
	srt_restart(w, 1);
	srt_client_read(w, 2, 1, 4, 0);
	srt_drop_all(w, ADD_TYPE_READ_PROC, 2, 3);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 2, 4)->data, y, ADD_SECTOR_SIZE);
	expect_read(3, 5, 0, y);
}

/* ---- stubborn links ----------------------------------------------------- */

/* The per-peer counts (metrics: add_retransmissions_total{peer}) name the
 * rank each retransmission went to, and sum to the total. */
Test(node, retransmissions_are_counted_per_destination_rank)
{
	uint8_t v[ADD_SECTOR_SIZE];
	add_node_stats st;

	w = srt_new(3, 16);
	srt_fill(v, 12);
	w->link_down[1][2] = w->link_down[1][3] = true;
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_advance(w, 700 * MS); /* retransmitted at 100, 300 and 700 ms */
	st = srt_stats(w, 1);
	cr_assert_eq(st.retransmissions, 6);
	cr_assert_eq(st.retransmissions_to[2], 3);
	cr_assert_eq(st.retransmissions_to[3], 3);
	cr_assert_eq(st.retransmissions_to[1], 0, "never to itself");
	cr_assert_eq(st.retransmissions_to[0], 0);
	cr_assert_eq(srt_stats(w, 2).retransmissions_to[1], 0);
}

Test(node, dropped_messages_are_retransmitted_with_backoff_until_acknowledged)
{
	uint8_t v[ADD_SECTOR_SIZE];
	uint64_t before;

	w = srt_new(3, 16);
	srt_fill(v, 11);
	w->link_down[1][2] = w->link_down[1][3] = true;
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_eq(w->procs[1].peer_sends, 2);
	srt_advance(w, 99 * MS);
	cr_assert_eq(srt_stats(w, 1).retransmissions, 0);
	srt_advance(w, 1 * MS); /* t = 100 ms */
	cr_assert_eq(srt_stats(w, 1).retransmissions, 2);
	srt_advance(w, 200 * MS); /* t = 300 ms: the interval doubled */
	cr_assert_eq(srt_stats(w, 1).retransmissions, 4);
	srt_advance(w, 399 * MS);
	cr_assert_eq(srt_stats(w, 1).retransmissions, 4);
	srt_advance(w, 1 * MS); /* t = 700 ms */
	cr_assert_eq(srt_stats(w, 1).retransmissions, 6);
	srt_advance(w, 20 * S); /* 1.5 s, then capped at 2 s */
	before = srt_stats(w, 1).retransmissions;
	srt_advance(w, 10 * S);
	cr_assert_eq(srt_stats(w, 1).retransmissions - before, 2 * 5, "every 2 s to each");
	cr_assert_null(srt_reply_for(w, 1, 1));
	/* the links come back: the next retransmission gets through */
	w->link_down[1][2] = w->link_down[1][3] = false;
	srt_advance(w, 2 * S);
	srt_run(w);
	/* the write phase's WRITE_PROC went out at once, no retransmission needed */
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	before = srt_stats(w, 1).retransmissions;
	srt_advance(w, 60 * S);
	cr_assert_eq(srt_stats(w, 1).retransmissions, before, "nothing owed once acknowledged");
	cr_assert_eq(w->n_msgs, 0);
}

Test(node, only_the_processes_that_have_not_answered_get_retransmissions)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(5, 16);
	srt_fill(v, 12);
	w->link_down[1][4] = w->link_down[1][5] = true;
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_advance(w, 100 * MS);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 2), 0, "2 answered");
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 3), 2, "3 did not (yet)");
	cr_assert_eq(srt_stats(w, 1).retransmissions, 3);
}

Test(node, next_tick_deadline_follows_the_operations_in_flight)
{
	uint8_t v[ADD_SECTOR_SIZE];
	uint64_t t0;

	w = srt_new(3, 16);
	srt_fill(v, 16);
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 1)), UINT64_MAX, "nothing owed");
	t0 = w->now_ns;
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 1)), t0 + 100 * MS);
	srt_drop_all(w, 0, 0, 0);
	srt_advance(w, 100 * MS);
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 1)), t0 + 300 * MS, "backed off");
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 1)), UINT64_MAX);
}

Test(node, write_proc_is_retransmitted_until_a_majority_acks)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 13);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_drop_all(w, 0, 0, 0);
	cr_assert_eq(srt_stats(w, 1).retransmissions, 0);
	srt_advance(w, 100 * MS);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 2);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
}

Test(node, peer_reconnection_triggers_an_immediate_retransmission)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 14);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_drop_all(w, 0, 0, 0);
	add_node_on_peer_connected(srt_node(w, 1), 3);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 3), 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 2), 0);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
}

Test(node, write_survives_a_replica_restart_in_the_middle)
{
	uint8_t v[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(v, 15);
	srt_crash(w, 3);
	srt_store_of(w, 2)->auto_complete = false;
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	/* 2 crashes with the store (and so its ACK) pending, then returns */
	srt_crash(w, 2);
	srt_store_of(w, 2)->auto_complete = true;
	srt_restart(w, 2);
	srt_drop_all(w, 0, 0, 0);
	add_node_on_peer_connected(srt_node(w, 1), 2);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	srt_durable(w, 2, 0, &ts, &wr, NULL);
	cr_assert_eq(ts, 1);
}

/* ---- the network -------------------------------------------------------- */

Test(node, internal_message_with_bad_hmac_is_dropped)
{
	long i;

	w = srt_new(3, 16);
	srt_client_read(w, 1, 1, 1, 0);
	i = srt_find(w, ADD_TYPE_READ_PROC_META, 1, 2);
	w->msgs[i].bytes[w->msgs[i].len - 1] ^= 1;
	srt_deliver(w, (size_t)i);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 2, 0), 0);
	cr_assert_eq(srt_stats(w, 2).bad_hmac_peer, 1);
}

Test(node, message_from_an_unknown_rank_is_dropped)
{
	add_peer_msg m = { .type = ADD_TYPE_READ_PROC, .sector = 0 };

	w = srt_new(3, 16);
	m.rank = 0;
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	m.rank = 4;
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	m.rank = 1; /* its own rank, from the wire */
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	cr_assert_eq(w->n_msgs, 0);
	cr_assert_eq(srt_stats(w, 1).peer_msgs_dropped, 3);
}

Test(node, duplicated_and_reordered_messages_do_not_break_anything)
{
	uint8_t v[4][ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	for (int i = 0; i < 4; i++)
		srt_fill(v[i], (uint8_t)(20 + i));
	srt_client_write(w, 1, 1, 1, 0, v[0]);
	srt_client_write(w, 2, 1, 1, 1, v[1]);
	srt_client_read(w, 3, 1, 1, 0);
	srt_client_write(w, 3, 2, 2, 1, v[2]);
	srt_client_write(w, 1, 2, 2, 0, v[3]);
	for (int round = 0; round < 50 && w->n_msgs > 0; round++) {
		size_t n = w->n_msgs;

		for (size_t i = 0; i < n; i += 2)
			srt_dup(w, i);
		srt_deliver_all_reversed(w);
		srt_advance(w, 100 * MS);
	}
	srt_run(w);
	cr_assert_eq(w->n_replies, 5, "each command answered exactly once");
	for (size_t i = 0; i < w->n_replies; i++)
		cr_assert_eq(w->replies[i].status, ADD_STATUS_OK);
	expect_read(2, 10, 0, v[3]);
	for (uint8_t p = 1; p <= 3; p++) {
		cr_assert_eq(srt_stats(w, p).bad_hmac_peer, 0);
		cr_assert_eq(srt_stats(w, p).registers_active, 0);
	}
}

Test(node, operation_uuids_are_unique_across_operations_and_restarts)
{
	uint8_t seen[8][ADD_UUID_SIZE];
	int n = 0;

	w = srt_new(3, 16);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 4; i++) {
			long k;

			srt_client_read(w, 1, 1, (uint64_t)(round * 10 + i), (uint64_t)i);
			k = srt_find(w, ADD_TYPE_READ_PROC_META, 1, 2);
			memcpy(seen[n++], w->msgs[k].bytes + ADD_PEER_OFF_UUID, ADD_UUID_SIZE);
			srt_drop_all(w, 0, 0, 0);
		}
		srt_crash(w, 1);
		srt_restart(w, 1);
	}
	for (int a = 0; a < n; a++)
		for (int b = a + 1; b < n; b++)
			cr_assert(memcmp(seen[a], seen[b], ADD_UUID_SIZE) != 0, "%d vs %d", a, b);
}

Test(node, absurd_timestamps_from_a_peer_are_refused)
{
	uint8_t v[ADD_SECTOR_SIZE];
	add_peer_msg m = {
		.type = ADD_TYPE_WRITE_PROC,
		.rank = 2,
		.sector = 0,
		.ts = UINT64_MAX,
		.wr = 2,
		.data = v,
	};
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(v, 17);
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	cr_assert_eq(srt_stats(w, 1).peer_msgs_dropped, 1);
	cr_assert_eq(w->n_msgs, 0, "no ACK");
	srt_current(w, 1, 0, &ts, &wr, NULL);
	cr_assert_eq(ts, 0, "not adopted: a later maxts + 1 would wrap to 0");
}

Test(node, a_write_costs_one_store_per_process_and_n_minus_1_sends_per_broadcast)
{
	uint8_t v[ADD_SECTOR_SIZE];
	long a, b;

	w = srt_new(5, 16);
	srt_fill(v, 18);
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_eq(w->procs[1].peer_sends, 4, "READ_PROC to the 4 others, none to self");
	for (uint8_t p = 2; p <= 5; p++)
		srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, p);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 3, 1);
	cr_assert_eq(w->procs[1].peer_sends, 8, "then WRITE_PROC to the 4 others");
	/* one encoding per broadcast: every peer gets the same bytes */
	a = srt_find(w, ADD_TYPE_WRITE_PROC, 1, 2);
	b = srt_find(w, ADD_TYPE_WRITE_PROC, 1, 5);
	cr_assert_arr_eq(w->msgs[a].bytes, w->msgs[b].bytes, ADD_PEER_VALUE_SIZE);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	for (uint8_t p = 1; p <= 5; p++)
		cr_assert_eq(srt_store_of(w, p)->stores_total, 1, "process %u stored once", p);
	cr_assert_eq(w->procs[1].peer_sends, 8, "no retransmission in a clean run");
	for (uint8_t p = 2; p <= 5; p++)
		cr_assert_eq(w->procs[p].peer_sends, 2, "one VALUE and one ACK from %u", p);
}

Test(node, a_read_of_an_up_to_date_sector_stores_nothing)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 19);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_run(w);
	srt_client_read(w, 2, 1, 2, 0);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 2, 2)->data, v, ADD_SECTOR_SIZE);
	for (uint8_t p = 1; p <= 3; p++)
		cr_assert_eq(srt_store_of(w, p)->stores_total, 1, "the write-back stored nothing new");
}

Test(node, retransmitted_write_proc_is_reused_byte_for_byte)
{
	uint8_t v[ADD_SECTOR_SIZE], first[ADD_PEER_VALUE_SIZE];
	long i;

	w = srt_new(3, 16);
	srt_fill(v, 20);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	i = srt_find(w, ADD_TYPE_WRITE_PROC, 1, 3);
	memcpy(first, w->msgs[i].bytes, sizeof(first));
	srt_drop_all(w, 0, 0, 0);
	srt_advance(w, 100 * MS);
	i = srt_find(w, ADD_TYPE_WRITE_PROC, 1, 3);
	cr_assert_geq(i, 0);
	cr_assert_arr_eq(w->msgs[i].bytes, first, sizeof(first));
}

Test(node, a_failed_store_stops_the_process_like_a_crash)
{
	uint8_t v[ADD_SECTOR_SIZE];
	size_t sent;

	w = srt_new(3, 16);
	srt_fill(v, 21);
	srt_store_of(w, 2)->fail_stores = true;
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK, "1 and 3 are a majority");
	cr_assert(add_node_failed(srt_node(w, 2)));
	cr_assert_geq(w->log_warnings, 1, "the failure is logged");
	/* it answers nothing any more */
	sent = w->procs[2].peer_sends;
	srt_client_read(w, 1, 1, 2, 0);
	srt_run(w);
	cr_assert_eq(w->procs[2].peer_sends, sent);
	cr_assert_eq(srt_reply_for(w, 1, 2)->status, ADD_STATUS_OK);
	cr_assert_not(add_node_failed(srt_node(w, 1)));
}

Test(node, commands_split_across_reads_and_batched_in_one_read_are_all_served)
{
	uint8_t v[ADD_SECTOR_SIZE], stream[3 * ADD_CMD_WRITE_SIZE];
	add_hmac_key key;
	add_wire_decoder dec;
	size_t len = 0;
	add_node *n;

	w = srt_new(3, 16);
	srt_fill(v, 22);
	cr_assert_eq(add_hmac_key_init(&key, w->cfg.client_key, ADD_CLIENT_KEY_SIZE), 0);
	for (uint64_t i = 0; i < 3; i++) {
		add_client_cmd c = {
			.type = i == 1 ? ADD_TYPE_READ : ADD_TYPE_WRITE,
			.request = 100 + i,
			.sector = i,
			.data = i == 1 ? NULL : v,
		};

		len += add_wire_encode_cmd(&c, &key, stream + len);
	}
	add_hmac_key_free(&key);
	n = srt_node(w, 1);
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, add_node_client_key(n),
			      add_node_system_key(n));
	/* the first command byte by byte, the other two in one piece */
	for (size_t i = 0; i < ADD_CMD_WRITE_SIZE; i++)
		add_node_on_bytes(n, 5, &dec, stream + i, 1);
	add_node_on_bytes(n, 5, &dec, stream + ADD_CMD_WRITE_SIZE, len - ADD_CMD_WRITE_SIZE);
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 3);
	srt_run(w);
	for (uint64_t i = 0; i < 3; i++) {
		cr_assert_not_null(srt_reply_for(w, 1, 100 + i));
		cr_assert_eq(srt_reply_for(w, 1, 100 + i)->conn, 5);
	}
}

Test(node, the_client_bound_is_soft_commands_already_read_are_accepted)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	w->cfg.client_cmds_max = 1;
	srt_reconfigure(w);
	srt_fill(v, 23);
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_not(add_node_accepting_clients(srt_node(w, 1)));
	srt_client_write(w, 1, 2, 2, 1, v); /* already in the runtime's buffer */
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 2);
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 2));
}

Test(node, stray_replies_and_transport_acks_create_nothing)
{
	uint8_t v[ADD_SECTOR_SIZE];
	add_peer_msg m = { .rank = 2, .sector = 3, .ts = 1, .wr = 2, .data = v };

	w = srt_new(3, 16);
	srt_fill(v, 24);
	m.type = ADD_TYPE_VALUE;
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	m.type = ADD_TYPE_ACK;
	m.data = NULL;
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	for (uint8_t t = ADD_TYPE_READ_PROC_TACK; t <= ADD_TYPE_ACK_TACK; t++) {
		m.type = t;
		add_node_on_peer_message(srt_node(w, 1), &m, true);
	}
	cr_assert_eq(srt_stats(w, 1).registers_active, 0);
	cr_assert_eq(srt_stats(w, 1).peer_msgs_dropped, 0, "valid, merely stale or unused");
	cr_assert_eq(w->n_msgs, 0);
	cr_assert_eq(srt_store_of(w, 1)->stores_total, 0);
}

Test(node, internal_message_for_a_sector_out_of_range_is_dropped)
{
	add_peer_msg m = { .type = ADD_TYPE_READ_PROC, .rank = 2, .sector = 16 };

	w = srt_new(3, 16);
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	cr_assert_eq(w->n_msgs, 0, "no VALUE");
	cr_assert_eq(srt_stats(w, 1).peer_msgs_dropped, 1);
}

Test(node, a_sector_never_written_reads_as_zeros_everywhere)
{
	uint8_t zero[ADD_SECTOR_SIZE] = { 0 };

	w = srt_new(3, ADD_N_SECTORS_MAX);
	expect_read(1, 1, ADD_N_SECTORS_MAX - 1, zero);
	expect_read(3, 2, 0, zero);
	for (uint8_t p = 1; p <= 3; p++)
		cr_assert_eq(srt_store_of(w, p)->stores_total, 0, "reading stored nothing");
}

Test(node, a_write_and_an_up_to_date_read_ask_for_tags_only)
{
	uint8_t v[ADD_SECTOR_SIZE];
	long i;

	w = srt_new(3, 16);
	srt_fill(v, 31);
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 0);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 2);
	i = srt_find(w, ADD_TYPE_READ_PROC_META, 1, 2);
	cr_assert_eq(srt_msg_at(w, (size_t)i)->len, ADD_PEER_SMALL_SIZE);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	i = srt_find(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_geq(i, 0, "answered with a VALUE_META");
	cr_assert_eq(srt_msg_at(w, (size_t)i)->len, ADD_PEER_META_SIZE);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE, 2, 1), 0);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	/* 2 holds the value too: its read needs no value from anyone */
	srt_client_read(w, 2, 1, 2, 0);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 2, 2)->data, v, ADD_SECTOR_SIZE);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE, 0, 0), 0);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 0, 0), 0);
}

Test(node, a_read_behind_its_majority_asks_again_for_values)
{
	uint8_t v[ADD_SECTOR_SIZE];
	long i;

	w = srt_new(3, 16);
	srt_fill(v, 33);
	srt_seed(w, 2, 0, 4, 2, v);
	srt_client_read(w, 1, 1, 1, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 2, "values asked of every peer");
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	i = srt_find(w, ADD_TYPE_VALUE, 2, 1);
	cr_assert_eq(srt_msg_at(w, (size_t)i)->len, ADD_PEER_VALUE_SIZE);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, v, ADD_SECTOR_SIZE);
}

Test(node, a_read_asking_for_values_ignores_a_late_value_meta)
{
	uint8_t v[ADD_SECTOR_SIZE];
	add_peer_msg m = { .type = ADD_TYPE_VALUE_META, .rank = 3, .sector = 0, .ts = 9,
			   .wr = 2 };
	long i;

	w = srt_new(3, 16);
	srt_fill(v, 32);
	srt_seed(w, 2, 0, 1, 1, v);
	srt_client_read(w, 1, 1, 1, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1); /* 2 is ahead: values asked */
	i = srt_find(w, ADD_TYPE_READ_PROC, 1, 3);
	cr_assert_geq(i, 0);
	memcpy(m.uuid, srt_msg_at(w, (size_t)i)->bytes + ADD_PEER_OFF_UUID, ADD_UUID_SIZE);
	add_node_on_peer_message(srt_node(w, 1), &m, true);
	cr_assert_null(srt_reply_for(w, 1, 1), "no value, no answer");
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 0, "still in its read phase");
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, v, ADD_SECTOR_SIZE);
}
