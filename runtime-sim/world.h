/*
 * runtime-sim/world: one deterministic simulated run of an ADD cluster.
 *
 * N nodes of the real core (core/node.h), each over the real sector store
 * (core/sector_store.h) on its own simulated disk (sim_disk.h); a simulated
 * network of connections that carries the real signed bytes (so the codec,
 * the stream decoder and the HMAC run as in addd); clients that speak the
 * client protocol; a nemesis driven by the scenario's timeline and rates; a
 * history of every client operation, checked at the end. Everything
 * nondeterministic is drawn from PRNG streams split off the seed, and the
 * clock is simulated: the same scenario and seed give the same run, bit for
 * bit (the trace hash proves it).
 *
 * A run has phases: WORKLOAD (clients issue ops; faults happen), HEAL (the
 * nemesis stops, every node is restarted and unpaused, partitions healed,
 * chaos off, then a settle time), FINAL (every written sector is read once:
 * those reads must all complete and return the last linearized value), DONE.
 */
#ifndef ADD_SIM_WORLD_H
#define ADD_SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "checker.h"
#include "history.h"
#include "scenario.h"

typedef enum add_sim_store_kind {
	ADD_SIM_STORE_REAL = 0, /* core sector store over a sim disk */
	ADD_SIM_STORE_MEM = 1,  /* an in-memory model of the store contract */
} add_sim_store_kind;

typedef struct add_sim_opts {
	uint64_t seed;
	add_sim_store_kind store;
	FILE *log;	 /* node log lines and nemesis actions, or NULL */
	bool skip_check; /* only run (benchmarks of the world itself) */
} add_sim_opts;

typedef enum add_sim_verdict {
	ADD_SIM_PASS = 0,
	ADD_SIM_NOT_LINEARIZABLE,
	ADD_SIM_NO_QUORUM_COMPLETION, /* completed while no majority could answer */
	ADD_SIM_LIVENESS,             /* stuck while the cluster was healthy */
	ADD_SIM_INCONCLUSIVE,         /* checker budget exceeded */
	ADD_SIM_RESOURCES,            /* idle: registers, commands or disk space not released */
	ADD_SIM_PROTOCOL,             /* a response a correct process never sends */
	ADD_SIM_SETUP_ERROR,          /* a node or store could not be created */
	ADD_SIM_TAG_CONFLICT,         /* one (sector, ts, wr) seen with two values */
	ADD_SIM_NOT_REPAIRED,         /* after the scrub: a replica damaged or wrong */
	ADD_SIM_GUESSED,              /* `expect refusal`: the cluster went on instead */
	ADD_SIM_DURABLE_WENT_BACK,    /* a restarted store shows less than it reported durable */
} add_sim_verdict;

typedef struct add_sim_stats {
	uint64_t sim_ns;
	uint64_t events;
	uint64_t ops_invoked, ops_ok, ops_indeterminate, final_reads;
	uint64_t bad_cmds, bad_cmds_refused; /* commands with a bad tag or sector */
	uint64_t msgs_sent, msgs_dropped, msgs_duplicated, msgs_reordered, msgs_corrupted;
	uint64_t crashes, restarts, partitions, pauses, flush_failures, link_breaks;
	uint64_t no_quorum_periods;
	/* storage faults */
	uint64_t bit_flips, read_errors, disk_full_periods, recovery_crashes, open_failures;
	uint64_t damaged_found, repairs_done, scrubbed; /* the nodes' counts, summed */
	uint64_t registers_left; /* registers still active once idle (all nodes) */
	uint64_t disk_bytes_max; /* the largest node's disk use once idle */
	uint64_t check_ns_wall; /* 0: not measured here */
	uint64_t op_latency_max_ns; /* the slowest completed operation */
	uint64_t op_liveness_ns;    /* the bound on an operation (liveness_bound.h) */
} add_sim_stats;

/* Coverage: how often each named point (core "sometimes" points through
 * core/sim_hooks.h, and the simulator's own "sim.*" points) was reached in a
 * run, and how often BUGGIFY fault points fired. */
#define ADD_SIM_COVERAGE_MAX 48
typedef struct add_sim_coverage {
	size_t n;
	struct {
		const char *name; /* a string literal */
		uint64_t count;
	} p[ADD_SIM_COVERAGE_MAX];
} add_sim_coverage;

/* Adds `count` to point `name` of c (ignored when c is full). */
void add_sim_coverage_add(add_sim_coverage *c, const char *name, uint64_t count);

typedef struct add_sim_result {
	add_sim_verdict verdict;
	char why[640];
	uint64_t trace_hash;
	add_history history;   /* owned */
	add_check_result check; /* window of the violation, if any */
	size_t culprit;         /* history index of the culprit, SIZE_MAX if none */
	add_sim_stats stats;
	add_sim_coverage coverage; /* reached points (BUGGIFY firings as "buggify.*") */
} add_sim_result;

/* Runs the scenario with opts->seed. Returns 0, or -1 on a setup error (then
 * r->why says why). The caller frees r with add_sim_result_free. */
int add_sim_run(const add_scenario *scn, const add_sim_opts *opts, add_sim_result *r);
void add_sim_result_free(add_sim_result *r);
const char *add_sim_verdict_name(add_sim_verdict v);

/* The 4096 bytes a write with id `value` puts in `sector`, and back (0 for
 * zeros, ADD_VALUE_GARBAGE for bytes no write produced). */
void add_sim_value_fill(uint8_t *data, uint64_t sector, uint64_t value);
uint64_t add_sim_value_decode(const uint8_t *data, uint64_t sector);

#endif /* ADD_SIM_WORLD_H */
