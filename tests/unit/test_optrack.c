/*
 * runtime-real/optrack: against a plain list model, under random starts,
 * answers and connection closes: the same commands are tracked, each answer
 * is observed once in its op's histogram, the oldest age is the model's, and
 * the bound holds.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime-real/optrack.h"
#include "wire.h"

typedef struct cmd {
	uint64_t conn, request, start;
	uint8_t type;
} cmd;

static add_optrack t;
static cmd model[ADD_OPTRACK_MAX];
static size_t n_model;

static void rsp_bytes(uint8_t out[ADD_RSP_HEADER_SIZE], uint8_t type, uint64_t request)
{
	memset(out, 0, ADD_RSP_HEADER_SIZE);
	out[ADD_RSP_OFF_TYPE] = (uint8_t)(type | ADD_TYPE_RESPONSE_BIT);
	add_put_be64(out + ADD_RSP_OFF_REQUEST, request);
}

static uint64_t observed(void)
{
	add_hist_snap r, w;
	add_hist_snapshot(&t.read, &r);
	add_hist_snapshot(&t.write, &w);
	return r.cumulative[ADD_HIST_BUCKETS] + w.cumulative[ADD_HIST_BUCKETS];
}

Test(optrack, agrees_with_a_list_model)
{
	uint64_t now = 1000, answered = 0;

	srand(7);
	add_optrack_init(&t);
	for (int step = 0; step < 200000; step++) {
		now += (uint64_t)(rand() % 1000);
		int what = rand() % 100;
		if (what < 50 && n_model < ADD_OPTRACK_MAX) {
			/* few connections and requests: many collisions in the table */
			cmd c = {.conn = (uint64_t)(rand() % 5), .request = (uint64_t)(rand() % 3000),
				 .start = now, .type = rand() % 2 ? ADD_TYPE_READ : ADD_TYPE_WRITE};
			bool dup = false;
			for (size_t i = 0; i < n_model; i++)
				dup |= model[i].conn == c.conn && model[i].request == c.request &&
				       model[i].type == c.type;
			if (dup)
				continue; /* a client does not reuse a number in flight */
			add_optrack_start(&t, c.conn, c.type, c.request, now);
			model[n_model++] = c;
		} else if (what < 97 && n_model > 0) {
			size_t i = (size_t)rand() % n_model;
			uint8_t b[ADD_RSP_HEADER_SIZE];
			rsp_bytes(b, model[i].type, model[i].request);
			add_optrack_done(&t, model[i].conn, b, sizeof(b), now);
			model[i] = model[--n_model];
			answered++;
		} else if (what >= 97) {
			uint64_t conn = (uint64_t)(rand() % 5);
			add_optrack_conn_closed(&t, conn);
			for (size_t i = 0; i < n_model;)
				if (model[i].conn == conn)
					model[i] = model[--n_model];
				else
					i++;
		}
		cr_assert_eq(t.n, n_model, "step %d", step);
		if (step % 97 == 0) {
			uint64_t oldest = UINT64_MAX;
			for (size_t i = 0; i < n_model; i++)
				if (model[i].start < oldest)
					oldest = model[i].start;
			cr_assert_eq(add_optrack_oldest_age_ns(&t, now),
				     n_model ? now - oldest : 0, "step %d", step);
		}
	}
	cr_assert_eq(observed(), answered);
	cr_assert_eq(t.untracked, 0);
}

Test(optrack, beyond_the_bound_commands_are_counted_not_stored)
{
	add_optrack_init(&t);
	for (uint64_t r = 0; r < ADD_OPTRACK_MAX + 10; r++)
		add_optrack_start(&t, 1, ADD_TYPE_WRITE, r, 5);
	cr_assert_eq(t.n, ADD_OPTRACK_MAX);
	cr_assert_eq(t.untracked, 10);
	uint8_t b[ADD_RSP_HEADER_SIZE];
	rsp_bytes(b, ADD_TYPE_WRITE, ADD_OPTRACK_MAX + 3); /* never stored */
	add_optrack_done(&t, 1, b, sizeof(b), 9);
	cr_assert_eq(observed(), 0);
	rsp_bytes(b, ADD_TYPE_READ, 3); /* right number, wrong type */
	add_optrack_done(&t, 1, b, sizeof(b), 9);
	cr_assert_eq(observed(), 0);
	rsp_bytes(b, ADD_TYPE_WRITE, 3);
	add_optrack_done(&t, 1, b, sizeof(b), 9);
	cr_assert_eq(observed(), 1);
	cr_assert_eq(t.n, ADD_OPTRACK_MAX - 1);
	add_optrack_conn_closed(&t, 1);
	cr_assert_eq(t.n, 0);
	cr_assert_eq(add_optrack_oldest_age_ns(&t, 100), 0);
}
