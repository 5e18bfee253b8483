/* runtime-sim/scenario_write: a scenario back to the text format
 * (scenarios/README.md), so that a scenario drawn by swarm mode replays with
 * --scenario. Times are written in ns and rates with 17 digits: parsing the
 * text gives back the same values. See scenario.h. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "scenario.h"

static void write_event(FILE *f, const add_scn_event *e)
{
	fprintf(f, "at %" PRIu64 "ns ", e->at_ns);
	switch (e->action) {
	case ADD_SCN_CRASH: fprintf(f, "crash %u\n", e->node); break;
	case ADD_SCN_RESTART: fprintf(f, "restart %u\n", e->node); break;
	case ADD_SCN_CRASH_ALL: fprintf(f, "crash_all\n"); break;
	case ADD_SCN_RESTART_ALL: fprintf(f, "restart_all\n"); break;
	case ADD_SCN_PARTITION: {
		/* groups 1.. in order of their first rank; unlisted ranks were singletons */
		fprintf(f, "partition ");
		bool first_group = true;
		for (uint32_t g = 1; g <= ADD_SCN_NODES_MAX; g++) {
			bool any = false;
			for (uint32_t r = 1; r <= ADD_SCN_NODES_MAX; r++) {
				if (e->group[r] != g)
					continue;
				fprintf(f, "%s%u", any ? "," : (first_group ? "" : "|"), r);
				any = true;
			}
			if (any)
				first_group = false;
		}
		fprintf(f, "\n");
		break;
	}
	case ADD_SCN_RING: fprintf(f, "ring\n"); break;
	case ADD_SCN_ISOLATE: fprintf(f, "isolate %u\n", e->node); break;
	case ADD_SCN_CUT: fprintf(f, "cut %u-%u\n", e->node, e->node2); break;
	case ADD_SCN_HEAL: fprintf(f, "heal\n"); break;
	case ADD_SCN_PAUSE: fprintf(f, "pause %u %" PRIu64 "ns\n", e->node, e->duration_ns); break;
	case ADD_SCN_FAIL_FLUSH: fprintf(f, "fail_flush %u\n", e->node); break;
	case ADD_SCN_BREAK_LINKS: fprintf(f, "break_links\n"); break;
	case ADD_SCN_CHAOS_OFF: fprintf(f, "chaos_off\n"); break;
	case ADD_SCN_FLIP:
	case ADD_SCN_READ_ERROR:
		fprintf(f, "%s %u", e->action == ADD_SCN_FLIP ? "flip" : "read_error", e->node);
		if (e->file[0])
			fprintf(f, " %s %" PRIu64 " %" PRIu64, e->file, e->offset,
				e->action == ADD_SCN_FLIP ? (uint64_t)e->bit : e->len);
		fprintf(f, "\n");
		break;
	case ADD_SCN_DISK_FULL:
		fprintf(f, "disk_full %u %" PRIu64 "ns\n", e->node, e->duration_ns);
		break;
	case ADD_SCN_RECOVERY_CRASH:
		fprintf(f, "recovery_crash %u %u\n", e->node, e->count);
		break;
	default: assert(0 && "unknown timeline action"); fprintf(f, "heal\n"); break;
	}
}

int add_scenario_write(FILE *f, const add_scenario *s)
{
	assert(f && s);
	assert(s->nodes >= 1 && s->nodes <= ADD_SCN_NODES_MAX);
	static const char *modes[] = {"random", "lose", "keep", "tear", "garbage", "any"};
	static const char *files[] = ADD_SCN_STORE_FILES;
	fprintf(f, "name %s\nnodes %u\nsectors %" PRIu64 "\nclients %u\nconcurrency %u\n",
		s->name, s->nodes, s->sectors, s->clients, s->concurrency);
	fprintf(f, "ops %" PRIu64 "\nread_ratio %.17g\n", s->ops, s->read_ratio);
	fprintf(f, "duration %" PRIu64 "ns\nmin_duration %" PRIu64 "ns\n", s->duration_ns,
		s->min_duration_ns);
	fprintf(f, "client_timeout %" PRIu64 "ns\nthink %" PRIu64 "ns\nliveness %" PRIu64 "ns\n",
		s->client_timeout_ns, s->think_ns_max, s->liveness_ns);
	fprintf(f, "settle %" PRIu64 "ns\nquiesce %" PRIu64 "ns\ncheckpoint_idle %" PRIu64 "ns\n",
		s->settle_ns, s->quiesce_ns, s->checkpoint_idle_ns);
	fprintf(f, "journal_max %" PRIu64 "\n", s->journal_max_bytes);
	fprintf(f, "latency %" PRIu64 "ns %" PRIu64 "ns\n", s->latency_min_ns, s->latency_max_ns);
	fprintf(f, "reconnect %" PRIu64 "ns %" PRIu64 "ns\n", s->reconnect_min_ns,
		s->reconnect_max_ns);
	fprintf(f, "flush %" PRIu64 "ns %" PRIu64 "ns\n", s->flush_min_ns, s->flush_max_ns);
	fprintf(f, "reorder_delay %" PRIu64 "ns\n", s->reorder_max_ns);
	fprintf(f, "down %" PRIu64 "ns %" PRIu64 "ns\n", s->down_min_ns, s->down_max_ns);
	fprintf(f, "pause_len %" PRIu64 "ns %" PRIu64 "ns\n", s->pause_min_ns, s->pause_max_ns);
	fprintf(f, "disk_full_len %" PRIu64 "ns %" PRIu64 "ns\n", s->disk_full_min_ns,
		s->disk_full_max_ns);
	if (s->max_down >= 0)
		fprintf(f, "max_down %d\n", s->max_down);
	assert(s->crash_mode >= 0 && s->crash_mode <= ADD_SCN_CRASH_MODE_ANY);
	fprintf(f, "crash_mode %s\n", modes[s->crash_mode]);
	fprintf(f, "scrub_per_s %" PRIu64 "\nrepair_time %" PRIu64 "ns\n", s->scrub_per_s,
		s->repair_time_ns);
	fprintf(f, "rot_files ");
	bool first = true;
	for (int i = 0; i < ADD_SCN_N_STORE_FILES; i++)
		if (s->rot_files & (1u << i)) {
			fprintf(f, "%s%s", first ? "" : ",", files[i]);
			first = false;
		}
	fprintf(f, "\noverlap_faults %s\nbuggify %s\n", s->overlap_faults ? "on" : "off",
		s->buggify ? "on" : "off");
	const struct {
		const char *name;
		double v;
	} rates[] = {
		{"drop", s->drop}, {"duplicate", s->duplicate}, {"reorder", s->reorder},
		{"corrupt", s->corrupt}, {"split", s->split}, {"bad_cmd", s->bad_cmd},
		{"conn_break_per_s", s->conn_break_per_s}, {"crash_per_s", s->crash_per_s},
		{"partition_per_s", s->partition_per_s}, {"pause_per_s", s->pause_per_s},
		{"flush_fail_per_s", s->flush_fail_per_s}, {"rot_per_s", s->rot_per_s},
		{"read_error_per_s", s->read_error_per_s}, {"disk_full_per_s", s->disk_full_per_s},
		{"recovery_crash", s->recovery_crash}, {"oneway", s->oneway},
	};
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		fprintf(f, "rate %s %.17g\n", rates[i].name, rates[i].v);
	for (size_t i = 0; i < s->n_events; i++)
		write_event(f, &s->events[i]);
	if (s->expect_no_completions)
		fprintf(f, "expect no_completions\n");
	fprintf(f, "expect %s\n", s->expect_liveness ? "liveness" : "no_liveness");
	return ferror(f) ? -EIO : 0;
}
