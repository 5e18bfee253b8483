/*
 * Systematic crash consistency of the key-value store: a deterministic
 * workload of puts, removes and multi-key commits is run once to count its
 * disk operations T; then for every k in 0..T it runs again with a power cut
 * right after operation k (lose, keep, tear, random), the store is reopened
 * (recovery) and the whole key space must equal exactly the state after the
 * last operation that returned before the cut, or the state after the one
 * the cut interrupted: so every completed operation survives and a commit is
 * all or nothing. A second cut during recovery is tried too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"
#include "kv_store.h"

#define N_KEYS 4

typedef struct kstate {
	int v[N_KEYS]; /* value number, 0 = absent */
} kstate;

typedef struct wop {
	int n;		/* 1 = single op, else a commit of n */
	bool remove[4];
	int key[4];
	int val[4];
} wop;

/* put: val > 0; remove: val 0. */
static const wop WORKLOAD[] = {
	{ 1, { false }, { 0 }, { 1 } },
	{ 1, { false }, { 1 }, { 2 } },
	{ 1, { true }, { 0 }, { 0 } },
	{ 3, { false, true, false }, { 2, 1, 3 }, { 3, 0, 4 } },
	{ 1, { false }, { 2 }, { 5 } },
	{ 2, { false, false }, { 0, 1 }, { 6, 7 } },
	{ 1, { true }, { 3 }, { 0 } },
	{ 1, { true }, { 3 }, { 0 } }, /* missing: returns false */
	{ 1, { false }, { 1 }, { 8 } },
	{ 3, { true, true, false }, { 0, 2, 3 }, { 0, 0, 9 } },
	{ 2, { false, false }, { 0, 0 }, { 10, 11 } }, /* same key twice: last wins */
};
#define N_WOPS (sizeof(WORKLOAD) / sizeof(WORKLOAD[0]))

static void key_str(int k, char *out)
{
	snprintf(out, 16, "key-%d", k);
}

/* Value n: its number repeated over a length that varies with n, so a torn
 * or mixed value cannot pass for another. */
static size_t val_bytes(int n, uint8_t *out)
{
	size_t len = (size_t)(n * 997) % 9000 + 1;

	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(n + i);
	return len;
}

static kstate apply(kstate s, const wop *op)
{
	for (int i = 0; i < op->n; i++)
		s.v[op->key[i]] = op->remove[i] ? 0 : op->val[i];
	return s;
}

static add_kv *kv_open(add_sim_disk *d)
{
	char err[128] = "";
	add_kv *kv = add_kv_open(add_sim_disk_ops(d), err, sizeof(err));

	cr_assert_not_null(kv, "%s", err);
	return kv;
}

static int run_op(add_kv *kv, const wop *op)
{
	static uint8_t vals[4][9100];
	char keys[4][16];
	add_kv_op ops[4];

	for (int i = 0; i < op->n; i++) {
		key_str(op->key[i], keys[i]);
		ops[i] = (add_kv_op){ .remove = op->remove[i], .key = keys[i],
				      .key_len = strlen(keys[i]) };
		if (!op->remove[i]) {
			ops[i].value = vals[i];
			ops[i].value_len = val_bytes(op->val[i], vals[i]);
		}
	}
	if (op->n > 1)
		return add_kv_commit(kv, ops, (size_t)op->n);
	if (op->remove[0])
		return add_kv_remove(kv, ops[0].key, ops[0].key_len);
	return add_kv_put(kv, ops[0].key, ops[0].key_len, ops[0].value, ops[0].value_len);
}

/* Runs the workload until the machine is down; returns the state after
 * the last completed op, and in *after the state the interrupted op (if any)
 * would have made. */
static kstate workload(add_sim_disk *d, add_kv **kvp, kstate *after)
{
	kstate s = { { 0 } };
	add_kv *kv = kv_open(d);

	*kvp = kv;
	*after = s;
	for (size_t i = 0; i < N_WOPS; i++) {
		if (add_sim_disk_past_crash_point(d))
			break;
		int rc = run_op(kv, &WORKLOAD[i]);
		kstate next = apply(s, &WORKLOAD[i]);

		if (add_sim_disk_past_crash_point(d)) {
			*after = next;
			return s;
		}
		cr_assert_geq(rc, 0, "op %zu failed: %d", i, rc);
		if (WORKLOAD[i].n == 1 && WORKLOAD[i].remove[0])
			cr_assert_eq(rc, s.v[WORKLOAD[i].key[0]] != 0 ? 1 : 0,
				     "remove returns whether the key was there");
		s = next;
		*after = s;
	}
	return s;
}

static bool state_is(add_kv *kv, const kstate *s)
{
	static uint8_t got[ADD_KV_VALUE_MAX], want[9100];
	char key[16];

	for (int k = 0; k < N_KEYS; k++) {
		size_t n = 0;

		key_str(k, key);
		int rc = add_kv_get(kv, key, strlen(key), got, sizeof(got), &n);

		cr_assert(rc == 0 || rc == -ENOENT, "get of %s: %d (a corrupt file?)", key, rc);
		if (s->v[k] == 0) {
			if (rc != -ENOENT)
				return false;
			continue;
		}
		if (rc != 0 || n != val_bytes(s->v[k], want) || memcmp(got, want, n) != 0)
			return false;
	}
	return true;
}

static void crash_at_every_op(add_sim_crash_mode mode, const char *name)
{
	add_kv *kv;
	kstate after;
	add_sim_disk *d0 = add_sim_disk_create(1);

	workload(d0, &kv, &after);
	uint64_t total = add_sim_disk_op_count(d0);

	add_kv_close(kv);
	add_sim_disk_destroy(d0);
	cr_assert_gt(total, 40);
	for (uint64_t k = 0; k <= total; k++) {
		add_sim_disk *d = add_sim_disk_create(k * 104729 + 3);

		add_sim_disk_set_crash_after(d, k);
		kstate before = workload(d, &kv, &after);

		add_kv_close(kv);
		add_sim_disk_crash_mode(d, mode);
		if (k % 3 == 0) {
			/* A second cut in the middle of recovery. */
			add_sim_disk_set_crash_after(d, add_sim_disk_op_count(d) + 1 + k % 5);
			kv = kv_open(d);
			add_kv_close(kv);
			add_sim_disk_crash_mode(d, mode);
		}
		kv = kv_open(d);
		cr_assert(state_is(kv, &before) || state_is(kv, &after),
			  "crash after op %llu (%s): the keys hold neither the state before the "
			  "interrupted operation nor the one after it",
			  (unsigned long long)k, name);
		add_kv_close(kv);
		add_sim_disk_destroy(d);
	}
	printf("kv store crash test (%s): %llu crash points checked\n", name,
	       (unsigned long long)total + 1);
}

Test(crash_kv_store, every_crash_point_losing_unflushed_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_LOSE, "lose");
}

Test(crash_kv_store, every_crash_point_keeping_unflushed_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_KEEP, "keep");
}

Test(crash_kv_store, every_crash_point_with_torn_last_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_TEAR, "tear");
}

Test(crash_kv_store, every_crash_point_with_garbage_in_torn_writes_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_GARBAGE, "garbage");
}

Test(crash_kv_store, every_crash_point_with_random_damage_recovers_consistently)
{
	crash_at_every_op(ADD_SIM_CRASH_RANDOM, "random");
}

/* Random workloads (seeded): puts, removes and commits of up to 4 ops over
 * the keys, cut at a random operation with random damage, then the same
 * exact before/after check. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

Test(crash_kv_store, random_workloads_cut_at_random_points_recover_consistently)
{
	for (uint64_t seed = 1; seed <= 200; seed++) {
		uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
		add_sim_disk *d = add_sim_disk_create(seed);
		kstate s = { { 0 } }, after;
		add_kv *kv;
		int next_val = 1;

		add_sim_disk_set_crash_after(d, 1 + rnd(&x) % 150);
		kv = kv_open(d);
		after = s;
		for (int i = 0; i < 30 && !add_sim_disk_past_crash_point(d); i++) {
			wop op = { .n = (int)(rnd(&x) % 4) + 1 };

			for (int k = 0; k < op.n; k++) {
				op.key[k] = (int)(rnd(&x) % N_KEYS);
				op.remove[k] = rnd(&x) % 3 == 0;
				op.val[k] = op.remove[k] ? 0 : next_val++;
			}
			int rc = run_op(kv, &op);
			kstate next = apply(s, &op);

			if (add_sim_disk_past_crash_point(d)) {
				after = next;
				break;
			}
			cr_assert_geq(rc, 0, "seed %llu op %d: %d", (unsigned long long)seed, i,
				      rc);
			s = next;
			after = s;
		}
		add_kv_close(kv);
		add_sim_disk_crash(d);
		kv = kv_open(d);
		cr_assert(state_is(kv, &s) || state_is(kv, &after),
			  "seed %llu: neither the state before the interrupted operation nor after",
			  (unsigned long long)seed);
		add_kv_close(kv);
		add_sim_disk_destroy(d);
	}
}
