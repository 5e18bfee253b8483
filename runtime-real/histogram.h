/*
 * runtime-real/histogram: a latency histogram with fixed bucket bounds, in
 * the shape Prometheus exposes (cumulative counts per upper bound, a sum and
 * a count).
 *
 * add_hist_observe may be called from any thread (the POSIX disk's flush
 * threads observe fdatasync); every field is updated with relaxed atomics,
 * so a reader on another thread sees each counter whole, and the snapshot
 * is made consistent for Prometheus (count = the +Inf bucket) by
 * add_hist_snapshot. No allocation, no locks.
 */
#ifndef ADD_REAL_HISTOGRAM_H
#define ADD_REAL_HISTOGRAM_H

#include <stdint.h>

/* Upper bounds in seconds: 100 us .. 10 s, then +Inf. */
#define ADD_HIST_BUCKETS 16
extern const double add_hist_bounds[ADD_HIST_BUCKETS];

typedef struct add_hist {
	uint64_t counts[ADD_HIST_BUCKETS + 1]; /* per bucket (not cumulative); last = +Inf */
	uint64_t sum_ns; /* for a count histogram: the sum of the counts */
} add_hist;

/* A copy for a reader: cumulative counts, as exposed. */
typedef struct add_hist_snap {
	uint64_t cumulative[ADD_HIST_BUCKETS + 1]; /* last = +Inf = count */
	double sum_seconds; /* a count histogram: the sum of the counts */
} add_hist_snap;

void add_hist_observe(add_hist *h, uint64_t ns);
void add_hist_snapshot(const add_hist *h, add_hist_snap *out);

/* The same shape for a count (the group commit's batch size): bounds
 * 1, 2, 4, ..., 32768, sum in the counted unit. */
extern const double add_count_bounds[ADD_HIST_BUCKETS];
void add_hist_observe_count(add_hist *h, uint64_t v);
void add_hist_snapshot_count(const add_hist *h, add_hist_snap *out);

#endif /* ADD_REAL_HISTOGRAM_H */
