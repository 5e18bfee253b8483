/* runtime-real/metrics: see metrics.h. */
#include "metrics.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct out {
	char *buf;
	size_t cap, len;
	bool overflow;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

static void family(out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(out *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "gauge", help);
	put(o, "%s %llu\n", name, (unsigned long long)v);
}

/* One histogram series; `labels` is "" or `k="v",` (with the comma). */
static void hist_series_b(out *o, const char *name, const char *labels, const add_hist_snap *h,
			  const double *bounds)
{
	for (unsigned i = 0; i < ADD_HIST_BUCKETS; i++)
		put(o, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, bounds[i],
		    (unsigned long long)h->cumulative[i]);
	put(o, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
	    (unsigned long long)h->cumulative[ADD_HIST_BUCKETS]);
	size_t l = strlen(labels);
	/* the labels without their trailing comma, in braces, or nothing */
	if (l > 0) {
		put(o, "%s_sum{%.*s} %.9g\n", name, (int)(l - 1), labels, h->sum_seconds);
		put(o, "%s_count{%.*s} %llu\n", name, (int)(l - 1), labels,
		    (unsigned long long)h->cumulative[ADD_HIST_BUCKETS]);
	} else {
		put(o, "%s_sum %.9g\n", name, h->sum_seconds);
		put(o, "%s_count %llu\n", name, (unsigned long long)h->cumulative[ADD_HIST_BUCKETS]);
	}
}

static void hist_series(out *o, const char *name, const char *labels, const add_hist_snap *h)
{
	hist_series_b(o, name, labels, h, add_hist_bounds);
}

uint32_t add_metrics_processes_up(const add_metrics_snapshot *s)
{
	uint32_t up = 1; /* this one */

	for (uint32_t i = 0; i < s->n_peers; i++)
		up += s->peers[i].up ? 1u : 0u;
	assert(up <= (uint32_t)s->n_procs || s->n_procs == 0);
	return up;
}

size_t add_metrics_format(const add_metrics_snapshot *s, char *buf, size_t cap)
{
	out o = {.buf = buf, .cap = cap};
	const add_node_stats *n = &s->node;
	const add_sector_store_stats *st = &s->store;

	assert(s != NULL && buf != NULL && cap > 0);
	assert(s->n_peers < ADD_PROCS_MAX);
	family(&o, "add_build_info", "gauge", "Version of this addd; always 1.");
	put(&o, "add_build_info{version=\"%s\"} 1\n", s->version);
	family(&o, "add_uptime_seconds", "gauge", "Seconds since this process started.");
	put(&o, "add_uptime_seconds %.3f\n", s->uptime_seconds);
	gauge(&o, "add_rank", "This process's rank.", s->rank);
	gauge(&o, "add_cluster_processes", "Processes in the cluster (N).", s->n_procs);
	gauge(&o, "add_processes_up", "Processes this one sees up, itself included.",
	      add_metrics_processes_up(s));

	family(&o, "add_peer_up", "gauge",
	       "1 while this process's connection to that rank is established.");
	for (uint32_t i = 0; i < s->n_peers; i++)
		put(&o, "add_peer_up{peer=\"%u\"} %d\n", s->peers[i].rank, s->peers[i].up ? 1 : 0);
	family(&o, "add_peer_send_drops_total", "counter",
	       "Internal messages dropped because the link's buffer was full (retransmitted).");
	for (uint32_t i = 0; i < s->n_peers; i++)
		put(&o, "add_peer_send_drops_total{peer=\"%u\"} %llu\n", s->peers[i].rank,
		    (unsigned long long)s->peers[i].send_drops);
	family(&o, "add_peer_retransmissions_total", "counter",
	       "Internal messages resent to that rank (add_retransmissions_total: all peers).");
	for (uint32_t i = 0; i < s->n_peers; i++)
		put(&o, "add_peer_retransmissions_total{peer=\"%u\"} %llu\n", s->peers[i].rank,
		    (unsigned long long)s->peers[i].retransmissions);

	family(&o, "add_client_op_duration_seconds", "histogram",
	       "Client commands, from read off the socket to the answer queued.");
	hist_series(&o, "add_client_op_duration_seconds", "op=\"read\",", &s->op_read);
	hist_series(&o, "add_client_op_duration_seconds", "op=\"write\",", &s->op_write);
	family(&o, "add_fdatasync_duration_seconds", "histogram",
	       "fdatasync calls of the storage flush threads.");
	hist_series(&o, "add_fdatasync_duration_seconds", "", &s->fdatasync);

	family(&o, "add_group_commit_batch_size", "histogram",
	       "Sector stores made durable by one journal flush (group commit).");
	hist_series_b(&o, "add_group_commit_batch_size", "", &s->batch_size, add_count_bounds);
	counter(&o, "add_journal_flushes_total", "Group commits (journal batches made durable).",
		st->journal_flushes);
	counter(&o, "add_stores_durable_total",
		"Sector stores made durable; divided by add_journal_flushes_total: the batch size.",
		st->stores_durable);
	gauge(&o, "add_ops_in_flight", "Client commands accepted and not yet answered.",
	      s->ops_in_flight);
	family(&o, "add_oldest_op_age_seconds", "gauge",
	       "Age of the oldest client command not yet answered (0 when none).");
	put(&o, "add_oldest_op_age_seconds %.6f\n", s->oldest_op_age_seconds);
	counter(&o, "add_ops_completed_total", "Reads and writes this process coordinated.",
		n->ops_completed);
	gauge(&o, "add_registers_active", "Sectors with a register allocated (operations running).",
	      n->registers_active);
	counter(&o, "add_retransmissions_total", "Internal messages resent, all peers together.",
		n->retransmissions);
	counter(&o, "add_peer_msgs_dropped_total",
		"Internal messages dropped: unknown or own rank, bad sector.", n->peer_msgs_dropped);

	gauge(&o, "add_client_connections", "Client connections open.", s->client_connections);
	gauge(&o, "add_client_slots_used", "Client slots in use (new and client connections).",
	      s->client_slots_used);
	gauge(&o, "add_client_slots_max", "Client slots.", s->client_slots_max);
	family(&o, "add_bad_hmac_total", "counter",
	       "Messages whose HMAC did not verify: client commands (answered AuthFailure) "
	       "and internal messages (dropped).");
	put(&o, "add_bad_hmac_total{kind=\"client\"} %llu\n", (unsigned long long)n->bad_hmac_client);
	put(&o, "add_bad_hmac_total{kind=\"peer\"} %llu\n", (unsigned long long)n->bad_hmac_peer);

	const add_nbd_stats *nb = &s->nbd;
	static const char *const nbd_cmd[ADD_NBD_STAT_CMDS] = {
		[ADD_NBD_STAT_READ] = "read", [ADD_NBD_STAT_WRITE] = "write",
		[ADD_NBD_STAT_FLUSH] = "flush", [ADD_NBD_STAT_WRITE_ZEROES] = "write_zeroes",
		[ADD_NBD_STAT_TRIM] = "trim", [ADD_NBD_STAT_DISC] = "disc"};
	gauge(&o, "add_nbd_connections", "NBD connections open (0 without --nbd-listen).",
	      nb->connections_open);
	counter(&o, "add_nbd_connections_accepted_total", "NBD connections accepted.",
		nb->connections_accepted);
	counter(&o, "add_nbd_connections_refused_total",
		"NBD connections refused: the connection table was full.",
		nb->connections_refused);
	counter(&o, "add_nbd_connections_bad_input_total",
		"NBD connections closed for malformed transmission input.",
		nb->connections_bad_input);
	family(&o, "add_nbd_requests_total", "counter", "NBD requests admitted, by command.");
	for (unsigned k = 0; k < ADD_NBD_STAT_CMDS; k++)
		put(&o, "add_nbd_requests_total{cmd=\"%s\"} %llu\n", nbd_cmd[k],
		    (unsigned long long)nb->requests[k]);
	counter(&o, "add_nbd_requests_einval_total", "NBD requests answered NBD_EINVAL.",
		nb->requests_einval);
	gauge(&o, "add_nbd_requests_in_flight", "NBD requests admitted, not yet answered.",
	      nb->requests_in_flight);
	counter(&o, "add_nbd_read_bytes_total", "Bytes sent in successful NBD READ replies.",
		nb->bytes_read);
	counter(&o, "add_nbd_written_bytes_total", "Bytes of NBD WRITEs acknowledged.",
		nb->bytes_written);

	gauge(&o, "add_journal_bytes", "Bytes of both journals in use, headers included.",
	      st->journal_bytes);
	counter(&o, "add_checkpoints_total", "Journal checkpoints.", st->checkpoints);
	gauge(&o, "add_checkpoint_running", "1 while a checkpoint's flushes are in flight.",
	      st->checkpoint_running ? 1u : 0u);
	family(&o, "add_checkpoint_duration_seconds", "histogram",
	       "Journal checkpoints, from seen starting to seen done by the event loop.");
	hist_series(&o, "add_checkpoint_duration_seconds", "", &s->checkpoint);
	gauge(&o, "add_store_memory_bytes", "Sector store index and batch buffers.",
	      st->memory_bytes);
	gauge(&o, "add_sectors", "Sectors of the device (--sectors).", s->n_sectors);
	gauge(&o, "add_sectors_written", "Sectors holding a value.", s->sectors_written);
	gauge(&o, "add_disk_bytes", "Bytes the storage directory's files occupy on disk.",
	      s->disk_bytes);
	gauge(&o, "add_disk_bound_bytes",
	      "Bound on add_disk_bytes: 1.1 x written x 4096 plus the journals' ceiling.",
	      s->disk_bound_bytes);

	counter(&o, "add_store_checksum_mismatches_total", "Data whose CRC32C did not match.",
		st->checksum_mismatches);
	counter(&o, "add_store_read_errors_total", "Reads of sector data that failed (EIO).",
		st->read_errors);
	counter(&o, "add_store_corrupt_records_total",
		"Bad journal records with valid ones after them.", st->corrupt_records);
	counter(&o, "add_store_suspect_sectors_total", "Sectors marked damaged by recovery.",
		st->suspect_sectors);
	counter(&o, "add_store_repairs_total", "Repairs the store made durable.", st->repairs);
	gauge(&o, "add_store_damaged_sectors", "Sectors whose local copy is damaged now.",
	      st->damaged_now);
	counter(&o, "add_node_damaged_found_total", "Damaged sectors the node found.",
		n->damaged_found);
	counter(&o, "add_node_repairs_done_total", "Damaged sectors repaired from the peers.",
		n->repairs_done);
	counter(&o, "add_node_reads_refused_damaged_total",
		"READ_PROC not answered because the local copy was damaged.",
		n->reads_refused_damaged);
	counter(&o, "add_node_scrubbed_sectors_total", "Sectors verified by scrub.", n->scrubbed);
	counter(&o, "add_scrub_passes_total", "Whole scrub passes over the written sectors.",
		s->scrub_passes);
	gauge(&o, "add_repairs_pending", "Damaged sectors known and not yet repaired.",
	      s->repairs_pending);

	family(&o, "add_rejoin_state", "gauge",
	       "1 for this storage's rejoin state (core/rejoin.h), 0 for the others.");
	static const struct {
		uint8_t v;
		const char *name;
	} states[] = {{1, "member"}, {2, "fresh"}, {3, "recovering"}};
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		put(&o, "add_rejoin_state{state=\"%s\"} %d\n", states[i].name,
		    s->rejoin_state == states[i].v ? 1 : 0);
	gauge(&o, "add_rejoin_sectors_known",
	      "Sectors this storage holds a current value of (re-learned while recovering; "
	      "add_sectors once a member).", s->rejoin_known);
	gauge(&o, "add_rejoin_sectors_behind",
	      "Sectors not re-learned yet (add_sectors - add_rejoin_sectors_known).",
	      s->rejoin_known < s->n_sectors ? s->n_sectors - s->rejoin_known : 0);

	if (o.overflow) {
		buf[0] = '\0';
		return 0;
	}
	assert(o.len < cap && buf[o.len] == '\0');
	return o.len;
}
