/*
 * Criterion-side helpers over the scripted runtime (script_runtime.h), shared
 * by the register and node tests: deliver or drop scripted messages by
 * (type, from, to), failing the test when an expected message is missing.
 */
#ifndef ADD_TEST_SRT_EXPECT_H
#define ADD_TEST_SRT_EXPECT_H

#include <criterion/criterion.h>

#include "script_runtime.h"

/* Delivers the oldest message (type, from -> to); fails if there is none. */
static inline void srt_expect_deliver(srt_world *w, uint8_t type, uint8_t from, uint8_t to)
{
	long i = srt_find(w, type, from, to);

	cr_assert_geq(i, 0, "no message type %#x from %u to %u", type, from, to);
	srt_deliver(w, (size_t)i);
}

/* Drops every queued message (type, from -> to). */
static inline void srt_drop_all(srt_world *w, uint8_t type, uint8_t from, uint8_t to)
{
	long i;

	while ((i = srt_find(w, type, from, to)) >= 0)
		srt_drop(w, (size_t)i);
}

#endif /* ADD_TEST_SRT_EXPECT_H */
