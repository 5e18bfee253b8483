/* The linearizability checker on small hand-made histories (runtime-sim/checker.h). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "../../runtime-sim/checker.h"
#include "../../runtime-sim/prng.h"

#define NEVER ADD_TIME_NEVER

static add_history h;

static void setup(void)
{
	add_history_init(&h);
}

static void teardown(void)
{
	add_history_free(&h);
}

/* One op: a write of `v` or a read that saw `v`, on `sector`, [inv, rsp]
 * (rsp NEVER: indeterminate). Returns its index. */
static size_t op(uint32_t client, uint64_t sector, int kind, uint64_t v, uint64_t inv,
		 uint64_t rsp)
{
	size_t i = add_history_invoke(&h, client, 1, sector, (uint8_t)kind, v, inv);
	if (rsp != NEVER)
		add_history_complete(&h, i, v, rsp);
	return i;
}
#define W(c, s, v, a, b) op(c, s, ADD_OP_WRITE, v, a, b)
#define R(c, s, v, a, b) op(c, s, ADD_OP_READ, v, a, b)

static bool check(add_check_result *r)
{
	return add_check_history(&h, NULL, r);
}

TestSuite(checker, .init = setup, .fini = teardown);

Test(checker, empty_history_is_linearizable)
{
	add_check_result r;
	cr_assert(check(&r));
	add_check_result_free(&r);
}

Test(checker, read_of_never_written_sector_sees_zeros)
{
	R(0, 3, 0, 10, 20);
	add_check_result r;
	cr_assert(check(&r));
	add_check_result_free(&r);
}

Test(checker, sequential_write_then_read_passes)
{
	W(0, 1, 7, 10, 20);
	R(1, 1, 7, 30, 40);
	W(1, 1, 8, 50, 60);
	R(0, 1, 8, 70, 80);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, stale_read_after_completed_write_fails)
{
	W(0, 1, 7, 10, 20);
	size_t bad = R(1, 1, 0, 30, 40);
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_not(r.inconclusive);
	cr_assert_eq(r.culprit, bad);
	cr_assert_eq(r.sector, 1);
	add_check_result_free(&r);
}

Test(checker, stale_read_of_overwritten_value_fails)
{
	W(0, 1, 7, 10, 20);
	W(0, 1, 8, 30, 40);
	size_t bad = R(1, 1, 7, 50, 60);
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_eq(r.culprit, bad);
	add_check_result_free(&r);
}

Test(checker, read_of_a_value_never_written_fails)
{
	W(0, 2, 7, 10, 20);
	size_t bad = R(1, 2, 99, 30, 40);
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_eq(r.culprit, bad);
	cr_assert(strstr(r.why, "never written") != NULL, "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, read_of_a_value_written_to_another_sector_fails)
{
	W(0, 2, 7, 10, 20);
	R(1, 3, 7, 30, 40);
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_eq(r.sector, 3);
	add_check_result_free(&r);
}

Test(checker, read_of_garbage_fails)
{
	W(0, 2, 7, 10, 20);
	R(1, 2, ADD_VALUE_GARBAGE, 30, 40);
	add_check_result r;
	cr_assert_not(check(&r));
	add_check_result_free(&r);
}

Test(checker, read_concurrent_with_write_may_see_old_or_new)
{
	W(0, 1, 7, 10, 100);
	R(1, 1, 0, 20, 30);
	R(2, 1, 7, 20, 30);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, new_then_old_inversion_fails)
{
	/* Both reads overlap the write, but once a read saw 7 a later read
	 * may not see the old value again. */
	W(0, 1, 7, 10, 100);
	R(1, 1, 7, 20, 30);
	R(2, 1, 0, 40, 50);
	add_check_result r;
	cr_assert_not(check(&r));
	add_check_result_free(&r);
}

Test(checker, two_readers_seeing_writes_in_opposite_orders_fail)
{
	W(0, 1, 1, 0, 100);
	W(1, 1, 2, 0, 100);
	R(2, 1, 1, 10, 20);
	R(2, 1, 2, 30, 40);
	R(3, 1, 2, 10, 20);
	R(3, 1, 1, 30, 40);
	add_check_result r;
	cr_assert_not(check(&r));
	add_check_result_free(&r);
}

Test(checker, two_readers_seeing_writes_in_the_same_order_pass)
{
	W(0, 1, 1, 0, 100);
	W(1, 1, 2, 0, 100);
	R(2, 1, 1, 10, 20);
	R(2, 1, 2, 30, 40);
	R(3, 1, 1, 10, 20);
	R(3, 1, 2, 30, 40);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, indeterminate_write_that_took_effect_passes)
{
	W(0, 1, 7, 10, NEVER);
	R(1, 1, 7, 500, 600);
	R(1, 1, 7, 700, 800);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, indeterminate_write_that_never_took_effect_passes)
{
	W(0, 1, 5, 0, 5);
	W(0, 1, 7, 10, NEVER);
	R(1, 1, 5, 500, 600);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, indeterminate_write_may_take_effect_late)
{
	/* Seen neither by the first read nor before it, then seen. */
	W(0, 1, 5, 0, 5);
	W(0, 1, 7, 10, NEVER);
	R(1, 1, 5, 500, 600);
	R(1, 1, 7, 700, 800);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, indeterminate_write_seen_then_unseen_fails)
{
	W(0, 1, 5, 0, 5);
	W(0, 1, 7, 10, NEVER);
	R(1, 1, 7, 500, 600);
	R(1, 1, 5, 700, 800);
	add_check_result r;
	cr_assert_not(check(&r));
	add_check_result_free(&r);
}

Test(checker, indeterminate_write_seen_before_its_invocation_fails)
{
	R(1, 1, 7, 0, 5);
	W(0, 1, 7, 10, NEVER);
	add_check_result r;
	cr_assert_not(check(&r));
	add_check_result_free(&r);
}

Test(checker, indeterminate_read_constrains_nothing)
{
	W(0, 1, 7, 0, 5);
	size_t i = add_history_invoke(&h, 1, 1, 1, ADD_OP_READ, 0, 10);
	add_history_abandon(&h, i, ADD_OPF_TIMED_OUT);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

Test(checker, lost_acknowledged_write_is_caught_by_a_final_read)
{
	W(0, 4, 7, 0, 5);
	W(1, 4, 8, 10, 20);
	size_t fin = R(2, 4, 7, 10000, 10010);
	h.ops[fin].flags |= ADD_OPF_FINAL;
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_eq(r.culprit, fin);
	add_check_result_free(&r);
}

Test(checker, violation_is_found_in_its_own_sector_among_many)
{
	for (uint64_t s = 0; s < 50; s++) {
		W(0, s, 100 + s, 10 * s, 10 * s + 5);
		R(1, s, 100 + s, 10 * s + 6, 10 * s + 9);
	}
	W(2, 37, 999, 1000, 1010);
	size_t bad = R(3, 37, 137, 1020, 1030);
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_eq(r.sector, 37);
	cr_assert_eq(r.culprit, bad);
	add_check_result_free(&r);
}

Test(checker, window_holds_the_culprit_and_the_write_it_missed)
{
	for (uint64_t i = 0; i < 20; i++)
		W(0, 1, 1 + i, 100 * i, 100 * i + 50); /* w1..w20 in sequence */
	size_t missed = W(0, 1, 500, 5000, 5050);
	size_t bad = R(1, 1, 20, 6000, 6100);
	add_check_result r;
	cr_assert_not(check(&r));
	cr_assert_eq(r.culprit, bad);
	bool has_bad = false, has_missed = false;
	for (size_t i = 0; i < r.window_len; i++) {
		has_bad |= r.window[i] == bad;
		has_missed |= r.window[i] == missed;
	}
	cr_assert(has_bad && has_missed);
	cr_assert_lt(r.window_len, 6, "window of %zu ops is not small", r.window_len);
	add_check_result_free(&r);
}

Test(checker, minimal_witness_is_the_missed_write_and_the_stale_read)
{
	for (uint64_t i = 0; i < 30; i++) {
		W(0, 1, 1 + i, 100 * i, 100 * i + 50);
		R(1, 1, 1 + i, 100 * i + 60, 100 * i + 90);
	}
	size_t missed = W(0, 1, 500, 5000, 5050);
	size_t bad = R(1, 1, 30, 6000, 6100);
	for (uint64_t i = 0; i < 10; i++)
		W(2, 1, 600 + i, 7000 + 100 * i, 7000 + 100 * i + 50);
	size_t *wit = NULL;
	size_t n = add_check_minimize(&h, 1, bad, 1000, &wit);
	cr_assert_eq(n, 3, "witness of %zu ops", n);
	/* the stale read, the write it missed, and the write it saw */
	cr_assert_eq(wit[1], missed);
	cr_assert_eq(wit[2], bad);
	cr_assert_eq(h.ops[wit[0]].value, 30);
	free(wit);
}

Test(checker, a_linearizable_sector_has_no_witness)
{
	W(0, 1, 7, 10, 20);
	R(1, 1, 7, 30, 40);
	size_t *wit = NULL;
	cr_assert_eq(add_check_minimize(&h, 1, 1, 1000, &wit), 0);
	cr_assert_null(wit);
}

Test(checker, equal_times_count_as_concurrent)
{
	W(0, 1, 7, 10, 20);
	R(1, 1, 0, 20, 30);
	add_check_result r;
	cr_assert(check(&r), "%s", r.why);
	add_check_result_free(&r);
}

/* A register simulated sequentially: each op takes effect at a random point
 * inside a random interval around it, so the history is linearizable by
 * construction; the checker must agree. */
Test(checker, random_linearizable_histories_pass)
{
	add_prng p;
	add_prng_seed(&p, 42);
	for (int round = 0; round < 50; round++) {
		add_history_clear(&h);
		uint64_t state[8] = {0}, next_value = 1, t = 0;
		for (int i = 0; i < 300; i++) {
			t += add_prng_below(&p, 10) + 1; /* the linearization point */
			uint64_t s = add_prng_below(&p, 8);
			uint64_t inv = t - add_prng_below(&p, t < 40 ? t : 40);
			uint64_t rsp = t + add_prng_below(&p, 40);
			if (add_prng_chance(&p, 0.5)) {
				uint64_t v = next_value++;
				state[s] = v;
				bool lost = add_prng_chance(&p, 0.05);
				W(0, s, v, inv, lost ? NEVER : rsp);
			} else {
				R(1, s, state[s], inv, rsp);
			}
		}
		add_check_result r;
		cr_assert(check(&r), "round %d: %s", round, r.why);
		add_check_result_free(&r);
	}
}

/* The zone check (exact for unique-valued registers) and the search must
 * agree on every history: random small histories, linearizable by
 * construction or with some reads corrupted, many ties, indeterminate
 * writes. */
#ifndef ZONE_ROUNDS
#define ZONE_ROUNDS 4000
#endif
#ifndef ZONE_MAX_OPS
#define ZONE_MAX_OPS 14
#endif
#ifndef ZONE_SEED
#define ZONE_SEED 7
#endif
Test(checker, zone_check_agrees_with_the_search)
{
	add_prng p;
	add_prng_seed(&p, ZONE_SEED);
	int disagree = 0, bad_seen = 0, good_seen = 0;
	for (int round = 0; round < ZONE_ROUNDS; round++) {
		add_history_clear(&h);
		uint64_t state = 0, next_value = 1, t = 0;
		uint64_t values[64];
		size_t nv = 0;
		int n = 2 + (int)add_prng_below(&p, ZONE_MAX_OPS);
		for (int i = 0; i < n; i++) {
			t += add_prng_below(&p, 4);
			uint64_t inv = t - add_prng_below(&p, t < 6 ? t + 1 : 6);
			uint64_t rsp = t + add_prng_below(&p, 6);
			if (add_prng_chance(&p, 0.5)) {
				uint64_t v = next_value++;
				state = v;
				values[nv++] = v;
				W(0, 0, v, inv, add_prng_chance(&p, 0.15) ? NEVER : rsp);
			} else {
				uint64_t v = state;
				if (add_prng_chance(&p, 0.2)) /* a wrong value, maybe */
					v = add_prng_chance(&p, 0.3) || nv == 0
						    ? 0
						    : values[add_prng_below(&p, nv)];
				R(1, 0, v, inv, rsp);
			}
		}
		add_check_result a, b;
		add_check_opts sa = {.algorithm = ADD_CHECK_SEARCH};
		add_check_opts zb = {.algorithm = ADD_CHECK_ZONES};
		bool x = add_check_history(&h, &sa, &a);
		bool y = add_check_history(&h, &zb, &b);
		cr_assert_not(a.inconclusive);
		if (x != y) {
			if (disagree < 3) {
				fprintf(stderr, "search %d zones %d:\n", x, y);
				for (size_t i = 0; i < h.len; i++)
					fprintf(stderr, "  %c v%llu [%llu, %lld]\n",
						h.ops[i].kind == ADD_OP_WRITE ? 'W' : 'R',
						(unsigned long long)h.ops[i].value,
						(unsigned long long)h.ops[i].invoke_ns,
						h.ops[i].response_ns == NEVER ? -1LL
									 : (long long)h.ops[i].response_ns);
			}
			disagree++;
		}
		if (x)
			good_seen++;
		else
			bad_seen++;
		add_check_result_free(&a);
		add_check_result_free(&b);
	}
	cr_assert_eq(disagree, 0, "%d of %d histories judged differently", disagree, ZONE_ROUNDS);
	cr_assert_gt(good_seen, 500);
	cr_assert_gt(bad_seen, 500);
}

Test(checker, a_sector_too_busy_for_the_search_is_decided_by_zones)
{
	/* Many concurrent writers and readers of one sector, linearizable by
	 * construction; a budget of 10 steps forces the fallback. */
	add_prng p;
	add_prng_seed(&p, 3);
	uint64_t state = 0, t = 0;
	for (uint64_t i = 1; i <= 2000; i++) {
		t += add_prng_range(&p, 1, 3);
		uint64_t inv = t - add_prng_below(&p, t < 40 ? t : 40), rsp = t + add_prng_below(&p, 40);
		if (add_prng_chance(&p, 0.5)) {
			state = i;
			W(0, 0, i, inv, rsp);
		} else {
			R(1, 0, state, inv, rsp);
		}
	}
	add_check_opts o = {.max_steps_per_sector = 10};
	add_check_result r;
	cr_assert(add_check_history(&h, &o, &r), "%s", r.why);
	cr_assert_eq(r.zone_sectors, 1);
	add_check_result_free(&r);
	R(2, 0, 1, t + 100, t + 110); /* the first write, read long after the last */
	cr_assert_not(add_check_history(&h, &o, &r));
	add_check_result_free(&r);
}
