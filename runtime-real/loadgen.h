/*
 * runtime-real/loadgen: the engine of `addctl bench` (and of the demo's
 * workload): many client connections spread over the processes, `depth`
 * commands in flight on each, a read/write mix over a sector range.
 *
 * Every sector of the range is owned by one connection slot (sector index
 * modulo the number of connections), which has at most one command in
 * flight for it. So each sector's history is sequential and checked
 * exactly: a READ must return the last acknowledged WRITE of that sector
 * (zeros if none), or a write whose outcome is unknown (its connection broke
 * before the reply: the register may or may not have applied it). Written
 * data describes itself (sector, write id, then bytes derived from both), so
 * a reply is checked byte for byte without keeping copies.
 *
 * A connection that breaks (a process was killed) is reopened to the next
 * process after a short pause; its in-flight writes become "unknown".
 */
#ifndef ADD_REAL_LOADGEN_H
#define ADD_REAL_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct add_loadgen_config {
	const add_hostport *peers;
	size_t n_peers;
	uint8_t client_key[ADD_CLIENT_KEY_SIZE];
	uint32_t connections;
	uint32_t depth;
	double read_ratio;
	uint64_t first_sector;
	uint64_t sectors;
	double duration_s;
	/* After the run: read back every written sector through every
	 * process and compare with the last acknowledged write. */
	bool verify;
	bool quiet; /* no progress lines */
	/* The range may hold earlier data (an earlier run, other clients): a
	 * READ of a sector not yet written in this run may return anything.
	 * false: the range is fresh, such a READ must return zeros. */
	bool prior_writes;
	uint64_t seed;
} add_loadgen_config;

typedef struct add_loadgen_result {
	uint64_t reads, writes;       /* completed with status Ok */
	uint64_t errors;              /* status != Ok, bad HMAC, wrong request number */
	uint64_t mismatches;          /* data that no write of that sector explains */
	uint64_t broken;              /* connections lost */
	uint64_t unknown_writes;      /* writes whose connection broke before the reply */
	double elapsed_s;
	double lat_p50_us, lat_p99_us, lat_p999_us, lat_max_us;
	uint64_t verified_sectors;    /* sectors read back per process */
	uint64_t verify_failures;
} add_loadgen_result;

/* Runs the load; returns 0 when it ran (see the result for what it found),
 * -1 when it could not start (message on stderr). */
int add_loadgen_run(const add_loadgen_config *cfg, add_loadgen_result *res);

#endif /* ADD_REAL_LOADGEN_H */
