/*
 * core/node: compatibility with peers that know only PROTOCOL.md. The
 * project's own READ_PROC_META / VALUE_META (types >= 0x80) go only to a
 * cluster whose every peer has shown it understands them (a META message
 * with a valid HMAC); until then a process speaks the standard READ_PROC /
 * VALUE / WRITE_PROC / ACK. A link coming up (add_node_on_peer_connected)
 * probes an unknown peer once, with a standard transport ack (READ_PROC_TACK)
 * carrying a marker UUID, which a process of ours answers likewise and a
 * PROTOCOL.md process ignores.
 *
 * Process 1 is a real node; its peers 2 and 3 are either real nodes or
 * "strict peers" played here by hand, exactly as a test written from
 * PROTOCOL.md alone would: READ_PROC is answered by VALUE, WRITE_PROC by
 * ACK, and any other type is dropped unanswered.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "script_runtime.h"
#include "wire.h"

static srt_world *w;

/* A strict peer's state of the one sector the tests use. */
typedef struct strict_peer {
	bool on; /* played by hand (else: the real node, or nothing) */
	uint64_t ts;
	uint8_t wr;
	uint8_t data[ADD_SECTOR_SIZE];
	unsigned unknown_types; /* messages it could not understand */
	unsigned tacks;         /* transport acks: optional, ignored */
} strict_peer;

static strict_peer peers[SRT_PROCS_MAX + 1];
/* every type process 1 sent to a peer since the last reset */
static unsigned sent_by_1[256];

static void teardown(void)
{
	if (w != NULL)
		srt_free(w);
	w = NULL;
	memset(peers, 0, sizeof(peers));
	memset(sent_by_1, 0, sizeof(sent_by_1));
}

TestSuite(node_compat, .fini = teardown);

static unsigned meta_sent_by_1(void)
{
	return sent_by_1[ADD_TYPE_READ_PROC_META] + sent_by_1[ADD_TYPE_VALUE_META];
}

/* Bytes from a peer to process 1, through its decoder (as from a socket),
 * signed with `key` (NULL: the system key). */
static void feed_to_1_signed(uint8_t from, const add_peer_msg *m, const add_hmac_key *key)
{
	add_node *n = srt_node(w, 1);
	uint8_t buf[ADD_WIRE_MSG_SIZE_MAX];
	add_wire_decoder dec;
	size_t len;

	cr_assert_eq(m->rank, from);
	len = add_wire_encode_peer(m, key != NULL ? key : add_node_system_key(n), buf);
	cr_assert_gt(len, 0);
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, add_node_client_key(n),
			      add_node_system_key(n));
	add_node_on_bytes(n, 1000 + from, &dec, buf, len);
}

static void feed_to_1(uint8_t from, const add_peer_msg *m)
{
	feed_to_1_signed(from, m, NULL);
}

/* What a PROTOCOL.md-only process does with one message from process 1. */
static void strict_peer_receive(uint8_t rank, const srt_msg *msg)
{
	strict_peer *p = &peers[rank];
	const uint8_t *b = msg->bytes;
	add_peer_msg reply = { .rank = rank, .sector = add_get_be64(b + ADD_PEER_OFF_SECTOR) };
	uint64_t ts;
	uint8_t wr;

	memcpy(reply.uuid, b + ADD_PEER_OFF_UUID, ADD_UUID_SIZE);
	switch (msg->type) {
	case ADD_TYPE_READ_PROC:
		reply.type = ADD_TYPE_VALUE;
		reply.ts = p->ts;
		reply.wr = p->wr;
		reply.data = p->data;
		break;
	case ADD_TYPE_WRITE_PROC:
		ts = add_get_be64(b + ADD_PEER_OFF_TS);
		wr = b[ADD_PEER_OFF_WR];
		if (ts > p->ts || (ts == p->ts && wr > p->wr)) {
			p->ts = ts;
			p->wr = wr;
			memcpy(p->data, b + ADD_PEER_OFF_DATA, ADD_SECTOR_SIZE);
		}
		reply.type = ADD_TYPE_ACK;
		break;
	case ADD_TYPE_READ_PROC_TACK:
	case ADD_TYPE_VALUE_TACK:
	case ADD_TYPE_WRITE_PROC_TACK:
	case ADD_TYPE_ACK_TACK:
		p->tacks++;
		return;
	default:
		p->unknown_types++; /* invalid type: dropped, never answered */
		return;
	}
	feed_to_1(rank, &reply);
}

/* Runs the world until nothing moves: stores complete, messages to strict
 * peers are answered by hand, the others are delivered. Counts what process
 * 1 sends. */
static void run(void)
{
	for (int steps = 0;; steps++) {
		bool progressed = false;
		srt_msg m;

		cr_assert_lt(steps, 100000);
		for (uint8_t r = 1; r <= w->n; r++)
			while (srt_store_complete(w, r))
				progressed = true;
		if (w->n_msgs == 0) {
			if (!progressed)
				return;
			continue;
		}
		m = *srt_msg_at(w, 0);
		if (peers[m.from].on) {
			srt_drop(w, 0); /* the real node behind a strict peer is mute */
			continue;
		}
		if (m.from == 1)
			sent_by_1[m.type]++;
		if (!peers[m.to].on) {
			srt_deliver(w, 0);
			continue;
		}
		m.bytes = malloc(m.len);
		cr_assert_not_null(m.bytes);
		memcpy(m.bytes, srt_msg_at(w, 0)->bytes, m.len);
		srt_drop(w, 0);
		strict_peer_receive(m.to, &m);
		free(m.bytes);
	}
}

static void strict_peers_2_and_3(void)
{
	w = srt_new_bare(3, 16);
	peers[2].on = peers[3].on = true;
}

static void link_up(uint8_t from, uint8_t to)
{
	add_node_on_peer_connected(srt_node(w, from), to);
}

static const srt_reply *ok_reply(uint64_t request)
{
	const srt_reply *r = srt_reply_for(w, 1, request);

	cr_assert_not_null(r, "request %llu answered", (unsigned long long)request);
	cr_assert_eq(r->status, ADD_STATUS_OK);
	return r;
}

/* ---- with peers that know only PROTOCOL.md ----------------------------- */

Test(node_compat, with_strict_peers_a_write_and_a_read_complete_with_standard_messages_only)
{
	uint8_t v[ADD_SECTOR_SIZE];

	strict_peers_2_and_3();
	srt_fill(v, 1);
	srt_client_write(w, 1, 1, 1, 5, v);
	run();
	ok_reply(1);
	cr_assert_eq(peers[2].ts, 1, "the strict peer stored the value");
	cr_assert_arr_eq(peers[3].data, v, ADD_SECTOR_SIZE);
	srt_client_read(w, 1, 1, 2, 5);
	run();
	cr_assert_arr_eq(ok_reply(2)->data, v, ADD_SECTOR_SIZE);
	cr_assert_eq(meta_sent_by_1(), 0, "no type >= 0x80 on the wire");
	cr_assert_eq(sent_by_1[ADD_TYPE_READ_PROC], 4, "each read phase: READ_PROC to 2 and 3");
	cr_assert_eq(peers[2].unknown_types + peers[3].unknown_types, 0);
}

Test(node_compat, with_strict_peers_a_read_returns_a_peers_newer_value_and_writes_it_back)
{
	uint8_t v[ADD_SECTOR_SIZE];

	strict_peers_2_and_3();
	srt_fill(v, 2);
	peers[2].ts = 7;
	peers[2].wr = 3;
	memcpy(peers[2].data, v, ADD_SECTOR_SIZE);
	srt_client_read(w, 1, 1, 1, 5);
	run();
	cr_assert_arr_eq(ok_reply(1)->data, v, ADD_SECTOR_SIZE);
	cr_assert_eq(sent_by_1[ADD_TYPE_WRITE_PROC], 2, "the write-back");
	cr_assert_eq(peers[3].ts, 7);
	cr_assert_eq(meta_sent_by_1(), 0);
}

Test(node_compat, a_strict_peer_ignores_the_probe_and_the_node_keeps_speaking_standard)
{
	uint8_t v[ADD_SECTOR_SIZE];

	strict_peers_2_and_3();
	srt_fill(v, 3);
	link_up(1, 2);
	link_up(1, 3);
	run();
	cr_assert_eq(sent_by_1[ADD_TYPE_READ_PROC_TACK], 2, "one probe per peer");
	cr_assert_eq(peers[2].tacks, 1, "a transport ack: known to the strict peer");
	cr_assert_eq(peers[3].tacks, 1);
	srt_client_write(w, 1, 1, 1, 0, v);
	run();
	ok_reply(1);
	cr_assert_eq(meta_sent_by_1(), 0);
	cr_assert_eq(sent_by_1[ADD_TYPE_READ_PROC], 2);
	cr_assert_eq(peers[2].unknown_types + peers[3].unknown_types, 0);
}

/* ---- learning that peers speak META ------------------------------------- */

Test(node_compat, a_link_coming_up_sends_one_probe_a_standard_transport_ack)
{
	w = srt_new_bare(3, 16);
	link_up(1, 2);
	cr_assert_eq(w->n_msgs, 1, "one message");
	cr_assert_eq(srt_msg_at(w, 0)->to, 2);
	cr_assert_eq(srt_msg_at(w, 0)->type, ADD_TYPE_READ_PROC_TACK);
	cr_assert_eq(srt_msg_at(w, 0)->len, ADD_TACK_SIZE);
}

Test(node_compat, a_probe_is_answered_and_both_sides_learn)
{
	w = srt_new_bare(2, 16);
	link_up(1, 2);
	srt_deliver(w, 0); /* the probe: 2 learns, answers */
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_TACK, 2, 1), 1);
	srt_deliver(w, 0); /* the answer: 1 learns, answers nothing */
	cr_assert_eq(w->n_msgs, 0);
	srt_client_read(w, 1, 1, 1, 0);
	srt_client_read(w, 2, 1, 1, 0);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 2), 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 2, 1), 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 0, 0), 0);
}

Test(node_compat, a_restarted_process_learns_from_the_answers_of_peers_that_knew_it)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(v, 9);
	srt_crash(w, 1);
	srt_restart(w, 1); /* only 1 probes: 2 and 3 already knew it */
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 2);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
}

Test(node_compat, a_probe_with_a_bad_hmac_teaches_nothing)
{
	add_peer_msg probe = { .type = ADD_TYPE_READ_PROC_TACK, .rank = 2 };
	uint8_t wrong[ADD_SYSTEM_KEY_SIZE] = { 1 };
	add_hmac_key key;

	w = srt_new_bare(2, 16);
	memcpy(probe.uuid, "ADD-META-PROBE-1", ADD_UUID_SIZE);
	cr_assert_eq(add_hmac_key_init(&key, wrong, sizeof(wrong)), 0);
	feed_to_1_signed(2, &probe, &key);
	add_hmac_key_free(&key);
	cr_assert_eq(w->n_msgs, 0, "not answered");
	srt_client_read(w, 1, 1, 1, 0);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 2), 1, "still standard");
	feed_to_1(2, &probe); /* the same, signed */
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_TACK, 1, 2), 1, "answered");
	srt_client_read(w, 1, 1, 2, 1);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 2), 1, "now META");
}

Test(node_compat, a_read_proc_meta_received_teaches_that_its_sender_speaks_meta)
{
	add_peer_msg m = { .type = ADD_TYPE_READ_PROC_META, .rank = 2, .sector = 1 };

	w = srt_new_bare(2, 16);
	feed_to_1(2, &m);
	cr_assert_eq(srt_count(w, ADD_TYPE_VALUE_META, 1, 2), 1);
	srt_client_read(w, 1, 1, 1, 0);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 2), 1);
}

Test(node_compat, once_every_peer_answered_a_probe_read_phases_use_read_proc_meta)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new_bare(3, 16);
	srt_fill(v, 4);
	link_up(1, 2);
	link_up(1, 3);
	run(); /* real peers: each answers a VALUE_META */
	memset(sent_by_1, 0, sizeof(sent_by_1));
	srt_client_write(w, 1, 1, 1, 0, v);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 2);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC, 1, 0), 0);
	run();
	ok_reply(1);
	/* and a known peer is not probed again when its link comes back */
	link_up(1, 2);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 2), 0);
}

Test(node_compat, a_probe_and_its_answer_create_no_register)
{
	w = srt_new_bare(3, 16);
	link_up(1, 2);
	srt_deliver(w, 0); /* the probe */
	cr_assert_eq(srt_stats(w, 2).registers_active, 0);
	srt_deliver(w, 0); /* its answer */
	cr_assert_eq(srt_stats(w, 1).registers_active, 0);
	cr_assert_eq(srt_stats(w, 1).peer_msgs_dropped, 0);
	cr_assert_eq(w->n_msgs, 0);
}

Test(node_compat, learning_in_the_middle_of_a_read_phase_does_not_change_it)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new_bare(3, 16);
	srt_fill(v, 6);
	link_up(1, 3);
	srt_deliver(w, 0); /* 3 learns 1 */
	srt_deliver(w, 0); /* 1 learns 3 */
	srt_client_write(w, 1, 1, 1, 0, v); /* standard: 2 is not known yet */
	link_up(1, 2);
	srt_deliver(w, (size_t)srt_find(w, ADD_TYPE_READ_PROC_TACK, 1, 2));
	srt_deliver(w, (size_t)srt_find(w, ADD_TYPE_READ_PROC_TACK, 2, 1));
	cr_assert_eq(srt_count(w, ADD_TYPE_WRITE_PROC, 1, 0), 0,
		     "still waiting for a VALUE of its own");
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_META, 1, 0), 0,
		     "the running phase keeps its standard messages");
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	cr_assert_eq(srt_stats(w, 1).registers_active, 0);
	cr_assert_eq(srt_stats(w, 2).registers_active, 0);
}

Test(node_compat, one_peer_speaking_meta_and_one_not_means_standard_messages)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new_bare(3, 16);
	peers[3].on = true; /* 2 is a real node, 3 a strict peer */
	srt_fill(v, 7);
	link_up(1, 2);
	link_up(1, 3);
	run();
	cr_assert_eq(peers[3].tacks, 1, "3 ignored its probe");
	memset(sent_by_1, 0, sizeof(sent_by_1));
	srt_client_write(w, 1, 1, 1, 4, v);
	run();
	ok_reply(1);
	srt_client_read(w, 1, 1, 2, 4);
	run();
	cr_assert_arr_eq(ok_reply(2)->data, v, ADD_SECTOR_SIZE);
	cr_assert_eq(meta_sent_by_1(), 0, "not even to 2, which speaks META");
	cr_assert_eq(sent_by_1[ADD_TYPE_READ_PROC], 4);
}

Test(node_compat, a_single_process_completes_without_sending_anything)
{
	uint8_t v[ADD_SECTOR_SIZE];

	w = srt_new_bare(1, 16);
	srt_fill(v, 8);
	srt_client_write(w, 1, 1, 1, 2, v);
	srt_client_read(w, 1, 1, 2, 2);
	srt_run(w);
	cr_assert_arr_eq(srt_reply_for(w, 1, 2)->data, v, ADD_SECTOR_SIZE);
	cr_assert_eq(w->procs[1].peer_sends, 0);
}

Test(node_compat, a_lost_probe_is_sent_again_a_second_later_until_the_peer_is_known)
{
	w = srt_new_bare(2, 16);
	link_up(1, 2);
	srt_drop(w, 0);
	srt_advance(w, 999ull * 1000 * 1000);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_TACK, 1, 2), 0, "not before a second");
	srt_advance(w, 1ull * 1000 * 1000);
	cr_assert_eq(srt_count(w, ADD_TYPE_READ_PROC_TACK, 1, 2), 1, "asked again");
	srt_run(w); /* both know each other now */
	srt_advance(w, 5ull * 1000 * 1000 * 1000);
	cr_assert_eq(w->n_msgs, 0, "known peers are not asked again");
	cr_assert_eq(add_node_next_tick_ns(srt_node(w, 1)), UINT64_MAX);
}

Test(node_compat, a_strict_peer_is_asked_once_a_second_with_transport_acks_only)
{
	strict_peers_2_and_3();
	link_up(1, 2);
	link_up(1, 3);
	for (int i = 0; i < 10; i++) {
		srt_advance(w, 1ull * 1000 * 1000 * 1000);
		run();
	}
	cr_assert_leq(peers[2].tacks, 11);
	cr_assert_geq(peers[2].tacks, 10);
	cr_assert_eq(peers[2].unknown_types + peers[3].unknown_types, 0);
	cr_assert_eq(meta_sent_by_1(), 0);
}
