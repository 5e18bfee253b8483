/*
 * addsim: the deterministic simulator of an ADD cluster (runtime-sim/world.h).
 *
 *   addsim --scenario scenarios/clean.txt --seed 7
 *   addsim --scenario scenarios/restart-loop.txt --seeds 1..200
 *   addsim --scenario F --seed 7 --check-determinism
 *
 * Exit status: 0 every run passed; 1 some run failed (the first failure is
 * printed with the command that replays it, the history window that shows
 * it, and the path of an HTML timeline); 2 usage or setup error.
 */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "report.h"
#include "scenario.h"
#include "swarm.h"
#include "world.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: addsim --scenario FILE [--seed S | --seeds A..B] [options]\n"
		"       addsim --swarm [--seed S | --seeds A..B] [options]\n"
		"\n"
		"Runs an ADD cluster (the real core: nodes, registers, sector stores) in a\n"
		"deterministic simulation with faults, then checks the clients' history for\n"
		"linearizability (per sector), lost acknowledged writes (final reads) and\n"
		"liveness. The same scenario and seed replay the same run, bit for bit.\n"
		"\n"
		"  --scenario FILE        the scenario (see scenarios/README.md)\n"
		"  --swarm                each seed draws its own scenario: cluster, workload\n"
		"                         and fault mix (runtime-sim/swarm.h); a failing seed\n"
		"                         prints it as a scenario file (also in --report-dir)\n"
		"  --shrink               with one failing seed: re-run it with fewer ops,\n"
		"                         faults and time while it still fails the same way,\n"
		"                         and print the smallest still-failing scenario\n"
		"  --coverage             print how often each coverage point was reached\n"
		"                         (core \"sometimes\" points, sim.* points, BUGGIFY\n"
		"                         firings) over the seeds run\n"
		"  --require-coverage L   comma-separated points that must each be reached at\n"
		"                         least once over the seeds run (else exit 1)\n"
		"  --print-scenario       print the scenario (with --swarm: the one drawn for\n"
		"                         --seed) in the scenario file format, and exit\n"
		"  --budget SECONDS       wall-clock budget of one run (default 300): a run\n"
		"                         over it is reported as HANG with its seed (exit 1)\n"
		"  --seed S               one run with seed S (default 1)\n"
		"  --seeds A..B           runs seeds A to B, with a progress line and a summary;\n"
		"                         stops at the first failure unless --keep-going\n"
		"  --keep-going           with --seeds: run every seed, count the failures\n"
		"  --check-determinism    run each seed twice, compare the trace hashes\n"
		"  --report-dir DIR       where failure timelines go (default build/sim-reports)\n"
		"  --store real|mem       real sector store over a simulated disk (default), or\n"
		"                         an in-memory model of the store contract\n"
		"  --log                  print nemesis actions and node log lines to stderr\n"
		"  --verbose              one line per seed with its figures\n"
		"  --quiet                only the summary and failures\n"
		"  --help                 this text\n"
		"\n"
		"Exit status: 0 all passed, 1 a run failed, 2 usage or setup error.\n");
}

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int mkdir_p(const char *path)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

typedef struct cli {
	const char *scenario_path;
	const char *report_dir;
	const char *argv0;
	uint64_t seed_lo, seed_hi;
	bool many, keep_going, determinism, log, verbose, quiet, swarm, shrink, print;
	unsigned budget_s;
	bool coverage;
	const char *require;
	add_sim_coverage cov; /* summed over the seeds run */
	add_sim_store_kind store;
} cli;

static void replay_cmd(const cli *c, uint64_t seed, char *buf, size_t len)
{
	if (c->swarm)
		snprintf(buf, len, "%s --swarm --seed %" PRIu64 "%s", c->argv0, seed,
			 c->store == ADD_SIM_STORE_MEM ? " --store mem" : "");
	else
		snprintf(buf, len, "%s --scenario %s --seed %" PRIu64 "%s", c->argv0,
			 c->scenario_path, seed, c->store == ADD_SIM_STORE_MEM ? " --store mem" : "");
}

/* The wall-clock budget of one run: SIGALRM prints the prepared HANG line
 * (async-signal-safe: write only) and ends the process. */
static char hang_line[1024];
static size_t hang_len;

static void on_alarm(int sig)
{
	(void)sig;
	ssize_t n = write(STDOUT_FILENO, hang_line, hang_len);
	(void)n;
	_exit(1);
}

/* A run that crashes the simulator (a failed assertion, a bad access: a
 * core bug as much as a wrong answer) is reported with its seed too. */
static char crash_line[1024];
static size_t crash_len;

static void on_crash(int sig)
{
	ssize_t n = write(STDOUT_FILENO, crash_line, crash_len);
	(void)n;
	signal(sig, SIG_DFL);
	_exit(1);
}

static void arm_budget(const cli *c, const add_scenario *s, uint64_t seed)
{
	char cmd[600];
	replay_cmd(c, seed, cmd, sizeof(cmd));
	int n = snprintf(hang_line, sizeof(hang_line),
			 "\nHANG: scenario %s, seed %" PRIu64 ": the run took more than %u s of"
			 " wall-clock time\n  replay: %s\n",
			 s->name, seed, c->budget_s, cmd);
	hang_len = n < 0 ? 0 : (size_t)n < sizeof(hang_line) ? (size_t)n : sizeof(hang_line) - 1;
	n = snprintf(crash_line, sizeof(crash_line),
		     "\nFAILED: scenario %s, seed %" PRIu64 ": CRASHED (the simulator died on a"
		     " signal: an assertion or a bad access)\n  replay: %s\n",
		     s->name, seed, cmd);
	crash_len = n < 0 ? 0 : (size_t)n < sizeof(crash_line) ? (size_t)n : sizeof(crash_line) - 1;
	if (c->budget_s)
		alarm(c->budget_s);
}

/* A drawn scenario, written where a failure report goes, to replay with
 * --scenario. Prints it too. */
static void print_swarm_scenario(const cli *c, const add_scenario *s, uint64_t seed)
{
	char path[700];
	printf("  the drawn scenario:\n");
	add_scenario_write(stdout, s);
	if (mkdir_p(c->report_dir) != 0) {
		printf("  (cannot create %s: %s)\n", c->report_dir, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s.txt", c->report_dir, s->name);
	FILE *f = fopen(path, "w");
	int rc = f ? add_scenario_write(f, s) : -errno;
	if (f && fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		printf("  replay as a scenario file: %s --scenario %s --seed %" PRIu64 "\n",
		       c->argv0, path, seed);
	else
		printf("  (cannot write %s: %s)\n", path, strerror(-rc));
}

static void print_failure(const cli *c, const add_scenario *s, uint64_t seed,
			  const add_sim_result *r)
{
	char cmd[600];
	replay_cmd(c, seed, cmd, sizeof(cmd));
	printf("\nFAILED: scenario %s, seed %" PRIu64 ": %s\n", s->name, seed,
	       add_sim_verdict_name(r->verdict));
	printf("  %s\n", r->why);
	printf("  replay: %s\n", cmd);
	if (c->swarm)
		print_swarm_scenario(c, s, seed);
	printf("  run: %" PRIu64 " ops invoked, %" PRIu64 " ok, %" PRIu64
	       " indeterminate; %" PRIu64 " crashes, %" PRIu64 " partitions, simulated %.3f s\n",
	       r->stats.ops_invoked, r->stats.ops_ok, r->stats.ops_indeterminate,
	       r->stats.crashes, r->stats.partitions, r->stats.sim_ns / 1e9);
	if (r->check.window_len == 0)
		return;
	printf("  the ops of sector %" PRIu64 " that show it:\n", r->check.sector);
	add_report_print_window(stdout, &r->history, r->check.window, r->check.window_len,
				r->culprit);
	size_t *witness = NULL, n_witness = 0;
	if (r->verdict == ADD_SIM_NOT_LINEARIZABLE) {
		n_witness = add_check_minimize(&r->history, r->check.sector, r->culprit, 3000,
					       &witness);
		if (n_witness) {
			printf("  a minimal witness (these %zu ops alone are not linearizable):\n",
			       n_witness);
			add_report_print_window(stdout, &r->history, witness, n_witness,
						r->culprit);
		}
	}
	char path[700];
	if (mkdir_p(c->report_dir) != 0) {
		free(witness);
		printf("  (cannot create %s)\n", c->report_dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s-%" PRIu64 ".html", c->report_dir, s->name, seed);
	char title[200];
	snprintf(title, sizeof(title), "addsim: %s, seed %" PRIu64 ": %s", s->name, seed,
		 add_sim_verdict_name(r->verdict));
	int rc = add_report_write_html(path, title, r->why, cmd, &r->history, r->check.window,
				       r->check.window_len, witness, n_witness, r->culprit);
	char svg[720];
	snprintf(svg, sizeof(svg), "%s/%s-%" PRIu64 ".svg", c->report_dir, s->name, seed);
	if (rc == 0)
		rc = add_report_write_svg(svg, &r->history, n_witness ? witness : r->check.window,
					  n_witness ? n_witness : r->check.window_len, r->culprit);
	free(witness);
	if (rc == 0)
		printf("  timeline: %s (and %s)\n", path, svg);
	else
		printf("  (cannot write %s: %s)\n", path, strerror(-rc));
}

/* Runs one seed (twice with --check-determinism). Returns 0 pass, 1 fail,
 * 2 setup error. */
static int run_seed(cli *c, const add_scenario *s, uint64_t seed, uint64_t *ops,
		    uint64_t *sim_ns, uint64_t *wall)
{
	add_sim_opts o = {.seed = seed, .store = c->store, .log = c->log ? stderr : NULL};
	add_sim_result r;
	uint64_t t0 = wall_ns();
	arm_budget(c, s, seed);
	int rc = add_sim_run(s, &o, &r);
	alarm(0);
	uint64_t t1 = wall_ns();
	*wall += t1 - t0;
	for (size_t i = 0; i < r.coverage.n; i++)
		add_sim_coverage_add(&c->cov, r.coverage.p[i].name, r.coverage.p[i].count);
	*ops += r.stats.ops_invoked;
	*sim_ns += r.stats.sim_ns;
	if (rc != 0 || r.verdict == ADD_SIM_SETUP_ERROR) {
		printf("\nSETUP ERROR: scenario %s, seed %" PRIu64 ": %s\n", s->name, seed, r.why);
		add_sim_result_free(&r);
		return 2;
	}
	int result = r.verdict == ADD_SIM_PASS ? 0 : 1;
	if (c->verbose)
		printf("seed %" PRIu64 ": %s  ops %" PRIu64 " (ok %" PRIu64 ", indeterminate %" PRIu64
		       ", final reads %" PRIu64 ", refused %" PRIu64 "/%" PRIu64
		       ")  crashes %" PRIu64 " partitions %" PRIu64
		       " pauses %" PRIu64 " flush failures %" PRIu64 "  storage: %" PRIu64
		       " flips, %" PRIu64 " read errors, %" PRIu64 " full disks, %" PRIu64
		       " crashes in recovery, %" PRIu64 " failed opens; %" PRIu64 " damaged found, %" PRIu64
		       " repaired, %" PRIu64 " scrubbed  msgs %" PRIu64
		       " (dropped %" PRIu64 ", dup %" PRIu64 ", reordered %" PRIu64
		       ")  disk %.0f KiB  slowest op %.0f ms (bound %.0f ms)  simulated %.2f s in %.0f ms"
		       " = %.0fx (check %.1f ms)  hash %016" PRIx64 "\n",
		       seed, add_sim_verdict_name(r.verdict), r.stats.ops_invoked, r.stats.ops_ok,
		       r.stats.ops_indeterminate, r.stats.final_reads, r.stats.bad_cmds_refused,
		       r.stats.bad_cmds, r.stats.crashes,
		       r.stats.partitions, r.stats.pauses, r.stats.flush_failures, r.stats.bit_flips,
		       r.stats.read_errors, r.stats.disk_full_periods, r.stats.recovery_crashes,
		       r.stats.open_failures, r.stats.damaged_found, r.stats.repairs_done,
		       r.stats.scrubbed,
		       r.stats.msgs_sent, r.stats.msgs_dropped, r.stats.msgs_duplicated,
		       r.stats.msgs_reordered, r.stats.disk_bytes_max / 1024.0,
		       r.stats.op_latency_max_ns / 1e6, r.stats.op_liveness_ns / 1e6,
		       r.stats.sim_ns / 1e9,
		       (t1 - t0) / 1e6, t1 > t0 ? r.stats.sim_ns / (double)(t1 - t0) : 0.0,
		       r.stats.check_ns_wall / 1e6, r.trace_hash);
	if (result)
		print_failure(c, s, seed, &r);
	if (c->determinism) {
		add_sim_result r2;
		arm_budget(c, s, seed);
		int rc2 = add_sim_run(s, &o, &r2);
		alarm(0);
		if (rc2 != 0 || r2.trace_hash != r.trace_hash || r2.history.len != r.history.len ||
		    r2.verdict != r.verdict) {
			printf("\nNOT DETERMINISTIC: scenario %s, seed %" PRIu64
			       ": trace hash %016" PRIx64 " then %016" PRIx64 " (%zu then %zu ops)\n",
			       s->name, seed, r.trace_hash, r2.trace_hash, r.history.len,
			       r2.history.len);
			result = 1;
		} else if (!c->quiet && !c->many) {
			printf("deterministic: two runs of seed %" PRIu64 " gave trace hash %016" PRIx64
			       "\n",
			       seed, r.trace_hash);
		}
		add_sim_result_free(&r2);
	}
	if (!c->many && !c->verbose && !c->quiet && result == 0)
		printf("scenario %s, seed %" PRIu64 ": pass  (%" PRIu64 " ops, %" PRIu64
		       " indeterminate, %" PRIu64 " final reads; %" PRIu64 " crashes, %" PRIu64
		       " partitions; simulated %.2f s in %.0f ms = %.0fx; hash %016" PRIx64 ")\n",
		       s->name, seed, r.stats.ops_invoked, r.stats.ops_indeterminate,
		       r.stats.final_reads, r.stats.crashes, r.stats.partitions,
		       r.stats.sim_ns / 1e9, (t1 - t0) / 1e6,
		       t1 > t0 ? r.stats.sim_ns / (double)(t1 - t0) : 0.0, r.trace_hash);
	add_sim_result_free(&r);
	return result;
}

/* One quiet run: its verdict (ADD_SIM_SETUP_ERROR when it cannot run). */
static add_sim_verdict verdict_of(const cli *c, const add_scenario *s, uint64_t seed)
{
	add_sim_opts o = {.seed = seed, .store = c->store};
	add_sim_result r;
	arm_budget(c, s, seed);
	int rc = add_sim_run(s, &o, &r);
	alarm(0);
	add_sim_verdict v = rc != 0 ? ADD_SIM_SETUP_ERROR : r.verdict;
	add_sim_result_free(&r);
	return v;
}

/* --shrink: greedy reduction of a failing run. Each step tries a smaller
 * scenario (fewer ops, clients, in-flight ops, sectors, a shorter run, one
 * fault rate or the timeline removed) with the same seed, and keeps it when
 * the run still fails with the same verdict; until no step helps. Prints the
 * smallest still-failing scenario. Returns 0 if the seed did not fail, 1
 * otherwise. */
static int shrink(const cli *c, const add_scenario *orig, uint64_t seed)
{
	add_sim_verdict want = verdict_of(c, orig, seed);
	if (want == ADD_SIM_PASS || want == ADD_SIM_SETUP_ERROR) {
		printf("shrink: seed %" PRIu64 " of %s does not fail (%s): nothing to shrink\n", seed,
		       orig->name, add_sim_verdict_name(want));
		return want == ADD_SIM_PASS ? 0 : 2;
	}
	printf("shrink: seed %" PRIu64 " of %s fails with %s; shrinking\n", seed, orig->name,
	       add_sim_verdict_name(want));
	add_scenario cur = *orig;
	unsigned tries = 0, kept = 0;
	for (bool progress = true; progress && tries < 400;) {
		progress = false;
		for (int step = 0; step < 24 && tries < 400; step++) {
			add_scenario t = cur;
			double *rates[] = {&t.drop, &t.duplicate, &t.reorder, &t.corrupt, &t.split,
					   &t.bad_cmd, &t.conn_break_per_s, &t.crash_per_s,
					   &t.partition_per_s, &t.pause_per_s, &t.flush_fail_per_s,
					   &t.rot_per_s, &t.read_error_per_s, &t.disk_full_per_s,
					   &t.recovery_crash, &t.oneway};
			const size_t n_rates = sizeof(rates) / sizeof(rates[0]);
			bool changed = false;
			if (step == 0 && t.ops > 10) {
				t.ops /= 2; changed = true;
			} else if (step == 1 && t.min_duration_ns > 200000000ull) {
				t.min_duration_ns /= 2; changed = true;
			} else if (step == 2 && t.clients > 1) {
				t.clients--; changed = true;
			} else if (step == 3 && t.concurrency > 1) {
				t.concurrency--; changed = true;
			} else if (step == 4 && t.sectors > 1) {
				t.sectors = (t.sectors + 1) / 2; changed = true;
			} else if (step == 5 && t.n_events > 0 && !t.expect_no_completions) {
				t.n_events = 0; changed = true;
			} else if (step == 6 && t.overlap_faults) {
				t.overlap_faults = false; changed = true;
			} else if (step == 7 && t.scrub_per_s) {
				t.scrub_per_s = 0; changed = true;
			} else if (step >= 8 && (size_t)(step - 8) < n_rates && *rates[step - 8] > 0) {
				*rates[step - 8] = 0; changed = true;
			}
			if (!changed)
				continue;
			tries++;
			add_sim_verdict v = verdict_of(c, &t, seed);
			if (v == want) {
				cur = t;
				kept++;
				progress = true;
				if (!c->quiet)
					fprintf(stderr, "shrink: step %d kept (%u of %u tries)\n", step,
						kept, tries);
			}
		}
	}
	int nl = snprintf(cur.name, sizeof(cur.name), "%.50s-shrunk", orig->name);
	assert(nl > 0 && (size_t)nl < sizeof(cur.name));
	printf("shrink: %u runs, %u reductions kept; the smallest still-failing scenario "
	       "(ops %" PRIu64 ", clients %u, min_duration %.1f s):\n",
	       tries, kept, cur.ops, cur.clients, cur.min_duration_ns / 1e9);
	add_scenario_write(stdout, &cur);
	char path[700];
	if (mkdir_p(c->report_dir) == 0) {
		snprintf(path, sizeof(path), "%s/%s.txt", c->report_dir, cur.name);
		FILE *f = fopen(path, "w");
		int rc = f ? add_scenario_write(f, &cur) : -errno;
		if (f && fclose(f) != 0 && rc == 0)
			rc = -errno;
		if (rc == 0)
			printf("shrink: replay: %s --scenario %s --seed %" PRIu64 "\n", c->argv0, path,
			       seed);
		else
			printf("shrink: cannot write %s: %s\n", path, strerror(-rc));
	}
	return 1;
}

static int parse_seeds(const char *arg, uint64_t *lo, uint64_t *hi)
{
	char *end;
	errno = 0;
	/* strtoull would take "-1" (and spaces): digits only. */
	if (*arg < '0' || *arg > '9')
		return -1;
	*lo = strtoull(arg, &end, 10);
	if (end == arg || errno)
		return -1;
	if (*end == '\0') {
		*hi = *lo;
		return 0;
	}
	if (strncmp(end, "..", 2) != 0)
		return -1;
	const char *p = end + 2;
	if (*p < '0' || *p > '9')
		return -1;
	*hi = strtoull(p, &end, 10);
	if (end == p || *end || errno || *hi < *lo)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	cli c = {.report_dir = "build/sim-reports", .argv0 = argv[0], .seed_lo = 1, .seed_hi = 1,
		 .budget_s = 300};
	/* --opt=value is taken as "--opt value" (as getopt_long would). */
	static char **args; /* static: lives until exit (a root for LeakSanitizer) */
	args = calloc(2 * (size_t)argc + 1, sizeof(*args));
	if (args == NULL)
		return 2;
	int nargs = 0;
	for (int i = 0; i < argc; i++) {
		char *eq = strncmp(argv[i], "--", 2) == 0 ? strchr(argv[i], '=') : NULL;
		args[nargs++] = argv[i];
		if (eq) {
			*eq = '\0'; /* argv strings are ours to modify */
			args[nargs++] = eq + 1;
		}
	}
	argc = nargs;
	argv = args;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--scenario") && v) {
			c.scenario_path = v;
			i++;
		} else if (!strcmp(a, "--seed") && v) {
			if (parse_seeds(v, &c.seed_lo, &c.seed_hi) || c.seed_lo != c.seed_hi) {
				fprintf(stderr, "addsim: bad --seed '%s'\n", v);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--seeds") && v) {
			if (parse_seeds(v, &c.seed_lo, &c.seed_hi)) {
				fprintf(stderr, "addsim: bad --seeds '%s' (A..B)\n", v);
				return 2;
			}
			c.many = true;
			i++;
		} else if (!strcmp(a, "--report-dir") && v) {
			c.report_dir = v;
			i++;
		} else if (!strcmp(a, "--store") && v) {
			if (!strcmp(v, "real"))
				c.store = ADD_SIM_STORE_REAL;
			else if (!strcmp(v, "mem"))
				c.store = ADD_SIM_STORE_MEM;
			else {
				fprintf(stderr, "addsim: --store real|mem\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--budget") && v) {
			char *end;
			errno = 0;
			unsigned long b = strtoul(v, &end, 10);
			if (*v < '0' || *v > '9' || *end || errno || b > 86400) {
				fprintf(stderr, "addsim: bad --budget '%s' (seconds, 0 = none)\n", v);
				return 2;
			}
			c.budget_s = (unsigned)b;
			i++;
		} else if (!strcmp(a, "--swarm")) {
			c.swarm = true;
		} else if (!strcmp(a, "--coverage")) {
			c.coverage = true;
		} else if (!strcmp(a, "--require-coverage") && v) {
			c.require = v;
			i++;
		} else if (!strcmp(a, "--print-scenario")) {
			c.print = true;
		} else if (!strcmp(a, "--shrink")) {
			c.shrink = true;
		} else if (!strcmp(a, "--keep-going")) {
			c.keep_going = true;
		} else if (!strcmp(a, "--check-determinism")) {
			c.determinism = true;
		} else if (!strcmp(a, "--log")) {
			c.log = true;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			c.verbose = true;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			c.quiet = true;
		} else {
			fprintf(stderr, "addsim: unknown or incomplete option '%s' (see --help)\n",
				a);
			return 2;
		}
	}
	if (!c.scenario_path == !c.swarm) {
		fprintf(stderr, "addsim: give --scenario FILE or --swarm (see --help)\n");
		return 2;
	}
	if (c.shrink && c.seed_lo != c.seed_hi) {
		fprintf(stderr, "addsim: --shrink takes one --seed\n");
		return 2;
	}
	add_scenario s;
	char err[400];
	if (c.swarm) {
		add_swarm_draw(c.seed_lo, &s);
	} else if (add_scenario_load(&s, c.scenario_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "addsim: %s\n", err);
		return 2;
	}
	if (c.print)
		return add_scenario_write(stdout, &s) == 0 ? 0 : 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (signal(SIGSEGV, on_crash) == SIG_ERR || signal(SIGABRT, on_crash) == SIG_ERR ||
	    signal(SIGBUS, on_crash) == SIG_ERR || signal(SIGFPE, on_crash) == SIG_ERR ||
	    signal(SIGALRM, on_alarm) == SIG_ERR) {
		fprintf(stderr, "addsim: signal(SIGALRM): %s\n", strerror(errno));
		return 2;
	}
	if (c.shrink)
		return shrink(&c, &s, c.seed_lo);
	uint64_t passed = 0, failed = 0, ops = 0, sim_ns = 0, first_fail = 0, run_wall = 0;
	uint64_t t0 = wall_ns();
	bool tty = isatty(STDERR_FILENO);
	int worst = 0;
	for (uint64_t seed = c.seed_lo;; seed++) {
		if (c.swarm)
			add_swarm_draw(seed, &s);
		int rc = run_seed(&c, &s, seed, &ops, &sim_ns, &run_wall);
		if (rc == 0) {
			passed++;
		} else {
			if (!failed)
				first_fail = seed;
			failed++;
			if (rc > worst)
				worst = rc;
		}
		uint64_t done = seed - c.seed_lo + 1, total = c.seed_hi - c.seed_lo + 1;
		if (c.many && !c.quiet && !c.verbose && (tty || done % 25 == 0 || done == total))
			fprintf(stderr, "%s%s: seed %" PRIu64 " (%" PRIu64 "/%" PRIu64 "), %" PRIu64
				" passed, %" PRIu64 " failed%s",
				tty ? "\r" : "", s.name, seed, done, total, passed, failed,
				tty ? "   " : "\n");
		if (seed == c.seed_hi || rc == 2 || (rc && !c.keep_going))
			break;
	}
	if (c.many && tty && !c.quiet && !c.verbose)
		fputc('\n', stderr);
	double wall = (wall_ns() - t0) / 1e9;
	if (c.many || c.verbose) {
		printf("scenario %s, seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64 " passed, %" PRIu64
		       " failed",
		       c.swarm ? "swarm" : s.name, c.seed_lo, c.seed_hi, passed, failed);
		if (failed)
			printf(" (first failure: seed %" PRIu64 ")", first_fail);
		printf("; %" PRIu64 " client ops, simulated %.1f s in %.2f s wall (%.0f ops/s,"
		       " %.0f simulated s per wall s)\n",
		       ops, sim_ns / 1e9, wall, wall > 0 ? ops / wall : 0.0,
		       run_wall ? sim_ns / (double)run_wall : 0.0);
	}
	if (c.coverage) {
		printf("coverage over seeds %" PRIu64 "..%" PRIu64 " (%zu points reached):\n",
		       c.seed_lo, c.seed_hi, c.cov.n);
		for (size_t i = 0; i < c.cov.n; i++)
			printf("  %-44s %10" PRIu64 "\n", c.cov.p[i].name, c.cov.p[i].count);
	}
	if (c.require) {
		char list[1024];
		snprintf(list, sizeof(list), "%s", c.require);
		for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
		     name = strtok_r(NULL, ",", &save)) {
			uint64_t n = 0;
			for (size_t i = 0; i < c.cov.n; i++)
				if (!strcmp(c.cov.p[i].name, name))
					n = c.cov.p[i].count;
			if (n == 0) {
				printf("COVERAGE: required point %s never reached over seeds %" PRIu64
				       "..%" PRIu64 "\n",
				       name, c.seed_lo, c.seed_hi);
				if (worst == 0)
					worst = 1;
			}
		}
	}
	return worst;
}
