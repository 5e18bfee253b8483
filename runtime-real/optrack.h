/*
 * runtime-real/optrack: the client commands a daemon has accepted and not
 * yet answered, for the metrics: latency by op (histograms) and the age of
 * the oldest one.
 *
 * A command is keyed by (connection id, request number, type). It is
 * tracked from the moment its bytes are decoded (add_optrack_start) to the
 * moment its answer is queued (add_optrack_done, which parses the response's
 * type and request number). Bounded: ADD_OPTRACK_MAX commands at once; more
 * are counted as untracked, not stored. A closed connection forgets its
 * commands. Loop thread only. O(1) per command (open addressing).
 */
#ifndef ADD_REAL_OPTRACK_H
#define ADD_REAL_OPTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

#define ADD_OPTRACK_MAX 2048
#define ADD_OPTRACK_SLOTS (2 * ADD_OPTRACK_MAX) /* load <= 1/2 */

typedef struct add_optrack_entry {
	uint64_t conn;
	uint64_t request;
	uint64_t start_ns;
	uint8_t type; /* ADD_TYPE_READ / ADD_TYPE_WRITE; 0 = free slot */
} add_optrack_entry;

typedef struct add_optrack {
	uint32_t n;
	uint64_t untracked; /* commands not stored: the table was full */
	add_hist read, write;
	add_optrack_entry slot[ADD_OPTRACK_SLOTS];
} add_optrack;

void add_optrack_init(add_optrack *t);
void add_optrack_start(add_optrack *t, uint64_t conn, uint8_t type, uint64_t request,
		       uint64_t now_ns);
/* `rsp` is the encoded response (at least ADD_RSP_HEADER_SIZE bytes). */
void add_optrack_done(add_optrack *t, uint64_t conn, const uint8_t *rsp, size_t len,
		      uint64_t now_ns);
void add_optrack_conn_closed(add_optrack *t, uint64_t conn);
/* Age of the oldest tracked command, 0 when none. O(slots). */
uint64_t add_optrack_oldest_age_ns(const add_optrack *t, uint64_t now_ns);

#endif /* ADD_REAL_OPTRACK_H */
