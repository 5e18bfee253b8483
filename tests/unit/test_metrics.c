/*
 * runtime-real/metrics and histogram: the exposition of a fixed snapshot is
 * byte for byte the golden file tests/unit/golden/metrics.prom (regenerate
 * it with ADD_GOLDEN_UPDATE=1 build/test_metrics, then review the diff and
 * lint it: promtool check metrics < tests/unit/golden/metrics.prom);
 * histogram buckets are cumulative with the bounds' edges inclusive; a
 * buffer too small gives 0, never a truncated page.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime-real/ckpt_timer.h"
#include "../../runtime-real/histogram.h"
#include "../../runtime-real/metrics.h"

static char page[256 * 1024];

static const char *golden_path(void)
{
	static char path[512];
	const char *slash = strrchr(__FILE__, '/');
	int dir = slash ? (int)(slash - __FILE__) : 1;

	snprintf(path, sizeof(path), "%.*s/golden/metrics.prom", dir, slash ? __FILE__ : ".");
	return path;
}

static void fixed_snapshot(add_metrics_snapshot *s)
{
	add_hist h;

	memset(s, 0, sizeof(*s));
	s->version = "0.1.0-test";
	s->rank = 2;
	s->n_procs = 3;
	s->uptime_seconds = 12.5;
	s->n_peers = 2;
	s->peers[0] = (add_metrics_peer){.rank = 1, .up = true, .send_drops = 4,
					 .retransmissions = 1};
	s->peers[1] = (add_metrics_peer){.rank = 3, .up = false, .send_drops = 0,
					 .retransmissions = 5};
	s->rejoin_state = 3; /* recovering */
	s->rejoin_known = 65000;
	s->scrub_passes = 2;
	s->repairs_pending = 1;
	memset(&h, 0, sizeof(h));
	add_hist_observe(&h, 2000000);	 /* 2 ms */
	add_hist_observe(&h, 150000000); /* 150 ms */
	add_hist_snapshot(&h, &s->checkpoint);
	memset(&h, 0, sizeof(h));
	add_hist_observe(&h, 300000);	/* 0.3 ms */
	add_hist_observe(&h, 4000000);	/* 4 ms */
	add_hist_observe(&h, 4000000);
	add_hist_snapshot(&h, &s->op_write);
	memset(&h, 0, sizeof(h));
	add_hist_observe(&h, 80000);	/* 0.08 ms */
	add_hist_snapshot(&h, &s->op_read);
	memset(&h, 0, sizeof(h));
	add_hist_observe(&h, 20000000000ull); /* 20 s: only +Inf */
	add_hist_snapshot(&h, &s->fdatasync);
	memset(&h, 0, sizeof(h));
	add_hist_observe_count(&h, 1);
	add_hist_observe_count(&h, 3);
	add_hist_observe_count(&h, 64);
	add_hist_snapshot_count(&h, &s->batch_size);
	s->ops_in_flight = 3;
	s->oldest_op_age_seconds = 0.25;
	s->client_connections = 1;
	s->client_slots_used = 2;
	s->client_slots_max = 16;
	s->n_sectors = 65536;
	s->sectors_written = 100;
	s->disk_bytes = 512000;
	s->disk_bound_bytes = 135000000;
	s->node = (add_node_stats){.registers_active = 5, .client_cmds_pending = 3,
				   .ops_completed = 77, .retransmissions = 6,
				   .retransmissions_to = {[1] = 1, [3] = 5}, .bad_hmac_peer = 1,
				   .bad_hmac_client = 2, .peer_msgs_dropped = 0, .damaged_found = 1,
				   .repairs_done = 1, .reads_refused_damaged = 0, .scrubbed = 42};
	s->store = (add_sector_store_stats){.journal_flushes = 10, .stores_durable = 40,
					    .checkpoints = 1, .checkpoints_started = 2,
					    .checkpoint_running = true, .journal_bytes = 8192,
					    .memory_bytes = 4096, .checksum_mismatches = 1,
					    .repairs = 1};
	s->nbd = (add_nbd_stats){.connections_open = 2, .connections_accepted = 7,
				 .connections_refused = 1, .connections_bad_input = 3,
				 .requests = {[ADD_NBD_STAT_READ] = 11, [ADD_NBD_STAT_WRITE] = 9,
					      [ADD_NBD_STAT_FLUSH] = 4, [ADD_NBD_STAT_TRIM] = 1,
					      [ADD_NBD_STAT_DISC] = 5},
				 .requests_einval = 2, .bytes_read = 45056,
				 .bytes_written = 36864, .requests_in_flight = 6};
}

Test(metrics, exposition_matches_the_golden_file)
{
	add_metrics_snapshot s;
	size_t len;

	fixed_snapshot(&s);
	len = add_metrics_format(&s, page, sizeof(page));
	cr_assert_gt(len, 0);
	cr_assert_eq(strlen(page), len);
	if (getenv("ADD_GOLDEN_UPDATE") != NULL) {
		FILE *f = fopen(golden_path(), "w");
		cr_assert_not_null(f, "cannot write %s", golden_path());
		cr_assert_eq(fwrite(page, 1, len, f), len);
		cr_assert_eq(fclose(f), 0);
	}
	FILE *f = fopen(golden_path(), "r");
	cr_assert_not_null(f, "cannot open %s", golden_path());
	static char want[256 * 1024];
	size_t wlen = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[wlen] = '\0';
	cr_assert_eq(wlen, len, "length %zu, golden %zu", len, wlen);
	cr_assert_str_eq(page, want);
}

Test(metrics, the_same_snapshot_gives_the_same_bytes)
{
	add_metrics_snapshot s;
	static char again[256 * 1024];

	fixed_snapshot(&s);
	size_t a = add_metrics_format(&s, page, sizeof(page));
	size_t b = add_metrics_format(&s, again, sizeof(again));
	cr_assert_eq(a, b);
	cr_assert_eq(memcmp(page, again, a), 0);
}

Test(metrics, a_small_buffer_gives_nothing_rather_than_a_truncated_page)
{
	add_metrics_snapshot s;
	char small[512];

	fixed_snapshot(&s);
	size_t full = add_metrics_format(&s, page, sizeof(page));
	cr_assert_gt(full, sizeof(small));
	cr_assert_eq(add_metrics_format(&s, small, sizeof(small)), 0);
	cr_assert_eq(small[0], '\0');
	cr_assert_eq(add_metrics_format(&s, page, full), 0, "no room for the NUL");
	cr_assert_eq(add_metrics_format(&s, page, full + 1), full);
}

Test(metrics, every_rank_of_the_largest_cluster_fits_the_daemons_buffer)
{
	add_metrics_snapshot *s = calloc(1, sizeof(*s));

	cr_assert_not_null(s);
	fixed_snapshot(s);
	s->n_procs = ADD_PROCS_MAX;
	s->rank = ADD_PROCS_MAX;
	s->n_peers = ADD_PROCS_MAX - 1;
	for (uint32_t i = 0; i < s->n_peers; i++)
		s->peers[i] = (add_metrics_peer){.rank = (uint8_t)(i + 1), .up = true,
						 .send_drops = UINT64_MAX};
	cr_assert_eq(add_metrics_processes_up(s), ADD_PROCS_MAX);
	cr_assert_gt(add_metrics_format(s, page, sizeof(page)), 0);
	free(s);
}

Test(histogram, count_buckets_are_powers_of_two_inclusive)
{
	add_hist h;
	add_hist_snap sn;

	memset(&h, 0, sizeof(h));
	add_hist_observe_count(&h, 1);	   /* le 1 */
	add_hist_observe_count(&h, 2);	   /* le 2 */
	add_hist_observe_count(&h, 3);	   /* le 4 */
	add_hist_observe_count(&h, 32768); /* le 32768 */
	add_hist_observe_count(&h, 32769); /* +Inf */
	add_hist_snapshot_count(&h, &sn);
	cr_assert_eq(sn.cumulative[0], 1);
	cr_assert_eq(sn.cumulative[1], 2);
	cr_assert_eq(sn.cumulative[2], 3);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS - 2], 3);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS - 1], 4);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS], 5);
	cr_assert_float_eq(sn.sum_seconds, 65543.0, 1e-9);
	for (unsigned i = 0; i < ADD_HIST_BUCKETS; i++)
		cr_assert_float_eq(add_count_bounds[i], (double)(1u << i), 0);
}

Test(histogram, buckets_are_cumulative_and_bounds_inclusive)
{
	add_hist h;
	add_hist_snap sn;

	memset(&h, 0, sizeof(h));
	add_hist_observe(&h, 100000);  /* exactly 0.0001 s: first bucket */
	add_hist_observe(&h, 100001);  /* just above: second */
	add_hist_observe(&h, 10000000000ull); /* exactly 10 s: last finite */
	add_hist_observe(&h, 10000000001ull); /* +Inf only */
	add_hist_snapshot(&h, &sn);
	cr_assert_eq(sn.cumulative[0], 1);
	cr_assert_eq(sn.cumulative[1], 2);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS - 2], 2);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS - 1], 3);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS], 4);
	cr_assert_float_eq(sn.sum_seconds, 20.000200002, 1e-9);
}

/* The new families hold the snapshot's figures (besides the golden file). */
Test(metrics, rejoin_scrub_checkpoint_and_per_peer_retransmissions_are_exposed)
{
	add_metrics_snapshot s;

	fixed_snapshot(&s);
	cr_assert_gt(add_metrics_format(&s, page, sizeof(page)), 0);
	cr_assert_not_null(strstr(page, "\nadd_peer_retransmissions_total{peer=\"3\"} 5\n"));
	cr_assert_not_null(strstr(page, "\nadd_rejoin_state{state=\"recovering\"} 1\n"));
	cr_assert_not_null(strstr(page, "\nadd_rejoin_state{state=\"member\"} 0\n"));
	cr_assert_not_null(strstr(page, "\nadd_rejoin_sectors_known 65000\n"));
	cr_assert_not_null(strstr(page, "\nadd_rejoin_sectors_behind 536\n"));
	cr_assert_not_null(strstr(page, "\nadd_scrub_passes_total 2\n"));
	cr_assert_not_null(strstr(page, "\nadd_repairs_pending 1\n"));
	cr_assert_not_null(strstr(page, "\nadd_checkpoint_running 1\n"));
	cr_assert_not_null(strstr(page, "\nadd_checkpoint_duration_seconds_count 2\n"));
	cr_assert_not_null(strstr(page, "\nadd_checkpoint_duration_seconds_bucket{le=\"0.1\"} 1\n"));
}

/* The NBD counters are exposed, each command its own series. */
Test(metrics, nbd_counters_are_exposed_by_command)
{
	add_metrics_snapshot s;

	fixed_snapshot(&s);
	cr_assert_gt(add_metrics_format(&s, page, sizeof(page)), 0);
	cr_assert_not_null(strstr(page, "\nadd_nbd_connections 2\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_connections_accepted_total 7\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_connections_refused_total 1\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_connections_bad_input_total 3\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_requests_total{cmd=\"read\"} 11\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_requests_total{cmd=\"write_zeroes\"} 0\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_requests_total{cmd=\"disc\"} 5\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_requests_einval_total 2\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_requests_in_flight 6\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_read_bytes_total 45056\n"));
	cr_assert_not_null(strstr(page, "\nadd_nbd_written_bytes_total 36864\n"));
}

/* A checkpoint first seen running at 1.0 s (so started after the update at
 * 0.95 s) and seen done at 1.25 s is observed as 0.3 s, an upper bound; one
 * that started and ended between two updates, as their gap. */
Test(ckpt_timer, durations_run_from_seen_started_to_seen_done)
{
	add_ckpt_timer t;
	add_hist h;
	add_hist_snap sn;
	const uint64_t MS = 1000000;

	memset(&h, 0, sizeof(h));
	add_ckpt_timer_init(&t, 3, 3, 900 * MS); /* three before start-up: not timed */
	cr_assert_eq(add_ckpt_timer_update(&t, 3, 3, false, 950 * MS, &h), 0);
	cr_assert_eq(add_ckpt_timer_update(&t, 4, 3, true, 1000 * MS, &h), 0);
	cr_assert_eq(add_ckpt_timer_update(&t, 4, 3, true, 1100 * MS, &h), 0);
	cr_assert_eq(add_ckpt_timer_update(&t, 4, 4, false, 1250 * MS, &h), 1);
	add_hist_snapshot(&h, &sn);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS], 1);
	/* started at the latest at 950 ms: at most 300 ms */
	cr_assert_float_eq(sn.sum_seconds, 0.3, 1e-9);
	/* started and done between 1250 and 1260 ms */
	cr_assert_eq(add_ckpt_timer_update(&t, 5, 5, false, 1260 * MS, &h), 1);
	add_hist_snapshot(&h, &sn);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS], 2);
	cr_assert_float_eq(sn.sum_seconds, 0.31, 1e-9);
	cr_assert_eq(add_ckpt_timer_update(&t, 5, 5, false, 2000 * MS, &h), 0);
	add_hist_snapshot(&h, &sn);
	cr_assert_eq(sn.cumulative[ADD_HIST_BUCKETS], 2, "nothing new: nothing observed");
}
