/*
 * runtime-sim/checker: is a history of reads and writes linearizable?
 *
 * Every sector is an independent register, so the history is split by sector
 * (P-compositionality, Herlihy & Wing) and each part is checked with the
 * Wing-Gong search as improved by Lowe (and used by Porcupine): events in
 * time order, a doubly linked list from which a linearized operation is
 * lifted, a stack to backtrack, and a memo of every (set of linearized
 * operations as a bitset, register state) already explored, so no
 * configuration is searched twice. The state is the id of the last write.
 *
 * Indeterminate operations (no response: a timeout, a broken connection, a
 * crash) get an infinite response time: they may take effect anywhere after
 * their invocation, or never (placed last, which nobody observes). An
 * indeterminate read constrains nothing and is dropped; an indeterminate
 * write that no read ever saw is dropped too (removing an unobserved write
 * whose response time is infinite preserves linearizability both ways).
 * A sector too busy for the search (over its step budget: many concurrent
 * writes of one sector) is decided by the zone check of Gibbons & Korach,
 * exact for registers with unique written values (see checker.c).
 * Since values are unique, a write precedes every read that returned it: its
 * response time is bounded by the first such read's response, an equivalent
 * history in which the seen indeterminate writes are ordinary ones.
 */
#ifndef ADD_SIM_CHECKER_H
#define ADD_SIM_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history.h"

enum {
	ADD_CHECK_AUTO = 0,   /* the search; the zone check when its budget runs out */
	ADD_CHECK_SEARCH = 1, /* the search only (inconclusive past the budget) */
	ADD_CHECK_ZONES = 2,  /* the zone check only */
};

typedef struct add_check_opts {
	int algorithm; /* ADD_CHECK_* */
	/* Search steps allowed per sector before giving up (inconclusive);
	 * 0 means the default (1 million). */
	uint64_t max_steps_per_sector;
} add_check_opts;

typedef struct add_check_result {
	bool ok;           /* linearizable (and conclusive) */
	bool inconclusive; /* a sector's search exceeded its budget */
	uint64_t sector;   /* the first failing sector */
	size_t culprit;    /* history index of the op the search could not place */
	/* The smallest window that shows the violation: history indices of the
	 * failing sector's ops overlapping the culprit, plus the writes they
	 * read and the last write completed before the culprit started, sorted
	 * by invocation. malloc'd; add_check_result_free releases it. */
	size_t *window;
	size_t window_len;
	uint64_t sectors; /* sectors checked */
	uint64_t ops;     /* ops given to the search (after dropping) */
	uint64_t steps;   /* search steps over all sectors */
	uint64_t zone_sectors; /* sectors decided by the zone check (search too long) */
	char why[512];
} add_check_result;

/* Returns r->ok. Never fails for lack of memory silently: then r->ok is false
 * and r->why says so. */
bool add_check_history(const add_history *h, const add_check_opts *opts, add_check_result *r);
void add_check_result_free(add_check_result *r);

/*
 * A minimal witness of a violation in `sector`: a subset of that sector's
 * ops that is not linearizable while removing any one more op (other than a
 * write that a kept read saw, which would make the read trivially wrong)
 * makes it linearizable. Greedy, farthest from `culprit` first, so the
 * witness gathers around it. Returns the number of ops written to *out
 * (malloc'd history indices, by invocation), 0 if the sector is too large
 * (over `max_ops`) or linearizable.
 */
size_t add_check_minimize(const add_history *h, uint64_t sector, size_t culprit, size_t max_ops,
			  size_t **out);

#endif /* ADD_SIM_CHECKER_H */
