/*
 * core/node + register: an operation whose client connection closed before
 * it chose its tag is abandoned (writes nothing, not answered); one past the
 * tag decision completes. The retry-after-pause sequence of issue 13 ends
 * with the client's last write. Mutant ADD_MUTANT_RUN_ABANDONED_PRE_TAG (36)
 * runs abandoned ops anyway: ghost_write_* fail under it.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "script_runtime.h"
#include "wire.h"

static srt_world *w;

static void teardown(void)
{
	if (w != NULL)
		srt_free(w);
	w = NULL;
}

TestSuite(node_abandon, .fini = teardown);

/* Delivers every message that neither comes from nor goes to `paused`,
 * until there are none: `paused` is stopped (a GC pause, a swap storm). */
static void run_without(uint8_t paused)
{
	for (;;) {
		size_t i;
		for (i = 0; i < w->n_msgs; i++)
			if (srt_msg_at(w, i)->from != paused && srt_msg_at(w, i)->to != paused)
				break;
		if (i == w->n_msgs)
			return;
		srt_deliver(w, i);
	}
}

static void assert_everyone_holds(uint64_t sector, const uint8_t *v)
{
	uint8_t got[ADD_SECTOR_SIZE];
	uint64_t ts;
	uint8_t wr;

	for (uint8_t r = 1; r <= w->n; r++) {
		srt_durable(w, r, sector, &ts, &wr, got);
		cr_assert_arr_eq(got, v, ADD_SECTOR_SIZE, "process %u does not hold the last write", r);
	}
}

Test(node_abandon, ghost_write_after_a_pause_and_a_retry_elsewhere_ends_with_B)
{
	uint8_t a[ADD_SECTOR_SIZE], b[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(a, 0xA);
	srt_fill(b, 0xB);
	/* 1. write A through process 1, which is paused: it times out */
	srt_client_write(w, 1, 7, 1, 5, a);
	/* 2. the client resets that connection and retries A through 2 */
	srt_client_write(w, 2, 8, 2, 5, a);
	run_without(1);
	cr_assert_eq(srt_reply_for(w, 2, 2)->status, ADD_STATUS_OK);
	/* 3. then writes B, acknowledged */
	srt_client_write(w, 2, 8, 3, 5, b);
	run_without(1);
	cr_assert_eq(srt_reply_for(w, 2, 3)->status, ADD_STATUS_OK);
	/* 4. process 1 resumes: it sees the reset first, then its messages */
	add_node_on_connection_closed(srt_node(w, 1), 7);
	srt_run(w);
	cr_assert_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_stats(w, 1).ops_abandoned, 1);
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 0);
	assert_everyone_holds(5, b);
}

Test(node_abandon, ghost_write_queued_behind_another_op_is_never_started)
{
	uint8_t a[ADD_SECTOR_SIZE], b[ADD_SECTOR_SIZE], z[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(z, 0x1);
	srt_fill(a, 0xA);
	srt_fill(b, 0xB);
	srt_client_write(w, 1, 6, 1, 5, z); /* another client's write, running */
	srt_client_write(w, 1, 7, 2, 5, a); /* queued behind it */
	add_node_on_connection_closed(srt_node(w, 1), 7);
	srt_run(w);
	cr_assert_eq(srt_reply_for(w, 1, 1)->status, ADD_STATUS_OK);
	cr_assert_null(srt_reply_for(w, 1, 2));
	srt_client_write(w, 2, 8, 3, 5, b);
	srt_run(w);
	assert_everyone_holds(5, b);
	cr_assert_eq(srt_stats(w, 1).ops_abandoned, 1);
	cr_assert_eq(srt_stats(w, 1).ops_completed, 1);
}

Test(node_abandon, an_op_past_its_tag_decision_completes_unanswered)
{
	uint8_t a[ADD_SECTOR_SIZE];

	w = srt_new(3, 16);
	srt_fill(a, 0xA);
	srt_client_write(w, 1, 7, 1, 5, a);
	/* deliver until process 1 broadcasts WRITE_PROC: the tag is chosen */
	while (srt_find(w, ADD_TYPE_WRITE_PROC, 1, 2) < 0) {
		cr_assert_gt(w->n_msgs, 0);
		srt_deliver(w, 0);
	}
	add_node_on_connection_closed(srt_node(w, 1), 7);
	srt_run(w);
	cr_assert_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_stats(w, 1).ops_completed, 1);
	cr_assert_eq(srt_stats(w, 1).ops_abandoned, 0);
	assert_everyone_holds(5, a);
}

Test(node_abandon, a_read_of_a_closed_connection_is_abandoned_too)
{
	w = srt_new(3, 16);
	srt_client_read(w, 1, 7, 1, 5);
	add_node_on_connection_closed(srt_node(w, 1), 7);
	srt_run(w);
	cr_assert_null(srt_reply_for(w, 1, 1));
	cr_assert_eq(srt_stats(w, 1).ops_abandoned, 1);
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 0);
}
