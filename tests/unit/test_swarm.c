/* Swarm mode's draws (runtime-sim/swarm.h) stay inside what a correct
 * cluster must survive, cover what they claim to, and survive the trip
 * through the scenario file format (runtime-sim/scenario_write.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime-sim/scenario.h"
#include "../../runtime-sim/swarm.h"

#define SEEDS 2000

Test(swarm, draws_stay_within_the_fault_bounds)
{
	unsigned sizes[8] = {0}, stalls = 0, oneway = 0, storage = 0, buggify = 0;
	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		add_scenario s;
		add_swarm_draw(seed, &s);
		cr_assert(s.nodes >= 1 && s.nodes <= 7, "seed %llu: %u nodes",
			  (unsigned long long)seed, s.nodes);
		sizes[s.nodes]++;
		/* random faults: a minority at most (the default bound) */
		cr_assert_eq(s.max_down, -1);
		bool damage = s.rot_per_s > 0 || s.read_error_per_s > 0 || s.disk_full_per_s > 0 ||
			      s.recovery_crash > 0;
		cr_assert(!damage || s.nodes >= 3, "seed %llu: storage faults with %u nodes",
			  (unsigned long long)seed, s.nodes);
		storage += damage;
		cr_assert(s.oneway == 0 || s.partition_per_s > 0);
		oneway += s.oneway > 0;
		buggify += s.buggify;
		if (s.expect_no_completions) {
			/* a must-stall run: a majority crashes, then all come back */
			stalls++;
			unsigned crashes = 0, restarts = 0;
			for (size_t i = 0; i < s.n_events; i++) {
				crashes += s.events[i].action == ADD_SCN_CRASH;
				restarts += s.events[i].action == ADD_SCN_RESTART;
			}
			cr_assert_eq(crashes, s.nodes / 2u + 1u, "seed %llu", (unsigned long long)seed);
			cr_assert_eq(restarts, crashes);
		} else {
			cr_assert_eq(s.n_events, 0);
		}
	}
	for (unsigned n = 1; n <= 7; n++)
		cr_assert(sizes[n] > SEEDS / 14, "only %u draws of N=%u", sizes[n], n);
	cr_assert(stalls > SEEDS / 16 && stalls < SEEDS / 5, "%u must-stall runs", stalls);
	cr_assert(oneway > SEEDS / 10 && storage > SEEDS / 10 && buggify > SEEDS / 3);
}

Test(swarm, a_drawn_scenario_survives_the_file_format)
{
	for (uint64_t seed = 1; seed <= 300; seed++) {
		add_scenario s, back;
		add_swarm_draw(seed, &s);
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		cr_assert(f != NULL);
		cr_assert_eq(add_scenario_write(f, &s), 0);
		cr_assert_eq(fclose(f), 0);
		char err[200];
		cr_assert_eq(add_scenario_parse(&back, text, err, sizeof(err)), 0, "seed %llu: %s",
			     (unsigned long long)seed, err);
		free(text);
		cr_assert_str_eq(back.name, s.name);
		cr_assert(back.nodes == s.nodes && back.sectors == s.sectors &&
			  back.clients == s.clients && back.concurrency == s.concurrency &&
			  back.ops == s.ops);
		cr_assert(back.read_ratio == s.read_ratio && back.drop == s.drop &&
			  back.duplicate == s.duplicate && back.reorder == s.reorder &&
			  back.corrupt == s.corrupt && back.split == s.split &&
			  back.crash_per_s == s.crash_per_s && back.oneway == s.oneway &&
			  back.recovery_crash == s.recovery_crash && back.rot_per_s == s.rot_per_s,
			  "seed %llu: a rate changed", (unsigned long long)seed);
		cr_assert(back.min_duration_ns == s.min_duration_ns &&
			  back.think_ns_max == s.think_ns_max &&
			  back.latency_max_ns == s.latency_max_ns &&
			  back.flush_max_ns == s.flush_max_ns && back.down_max_ns == s.down_max_ns &&
			  back.checkpoint_idle_ns == s.checkpoint_idle_ns &&
			  back.journal_max_bytes == s.journal_max_bytes);
		cr_assert(back.crash_mode == s.crash_mode && back.overlap_faults == s.overlap_faults &&
			  back.buggify == s.buggify && back.scrub_per_s == s.scrub_per_s &&
			  back.rot_files == s.rot_files && back.max_down == s.max_down);
		cr_assert(back.expect_no_completions == s.expect_no_completions &&
			  back.expect_liveness == s.expect_liveness);
		cr_assert_eq(back.n_events, s.n_events);
		for (size_t i = 0; i < s.n_events; i++)
			cr_assert(back.events[i].at_ns == s.events[i].at_ns &&
				  back.events[i].action == s.events[i].action &&
				  back.events[i].node == s.events[i].node);
	}
}

Test(swarm, a_seed_is_a_pure_function)
{
	add_scenario a, b;
	add_swarm_draw(77, &a);
	add_swarm_draw(78, &b);
	add_swarm_draw(77, &b);
	cr_assert(a.nodes == b.nodes && a.ops == b.ops && a.drop == b.drop &&
		  a.n_events == b.n_events && a.min_duration_ns == b.min_duration_ns);
}
