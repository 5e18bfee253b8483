/* runtime-sim/swarm: one seed -> one whole scenario. See swarm.h. */
#include "swarm.h"

#include <assert.h>
#include <stdio.h>

#include "prng.h"

#define MS 1000000ull
#define SWARM_STREAM 0x5357524du /* "SWRM": independent of the run's streams */

/* On with probability p_on; then uniform in [lo, hi]; else 0. */
static double maybe(add_prng *p, double p_on, double lo, double hi)
{
	if (!add_prng_chance(p, p_on))
		return 0.0;
	return lo + (hi - lo) * add_prng_unit(p);
}

static uint64_t between(add_prng *p, uint64_t lo, uint64_t hi)
{
	return add_prng_range(p, lo, hi);
}

/* A "must stall" run: a majority of the nodes crashes at `at` and comes
 * back `len` later. */
static void draw_stall(add_prng *p, add_scenario *s)
{
	uint64_t at = between(p, 300, 2000) * MS, len = between(p, 200, 1500) * MS;
	uint32_t majority = s->nodes / 2u + 1u;
	/* a random majority: a rotation of the ranks */
	uint32_t first = (uint32_t)add_prng_below(p, s->nodes);
	for (uint32_t k = 0; k < majority && s->n_events + 2 <= ADD_SCN_EVENTS_MAX; k++) {
		uint8_t rank = (uint8_t)((first + k) % s->nodes + 1);
		s->events[s->n_events++] = (add_scn_event){.at_ns = at, .action = ADD_SCN_CRASH,
							   .node = rank};
	}
	for (uint32_t k = 0; k < majority && s->n_events < ADD_SCN_EVENTS_MAX; k++) {
		uint8_t rank = (uint8_t)((first + k) % s->nodes + 1);
		s->events[s->n_events++] = (add_scn_event){.at_ns = at + len,
							   .action = ADD_SCN_RESTART, .node = rank};
	}
	s->expect_no_completions = true;
	/* the timeline must be over before the workload may end */
	if (s->min_duration_ns < at + len + 500 * MS)
		s->min_duration_ns = at + len + 500 * MS;
	assert(s->n_events == 2 * majority);
}

void add_swarm_draw(uint64_t seed, add_scenario *s)
{
	add_prng p;
	add_prng_seed2(&p, seed, SWARM_STREAM);
	add_scenario_defaults(s);
	snprintf(s->name, sizeof(s->name), "swarm-%llu", (unsigned long long)seed);
	/* cluster and workload */
	s->nodes = (uint8_t)between(&p, 1, 7);
	bool hot = add_prng_chance(&p, 0.5);
	s->sectors = hot ? between(&p, 1, 16) : between(&p, 32, 512);
	s->clients = (uint32_t)between(&p, 1, 8);
	s->concurrency = (uint32_t)between(&p, 1, 4);
	/* one run in six is wide: up to 96 ops in flight over many sectors, so
	 * that a node holds more registers at once than its sector map's
	 * first table (it grows, and shrinks again) */
	if (add_prng_chance(&p, 1.0 / 6)) {
		s->clients = (uint32_t)between(&p, 12, 24);
		s->concurrency = 4;
		s->sectors = between(&p, 128, 512);
	}
	s->ops = between(&p, 200, 1500);
	s->read_ratio = 0.1 + 0.8 * add_prng_unit(&p);
	s->think_ns_max = between(&p, 0, 20) * MS;
	s->min_duration_ns = between(&p, 1000, 6000) * MS;
	s->duration_ns = 40000 * MS;
	s->client_timeout_ns = between(&p, 1000, 5000) * MS;
	/* bursty: long idle gaps, so idle checkpoints run under faults */
	if (add_prng_chance(&p, 0.25)) {
		s->think_ns_max = between(&p, 200, 800) * MS;
		s->checkpoint_idle_ns = between(&p, 50, 300) * MS;
	}
	s->journal_max_bytes = (uint64_t)between(&p, 64, 512) * 1024;
	/* timing */
	s->latency_min_ns = between(&p, 10, 200) * 1000;
	s->latency_max_ns = s->latency_min_ns + between(&p, 100, 5000) * 1000;
	s->flush_min_ns = between(&p, 50, 500) * 1000;
	s->flush_max_ns = s->flush_min_ns + between(&p, 500, 8000) * 1000;
	s->down_min_ns = between(&p, 30, 300) * MS;
	s->down_max_ns = s->down_min_ns + between(&p, 100, 2000) * MS;
	s->pause_min_ns = between(&p, 20, 100) * MS;
	s->pause_max_ns = s->pause_min_ns + between(&p, 50, 800) * MS;
	s->crash_mode = (int)add_prng_below(&p, ADD_SCN_CRASH_MODE_ANY + 1);
	/* network: each fault on or off for the run */
	s->drop = maybe(&p, 0.5, 0.001, 0.1);
	s->duplicate = maybe(&p, 0.5, 0.001, 0.1);
	s->reorder = maybe(&p, 0.5, 0.001, 0.2);
	s->corrupt = maybe(&p, 0.3, 0.001, 0.02);
	s->split = maybe(&p, 0.7, 0.01, 0.5);
	s->bad_cmd = maybe(&p, 0.3, 0.001, 0.02);
	s->conn_break_per_s = maybe(&p, 0.5, 0.1, 3);
	/* processes: bounded by max_down = a minority (the default) */
	s->crash_per_s = maybe(&p, 0.5, 0.1, 2);
	s->pause_per_s = maybe(&p, 0.4, 0.1, 1);
	s->flush_fail_per_s = maybe(&p, 0.3, 0.05, 0.5);
	s->partition_per_s = maybe(&p, 0.5, 0.1, 1);
	s->oneway = s->partition_per_s > 0 ? maybe(&p, 0.5, 0.2, 0.8) : 0.0;
	s->overlap_faults = add_prng_chance(&p, 0.5);
	s->buggify = add_prng_chance(&p, 0.5);
	/* storage: only where one damaged replica is a minority */
	if (s->nodes >= 3) {
		s->rot_per_s = maybe(&p, 0.25, 0.2, 2);
		s->read_error_per_s = maybe(&p, 0.25, 0.2, 2);
		s->disk_full_per_s = maybe(&p, 0.2, 0.05, 0.3);
		s->recovery_crash = maybe(&p, 0.25, 0.1, 0.5);
		if (s->rot_per_s > 0 || s->read_error_per_s > 0)
			s->scrub_per_s = between(&p, 0, 1) ? between(&p, 200, 2000) : 0;
	}
	/* one seed in eight: a majority down for a while (may stall, must not
	 * complete without a quorum) */
	if (add_prng_chance(&p, 0.125))
		draw_stall(&p, s);
	assert(s->nodes >= 1 && s->nodes <= 7);
	assert(s->latency_min_ns <= s->latency_max_ns && s->flush_min_ns <= s->flush_max_ns);
}
