/*
 * runtime-real/metrics: the Prometheus text exposition (format 0.0.4) of one
 * addd process.
 *
 * The daemon fills an add_metrics_snapshot from its counters (node, sector
 * store, links, histograms); add_metrics_format turns it into the page
 * served at GET /metrics. The formatter makes no system call and reads no
 * clock: the same snapshot always gives the same bytes (the unit test
 * compares it with a golden file). No metric has a per-sector label.
 */
#ifndef ADD_REAL_METRICS_H
#define ADD_REAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "nbd_server.h"
#include "node.h"
#include "sector_store.h"

typedef struct add_metrics_peer {
	uint8_t rank;
	bool up;		/* outbound connection established */
	uint64_t send_drops;	/* messages dropped: the link's buffer was full */
	uint64_t retransmissions; /* add_node_stats.retransmissions_to[rank] */
} add_metrics_peer;

typedef struct add_metrics_snapshot {
	const char *version;
	uint8_t rank;
	uint8_t n_procs;
	bool recovering; /* core/rejoin.h: not (yet) a full member */
	uint8_t rejoin_state; /* add_rejoin_state: 1 member, 2 fresh, 3 recovering */
	uint64_t rejoin_known; /* sectors known (re-learned) while not a member */
	uint64_t scrub_passes; /* add_node_scrub_passes */
	uint64_t repairs_pending; /* add_node_repairs_pending */
	add_hist_snap checkpoint; /* checkpoint durations (ckpt_timer.h) */
	double uptime_seconds;
	uint32_t n_peers; /* entries in peers: every rank but this one */
	add_metrics_peer peers[ADD_PROCS_MAX];
	add_hist_snap op_read;	 /* client READ latency */
	add_hist_snap op_write;	 /* client WRITE latency */
	add_hist_snap fdatasync; /* every fdatasync of the flush threads */
	add_hist_snap batch_size; /* stores per group commit (add_hist_snapshot_count) */
	uint64_t ops_in_flight;	 /* client commands accepted, not answered */
	double oldest_op_age_seconds;
	uint32_t client_connections;
	uint32_t client_slots_used;
	uint32_t client_slots_max;
	uint64_t n_sectors;
	uint64_t sectors_written;
	uint64_t disk_bytes;
	uint64_t disk_bound_bytes;
	add_node_stats node;
	add_sector_store_stats store;
	add_nbd_stats nbd; /* all zeros without --nbd-listen (the families are always there) */
} add_metrics_snapshot;

/* Processes this one sees up, itself included. */
uint32_t add_metrics_processes_up(const add_metrics_snapshot *s);

/* Writes the exposition into buf[0..cap) (NUL-terminated). Returns its
 * length, or 0 when it does not fit (nothing usable in buf). */
size_t add_metrics_format(const add_metrics_snapshot *s, char *buf, size_t cap);

/* The Content-Type of the exposition. */
#define ADD_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif /* ADD_REAL_METRICS_H */
