/* The node's local submission path (add_node_submit_local + io->local_done),
 * the NBD front end's way in: no bytes, no HMAC, no connection. */
#include <criterion/criterion.h>
#include <string.h>

#include "script_runtime.h"

static srt_world *w;

static struct {
	int calls;
	uint64_t token;
	bool had_data;
	uint8_t data[ADD_SECTOR_SIZE];
} got;

static void on_local_done(void *ctx, uint64_t token, const uint8_t *data)
{
	(void)ctx;
	got.calls++;
	got.token = token;
	got.had_data = data != NULL;
	if (data)
		memcpy(got.data, data, ADD_SECTOR_SIZE);
}

static void teardown(void)
{
	if (w)
		srt_free(w);
	w = NULL;
	memset(&got, 0, sizeof(got));
}

TestSuite(node_local, .fini = teardown);

/* Three processes; rank 1 has a local front end. */
static void setup_local(void)
{
	w = srt_new(3, 16);
	srt_crash(w, 1);
	w->procs[1].io.local_done = on_local_done;
	srt_restart(w, 1);
	srt_run(w);
}

Test(node_local, write_then_read_complete_once_with_their_tokens)
{
	uint8_t d[ADD_SECTOR_SIZE];

	setup_local();
	srt_fill(d, 7);
	cr_assert(add_node_submit_local(srt_node(w, 1), 3, d, 0xabcdef0123ull));
	cr_assert_eq(got.calls, 0, "not before a majority stored it");
	srt_run(w);
	cr_assert_eq(got.calls, 1);
	cr_assert_eq(got.token, 0xabcdef0123ull);
	cr_assert(!got.had_data);
	cr_assert_eq(w->n_replies, 0, "nothing is sent to any client connection");

	cr_assert(add_node_submit_local(srt_node(w, 1), 3, NULL, 42));
	srt_run(w);
	cr_assert_eq(got.calls, 2);
	cr_assert_eq(got.token, 42);
	cr_assert(got.had_data);
	cr_assert_arr_eq(got.data, d, ADD_SECTOR_SIZE);
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 0);
}

Test(node_local, a_local_write_is_seen_by_a_client_of_another_process)
{
	uint8_t d[ADD_SECTOR_SIZE];
	const srt_reply *r;

	setup_local();
	srt_fill(d, 9);
	cr_assert(add_node_submit_local(srt_node(w, 1), 5, d, 1));
	srt_run(w);
	cr_assert_eq(got.calls, 1);
	srt_client_read(w, 2, 1, 77, 5);
	srt_run(w);
	r = srt_reply_for(w, 2, 77);
	cr_assert_not_null(r);
	cr_assert_eq(r->status, ADD_STATUS_OK);
	cr_assert_arr_eq(r->data, d, ADD_SECTOR_SIZE);
}

Test(node_local, closing_client_connections_does_not_drop_local_operations)
{
	uint8_t d[ADD_SECTOR_SIZE];

	setup_local();
	srt_fill(d, 3);
	cr_assert(add_node_submit_local(srt_node(w, 1), 2, d, 5));
	add_node_on_connection_closed(srt_node(w, 1), 0);
	add_node_on_connection_closed(srt_node(w, 1), 1);
	srt_run(w);
	cr_assert_eq(got.calls, 1);
	cr_assert_eq(got.token, 5);
}

Test(node_local, refused_out_of_range_or_without_local_done)
{
	setup_local();
	cr_assert(!add_node_submit_local(srt_node(w, 1), 16, NULL, 1));
	cr_assert_eq(srt_stats(w, 1).client_cmds_pending, 0);
	srt_run(w);
	cr_assert_eq(got.calls, 0);
	/* rank 2 has no local front end */
	cr_assert(!add_node_submit_local(srt_node(w, 2), 0, NULL, 1));
	cr_assert_eq(srt_stats(w, 2).client_cmds_pending, 0);
}
