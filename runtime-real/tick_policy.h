/*
 * runtime-real/tick_policy: when the daemon next ticks the node.
 *
 * The node says when it next has work (add_node_next_tick_ns(): an absolute
 * time on the io clock, UINT64_MAX for none); the daemon sleeps until then
 * instead of waking every ADD_NODE_TICK_NS. Pure (no clock read here), so it
 * is unit-tested (tests/unit/test_tick_policy.c).
 */
#ifndef ADD_REAL_TICK_POLICY_H
#define ADD_REAL_TICK_POLICY_H

#include <stdint.h>

#include "mutants.h"

/* Never sooner than this after a tick (a due retransmission the tick did not
 * clear cannot make the loop spin). */
#define ADD_TICK_MIN_NS (1ull * 1000 * 1000)
/* Never later than this (a safety net: the node's own timers are all
 * shorter, and an idle process then wakes once a second for it). */
#define ADD_TICK_MAX_NS (1000ull * 1000 * 1000)

/* Delay from `now` until the tick for work due at `next` (absolute). */
static inline uint64_t add_tick_delay_ns(uint64_t now, uint64_t next)
{
	uint64_t d = next > now ? next - now : 0;

	if (d < ADD_TICK_MIN_NS)
		d = ADD_TICK_MIN_NS;
	if (d > ADD_TICK_MAX_NS)
		d = ADD_TICK_MAX_NS;
	return d;
}

/* True when work due at `next` needs the tick scheduled for `tick_at` moved
 * earlier (more than the minimum delay earlier, so it is not redone for
 * every operation that starts). */
static inline int add_tick_needs_reschedule(uint64_t tick_at, uint64_t next)
{
#if ADD_MUTANT_ON(ADD_MUTANT_TICK_NO_RESCHEDULE)
	(void)tick_at;
	(void)next;
	return 0; /* the bug: a new deadline waits for the tick already set */
#else
	return next < tick_at && tick_at - next > ADD_TICK_MIN_NS;
#endif
}

#endif /* ADD_REAL_TICK_POLICY_H */
