/* The stable key-value store (core/kv_store.h) on the simulated disk. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"
#include "kv_store.h"

static uint8_t out[ADD_KV_VALUE_MAX + 1];

typedef struct kvh {
	add_sim_disk *disk;
	add_kv *kv;
} kvh;

static void kv_setup(kvh *h)
{
	char err[128] = "";

	h->disk = add_sim_disk_create(5);
	h->kv = add_kv_open(add_sim_disk_ops(h->disk), err, sizeof(err));
	cr_assert_not_null(h->kv, "%s", err);
}

static void kv_reopen(kvh *h)
{
	char err[128] = "";

	add_kv_close(h->kv);
	h->kv = add_kv_open(add_sim_disk_ops(h->disk), err, sizeof(err));
	cr_assert_not_null(h->kv, "%s", err);
}

static void kv_teardown(kvh *h)
{
	add_kv_close(h->kv);
	add_sim_disk_destroy(h->disk);
}

static int put_s(kvh *h, const char *k, const char *v)
{
	return add_kv_put(h->kv, k, strlen(k), v, strlen(v));
}

static void expect(kvh *h, const char *k, const char *v)
{
	size_t n = 0;
	int rc = add_kv_get(h->kv, k, strlen(k), out, sizeof(out), &n);

	if (!v) {
		cr_assert_eq(rc, -ENOENT, "key '%s' should be absent (rc %d)", k, rc);
		return;
	}
	cr_assert_eq(rc, 0, "key '%s': rc %d", k, rc);
	cr_assert_eq(n, strlen(v));
	cr_assert_arr_eq(out, v, n);
}

Test(kv_store, a_put_value_is_read_back)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "alpha", "one"), 0);
	expect(&h, "alpha", "one");
	kv_teardown(&h);
}

Test(kv_store, a_never_put_key_is_absent)
{
	kvh h;

	kv_setup(&h);
	expect(&h, "nothing", NULL);
	kv_teardown(&h);
}

Test(kv_store, a_second_put_overwrites)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "k", "first"), 0);
	cr_assert_eq(put_s(&h, "k", "2nd"), 0);
	expect(&h, "k", "2nd");
	kv_teardown(&h);
}

Test(kv_store, remove_of_a_present_key_returns_true_and_removes_it)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "k", "v"), 0);
	cr_assert_eq(add_kv_remove(h.kv, "k", 1), 1);
	expect(&h, "k", NULL);
	kv_teardown(&h);
}

Test(kv_store, remove_of_a_missing_key_returns_false)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(add_kv_remove(h.kv, "k", 1), 0);
	cr_assert_eq(put_s(&h, "k", "v"), 0);
	cr_assert_eq(add_kv_remove(h.kv, "k", 1), 1);
	cr_assert_eq(add_kv_remove(h.kv, "k", 1), 0);
	kv_teardown(&h);
}

Test(kv_store, a_255_byte_key_works_and_a_256_byte_key_is_refused_harmlessly)
{
	kvh h;
	char key[257];

	kv_setup(&h);
	memset(key, 'k', 256);
	key[256] = 0;
	cr_assert_eq(add_kv_put(h.kv, key, 255, "v255", 4), 0);
	cr_assert_eq(add_kv_put(h.kv, key, 256, "v256", 4), -ENAMETOOLONG);
	cr_assert_eq(add_kv_get(h.kv, key, 256, out, sizeof(out), &(size_t){ 0 }), -ENAMETOOLONG);
	cr_assert_eq(add_kv_remove(h.kv, key, 256), -ENAMETOOLONG);
	key[255] = 0;
	expect(&h, key, "v255");
	cr_assert_eq(put_s(&h, "after", "still works"), 0);
	expect(&h, "after", "still works");
	kv_teardown(&h);
}

Test(kv_store, a_65535_byte_value_works_and_a_65536_byte_value_is_refused_harmlessly)
{
	kvh h;
	static uint8_t big[ADD_KV_VALUE_MAX + 1];
	size_t n = 0;

	kv_setup(&h);
	memset(big, 0x42, sizeof(big));
	cr_assert_eq(add_kv_put(h.kv, "k", 1, big, ADD_KV_VALUE_MAX), 0);
	big[0] = 0x43;
	cr_assert_eq(add_kv_put(h.kv, "k", 1, big, ADD_KV_VALUE_MAX + 1), -EFBIG);
	cr_assert_eq(add_kv_get(h.kv, "k", 1, out, sizeof(out), &n), 0);
	cr_assert_eq(n, ADD_KV_VALUE_MAX);
	cr_assert_eq(out[0], 0x42, "the refused put changed nothing");
	kv_teardown(&h);
}

Test(kv_store, the_empty_key_and_the_empty_value_are_valid)
{
	kvh h;
	size_t n = 99;

	kv_setup(&h);
	cr_assert_eq(add_kv_put(h.kv, "", 0, "e", 1), 0);
	expect(&h, "", "e");
	cr_assert_eq(put_s(&h, "k", ""), 0);
	cr_assert_eq(add_kv_get(h.kv, "k", 1, out, sizeof(out), &n), 0);
	cr_assert_eq(n, 0);
	kv_teardown(&h);
}

Test(kv_store, null_pointers_with_lengths_are_invalid)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(add_kv_put(h.kv, NULL, 3, "v", 1), -EINVAL);
	cr_assert_eq(add_kv_put(h.kv, "k", 1, NULL, 1), -EINVAL);
	kv_teardown(&h);
}

Test(kv_store, a_small_output_buffer_gets_enospc_and_the_size)
{
	kvh h;
	size_t n = 0;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "k", "0123456789"), 0);
	cr_assert_eq(add_kv_get(h.kv, "k", 1, out, 4, &n), -ENOSPC);
	cr_assert_eq(n, 10);
	kv_teardown(&h);
}

Test(kv_store, a_completed_put_and_remove_survive_a_crash)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "a", "1"), 0);
	cr_assert_eq(put_s(&h, "b", "2"), 0);
	cr_assert_eq(add_kv_remove(h.kv, "a", 1), 1);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	kv_reopen(&h);
	expect(&h, "a", NULL);
	expect(&h, "b", "2");
	kv_teardown(&h);
}

Test(kv_store, many_keys_are_all_kept)
{
	kvh h;
	char k[32], v[32];

	kv_setup(&h);
	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		snprintf(v, sizeof(v), "value-%d", i * 7);
		cr_assert_eq(put_s(&h, k, v), 0);
	}
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	kv_reopen(&h);
	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		snprintf(v, sizeof(v), "value-%d", i * 7);
		expect(&h, k, v);
	}
	kv_teardown(&h);
}

/* Counts the distinct files the operations between two marks touch. */
typedef struct touch {
	char names[16][160];
	int n;
	uint64_t ops;
} touch;

static void touch_name(touch *t, const char *name)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->names[i], name) == 0)
			return;
	cr_assert_lt(t->n, 16);
	snprintf(t->names[t->n++], sizeof(t->names[0]), "%s", name);
}

static void trace_cb(void *arg, uint64_t idx, const char *op, const char *name, const char *to)
{
	touch *t = arg;

	(void)idx;
	(void)op;
	t->ops++;
	touch_name(t, name);
	if (to)
		touch_name(t, to);
}

static void measure(kvh *h, int n_keys, touch *put_t, touch *rm_t, touch *get_t)
{
	char k[32];

	for (int i = 0; i < n_keys; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(put_s(h, k, "v"), 0);
	}
	memset(put_t, 0, sizeof(*put_t));
	add_sim_disk_set_trace(h->disk, trace_cb, put_t);
	cr_assert_eq(put_s(h, "key-0", "new"), 0);
	memset(rm_t, 0, sizeof(*rm_t));
	add_sim_disk_set_trace(h->disk, trace_cb, rm_t);
	cr_assert_eq(add_kv_remove(h->kv, "key-1", 5), 1);
	memset(get_t, 0, sizeof(*get_t));
	add_sim_disk_set_trace(h->disk, trace_cb, get_t);
	expect(h, "key-2", "v");
	add_sim_disk_set_trace(h->disk, NULL, NULL);
}

Test(kv_store, files_and_disk_operations_per_operation_do_not_grow_with_the_number_of_keys)
{
	kvh small, large;
	touch p1, r1, p2, r2, g1, g2;

	kv_setup(&small);
	kv_setup(&large);
	measure(&small, 10, &p1, &r1, &g1);
	measure(&large, 1000, &p2, &r2, &g2);
	printf("kv store: a put touches %d names (directory included) in %llu disk calls, a "
	       "remove %d in %llu, "
	       "with 10 or 1000 keys alike\n", p1.n, (unsigned long long)p1.ops, r1.n,
	       (unsigned long long)r1.ops);
	cr_assert_eq(p1.n, p2.n);
	cr_assert_eq(p1.ops, p2.ops);
	cr_assert_eq(r1.n, r2.n);
	cr_assert_eq(r1.ops, r2.ops);
	cr_assert_eq(g1.n, 1, "a get reads the key's file only");
	cr_assert_eq(g1.ops, g2.ops);
	cr_assert_eq(p1.n, 3, "tmp, the key's file, the directory");
	cr_assert_eq(r1.n, 2, "the key's file, the directory");
	kv_teardown(&small);
	kv_teardown(&large);
}

static uint64_t ops_to_open(int n_keys)
{
	kvh h;
	char k[32];
	touch t = { 0 };

	kv_setup(&h);
	for (int i = 0; i < n_keys; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		cr_assert_eq(put_s(&h, k, "v"), 0);
	}
	add_sim_disk_set_trace(h.disk, trace_cb, &t);
	kv_reopen(&h);
	add_sim_disk_set_trace(h.disk, NULL, NULL);
	kv_teardown(&h);
	return t.ops;
}

Test(kv_store, opening_does_not_grow_with_the_number_of_keys)
{
	uint64_t small = ops_to_open(10), large = ops_to_open(1000);

	printf("kv store: open (recovery) makes %llu disk calls with 10 keys, %llu with 1000\n",
	       (unsigned long long)small, (unsigned long long)large);
	cr_assert_eq(small, large);
	cr_assert_leq(small, 4, "tmp, txn.tmp and txn looked up; no listing");
}

Test(kv_store, a_commit_applies_every_put_and_remove)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "gone", "x"), 0);
	cr_assert_eq(put_s(&h, "kept", "y"), 0);
	add_kv_op ops[] = {
		{ .key = "a", .key_len = 1, .value = "A", .value_len = 1 },
		{ .key = "b", .key_len = 1, .value = "B", .value_len = 1 },
		{ .remove = true, .key = "gone", .key_len = 4 },
		{ .remove = true, .key = "never", .key_len = 5 },
	};

	cr_assert_eq(add_kv_commit(h.kv, ops, 4), 0);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	kv_reopen(&h);
	expect(&h, "a", "A");
	expect(&h, "b", "B");
	expect(&h, "gone", NULL);
	expect(&h, "kept", "y");
	kv_teardown(&h);
}

Test(kv_store, a_commit_with_one_invalid_op_changes_nothing)
{
	kvh h;
	static uint8_t big[ADD_KV_VALUE_MAX + 1];

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "a", "old"), 0);
	add_kv_op ops[] = {
		{ .key = "a", .key_len = 1, .value = "new", .value_len = 3 },
		{ .key = "b", .key_len = 1, .value = big, .value_len = sizeof(big) },
	};

	cr_assert_eq(add_kv_commit(h.kv, ops, 2), -EFBIG);
	expect(&h, "a", "old");
	expect(&h, "b", NULL);
	add_kv_op many[ADD_KV_COMMIT_OPS_MAX + 1];

	for (size_t i = 0; i < ADD_KV_COMMIT_OPS_MAX + 1; i++)
		many[i] = (add_kv_op){ .key = "a", .key_len = 1, .value = "x", .value_len = 1 };
	cr_assert_eq(add_kv_commit(h.kv, many, ADD_KV_COMMIT_OPS_MAX + 1), -E2BIG);
	expect(&h, "a", "old");
	kv_teardown(&h);
}

Test(kv_store, a_failed_flush_is_reported_and_the_store_stops)
{
	kvh h;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "a", "1"), 0);
	add_sim_disk_fail_next_flush(h.disk);
	cr_assert_eq(put_s(&h, "a", "2"), -EIO);
	cr_assert_eq(put_s(&h, "b", "3"), -EIO, "refuses everything after");
	add_sim_disk_crash(h.disk);
	kv_reopen(&h);
	size_t n = 0;

	cr_assert_eq(add_kv_get(h.kv, "a", 1, out, sizeof(out), &n), 0);
	cr_assert(n == 1 && (out[0] == '1' || out[0] == '2'), "old or new after the restart");
	expect(&h, "b", NULL);
	kv_teardown(&h);
}

static void first_v_file(void *arg, const char *name)
{
	char *found = arg;

	if (name[0] == 'v' && !found[0])
		snprintf(found, 80, "%s", name);
}

Test(kv_store, damage_at_rest_is_ebadmsg_and_an_unreadable_file_eio)
{
	kvh h;
	char file[80] = "";
	size_t n = 0;

	kv_setup(&h);
	cr_assert_eq(put_s(&h, "k", "value"), 0);
	const add_disk *d = add_sim_disk_ops(h.disk);

	d->list(d->ctx, first_v_file, file);
	cr_assert(file[0], "the key's file");
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, file, 17, 2), 0); /* in the value */
	cr_assert_eq(add_kv_get(h.kv, "k", 1, out, sizeof(out), &n), -EBADMSG);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, file, 17, 2), 0); /* flipped back */
	expect(&h, "k", "value");
	cr_assert_eq(add_sim_disk_inject_read_error(h.disk, file, 0, 1), 0);
	cr_assert_eq(add_kv_get(h.kv, "k", 1, out, sizeof(out), &n), -EIO);
	cr_assert_eq(put_s(&h, "k", "again"), 0, "a put writes a new file");
	expect(&h, "k", "again");
	kv_teardown(&h);
}
