/*
 * runtime-real/link_log: what an operator is told about one peer link.
 *
 * Once per transition: a link that was up going down (WARN, with the reason
 * and how long it had been up) and coming back (INFO, with how long it was
 * down); a link never up since start, once, NEVER_UP_WARN_NS after start
 * (WARN, with the last reason); nothing for the failed reconnects between.
 * Pure: the caller gives the clock and writes the line it gets back, so the
 * rules are unit-tested (tests/unit/test_link_log.c).
 */
#ifndef ADD_REAL_LINK_LOG_H
#define ADD_REAL_LINK_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

#define ADD_LINK_NEVER_UP_WARN_NS (5000ull * 1000 * 1000)

typedef struct add_link_log {
	uint8_t rank;
	const char *host; /* not owned */
	uint16_t port;
	uint64_t start_ns;	/* the process's start */
	uint64_t up_since_ns;	/* 0 while down */
	uint64_t down_since_ns; /* when a link that was up went down; 0 while up */
	bool ever_up;
	bool never_up_said;
} add_link_log;

void add_link_log_init(add_link_log *l, uint8_t rank, const char *host, uint16_t port,
		       uint64_t start_ns);

/* Each returns the level of the line written to line[0..len), or -1 when
 * there is nothing to say. */
int add_link_log_up(add_link_log *l, uint64_t now_ns, char *line, size_t len);
/* The connection ended (was up) or a connect failed (was not). */
int add_link_log_down(add_link_log *l, uint64_t now_ns, const char *why, char *line, size_t len);

#endif /* ADD_REAL_LINK_LOG_H */
