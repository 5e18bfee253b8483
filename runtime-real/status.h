/*
 * runtime-real/status: the STATUS message's body (docs/PROTOCOL.md, "The
 * project's own client message: STATUS") and what addctl status makes of
 * the answers: one line (or JSON object) per process and a cluster verdict.
 *
 * Everything here is pure computation over buffers (no I/O), so that the
 * encoding, the verdict and the output are unit-tested; the daemon fills an
 * add_status_info and addctl does the network part.
 */
#ifndef ADD_REAL_STATUS_H
#define ADD_REAL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "wire_constants.h"

/* Body offsets, relative to the response's start (the body starts at 16). */
#define ADD_STB_OFF_FORMAT 16
#define ADD_STB_OFF_RANK 17
#define ADD_STB_OFF_NPROCS 18
#define ADD_STB_OFF_ROLE 19
#define ADD_STB_OFF_PEERS_UP 20 /* 32-byte bitmap of ranks */
#define ADD_STB_PEERS_UP_SIZE 32
#define ADD_STB_OFF_U64 52 /* the 15 counters below, 8 bytes each */
#define ADD_STB_OFF_SLOTS 172
#define ADD_STB_OFF_VERSION 176
#define ADD_STB_VERSION_SIZE 16
#define ADD_STB_OFF_SCRUB_PASSES 192 /* u64: whole scrub passes */
#define ADD_STB_OFF_KNOWN 200	     /* u64: sectors known (re-learned) */
#define ADD_STB_FORMAT 1

enum { ADD_ROLE_MEMBER = 0, ADD_ROLE_RECOVERING = 1 };

typedef struct add_status_info {
	uint8_t rank, n_procs, role;
	uint8_t peers_up[ADD_STB_PEERS_UP_SIZE]; /* bit r%8 of byte r/8: rank r */
	/* in wire order, from offset 52 */
	uint64_t uptime_ms, n_sectors, sectors_written, disk_bytes, disk_bound;
	uint64_t checksum_mismatches, read_errors, corrupt_records, suspect_sectors, repairs,
		damaged_now, damaged_found, repairs_done, scrubbed, ops_completed;
	uint8_t client_slots_used;
	uint64_t scrub_passes;
	uint64_t known; /* sectors re-learned while recovering; n_sectors for a member */
	char version[ADD_STB_VERSION_SIZE + 1];
} add_status_info;

static inline bool add_status_sees(const add_status_info *s, unsigned rank)
{
	return rank < 8 * ADD_STB_PEERS_UP_SIZE && (s->peers_up[rank / 8] >> (rank % 8)) & 1;
}
static inline void add_status_set_sees(add_status_info *s, unsigned rank)
{
	if (rank < 8 * ADD_STB_PEERS_UP_SIZE)
		s->peers_up[rank / 8] |= (uint8_t)(1u << (rank % 8));
}

/* The daemon's answer, from the same snapshot its metrics come from. */
void add_status_from_metrics(const add_metrics_snapshot *m, add_status_info *s);

/* body[0..ADD_STATUS_BODY_SIZE): the bytes at offsets 16..207. */
void add_status_encode(const add_status_info *s, uint8_t body[ADD_STATUS_BODY_SIZE]);
/* 0, or -1 when the body's format is not one this code knows. */
int add_status_decode(const uint8_t body[ADD_STATUS_BODY_SIZE], add_status_info *s);

/* What addctl learned about one process of --peers (rank = index + 1). */
typedef struct add_status_probe {
	const char *address; /* "HOST:PORT" as given */
	bool reachable;	     /* answered a valid STATUS */
	char error[160];     /* why not, when !reachable */
	add_status_info info;
} add_status_probe;

typedef enum add_verdict {
	ADD_VERDICT_HEALTHY = 0,
	ADD_VERDICT_DEGRADED = 1,
	ADD_VERDICT_UNAVAILABLE = 2,
} add_verdict;

/* The cluster verdict over probes[0..n) (n = N), with its one-line reason
 * in `why` ("healthy", "degraded: rank 2 down; writes on a bare majority",
 * "unavailable: ..."). The value is addctl status's exit code. */
add_verdict add_status_verdict(const add_status_probe *probes, size_t n, char *why,
			       size_t why_len);

/* One human line per process (no newline), or its JSON object. */
void add_status_line(const add_status_probe *p, unsigned rank, char *out, size_t len);
void add_status_json(const add_status_probe *p, unsigned rank, char *out, size_t len);

#endif /* ADD_REAL_STATUS_H */
