/*
 * Randomized schedules over the scripted runtime: messages delivered in any
 * order, dropped, duplicated; stores completed in any order across
 * processes; processes crashed (a minority at a time) and restarted; time
 * advancing so that the stubborn links retransmit. Per sector one client
 * issues commands one at a time, at a random process. Checked:
 *  - safety at every step: two stored copies with the same (ts, wr) hold
 *    the same data (else one tag carries two values);
 *  - linearizability of each sector's history: a read returns the last
 *    completed write, or a write whose coordinator crashed (it may take
 *    effect at any later time, once); with a sequential client this greedy
 *    check is exact;
 *  - liveness: once everything is up again, every command is answered.
 * With damage (store_ops.h) injected at random, at most a minority of the
 * copies of a sector at a time, latent (bit rot, found by a read) or known
 * (as recovery finds it), also checked: no reply carries bytes that are not
 * exactly some written value (or zeros), and in the end, after a scrub,
 * every damaged copy is repaired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "script_runtime.h"

#define N_SECTORS 3
#define STEPS 6000
#define VALUES_MAX 4096

static srt_world *w;
static uint64_t rng;

static void teardown(void)
{
	if (w != NULL)
		srt_free(w);
	w = NULL;
}

TestSuite(node_random, .fini = teardown);

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* data of value id k: its id in the first bytes, then a pattern */
static void value_data(uint8_t *d, uint32_t k)
{
	srt_fill(d, (uint8_t)k);
	memcpy(d, &k, sizeof(k));
}

static uint32_t value_id(const uint8_t *d)
{
	uint32_t k;

	memcpy(&k, d, sizeof(k));
	return k;
}

typedef struct client {
	bool busy;
	uint8_t at;     /* process running the command */
	uint64_t request;
	bool is_write;
	uint32_t value; /* written */
	uint32_t current; /* the model: last value to take effect (0 = zeros) */
	bool pending[VALUES_MAX]; /* writes that may still take effect */
	unsigned completed;
} client;

static client clients[N_SECTORS];
static uint64_t next_request;
static uint32_t next_value;
static size_t replies_seen;
static bool inject_damage;
static unsigned damage_injected;

static void check_tags_unique(void)
{
	for (uint64_t s = 0; s < N_SECTORS; s++) {
		for (uint8_t a = 1; a <= w->n; a++) {
			for (uint8_t b = a; b <= w->n; b++) {
				uint8_t da[ADD_SECTOR_SIZE], db[ADD_SECTOR_SIZE];
				uint64_t ta, tb;
				uint8_t ra, rb;

				if (srt_is_damaged(w, a, s) || srt_is_damaged(w, b, s))
					continue; /* its bytes are known to be wrong */
				srt_current(w, a, s, &ta, &ra, da);
				srt_durable(w, b, s, &tb, &rb, db);
				if (ta == tb && ra == rb)
					cr_assert_arr_eq(da, db, ADD_SECTOR_SIZE,
							 "sector %llu: tag (%llu, %u) has two values",
							 (unsigned long long)s,
							 (unsigned long long)ta, ra);
			}
		}
	}
}

static void check_replies(void)
{
	for (; replies_seen < w->n_replies; replies_seen++) {
		const srt_reply *r = &w->replies[replies_seen];
		client *c = NULL;

		for (int s = 0; s < N_SECTORS; s++)
			if (clients[s].busy && clients[s].request == r->request)
				c = &clients[s];
		cr_assert_not_null(c, "reply to an unknown or abandoned request");
		cr_assert_eq(r->proc, c->at);
		cr_assert_eq(r->status, ADD_STATUS_OK);
		if (c->is_write) {
			c->current = c->value;
			c->pending[c->value] = false;
		} else {
			uint32_t got = value_id(r->data);
			bool zero = true;

			for (int i = 0; i < ADD_SECTOR_SIZE && zero; i++)
				zero = r->data[i] == 0;
			if (zero) {
				got = 0;
			} else {
				uint8_t want[ADD_SECTOR_SIZE];

				cr_assert(got < VALUES_MAX, "read returned bytes of no value");
				value_data(want, got);
				cr_assert_arr_eq(r->data, want, ADD_SECTOR_SIZE,
						 "read returned wrong bytes (a damaged copy?)");
			}
			if (got != c->current) {
				cr_assert(got < VALUES_MAX && c->pending[got],
					  "read returned %u; current %u, not pending", got,
					  c->current);
				c->current = got; /* the pending write took effect now */
				c->pending[got] = false;
			}
		}
		c->busy = false;
		c->completed++;
	}
}

static void submit(int s)
{
	client *c = &clients[s];
	uint8_t at;

	do
		at = (uint8_t)(1 + rnd(w->n));
	while (srt_node(w, at) == NULL);
	c->busy = true;
	c->at = at;
	c->request = ++next_request;
	c->is_write = rnd(2) == 0;
	if (c->is_write) {
		uint8_t d[ADD_SECTOR_SIZE];

		c->value = ++next_value;
		cr_assert_lt(c->value, VALUES_MAX);
		value_data(d, c->value);
		srt_client_write(w, at, (uint64_t)s, c->request, (uint64_t)s, d);
	} else {
		srt_client_read(w, at, (uint64_t)s, c->request, (uint64_t)s);
	}
}

static unsigned alive(void)
{
	unsigned k = 0;

	for (uint8_t p = 1; p <= w->n; p++)
		k += srt_node(w, p) != NULL;
	return k;
}

static void crash(uint8_t p)
{
	srt_crash(w, p);
	/* its clients' commands become indeterminate */
	for (int s = 0; s < N_SECTORS; s++) {
		client *c = &clients[s];

		if (c->busy && c->at == p) {
			if (c->is_write)
				c->pending[c->value] = true;
			c->busy = false;
		}
	}
}

static void restart(uint8_t p)
{
	srt_restart(w, p);
	for (uint8_t q = 1; q <= w->n; q++) {
		if (q == p || srt_node(w, q) == NULL)
			continue;
		add_node_on_peer_connected(srt_node(w, q), p);
		add_node_on_peer_connected(srt_node(w, p), q);
	}
}

/* Damages p's copy of a random sector, unless that would make more than a
 * minority of its copies damaged, or p has a store of it in flight (a disk
 * corrupts what it holds). */
static void damage(uint8_t p)
{
	uint64_t s = rnd(N_SECTORS);
	const srt_store *st = srt_store_of(w, p);
	unsigned bad = 0;

	for (uint8_t q = 1; q <= w->n; q++)
		bad += srt_is_damaged(w, q, s);
	if (srt_is_damaged(w, p, s) || bad + 1 > (unsigned)(w->n - 1) / 2)
		return;
	for (size_t i = 0; i < st->n_pending; i++)
		if (st->pending[i].s.sector == s)
			return;
	srt_damage(w, p, s, rnd(2) == 0);
	damage_injected++;
}

static void step(void)
{
	uint32_t a = rnd(1000);
	uint8_t p = (uint8_t)(1 + rnd(w->n));

	if (a < 500) {
		if (w->n_msgs > 0)
			srt_deliver(w, rnd((uint32_t)w->n_msgs));
	} else if (a < 520) {
		if (w->n_msgs > 0)
			srt_drop(w, rnd((uint32_t)w->n_msgs));
	} else if (a < 540) {
		if (w->n_msgs > 0 && w->n_msgs < 2000)
			srt_dup(w, rnd((uint32_t)w->n_msgs));
	} else if (a < 800) {
		(void)srt_store_complete(w, p);
	} else if (a < 940) {
		int s = (int)rnd(N_SECTORS);

		if (!clients[s].busy)
			submit(s);
	} else if (a < 943) {
		if (srt_node(w, p) != NULL && alive() > (unsigned)w->n / 2 + 1)
			crash(p);
	} else if (a < 960) {
		if (srt_node(w, p) == NULL)
			restart(p);
	} else if (a < 968) {
		if (inject_damage)
			damage(p);
	} else {
		srt_advance(w, 50ull * 1000 * 1000);
	}
}

static void run_seed(uint8_t n, uint64_t seed)
{
	const char *only = getenv("SRT_SEED"); /* replay one seed */
	const char *offset = getenv("SRT_SEED_OFFSET"); /* explore other seeds */

	if (offset != NULL)
		seed += strtoull(offset, NULL, 10);
	if (only != NULL && strtoull(only, NULL, 10) != seed)
		return;
	w = srt_new(n, N_SECTORS);
	rng = seed * 0x9E3779B97F4A7C15ull + 1;
	memset(clients, 0, sizeof(clients));
	next_request = 0;
	next_value = 0;
	replies_seen = 0;
	damage_injected = 0;
	for (uint8_t p = 1; p <= n; p++)
		srt_store_of(w, p)->auto_complete = false;
	for (int i = 0; i < STEPS; i++) {
		step();
		check_replies();
		if (i % 16 == 0)
			check_tags_unique();
	}
	/* heal: everyone up, everything delivered, stores completed */
	for (uint8_t p = 1; p <= n; p++)
		if (srt_node(w, p) == NULL)
			restart(p);
	for (int round = 0; round < 100; round++) {
		bool busy = false;

		for (uint8_t p = 1; p <= n; p++)
			srt_store_of(w, p)->auto_complete = true;
		srt_run(w);
		check_replies();
		for (int s = 0; s < N_SECTORS; s++)
			busy |= clients[s].busy;
		if (!busy)
			break;
		srt_advance(w, 2ull * 1000 * 1000 * 1000);
	}
	for (int s = 0; s < N_SECTORS; s++)
		cr_assert_not(clients[s].busy, "seed %llu: sector %d's command never answered",
			      (unsigned long long)seed, s);
	check_tags_unique();
	/* a scrub finds the latent damage; then every copy gets repaired */
	for (uint8_t p = 1; p <= n; p++) {
		uint64_t passes = add_node_scrub_passes(srt_node(w, p));

		for (int k = 0; k < 8 && add_node_scrub_passes(srt_node(w, p)) == passes; k++)
			(void)add_node_scrub_step(srt_node(w, p), 2);
		cr_assert_gt(add_node_scrub_passes(srt_node(w, p)), passes, "a whole pass");
	}
	for (int round = 0; round < 20; round++) {
		bool pending = false;

		srt_run(w);
		for (uint8_t p = 1; p <= n; p++)
			pending |= add_node_repairs_pending(srt_node(w, p)) > 0 ||
				   srt_stats(w, p).registers_active > 0; /* e.g. a lost answer */
		if (!pending)
			break;
		srt_advance(w, 2ull * 1000 * 1000 * 1000);
	}
	for (uint8_t p = 1; p <= n; p++) {
		cr_assert_eq(add_node_repairs_pending(srt_node(w, p)), 0,
			     "seed %llu: process %u still has damage", (unsigned long long)seed, p);
		for (uint64_t s = 0; s < N_SECTORS; s++)
			cr_assert_not(srt_is_damaged(w, p, s), "seed %llu: process %u sector %llu",
				      (unsigned long long)seed, p, (unsigned long long)s);
	}
	check_tags_unique();
	/* a final read at every process */
	for (uint8_t p = 1; p <= n; p++) {
		for (int s = 0; s < N_SECTORS; s++) {
			clients[s].busy = true;
			clients[s].at = p;
			clients[s].request = ++next_request;
			clients[s].is_write = false;
			srt_client_read(w, p, (uint64_t)s, clients[s].request, (uint64_t)s);
			srt_run(w);
			check_replies();
			cr_assert_not(clients[s].busy,
				      "seed %llu: final read of sector %d at %u: %llu registers, "
				      "%llu repairs pending", (unsigned long long)seed, s, p,
				      (unsigned long long)srt_stats(w, p).registers_active,
				      (unsigned long long)add_node_repairs_pending(srt_node(w, p)));
		}
	}
	for (uint8_t p = 1; p <= n; p++)
		cr_assert_eq(srt_stats(w, p).registers_active, 0);
	if (getenv("SRT_VERBOSE") != NULL) {
		unsigned done = 0, pend = 0;

		for (int s = 0; s < N_SECTORS; s++) {
			done += clients[s].completed;
			for (int k = 0; k < VALUES_MAX; k++)
				pend += clients[s].pending[k];
		}
		fprintf(stderr, "seed %llu: %u commands answered, %u writes left pending, "
			"%llu requests, %u copies damaged\n", (unsigned long long)seed, done, pend,
			(unsigned long long)next_request, damage_injected);
	}
	srt_free(w);
	w = NULL;
}

Test(node_random, three_processes_stay_linearizable_under_faults)
{
	for (uint64_t seed = 1; seed <= 40; seed++)
		run_seed(3, seed);
}

Test(node_random, five_processes_stay_linearizable_under_faults)
{
	for (uint64_t seed = 100; seed <= 120; seed++)
		run_seed(5, seed);
}

Test(node_random, one_process_stays_linearizable_under_store_reordering)
{
	for (uint64_t seed = 200; seed <= 205; seed++)
		run_seed(1, seed);
}

Test(node_random, three_processes_with_damaged_copies_serve_only_written_values)
{
	inject_damage = true;
	for (uint64_t seed = 300; seed <= 340; seed++)
		run_seed(3, seed);
	inject_damage = false;
}

Test(node_random, five_processes_with_damaged_copies_serve_only_written_values)
{
	inject_damage = true;
	for (uint64_t seed = 400; seed <= 420; seed++)
		run_seed(5, seed);
	inject_damage = false;
}
