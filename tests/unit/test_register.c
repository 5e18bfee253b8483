/*
 * The (N,N)-atomic register (core/register.c) as the seed specifies it,
 * driven through real nodes by the scripted runtime: phases, highest
 * (ts, wr), write-back, matching of replies, durability before ACK and
 * before WRITE_PROC.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "register.h"
#include "script_runtime.h"
#include "srt_expect.h"

static srt_world *w;

static void teardown(void)
{
	if (w != NULL)
		srt_free(w);
	w = NULL;
}

TestSuite(register, .fini = teardown);

/* Delivers everything but the messages matching (type, from, to). */
static void run_holding(uint8_t type, uint8_t from, uint8_t to)
{
	for (size_t i = 0; i < w->n_msgs;) {
		const srt_msg *m = srt_msg_at(w, i);

		if (m->type == type && m->from == from && m->to == to)
			i++;
		else
			srt_deliver(w, i), i = 0;
	}
}

/* A read's first round asks for tags only: READ_PROC_META from `coord` to
 * `peer`, and the VALUE_META back. */
static void tags_round(uint8_t coord, uint8_t peer)
{
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, coord, peer);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, peer, coord);
}

Test(register, tags_order_by_ts_then_by_rank)
{
	cr_assert_gt(add_reg_tag_cmp(2, 1, 1, 9), 0);
	cr_assert_lt(add_reg_tag_cmp(1, 9, 2, 1), 0);
	cr_assert_gt(add_reg_tag_cmp(7, 3, 7, 2), 0);
	cr_assert_lt(add_reg_tag_cmp(7, 2, 7, 3), 0);
	cr_assert_eq(add_reg_tag_cmp(7, 2, 7, 2), 0);
}

Test(register, read_on_one_process_completes_by_broadcasting_to_itself)
{
	const srt_reply *r;
	uint8_t zero[ADD_SECTOR_SIZE] = { 0 };

	w = srt_new(1, 16);
	srt_client_read(w, 1, 1, 77, 3);
	srt_run(w);
	r = srt_reply_for(w, 1, 77);
	cr_assert_not_null(r);
	cr_assert_eq(r->status, ADD_STATUS_OK);
	cr_assert_eq(r->type, ADD_TYPE_READ_RESPONSE);
	cr_assert_eq(r->len, ADD_RSP_READ_SIZE);
	cr_assert(r->hmac_ok);
	cr_assert_arr_eq(r->data, zero, ADD_SECTOR_SIZE);
	cr_assert_eq(w->procs[1].peer_sends, 0, "a single process sends nothing on the wire");
	cr_assert_eq(srt_stats(w, 1).ops_completed, 1);
}

Test(register, write_then_read_on_one_process)
{
	uint8_t v[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(1, 16);
	srt_fill(v, 1);
	srt_client_write(w, 1, 1, 1, 5, v);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	cr_assert_eq(srt_reply_for(w, 1, 1)->len, ADD_RSP_EMPTY_SIZE);
	srt_durable(w, 1, 5, &ts, &wr, NULL);
	cr_assert_eq(ts, 1);
	cr_assert_eq(wr, 1);
	srt_client_read(w, 1, 1, 2, 5);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 2)->data, v, ADD_SECTOR_SIZE);
}

Test(register, read_returns_the_highest_value_and_writes_it_back)
{
	uint8_t a[ADD_SECTOR_SIZE], b[ADD_SECTOR_SIZE], c[ADD_SECTOR_SIZE], got[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(5, 16); /* majority 3: self and two peers */
	srt_fill(a, 1);
	srt_fill(b, 2);
	srt_fill(c, 3);
	srt_seed(w, 1, 4, 1, 1, c);
	srt_seed(w, 2, 4, 5, 2, a); /* the highest */
	srt_seed(w, 3, 4, 3, 3, b);
	srt_client_read(w, 1, 1, 1, 4);
	/* first round: tags only; 2 is ahead, so it is redone with values */
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 4, "values asked of all");
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 4, "write-back to every peer");
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, a, ADD_SECTOR_SIZE);
	for (uint8_t p = 1; p <= 5; p++) {
		srt_durable(w, p, 4, &ts, &wr, got);
		cr_assert_eq(ts, 5, "process %u holds the written-back ts", p);
		cr_assert_eq(wr, 2);
		cr_assert_arr_eq(got, a, ADD_SECTOR_SIZE);
	}
}

Test(register, read_waits_for_write_back_acks_before_returning)
{
	uint8_t a[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(a, 3);
	srt_seed(w, 2, 0, 4, 2, a);
	srt_client_read(w, 1, 1, 1, 0);
	tags_round(1, 2); /* 2 is ahead: the round is redone with values */
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE, 2, 1);
	/* majority of VALUEs, but the value is written back first */
	cr_assert_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 2);
	/* the own copy is stored as part of the write-back */
	srt_run(w);
	cr_assert_not_null(srt_reply_for(w, 1, 1));
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, a, ADD_SECTOR_SIZE);
}

Test(register, ties_on_ts_are_broken_by_rank_when_reading)
{
	uint8_t lo[ADD_SECTOR_SIZE], hi[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(lo, 1);
	srt_fill(hi, 2);
	srt_seed(w, 1, 2, 7, 2, lo); /* own value: (7, 2) */
	srt_seed(w, 2, 2, 7, 3, hi); /* (7, 3) wins on rank */
	srt_client_read(w, 1, 1, 1, 2);
	tags_round(1, 2); /* 2 is ahead: the round is redone with values */
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE, 2, 1);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, hi, ADD_SECTOR_SIZE);
}

Test(register, ties_on_ts_are_broken_by_rank_when_the_own_value_wins)
{
	uint8_t lo[ADD_SECTOR_SIZE], hi[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(lo, 1);
	srt_fill(hi, 2);
	srt_seed(w, 1, 2, 7, 3, hi); /* own value wins */
	srt_seed(w, 2, 2, 7, 2, lo);
	srt_client_read(w, 1, 1, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, hi, ADD_SECTOR_SIZE);
}

Test(register, replica_adopts_a_tie_on_ts_only_with_a_higher_rank)
{
	uint8_t mid[ADD_SECTOR_SIZE], v[ADD_SECTOR_SIZE], got[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(mid, 1);
	srt_fill(v, 2);
	/* process 3 wrote (1, 3, v) */
	srt_client_write(w, 3, 1, 1, 6, v);
	/* process 2 already holds (1, 2, mid): lower on rank, same ts */
	srt_seed(w, 2, 6, 1, 2, mid);
	srt_run(w);
	srt_durable(w, 2, 6, &ts, &wr, got);
	cr_assert_eq(wr, 3);
	cr_assert_arr_eq(got, v, ADD_SECTOR_SIZE);
	(void)ts;
}

Test(register, write_uses_the_highest_ts_plus_one_and_own_rank)
{
	uint8_t a[ADD_SECTOR_SIZE], v[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	w = srt_new(3, 16);
	srt_fill(a, 1);
	srt_fill(v, 2);
	srt_seed(w, 3, 1, 9, 3, a);
	srt_client_write(w, 2, 1, 1, 1, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 2, 3);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 3, 2);
	srt_current(w, 2, 1, &ts, &wr, NULL);
	cr_assert_eq(ts, 10);
	cr_assert_eq(wr, 2);
	srt_run(w);
	for (uint8_t p = 1; p <= 3; p++) {
		srt_durable(w, p, 1, &ts, &wr, NULL);
		cr_assert_eq(ts, 10);
		cr_assert_eq(wr, 2);
	}
}

Test(register, writer_does_not_broadcast_write_proc_before_its_store_is_durable)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_store_of(w, 1)->auto_complete = false;
	srt_fill(v, 4);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_store_pending(w, 1), 1, "the writer stored (maxts + 1, rank, v)");
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 0, 0), 0, "WRITE_PROC waits for it");
	srt_advance(w, 5ull * 1000 * 1000 * 1000);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 0, 0), 0, "not even retransmitted");
	cr_assert(srt_store_complete(w, 1));
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 2);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
}

Test(register, ack_waits_for_the_replicas_durable_store)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_store_of(w, 2)->auto_complete = false;
	srt_fill(v, 5);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_drop_all(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	cr_assert_eq(srt_store_pending(w, 2), 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 2, 1), 0, "no ACK before the store is durable");
	/* a retransmitted WRITE_PROC does not get an early ACK either */
	srt_advance(w, 150ull * 1000 * 1000);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 2, 1), 0);
	cr_assert(srt_store_complete(w, 2));
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 2, 1), 1, "one ACK, once durable");
	srt_expect_deliver(w, ADD_TYPE_ACK, 2, 1);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
}

Test(register, replica_acks_a_write_proc_that_is_not_newer)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 6);
	srt_seed(w, 2, 3, 4, 1, v);
	srt_seed(w, 1, 3, 2, 1, v);
	/* a read's write-back of the value the replica already holds (the
	 * majority {1, 2} disagrees, so the write-back is needed) */
	srt_client_read(w, 1, 1, 1, 3);
	tags_round(1, 2); /* 2 is ahead: the round is redone with values */
	srt_expect_deliver(w, ADD_TYPE_READ_PROC, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	cr_assert_eq(srt_store_pending(w, 2), 0, "nothing newer: no store");
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 2, 1), 1, "but an ACK all the same");
	srt_expect_deliver(w, ADD_TYPE_ACK, 2, 1);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, v, ADD_SECTOR_SIZE);
}

Test(register, read_skips_the_write_back_when_its_majority_agrees_durably)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 21);
	srt_seed(w, 1, 5, 7, 2, v);
	srt_seed(w, 2, 5, 7, 2, v);
	srt_client_read(w, 1, 1, 1, 5);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "returned on the majority {1, 2}");
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, v, ADD_SECTOR_SIZE);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 0, "no write-back");
}

Test(register, read_writes_back_when_a_peer_of_its_majority_holds_an_older_value)
{
	uint8_t v[ADD_SECTOR_SIZE], old[ADD_SECTOR_SIZE];

	w = srt_new(5, 16);
	srt_fill(v, 22);
	srt_fill(old, 23);
	srt_seed(w, 1, 5, 7, 2, v);
	srt_seed(w, 2, 5, 7, 2, v);
	srt_seed(w, 3, 5, 6, 2, old);
	srt_client_read(w, 1, 1, 1, 5);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 3, 1);
	cr_assert_null(srt_reply_for(w, 1, 1), "only 1 and 2 of 5 hold (7, 2)");
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 4);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, v, ADD_SECTOR_SIZE);
}

Test(register, read_writes_back_when_its_own_value_is_not_durable)
{
	uint8_t v[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 24);
	srt_fill(v2, 25);
	srt_seed(w, 1, 5, 7, 2, v);
	srt_seed(w, 2, 5, 7, 2, v);
	srt_seed(w, 3, 5, 7, 2, v);
	srt_store_of(w, 1)->auto_complete = false;
	/* a write by 3 reaches 1 (stored, not durable) and 2 (durable) while
	 * 1 reads: 1 and 2 agree on (8, 3), but 1's copy could still be lost */
	srt_client_read(w, 1, 1, 1, 5);
	srt_client_write(w, 3, 1, 1, 5, v2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 3, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 3);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 3, 2); /* 2 holds (8, 3) durably */
	cr_assert_eq(srt_store_pending(w, 1), 1);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_null(srt_reply_for(w, 1, 1), "own (8, 3) not durable: no shortcut");
	cr_assert_gt(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 0, "written back");
	srt_store_of(w, 1)->auto_complete = true;
	while (srt_store_complete(w, 1))
		;
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 1)->data, v2, ADD_SECTOR_SIZE);
}

Test(register, replica_defers_value_while_a_store_of_the_sector_is_in_flight)
{
	uint8_t v[ADD_SECTOR_SIZE];
	long i;

	w = srt_new(3, 16);
	srt_fill(v, 26);
	srt_store_of(w, 2)->auto_complete = false;
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	cr_assert_eq(srt_store_pending(w, 2), 1, "2 is storing 1's value");
	srt_client_read(w, 3, 1, 2, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 3, 2);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 2, 3), 0, "no reply from a store in flight");
	cr_assert(srt_store_complete(w, 2));
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 2, 3), 1, "answered once durable");
	i = srt_find(w, ADD_TYPE_VALUE_META, 2, 3);
	cr_assert_eq(add_get_be64(srt_msg_at(w, (size_t)i)->bytes + ADD_PEER_OFF_TS), 1);
	srt_store_of(w, 2)->auto_complete = true;
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 3, 2)->data, v, ADD_SECTOR_SIZE);
}

Test(register, stale_value_of_an_older_operation_is_ignored)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 7);
	/* op A: its VALUE from 3 is held back */
	srt_client_read(w, 1, 1, 1, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	run_holding(ADD_TYPE_VALUE_META, 3, 1);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "op A completed");
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 3, 1), 1, "A's VALUE from 3 still held");
	/* op B: a write; only the own VALUE counted so far */
	srt_client_write(w, 1, 1, 2, 0, v);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 3, 1); /* stale: A's */
	cr_assert_eq(srt_store_pending(w, 1) + srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 0,
		     "a stale VALUE does not make a majority");
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 2)->status, ADD_STATUS_OK);
}

Test(register, stale_ack_of_an_older_operation_is_ignored)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE];
	long i;

	w = srt_new(3, 16);
	srt_fill(v1, 8);
	srt_fill(v2, 9);
	/* op A: a write whose ACK from 3 is held back */
	srt_client_write(w, 1, 1, 1, 0, v1);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_drop_all(w, ADD_TYPE_VALUE_META, 3, 1);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 3);
	srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_ACK, 2, 1);
	cr_assert_not_null(srt_reply_for(w, 1, 1), "op A completed");
	cr_assert_eq(srt_count(w, ADD_TYPE_ACK, 3, 1), 1);
	/* op B reaches its write phase with only the own ACK */
	srt_client_write(w, 1, 1, 2, 0, v2);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 2, "op B in its write phase");
	srt_expect_deliver(w, ADD_TYPE_ACK, 3, 1); /* stale: A's */
	cr_assert_null(srt_reply_for(w, 1, 2), "a stale ACK does not complete op B");
	i = srt_find(w, ADD_TYPE_WRITE_PROC, 1, 2);
	cr_assert_geq(i, 0);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 2)->status, ADD_STATUS_OK);
}

Test(register, each_process_is_counted_once_in_a_phase)
{
	uint8_t v[ADD_SECTOR_SIZE];
	long i;

	w = srt_new(5, 16); /* majority: 3 */
	srt_fill(v, 10);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	i = srt_find(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_dup(w, (size_t)i);
	srt_dup(w, (size_t)i);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_store_pending(w, 1) + srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 0,
		     "self + 2 counted once = 2 < 3");
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
}

Test(register, writer_does_not_reveal_its_value_before_it_is_durable)
{
	uint8_t v[ADD_SECTOR_SIZE];
	const srt_msg *m;
	long i;

	w = srt_new(3, 16);
	srt_store_of(w, 1)->auto_complete = false;
	srt_fill(v, 11);
	srt_client_write(w, 1, 1, 1, 0, v);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	cr_assert_eq(srt_store_pending(w, 1), 1, "1 is storing (1, 1, v)");
	/* a read at 2 asks 1 */
	srt_client_read(w, 2, 1, 2, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 1, 2), 0, "no VALUE while not durable");
	/* a retransmission is not answered twice later */
	srt_advance(w, 100 * 1000 * 1000);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 2, 1);
	cr_assert(srt_store_complete(w, 1));
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 1, 2), 1, "answered once durable");
	i = srt_find(w, ADD_TYPE_VALUE_META, 1, 2);
	m = srt_msg_at(w, (size_t)i);
	cr_assert_eq(add_get_be64(m->bytes + ADD_PEER_OFF_TS), 1);
	srt_store_of(w, 1)->auto_complete = true;
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	cr_assert_arr_eq(srt_reply_for(w, 2, 2)->data, v, ADD_SECTOR_SIZE);
}

/* Why the rule above: if 1 revealed its non-durable (1, 1, v1), a read at 2
 * could write it back to 3 only, then 1 and 2 crash, and the restarted 1
 * (its store lost) could write (1, 1, v2): one tag, two values. */
Test(register, a_restarted_writer_never_reuses_a_tag_for_another_value)
{
	uint8_t v1[ADD_SECTOR_SIZE], v2[ADD_SECTOR_SIZE], d1[ADD_SECTOR_SIZE],
		d3[ADD_SECTOR_SIZE];
	uint64_t ts1, ts3;
	uint8_t wr1, wr3;

	w = srt_new(3, 16);
	srt_fill(v1, 12);
	srt_fill(v2, 13);
	srt_store_of(w, 1)->auto_complete = false;
	srt_store_of(w, 2)->auto_complete = false;
	srt_client_write(w, 1, 1, 1, 0, v1);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 1, 2);
	srt_expect_deliver(w, ADD_TYPE_VALUE_META, 2, 1);
	/* 2 reads while 1 stores v1; its majority is {2, 1} if 1 answers */
	srt_client_read(w, 2, 1, 2, 0);
	srt_expect_deliver(w, ADD_TYPE_READ_PROC_META, 2, 1);
	if (srt_find(w, ADD_TYPE_VALUE_META, 1, 2) >= 0) {
		srt_expect_deliver(w, ADD_TYPE_VALUE_META, 1, 2);
		if (srt_find(w, ADD_TYPE_WRITE_PROC, 2, 3) >= 0)
			srt_expect_deliver(w, ADD_TYPE_WRITE_PROC, 2, 3); /* 3 stores it */
	}
	srt_crash(w, 1);
	srt_crash(w, 2);
	srt_drop_all(w, 0, 0, 0);
	srt_store_of(w, 1)->auto_complete = true;
	srt_store_of(w, 2)->auto_complete = true;
	srt_restart(w, 1);
	srt_restart(w, 2);
	/* 1 writes v2 with the majority {1, 2} */
	srt_client_write(w, 1, 1, 3, 0, v2);
	srt_drop_all(w, ADD_TYPE_READ_PROC_META, 1, 3);
	srt_run(w);
	srt_durable(w, 1, 0, &ts1, &wr1, d1);
	srt_durable(w, 3, 0, &ts3, &wr3, d3);
	if (ts1 == ts3 && wr1 == wr3)
		cr_assert_arr_eq(d1, d3, ADD_SECTOR_SIZE, "tag (%llu, %u) holds two values",
				 (unsigned long long)ts1, wr1);
}
