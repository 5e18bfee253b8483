/* runtime-real/histogram: see histogram.h. */
#include "histogram.h"

#include <assert.h>

const double add_hist_bounds[ADD_HIST_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01,
	0.025,	0.05,	 0.1,	 0.25,	0.5,	1.0,   2.5,    10.0,
};

/* The same bounds in nanoseconds: compared exactly, no rounding. */
static const uint64_t bounds_ns[ADD_HIST_BUCKETS] = {
	100000,	  250000,   500000,    1000000,	  2500000,   5000000,	 7500000,    10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 10000000000,
};

void add_hist_observe(add_hist *h, uint64_t ns)
{
	unsigned i = 0;

	assert(h != 0);
	assert(bounds_ns[ADD_HIST_BUCKETS - 1] == (uint64_t)(add_hist_bounds[ADD_HIST_BUCKETS - 1] * 1e9));
	while (i < ADD_HIST_BUCKETS && ns > bounds_ns[i])
		i++;
	__atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_ns, ns, __ATOMIC_RELAXED);
}

const double add_count_bounds[ADD_HIST_BUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
};

void add_hist_observe_count(add_hist *h, uint64_t v)
{
	unsigned i = 0;

	assert(h != 0);
	while (i < ADD_HIST_BUCKETS && v > (1ull << i)) /* bound i is 2^i */
		i++;
	__atomic_fetch_add(&h->counts[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum_ns, v, __ATOMIC_RELAXED);
}

void add_hist_snapshot_count(const add_hist *h, add_hist_snap *out)
{
	add_hist_snapshot(h, out);
	out->sum_seconds = (double)__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED);
}

void add_hist_snapshot(const add_hist *h, add_hist_snap *out)
{
	uint64_t total = 0;

	for (unsigned i = 0; i <= ADD_HIST_BUCKETS; i++) {
		total += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
		out->cumulative[i] = total;
	}
	out->sum_seconds = (double)__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED) / 1e9;
	assert(out->cumulative[ADD_HIST_BUCKETS] == total);
	for (unsigned i = 1; i <= ADD_HIST_BUCKETS; i++)
		assert(out->cumulative[i] >= out->cumulative[i - 1]);
}
