/*
 * runtime-real/tick_policy: the daemon sleeps until the node's next
 * deadline, within [1 ms, 1 s], and moves its tick earlier when a new
 * deadline comes before it.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "../../runtime-real/tick_policy.h"

#define MS 1000000ull

Test(tick_policy, sleeps_until_the_deadline)
{
	cr_assert_eq(add_tick_delay_ns(1000 * MS, 1100 * MS), 100 * MS);
	cr_assert_eq(add_tick_delay_ns(1000 * MS, 1000 * MS + 3), ADD_TICK_MIN_NS);
}

Test(tick_policy, past_deadline_waits_the_minimum_never_zero)
{
	cr_assert_eq(add_tick_delay_ns(1000 * MS, 10 * MS), ADD_TICK_MIN_NS);
	cr_assert_gt(ADD_TICK_MIN_NS, 0);
}

Test(tick_policy, idle_node_wakes_once_a_second)
{
	/* No work: UINT64_MAX. An idle addd ticks once per second. */
	cr_assert_eq(add_tick_delay_ns(1000 * MS, UINT64_MAX), ADD_TICK_MAX_NS);
	cr_assert_eq(add_tick_delay_ns(0, 5000 * MS), ADD_TICK_MAX_NS);
}

Test(tick_policy, earlier_deadline_moves_the_tick)
{
	/* Idle tick set for t = 2 s; an operation starts at 1 s, its
	 * retransmission due at 1.1 s: the tick must move. */
	cr_assert(add_tick_needs_reschedule(2000 * MS, 1100 * MS));
	/* A later one, or one within the minimum, does not. */
	cr_assert_not(add_tick_needs_reschedule(1100 * MS, 1200 * MS));
	cr_assert_not(add_tick_needs_reschedule(1100 * MS, 1100 * MS));
	cr_assert_not(add_tick_needs_reschedule(1100 * MS, 1100 * MS - ADD_TICK_MIN_NS));
}
