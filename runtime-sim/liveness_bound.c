/* runtime-sim/liveness_bound: the liveness bound of an operation under
 * message loss. See liveness_bound.h. */
#include "liveness_bound.h"

#include <assert.h>
#include <math.h>

uint32_t add_sim_liveness_attempts(double loss, uint32_t nodes)
{
	assert(loss >= 0 && loss <= 1);
	assert(nodes >= 1);
	uint32_t needed = nodes / 2; /* peers that must answer */
	if (loss <= 0 || needed == 0)
		return 1;
	if (loss >= 1)
		return UINT32_MAX; /* nothing ever gets through */
	double q = 1 - (1 - loss) * (1 - loss); /* one round trip fails */
	/* needed * q^k <= eps  <=>  k >= ln(eps / needed) / ln(q) */
	double k = ceil(log(ADD_SIM_LIVENESS_EPS / needed) / log(q));
	if (k < 1)
		k = 1;
	if (k > 1e6)
		return 1000000;
	uint32_t attempts = (uint32_t)k;
	assert(needed * pow(q, attempts) <= ADD_SIM_LIVENESS_EPS * (1 + 1e-9));
	return attempts;
}

uint64_t add_sim_liveness_bound_ns(const add_sim_liveness_params *p)
{
	assert(p->retx_initial_ns > 0 && p->retx_max_ns >= p->retx_initial_ns);
	uint32_t k = add_sim_liveness_attempts(p->loss, p->nodes);
	if (k <= 1)
		return p->base_ns;
	/* The k-th attempt leaves sum of the first k-1 timer intervals after
	 * the first one, then needs a round trip. */
	uint64_t t = 0, interval = p->retx_initial_ns;
	for (uint32_t i = 1; i < k; i++) {
		t += interval + p->tick_ns;
		interval = interval * 2 > p->retx_max_ns ? p->retx_max_ns : interval * 2;
	}
	uint64_t phase = t + p->round_trip_ns;
	uint64_t bound = p->base_ns + ADD_SIM_LIVENESS_PHASES * phase;
	assert(bound > p->base_ns);
	return bound;
}
