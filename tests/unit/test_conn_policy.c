/*
 * runtime-real/conn_policy: classification, admission that prefers signed
 * clients, probation, idle clients, half-close, peer link replacement,
 * backpressure. Time is a number the test moves.
 */
#include <criterion/criterion.h>

#include "../../runtime-real/conn_policy.h"

#define MS (1000ull * 1000)
#define S (1000ull * MS)

static add_conn_policy p;

static void setup(void)
{
	add_cp_config cfg = {
		.client_slots = ADD_CLIENTS_MAX,
		.probation_max = 64,
		.probation_ns = 3 * S,
		.idle_ns = 60 * S,
		.half_close_ns = 5 * S,
		.out_pause = 1 << 20,
	};
	add_cp_init(&p, &cfg);
}

TestSuite(conn_policy, .init = setup);

static add_cp_verdict msg(add_cp_conn *c, uint64_t id, bool peer, bool ok, uint8_t rank,
			  uint64_t now, uint64_t *replaced)
{
	uint64_t dummy;
	return add_cp_on_message(&p, c, id, peer, ok, rank, now, replaced ? replaced : &dummy);
}

Test(conn_policy, sixteen_idle_attackers_hold_no_slot_and_a_signed_client_is_admitted)
{
	add_cp_conn att[16], good;

	for (int i = 0; i < 16; i++)
		cr_assert_not(add_cp_accept(&p, &att[i], 0));
	/* they even send unsigned commands: still nothing proven */
	for (int i = 0; i < 16; i++)
		cr_assert_eq(msg(&att[i], 1 + i, false, false, 0, 1, NULL), ADD_CP_DISPATCH);
	cr_assert_eq(p.slots_used, 0);
	cr_assert_eq(p.on_probation, 16);
	add_cp_accept(&p, &good, 2);
	cr_assert_eq(msg(&good, 100, false, true, 0, 2, NULL), ADD_CP_DISPATCH);
	cr_assert_eq(good.kind, ADD_CP_CLIENT);
	cr_assert_eq(p.slots_used, 1);
	cr_assert_eq(p.on_probation, 16);
}

Test(conn_policy, a_seventeenth_signed_client_is_closed_for_the_limit)
{
	add_cp_conn c[17];

	for (int i = 0; i < 16; i++) {
		add_cp_accept(&p, &c[i], 0);
		cr_assert_eq(msg(&c[i], 1 + i, false, true, 0, 0, NULL), ADD_CP_DISPATCH);
	}
	add_cp_accept(&p, &c[16], 0);
	cr_assert_eq(msg(&c[16], 17, false, true, 0, 0, NULL), ADD_CP_CLOSE_FULL);
	add_cp_on_close(&p, &c[16], 17);
	cr_assert_eq(p.on_probation, 0);
	cr_assert_eq(p.slots_used, 16);
	add_cp_on_close(&p, &c[3], 4);
	cr_assert_eq(p.slots_used, 15);
}

Test(conn_policy, probation_ends_after_its_time_without_a_signed_message)
{
	add_cp_conn c;

	add_cp_accept(&p, &c, 10 * S);
	cr_assert_null(add_cp_expired(&p, &c, 10 * S + 3 * S - 1));
	cr_assert_not_null(add_cp_expired(&p, &c, 13 * S));
	/* a signed peer message ends the probation */
	cr_assert_eq(msg(&c, 5, true, true, 2, 11 * S, NULL), ADD_CP_DISPATCH);
	cr_assert_eq(c.kind, ADD_CP_PEER);
	cr_assert_null(add_cp_expired(&p, &c, 1000 * S));
	cr_assert_eq(p.on_probation, 0);
}

Test(conn_policy, probation_full_asks_to_evict_the_oldest)
{
	add_cp_conn c[65];

	for (int i = 0; i < 64; i++)
		cr_assert_not(add_cp_accept(&p, &c[i], (uint64_t)i));
	cr_assert(add_cp_accept(&p, &c[64], 64));
	cr_assert(add_cp_older(&c[0], &c[64]));
	add_cp_on_close(&p, &c[0], 1);
	cr_assert_eq(p.on_probation, 64);
}

Test(conn_policy, an_idle_client_with_nothing_pending_is_closed_never_one_waiting)
{
	add_cp_conn c;

	add_cp_accept(&p, &c, 0);
	msg(&c, 1, false, true, 0, 0, NULL);
	add_cp_cmd_started(&c, 0);
	cr_assert_null(add_cp_expired(&p, &c, 600 * S)); /* waiting for its answer */
	add_cp_cmd_answered(&c, 600 * S);
	cr_assert_null(add_cp_expired(&p, &c, 659 * S));
	cr_assert_not_null(add_cp_expired(&p, &c, 660 * S));
	p.cfg.idle_ns = 0; /* off */
	cr_assert_null(add_cp_expired(&p, &c, 6000 * S));
}

Test(conn_policy, half_close_gives_the_slot_back_and_waits_for_the_answers)
{
	add_cp_conn c, idle;

	add_cp_accept(&p, &c, 0);
	msg(&c, 1, false, true, 0, 0, NULL);
	add_cp_cmd_started(&c, 0);
	cr_assert(add_cp_on_eof(&p, &c, 1 * S));
	cr_assert_eq(p.slots_used, 0);
	cr_assert_not(add_cp_reads(&p, &c, true, 0));
	cr_assert_null(add_cp_expired(&p, &c, 5 * S));
	cr_assert_not_null(add_cp_expired(&p, &c, 6 * S));
	add_cp_on_close(&p, &c, 1);
	cr_assert_eq(p.slots_used, 0);
	/* nothing pending: end of file closes at once */
	add_cp_accept(&p, &idle, 0);
	msg(&idle, 2, false, true, 0, 0, NULL);
	cr_assert_not(add_cp_on_eof(&p, &idle, 0));
}

Test(conn_policy, a_new_inbound_link_from_a_rank_replaces_the_older_one)
{
	add_cp_conn a, b, other;
	uint64_t replaced = 99;

	add_cp_accept(&p, &a, 0);
	msg(&a, 10, true, true, 2, 0, &replaced);
	cr_assert_eq(replaced, 0);
	add_cp_accept(&p, &other, 0);
	msg(&other, 11, true, true, 3, 0, &replaced);
	cr_assert_eq(replaced, 0);
	add_cp_accept(&p, &b, 1);
	msg(&b, 12, true, true, 2, 1, &replaced);
	cr_assert_eq(replaced, 10);
	add_cp_on_close(&p, &a, 10); /* the old one closed: b stays rank 2's */
	cr_assert_eq(p.peer_in[2], 12);
	add_cp_on_close(&p, &b, 12);
	cr_assert_eq(p.peer_in[2], 0);
	cr_assert_eq(p.peer_in[3], 11);
}

Test(conn_policy, an_unsigned_peer_message_proves_nothing)
{
	add_cp_conn c;
	uint64_t replaced;

	add_cp_accept(&p, &c, 0);
	cr_assert_eq(msg(&c, 1, true, false, 2, 0, &replaced), ADD_CP_DISPATCH);
	cr_assert_eq(c.kind, ADD_CP_NEW);
	cr_assert_eq(p.peer_in[2], 0);
}

Test(conn_policy, clients_are_paused_by_the_node_or_their_replies_peers_never)
{
	add_cp_conn cl, pe;

	add_cp_accept(&p, &cl, 0);
	msg(&cl, 1, false, true, 0, 0, NULL);
	add_cp_accept(&p, &pe, 0);
	msg(&pe, 2, true, true, 2, 0, NULL);
	cr_assert(add_cp_reads(&p, &cl, true, 1 << 20));
	cr_assert_not(add_cp_reads(&p, &cl, true, (1 << 20) + 1));
	cr_assert_not(add_cp_reads(&p, &cl, false, 0));
	cr_assert(add_cp_reads(&p, &pe, false, 100 << 20));
}
