/*
 * runtime-real/daemon_observe: observation: the metrics page and the STATUS answer.
 * Shared state and the other files: daemon_internal.h.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_internal.h"

/* ---- observation: metrics, status, link transitions -------------------- */

/* Batches made durable since the last call: their sizes, into the
 * histogram (several batches in one iteration share the average); and the
 * checkpoints' durations (ckpt_timer.h). */
void addd_observe_group_commits(addd_state *d)
{
	add_sector_store_stats st;

	add_sector_store_get_stats(d->store, &st);
	uint64_t now = add_now_ns();
	if (d->ckpt.last_ns == 0)
		add_ckpt_timer_init(&d->ckpt, st.checkpoints_started, st.checkpoints, now);
	add_ckpt_timer_update(&d->ckpt, st.checkpoints_started, st.checkpoints,
			      st.checkpoint_running, now, &d->checkpoint);
	if (st.journal_flushes == d->seen_flushes)
		return;
	assert(st.journal_flushes > d->seen_flushes && st.stores_durable >= d->seen_durable);
	uint64_t k = st.journal_flushes - d->seen_flushes;
	uint64_t stores = st.stores_durable - d->seen_durable;
	for (uint64_t i = 0; i < k && i < 64; i++)
		add_hist_observe_count(&d->batch_size, stores / k + (i < stores % k ? 1 : 0));
	d->seen_flushes = st.journal_flushes;
	d->seen_durable = st.stores_durable;
}

static void daemon_snapshot(addd_state *d, add_metrics_snapshot *s)
{
	uint64_t now = add_now_ns();
	add_node_stats ns;

	memset(s, 0, sizeof(*s));
	s->version = ADD_VERSION;
	s->rank = d->cfg->rank;
	s->n_procs = d->cfg->n_procs;
	s->recovering = add_rejoin_get_state(d->rejoin) != ADD_REJOIN_MEMBER;
	s->rejoin_state = (uint8_t)add_rejoin_get_state(d->rejoin);
	s->rejoin_known = add_rejoin_known(d->rejoin);
	s->scrub_passes = add_node_scrub_passes(d->node);
	s->repairs_pending = add_node_repairs_pending(d->node);
	add_hist_snapshot(&d->checkpoint, &s->checkpoint);
	add_node_get_stats(d->node, &ns);
	s->uptime_seconds = (double)(now - d->start_ns) / 1e9;
	for (uint8_t r = 1; r <= d->cfg->n_procs; r++)
		if (r != d->cfg->rank)
			s->peers[s->n_peers++] = (add_metrics_peer){
				.rank = r, .up = addd_link_up(d, r), .send_drops = d->links[r].drops,
				.retransmissions = ns.retransmissions_to[r]};
	add_hist_snapshot(&d->ops.read, &s->op_read);
	add_hist_snapshot(&d->ops.write, &s->op_write);
	add_posix_disk_sync_latency(d->pdisk, &s->fdatasync);
	add_hist_snapshot_count(&d->batch_size, &s->batch_size);
	s->node = ns;
	add_sector_store_get_stats(d->store, &s->store);
	if (d->nbd != NULL)
		add_nbd_server_stats(d->nbd, &s->nbd);
	s->ops_in_flight = ns.client_cmds_pending;
	s->oldest_op_age_seconds = (double)add_optrack_oldest_age_ns(&d->ops, now) / 1e9;
	for (uint32_t i = 0; i < d->conns_max; i++)
		s->client_connections += d->conns[i].kind == CONN_CLIENT ? 1u : 0u;
	s->client_slots_used = d->policy.slots_used;
	s->client_slots_max = ADD_CLIENTS_MAX;
	s->n_sectors = d->cfg->n_sectors;
	s->sectors_written = add_sector_store_written(d->store);
	int64_t du = add_dir_disk_bytes(d->cfg->storage_dir);
	if (du < 0)
		add_debug("metrics: reading storage directory '%s': %s", d->cfg->storage_dir,
			  strerror((int)-du));
	s->disk_bytes = du > 0 ? (uint64_t)du : 0;
	s->disk_bound_bytes = add_disk_bound_bytes(s->sectors_written, addd_journal_max_bytes());
	assert(s->n_peers + 1u == d->cfg->n_procs);
}

static size_t metrics_body(void *arg, char *buf, size_t cap)
{
	static add_metrics_snapshot snap; /* large: not on the stack */

	daemon_snapshot(arg, &snap);
	size_t len = add_metrics_format(&snap, buf, cap);
	if (len == 0)
		add_warn("metrics: the page does not fit in %zu bytes", cap);
	return len;
}

int addd_start_metrics(addd_state *d)
{
	char err[512];
	const add_hostport *hp = &d->cfg->metrics_listen;

	d->metrics = add_http_start(d->loop, hp, d->cfg->metrics_allow_remote,
				    ADD_METRICS_CONTENT_TYPE, metrics_body, d, err, sizeof(err));
	if (d->metrics == NULL) {
		add_err("--metrics-listen %s:%u: %s", hp->host, hp->port, err);
		return -1;
	}
	add_info("metrics at http://%s:%u%s", hp->host, hp->port, ADD_HTTP_PATH);
	return 0;
}

/* A STATUS command (docs/PROTOCOL.md): answered here, from the same
 * snapshot as the metrics, on the connection it came from. */
void addd_answer_status(addd_state *d, conn *c, const add_client_cmd *cmd, bool hmac_ok)
{
	static add_metrics_snapshot snap;
	uint8_t body[ADD_STATUS_BODY_SIZE], msg[ADD_RSP_STATUS_SIZE];
	add_client_rsp rsp = {.type = ADD_TYPE_STATUS_RESPONSE, .request = cmd->request};

	if (hmac_ok) {
		add_status_info info;
		daemon_snapshot(d, &snap);
		add_status_from_metrics(&snap, &info);
		add_status_encode(&info, body);
		rsp.status = ADD_STATUS_OK;
		rsp.data = body;
	} else {
		rsp.status = ADD_STATUS_AUTH_FAILURE;
	}
	size_t len = add_wire_encode_rsp(&rsp, add_node_client_key(d->node), msg);
	assert(len == (hmac_ok ? ADD_RSP_STATUS_SIZE : ADD_RSP_EMPTY_SIZE));
	if (!add_outbuf_append(&c->out, msg, len)) {
		add_warn("client connection %u does not read its replies: closing", c->slot);
		c->close_pending = true;
	}
	addd_conn_queue_flush(d, c);
}
