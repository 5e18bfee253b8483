/*
 * bench_sim: how fast the simulator runs and how fast its checker checks.
 *  1. the linearizability checker on a 100,000-op history over 1,000
 *     sectors (about 6 ops in flight per sector, 5% of writes indeterminate),
 *     built linearizable by construction so the search must go to the end;
 *  2. simulated client ops per wall-clock second of a healthy 3-node cluster
 *     (real core, real sector store over the sim disk, real bytes with HMAC),
 *     and the same with the in-memory store model, to show the store's share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../runtime-sim/checker.h"
#include "../runtime-sim/prng.h"
#include "../runtime-sim/scenario.h"
#include "../runtime-sim/world.h"

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bench_checker(void)
{
	add_history h;
	add_history_init(&h);
	add_prng p;
	add_prng_seed(&p, 1);
	const uint64_t sectors = 1000, per_sector = 100;
	uint64_t next_value = 1;
	for (uint64_t s = 0; s < sectors; s++) {
		uint64_t state = 0, t = 1000;
		for (uint64_t i = 0; i < per_sector; i++) {
			t += add_prng_range(&p, 1, 10); /* the linearization point */
			uint64_t inv = t - add_prng_below(&p, 30), rsp = t + add_prng_below(&p, 30);
			uint32_t client = (uint32_t)add_prng_below(&p, 16);
			if (add_prng_chance(&p, 0.5)) {
				uint64_t v = next_value++;
				state = v;
				size_t k = add_history_invoke(&h, client, 1, s, ADD_OP_WRITE, v, inv);
				if (!add_prng_chance(&p, 0.05))
					add_history_complete(&h, k, 0, rsp);
			} else {
				size_t k = add_history_invoke(&h, client, 1, s, ADD_OP_READ, 0, inv);
				add_history_complete(&h, k, state, rsp);
			}
		}
	}
	add_check_result r;
	double t0 = wall_s();
	bool ok = add_check_history(&h, NULL, &r);
	double t1 = wall_s();
	printf("checker: %zu ops over %llu sectors checked in %.3f s (%s; %llu search steps, "
	       "%.0f ops/s)\n",
	       h.len, (unsigned long long)sectors, t1 - t0, ok ? "linearizable" : r.why,
	       (unsigned long long)r.steps, h.len / (t1 - t0));
	add_check_result_free(&r);
	add_history_free(&h);
}

static void bench_world(add_sim_store_kind store, const char *what)
{
	add_scenario s;
	add_scenario_defaults(&s);
	s.nodes = 3;
	s.sectors = 1000;
	s.clients = 8;
	s.concurrency = 8;
	s.ops = 20000;
	s.read_ratio = 0.5;
	add_sim_opts o = {.seed = 1, .store = store, .skip_check = true};
	add_sim_result r;
	double t0 = wall_s();
	int rc = add_sim_run(&s, &o, &r);
	double t1 = wall_s();
	printf("simulator (%s): %llu client ops in %.3f s wall = %.0f simulated client ops/s; "
	       "%llu events, %llu messages; simulated %.2f s (%s)\n",
	       what, (unsigned long long)r.stats.ops_invoked, t1 - t0,
	       r.stats.ops_invoked / (t1 - t0), (unsigned long long)r.stats.events,
	       (unsigned long long)r.stats.msgs_sent, r.stats.sim_ns / 1e9,
	       rc == 0 ? add_sim_verdict_name(r.verdict) : r.why);
	add_sim_result_free(&r);
}

/* Time acceleration on scenarios/clean.txt at N=3 with every check on:
 * simulated seconds per wall-clock second (issue 16's target: >= 100x). */
static void bench_acceleration(void)
{
	add_scenario s;
	char err[300];
	if (add_scenario_load(&s, "scenarios/clean.txt", err, sizeof(err)) != 0) {
		printf("acceleration: cannot load scenarios/clean.txt: %s\n", err);
		return;
	}
	s.nodes = 3;
	double sim = 0, wall = 0;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		add_sim_opts o = {.seed = seed, .store = ADD_SIM_STORE_REAL};
		add_sim_result r;
		double t0 = wall_s();
		int rc = add_sim_run(&s, &o, &r);
		wall += wall_s() - t0;
		sim += r.stats.sim_ns / 1e9;
		if (rc != 0 || r.verdict != ADD_SIM_PASS)
			printf("acceleration: seed %llu: %s\n", (unsigned long long)seed,
			       rc == 0 ? add_sim_verdict_name(r.verdict) : r.why);
		add_sim_result_free(&r);
	}
	printf("time acceleration (scenarios/clean.txt, N=3, seeds 1..5, checks on): simulated "
	       "%.1f s in %.3f s wall = %.0fx (target >= 100x)\n",
	       sim, wall, wall > 0 ? sim / wall : 0.0);
}

int main(void)
{
	bench_acceleration();
	bench_checker();
	bench_world(ADD_SIM_STORE_REAL, "3 nodes, real sector store over sim disks");
	bench_world(ADD_SIM_STORE_MEM, "3 nodes, in-memory store model");
	return 0;
}
