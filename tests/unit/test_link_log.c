/*
 * runtime-real/link_log: an operator hears of each transition of a peer link
 * once, with the outage's duration; never of the failed reconnects between;
 * of a peer never reached since start once, after 5 s.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../runtime-real/link_log.h"

#define S 1000000000ull

static add_link_log l;
static char line[512];

Test(link_log, up_down_up_is_three_lines_with_durations)
{
	add_link_log_init(&l, 2, "10.0.0.2", 5400, 1 * S);
	cr_assert_eq(add_link_log_up(&l, 1 * S + 5, line, sizeof(line)), ADD_LOG_INFO);
	cr_assert_str_eq(line, "link to rank 2 (10.0.0.2:5400) up");
	cr_assert_eq(add_link_log_down(&l, 61 * S + 5, "Connection reset by peer", line,
				       sizeof(line)), ADD_LOG_WARN);
	cr_assert_str_eq(line, "link to rank 2 (10.0.0.2:5400) down: Connection reset by peer "
			       "(it was up 60.0 s)");
	for (int i = 0; i < 20; i++) /* reconnects fail for a while: silence */
		cr_assert_eq(add_link_log_down(&l, (62 + (uint64_t)i) * S, "Connection refused", line,
					       sizeof(line)), -1);
	cr_assert_eq(add_link_log_up(&l, 91 * S + 5 + S / 2, line, sizeof(line)), ADD_LOG_INFO);
	cr_assert_str_eq(line, "link to rank 2 (10.0.0.2:5400) up again after 30.5 s down");
}

Test(link_log, a_peer_never_reached_is_said_once_after_five_seconds)
{
	add_link_log_init(&l, 3, "h3", 1, 100 * S);
	cr_assert_eq(add_link_log_down(&l, 101 * S, "Connection refused", line, sizeof(line)), -1);
	cr_assert_eq(add_link_log_down(&l, 104 * S, "Connection refused", line, sizeof(line)), -1);
	cr_assert_eq(add_link_log_down(&l, 105 * S, "Connection refused", line, sizeof(line)),
		     ADD_LOG_WARN);
	cr_assert_str_eq(line, "link to rank 3 (h3:1) not up since start 5 s ago: Connection refused");
	cr_assert_eq(add_link_log_down(&l, 200 * S, "Connection refused", line, sizeof(line)), -1);
	cr_assert_eq(add_link_log_up(&l, 230 * S, line, sizeof(line)), ADD_LOG_INFO);
	cr_assert_str_eq(line, "link to rank 3 (h3:1) up, 130.0 s after start");
	/* once up, a failed connect after a drop is silent, the drop is not */
	cr_assert_eq(add_link_log_down(&l, 231 * S, "EOF", line, sizeof(line)), ADD_LOG_WARN);
	cr_assert_eq(add_link_log_down(&l, 240 * S, "Connection refused", line, sizeof(line)), -1);
}

Test(link_log, a_peer_up_within_five_seconds_is_never_warned_about)
{
	add_link_log_init(&l, 1, "h", 9, 0);
	cr_assert_eq(add_link_log_down(&l, 1 * S, "Connection refused", line, sizeof(line)), -1);
	cr_assert_eq(add_link_log_up(&l, 2 * S, line, sizeof(line)), ADD_LOG_INFO);
	cr_assert_str_eq(line, "link to rank 1 (h:9) up");
}
