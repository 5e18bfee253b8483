/* runtime-sim/checker: per-sector Wing-Gong/Lowe linearizability search.
 * See checker.h. */
#include "checker.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_STEPS (1000ull * 1000)

/* ---- one event of the per-sector search list ----------------------------- */
typedef struct ent {
	uint64_t time;
	int32_t op;    /* index into the sector's op array */
	int32_t match; /* call -> its return entry, return -> its call entry */
	int32_t prev, next;
	bool is_call;
} ent;

/* The search's view of one op. */
typedef struct sop {
	size_t hidx; /* index in the history */
	uint64_t invoke, response;
	uint64_t value;
	uint8_t kind;
} sop;

/* ---- memo: a hash set of (bitset, state) --------------------------------- */
typedef struct memo {
	uint64_t *arena; /* records of (words + 1) u64 */
	size_t arena_len, arena_cap;
	uint32_t *table; /* record number + 1; 0 = empty */
	size_t table_cap, count;
	size_t words;
} memo;

static uint64_t memo_hash(const uint64_t *bits, size_t words, uint64_t state)
{
	uint64_t h = state * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	for (size_t i = 0; i < words; i++) {
		h ^= bits[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h ^ (h >> 29);
}

static bool memo_reset(memo *m, size_t words)
{
	m->words = words;
	m->arena_len = 0;
	m->count = 0;
	if (m->table_cap == 0) {
		m->table_cap = 1024;
		m->table = calloc(m->table_cap, sizeof(*m->table));
		if (!m->table)
			return false;
	} else {
		memset(m->table, 0, m->table_cap * sizeof(*m->table));
	}
	return true;
}

static bool memo_grow(memo *m)
{
	size_t cap = m->table_cap * 2;
	uint32_t *t = calloc(cap, sizeof(*t));
	if (!t)
		return false;
	size_t rec = m->words + 1;
	for (size_t i = 0; i < m->table_cap; i++) {
		uint32_t r = m->table[i];
		if (!r)
			continue;
		const uint64_t *p = &m->arena[(size_t)(r - 1) * rec];
		size_t j = memo_hash(p, m->words, p[m->words]) & (cap - 1);
		while (t[j])
			j = (j + 1) & (cap - 1);
		t[j] = r;
	}
	free(m->table);
	m->table = t;
	m->table_cap = cap;
	return true;
}

/* Adds (bits, state); returns 1 if new, 0 if present, -1 out of memory. */
static int memo_add(memo *m, const uint64_t *bits, uint64_t state)
{
	size_t rec = m->words + 1;
	if ((m->count + 1) * 2 > m->table_cap && !memo_grow(m))
		return -1;
	size_t j = memo_hash(bits, m->words, state) & (m->table_cap - 1);
	while (m->table[j]) {
		const uint64_t *p = &m->arena[(size_t)(m->table[j] - 1) * rec];
		if (p[m->words] == state && memcmp(p, bits, m->words * 8) == 0)
			return 0;
		j = (j + 1) & (m->table_cap - 1);
	}
	if (m->arena_len + rec > m->arena_cap) {
		size_t cap = m->arena_cap ? m->arena_cap * 2 : 4096;
		while (cap < m->arena_len + rec)
			cap *= 2;
		uint64_t *a = realloc(m->arena, cap * sizeof(*a));
		if (!a)
			return -1;
		m->arena = a;
		m->arena_cap = cap;
	}
	uint64_t *p = &m->arena[m->arena_len];
	memcpy(p, bits, m->words * 8);
	p[m->words] = state;
	m->count++;
	m->table[j] = (uint32_t)(m->arena_len / rec + 1);
	m->arena_len += rec;
	return 1;
}

static void memo_free(memo *m)
{
	free(m->arena);
	free(m->table);
	memset(m, 0, sizeof(*m));
}

/* ---- scratch shared by all sectors of one check -------------------------- */
typedef struct scratch {
	sop *ops;
	ent *ents;
	int32_t *stack_ent;
	uint64_t *stack_state;
	uint64_t *bits;
	size_t cap; /* ops capacity */
	memo memo;
} scratch;

static bool scratch_reserve(scratch *s, size_t n)
{
	if (n <= s->cap)
		return true;
	size_t cap = s->cap ? s->cap : 64;
	while (cap < n)
		cap *= 2;
	sop *o = realloc(s->ops, cap * sizeof(*o));
	if (o)
		s->ops = o;
	ent *e = realloc(s->ents, (2 * cap + 1) * sizeof(*e));
	if (e)
		s->ents = e;
	int32_t *se = realloc(s->stack_ent, cap * sizeof(*se));
	if (se)
		s->stack_ent = se;
	uint64_t *ss = realloc(s->stack_state, cap * sizeof(*ss));
	if (ss)
		s->stack_state = ss;
	uint64_t *b = realloc(s->bits, ((cap + 63) / 64) * sizeof(*b));
	if (b)
		s->bits = b;
	if (!o || !e || !se || !ss || !b)
		return false;
	s->cap = cap;
	return true;
}

static int cmp_ent(const void *x, const void *y)
{
	const ent *a = x, *b = y;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	/* At equal times calls come first: such ops count as concurrent (the
	 * permissive reading of a tie). */
	if (a->is_call != b->is_call)
		return a->is_call ? -1 : 1;
	return a->op < b->op ? -1 : a->op > b->op;
}

static void lift(ent *e, int32_t c)
{
	int32_t r = e[c].match;
	e[e[c].prev].next = e[c].next;
	if (e[c].next >= 0)
		e[e[c].next].prev = e[c].prev;
	e[e[r].prev].next = e[r].next;
	if (e[r].next >= 0)
		e[e[r].next].prev = e[r].prev;
}

static void unlift(ent *e, int32_t c)
{
	int32_t r = e[c].match;
	e[e[r].prev].next = r;
	if (e[r].next >= 0)
		e[e[r].next].prev = r;
	e[e[c].prev].next = c;
	if (e[c].next >= 0)
		e[e[c].next].prev = c;
}

enum { SEARCH_OK = 0, SEARCH_FAIL = 1, SEARCH_BUDGET = 2, SEARCH_NOMEM = 3 };

/*
 * The search over ops[0..n). Entry 0 of s->ents is the list head. On
 * SEARCH_FAIL *culprit is the op whose response the deepest configuration
 * could not get past.
 */
static int search(scratch *s, size_t n, uint64_t max_steps, uint64_t *steps, int32_t *culprit)
{
	ent *e = s->ents;
	e[0] = (ent){.time = 0, .op = -1, .match = -1, .prev = -1, .next = 1, .is_call = false};
	for (size_t i = 0; i < n; i++) {
		e[1 + 2 * i] = (ent){.time = s->ops[i].invoke, .op = (int32_t)i, .is_call = true};
		e[2 + 2 * i] = (ent){.time = s->ops[i].response, .op = (int32_t)i, .is_call = false};
	}
	qsort(e + 1, 2 * n, sizeof(*e), cmp_ent);
	/* Link the list and match calls with returns. */
	int32_t *call_of = s->stack_ent; /* temporarily: op -> call entry */
	for (size_t k = 1; k <= 2 * n; k++) {
		e[k].prev = (int32_t)k - 1;
		e[k].next = k < 2 * n ? (int32_t)k + 1 : -1;
		if (e[k].is_call)
			call_of[e[k].op] = (int32_t)k;
	}
	e[0].next = n ? 1 : -1;
	for (size_t k = 1; k <= 2 * n; k++) {
		if (!e[k].is_call) {
			int32_t c = call_of[e[k].op];
			e[k].match = c;
			e[c].match = (int32_t)k;
		}
	}
	size_t words = (n + 63) / 64;
	memset(s->bits, 0, words * sizeof(uint64_t));
	if (!memo_reset(&s->memo, words))
		return SEARCH_NOMEM;

	uint64_t state = ADD_VALUE_INITIAL;
	size_t depth = 0;
	long best_depth = -1;
	int32_t cur;
	*culprit = -1;
	/* The stack holds the entry of each linearized call, negated when it
	 * was a forced read (see below): such a step has no alternative. */
fresh:
	/* A pending read that returns the current state can be linearized now
	 * without loss of generality (a read changes no state, and now lies
	 * inside its interval): take every such read at once, and never try
	 * alternatives to it. This keeps the search small when many reads are
	 * in flight together. */
	for (cur = e[0].next; cur >= 0 && e[cur].is_call;) {
		const sop *op = &s->ops[e[cur].op];
		if (op->kind != ADD_OP_READ || op->value != state) {
			cur = e[cur].next;
			continue;
		}
		int32_t o = e[cur].op;
		s->bits[o / 64] |= 1ull << (o % 64);
		int added = memo_add(&s->memo, s->bits, state);
		if (added < 0)
			return SEARCH_NOMEM;
		if (added == 0) {
			/* Explored before, and failed: so does this configuration. */
			s->bits[o / 64] &= ~(1ull << (o % 64));
			goto backtrack;
		}
		s->stack_ent[depth] = -cur;
		s->stack_state[depth] = state;
		depth++;
		lift(e, cur);
		cur = e[0].next;
	}
	if (e[0].next < 0)
		return SEARCH_OK;
	cur = e[0].next;
	for (;;) {
		if (++*steps > max_steps)
			return SEARCH_BUDGET;
		assert(cur >= 0);
		const ent *en = &e[cur];
		if (en->is_call) {
			const sop *op = &s->ops[en->op];
			bool legal = op->kind == ADD_OP_WRITE || op->value == state;
			if (legal) {
				uint64_t nstate = op->kind == ADD_OP_WRITE ? op->value : state;
				s->bits[en->op / 64] |= 1ull << (en->op % 64);
				int added = memo_add(&s->memo, s->bits, nstate);
				if (added < 0)
					return SEARCH_NOMEM;
				if (added) {
					s->stack_ent[depth] = cur;
					s->stack_state[depth] = state;
					depth++;
					state = nstate;
					lift(e, cur);
					goto fresh;
				}
				s->bits[en->op / 64] &= ~(1ull << (en->op % 64));
			}
			cur = en->next;
			continue;
		}
		/* An op must be linearized before its response: backtrack. */
		if ((long)depth > best_depth) {
			best_depth = (long)depth;
			*culprit = en->op;
		}
backtrack:
		for (;;) {
			if (depth == 0)
				return SEARCH_FAIL;
			depth--;
			int32_t top = s->stack_ent[depth];
			bool forced = top < 0;
			cur = forced ? -top : top;
			state = s->stack_state[depth];
			int32_t o = e[cur].op;
			s->bits[o / 64] &= ~(1ull << (o % 64));
			unlift(e, cur);
			if (!forced)
				break;
		}
		cur = e[cur].next;
	}
}


/* ---- the zone check (Gibbons & Korach) --------------------------------------
 * For a register whose writes have unique values, linearizability has a
 * direct characterization (Gibbons & Korach 1997; the "zones" of Golab,
 * Li & Shah 2011). A cluster is a write and the reads that returned its
 * value (the initial zeros: a virtual write at time 0). With f the earliest
 * response and s the latest invocation in a cluster, its zone is forward
 * [f, s] when f < s, else backward [s, f]. The history is linearizable iff
 * no read answers before its write is invoked, no two forward zones overlap,
 * and no backward zone lies inside a forward one. O(n log n): used when the
 * search runs out of budget on a very busy sector, and cross-checked against
 * the search in the unit tests. Ties count as concurrent, as in the search. */
typedef struct zone {
	uint64_t f, s;   /* earliest response, latest invocation */
	int32_t s_op;    /* the op (sop index) invoked last in the cluster */
	int32_t first;   /* the op that answered first (for backward zones) */
} zone;

static int cmp_sop_value(const void *x, const void *y)
{
	const uint64_t *a = x, *b = y; /* pairs (value, sop index) */
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : a[1] > b[1];
}

static int cmp_zone_f(const void *x, const void *y)
{
	const zone *a = x, *b = y;
	if (a->f != b->f)
		return a->f < b->f ? -1 : 1;
	return a->s < b->s ? -1 : a->s > b->s;
}

static int zone_check(const sop *ops, size_t n, int32_t *culprit)
{
	uint64_t *pairs = malloc((n ? n : 1) * 2 * sizeof(uint64_t));
	zone *fw = malloc((n + 1) * sizeof(zone)), *bw = malloc((n + 1) * sizeof(zone));
	int rc = SEARCH_OK;
	size_t nf = 0, nb = 0;
	if (!pairs || !fw || !bw) {
		rc = SEARCH_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		pairs[2 * i] = ops[i].value;
		pairs[2 * i + 1] = i;
	}
	qsort(pairs, n, 2 * sizeof(uint64_t), cmp_sop_value);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint64_t v = pairs[2 * i];
		zone z = {.f = UINT64_MAX, .s = 0, .s_op = -1, .first = -1};
		int32_t w = -1;
		/* Real times are shifted by one so that the virtual initial
		 * write (at 0) comes strictly before every real operation. */
		if (v == ADD_VALUE_INITIAL)
			z.f = 0;
		for (; j < n && pairs[2 * j] == v; j++) {
			int32_t k = (int32_t)pairs[2 * j + 1];
			uint64_t rsp = ops[k].response == UINT64_MAX ? UINT64_MAX : ops[k].response + 1;
			if (ops[k].kind == ADD_OP_WRITE)
				w = k;
			if (rsp < z.f) {
				z.f = rsp;
				z.first = k;
			}
			if (ops[k].invoke + 1 >= z.s) {
				z.s = ops[k].invoke + 1;
				z.s_op = k;
			}
		}
		for (size_t q = i; q < j && w >= 0; q++) {
			int32_t k = (int32_t)pairs[2 * q + 1];
			if (ops[k].kind == ADD_OP_READ && ops[k].response < ops[w].invoke) {
				*culprit = k; /* answered before its write began */
				rc = SEARCH_FAIL;
				goto out;
			}
		}
		if (z.f < z.s)
			fw[nf++] = z;
		else if (w >= 0)
			bw[nb++] = z;
		i = j;
	}
	qsort(fw, nf, sizeof(zone), cmp_zone_f);
	for (size_t i = 1; i < nf; i++) {
		if (fw[i].f < fw[i - 1].s) {
			/* Two clusters whose values were both current after
			 * the other: the later-invoked read of the one ends it. */
			*culprit = fw[i].s < fw[i - 1].s ? fw[i].s_op : fw[i - 1].s_op;
			rc = SEARCH_FAIL;
			goto out;
		}
	}
	for (size_t b = 0; b < nb; b++) {
		/* the forward zone with the largest f below this zone's start */
		size_t lo = 0, hi = nf;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (fw[mid].f < bw[b].s)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && bw[b].f < fw[lo - 1].s) {
			/* A whole cluster ran while another value had to be the
			 * current one: the read that saw the other value late. */
			*culprit = fw[lo - 1].s_op;
			rc = SEARCH_FAIL;
			goto out;
		}
	}
out:
	free(pairs);
	free(fw);
	free(bw);
	return rc;
}

/* ---- splitting the history by sector ------------------------------------- */
static const add_history *sort_hist;

static int cmp_by_sector(const void *x, const void *y)
{
	const add_hist_op *a = &sort_hist->ops[*(const size_t *)x];
	const add_hist_op *b = &sort_hist->ops[*(const size_t *)y];
	if (a->sector != b->sector)
		return a->sector < b->sector ? -1 : 1;
	if (a->invoke_ns != b->invoke_ns)
		return a->invoke_ns < b->invoke_ns ? -1 : 1;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	return i < j ? -1 : i > j;
}

static int cmp_u64pair(const void *x, const void *y)
{
	const uint64_t *a = x, *b = y;
	return a[0] < b[0] ? -1 : a[0] > b[0];
}

static int cmp_by_invoke(const void *x, const void *y)
{
	const add_hist_op *a = &sort_hist->ops[*(const size_t *)x];
	const add_hist_op *b = &sort_hist->ops[*(const size_t *)y];
	if (a->invoke_ns != b->invoke_ns)
		return a->invoke_ns < b->invoke_ns ? -1 : 1;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	return i < j ? -1 : i > j;
}

static bool overlaps(const add_hist_op *o, uint64_t lo, uint64_t hi)
{
	return o->invoke_ns <= hi && o->response_ns >= lo;
}

/* The ops of `idx[0..n)` (one sector) that show the violation at `culprit`. */
static void build_window(const add_history *h, const size_t *idx, size_t n, size_t culprit,
			 add_check_result *r)
{
	const add_hist_op *c = &h->ops[culprit];
	uint64_t lo = c->invoke_ns, hi = c->response_ns;
	r->window = malloc((n ? n : 1) * sizeof(size_t));
	if (!r->window)
		return;
	size_t last_write = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *o = &h->ops[idx[i]];
		if (o->kind == ADD_OP_WRITE && add_hist_op_done(o) && o->response_ns < lo &&
		    (last_write == SIZE_MAX || o->response_ns > h->ops[last_write].response_ns))
			last_write = idx[i];
	}
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *o = &h->ops[idx[i]];
		bool keep = idx[i] == culprit || idx[i] == last_write;
		if (!keep && overlaps(o, lo, hi) && add_hist_op_done(o))
			keep = true;
		if (!keep && overlaps(o, lo, hi) && o->kind == ADD_OP_WRITE) {
			/* an indeterminate write matters only if someone saw it */
			for (size_t j = 0; j < n && !keep; j++) {
				const add_hist_op *q = &h->ops[idx[j]];
				keep = q->kind == ADD_OP_READ && add_hist_op_done(q) &&
				       q->value == o->value;
			}
		}
		if (!keep && o->kind == ADD_OP_WRITE) {
			/* a write that an op of the window read */
			for (size_t j = 0; j < n && !keep; j++) {
				const add_hist_op *q = &h->ops[idx[j]];
				keep = q->kind == ADD_OP_READ && add_hist_op_done(q) &&
				       q->value == o->value &&
				       (idx[j] == culprit || overlaps(q, lo, hi));
			}
		}
		if (keep)
			r->window[r->window_len++] = idx[i];
	}
	sort_hist = h;
	qsort(r->window, r->window_len, sizeof(size_t), cmp_by_invoke);
}

static void describe(const add_history *h, size_t culprit, const char *what,
		     add_check_result *r)
{
	const add_hist_op *c = &h->ops[culprit];
	char val[32];
	if (c->value == ADD_VALUE_INITIAL)
		snprintf(val, sizeof(val), "zeros");
	else if (c->value == ADD_VALUE_GARBAGE)
		snprintf(val, sizeof(val), "garbage");
	else
		snprintf(val, sizeof(val), "w%" PRIu64, c->value);
	char resp[32];
	if (add_hist_op_done(c))
		snprintf(resp, sizeof(resp), "%.3f ms", c->response_ns / 1e6);
	else
		snprintf(resp, sizeof(resp), "never");
	snprintf(r->why, sizeof(r->why),
		 "sector %" PRIu64 ": %s %s %s by client %u via node %u, invoked %.3f ms, "
		 "answered %s: %s",
		 c->sector, c->kind == ADD_OP_READ ? "read" : "write",
		 c->kind == ADD_OP_READ ? "returning" : "of", val, c->client, c->node,
		 c->invoke_ns / 1e6, resp, what);
}

/* Checks one sector's ops idx[0..n). Returns SEARCH_*. */
static int check_sector(const add_history *h, const size_t *idx, size_t n, scratch *s,
			uint64_t max_steps, int algorithm, add_check_result *r, uint64_t **writes,
			size_t *writes_cap)
{
	/* The sector's writes sorted by value, each with the earliest response
	 * of a read that saw it (UINT64_MAX: never seen): to find reads of
	 * values never written, to drop indeterminate writes nobody saw, and to
	 * bound every write's response by the first read that returned it. */
	size_t nw = 0;
	for (size_t i = 0; i < n; i++)
		nw += h->ops[idx[i]].kind == ADD_OP_WRITE;
	if (nw * 2 + 2 > *writes_cap) { /* never NULL, even with no writes */
		size_t cap = nw * 2 + 64;
		uint64_t *w = realloc(*writes, cap * sizeof(uint64_t));
		if (!w)
			return SEARCH_NOMEM;
		*writes = w;
		*writes_cap = cap;
	}
	uint64_t *wv = *writes; /* pairs (value, earliest response of a read of it) */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *o = &h->ops[idx[i]];
		if (o->kind == ADD_OP_WRITE) {
			wv[2 * k] = o->value;
			wv[2 * k + 1] = UINT64_MAX;
			k++;
		}
	}
	qsort(wv, nw, 2 * sizeof(uint64_t), cmp_u64pair);
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *o = &h->ops[idx[i]];
		if (o->kind != ADD_OP_READ || !add_hist_op_done(o) || o->value == ADD_VALUE_INITIAL)
			continue;
		uint64_t key[2] = {o->value, 0};
		uint64_t *hit = o->value == ADD_VALUE_GARBAGE
					? NULL
					: bsearch(key, wv, nw, 2 * sizeof(uint64_t), cmp_u64pair);
		if (!hit) {
			r->sector = o->sector;
			r->culprit = idx[i];
			describe(h, idx[i], "a value never written to this sector", r);
			build_window(h, idx, n, idx[i], r);
			return SEARCH_FAIL;
		}
		if (o->response_ns < hit[1])
			hit[1] = o->response_ns;
	}

	if (!scratch_reserve(s, n))
		return SEARCH_NOMEM;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *o = &h->ops[idx[i]];
		uint64_t response = o->response_ns;
		if (o->kind == ADD_OP_READ && !add_hist_op_done(o))
			continue; /* an indeterminate read constrains nothing */
		if (o->kind == ADD_OP_WRITE) {
			uint64_t key[2] = {o->value, 0};
			const uint64_t *hit = bsearch(key, wv, nw, 2 * sizeof(uint64_t), cmp_u64pair);
			assert(hit);
			if (hit[1] == UINT64_MAX && !add_hist_op_done(o))
				continue; /* indeterminate and never seen: may never have happened */
			/* A write precedes every read that returned its (unique)
			 * value, so it takes effect before the first such read
			 * answered: an equivalent, tighter response time. It turns
			 * the indeterminate writes that were seen into ordinary
			 * ones, which keeps the search small. (A read answered
			 * before the write was even invoked keeps the bound off:
			 * the search then fails on that read.) */
			if (hit[1] < response && hit[1] >= o->invoke_ns)
				response = hit[1];
		}
		s->ops[m++] = (sop){.hidx = idx[i],
				    .invoke = o->invoke_ns,
				    .response = response,
				    .value = o->value,
				    .kind = o->kind};
	}
	r->ops += m;
	int32_t culprit = -1;
	int rc;
	if (algorithm == ADD_CHECK_ZONES) {
		rc = zone_check(s->ops, m, &culprit);
	} else {
		rc = search(s, m, max_steps, &r->steps, &culprit);
		if (rc == SEARCH_BUDGET && algorithm == ADD_CHECK_AUTO) {
			/* Too busy for the search: decide with the zones. */
			r->zone_sectors++;
			culprit = -1;
			rc = zone_check(s->ops, m, &culprit);
		}
	}
	if (rc == SEARCH_FAIL) {
		assert(culprit >= 0);
		size_t hc = s->ops[culprit].hidx;
		r->sector = h->ops[hc].sector;
		r->culprit = hc;
		describe(h, hc, "no linearization of this sector's history allows it", r);
		build_window(h, idx, n, hc, r);
	} else if (rc == SEARCH_BUDGET) {
		r->sector = h->ops[idx[0]].sector;
		snprintf(r->why, sizeof(r->why),
			 "sector %" PRIu64 ": search budget of %" PRIu64 " steps exceeded (%zu ops)",
			 r->sector, max_steps, m);
	}
	return rc;
}

bool add_check_history(const add_history *h, const add_check_opts *opts, add_check_result *r)
{
	memset(r, 0, sizeof(*r));
	r->culprit = SIZE_MAX;
	uint64_t max_steps = opts && opts->max_steps_per_sector ? opts->max_steps_per_sector
								 : DEFAULT_MAX_STEPS;
	size_t *idx = malloc((h->len ? h->len : 1) * sizeof(*idx));
	if (!idx) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return false;
	}
	for (size_t i = 0; i < h->len; i++)
		idx[i] = i;
	sort_hist = h;
	qsort(idx, h->len, sizeof(*idx), cmp_by_sector);

	scratch s = {0};
	uint64_t *writes = NULL;
	size_t writes_cap = 0;
	int rc = SEARCH_OK;
	bool inconclusive = false;
	char first_budget[512] = "";
	for (size_t i = 0; i < h->len;) {
		size_t j = i;
		while (j < h->len && h->ops[idx[j]].sector == h->ops[idx[i]].sector)
			j++;
		r->sectors++;
		rc = check_sector(h, idx + i, j - i, &s, max_steps, opts ? opts->algorithm : 0, r,
				  &writes, &writes_cap);
		if (rc == SEARCH_BUDGET) {
			/* Keep going: a definite violation elsewhere matters more. */
			if (!inconclusive)
				memcpy(first_budget, r->why, sizeof(first_budget));
			inconclusive = true;
			rc = SEARCH_OK;
		}
		if (rc != SEARCH_OK)
			break;
		i = j;
	}
	if (rc == SEARCH_NOMEM)
		snprintf(r->why, sizeof(r->why), "out of memory while checking");
	if (rc == SEARCH_OK && inconclusive) {
		memcpy(r->why, first_budget, sizeof(r->why));
		r->inconclusive = true;
	}
	r->ok = rc == SEARCH_OK && !inconclusive;
	free(idx);
	free(writes);
	free(s.ops);
	free(s.ents);
	free(s.stack_ent);
	free(s.stack_state);
	free(s.bits);
	memo_free(&s.memo);
	return r->ok;
}

void add_check_result_free(add_check_result *r)
{
	free(r->window);
	r->window = NULL;
	r->window_len = 0;
}

/* ---- minimal witness ------------------------------------------------------ */
static const add_history *dist_hist;
static uint64_t dist_center;

static uint64_t op_distance(const add_hist_op *o)
{
	uint64_t end = add_hist_op_done(o) ? o->response_ns : o->invoke_ns;
	if (end < dist_center)
		return dist_center - end;
	if (o->invoke_ns > dist_center)
		return o->invoke_ns - dist_center;
	return 0;
}

static int cmp_far_first(const void *x, const void *y)
{
	uint64_t a = op_distance(&dist_hist->ops[*(const size_t *)x]);
	uint64_t b = op_distance(&dist_hist->ops[*(const size_t *)y]);
	if (a != b)
		return a > b ? -1 : 1;
	size_t i = *(const size_t *)x, j = *(const size_t *)y;
	return i < j ? -1 : i > j;
}

/* Is the sub-history idx[k] for keep[k] linearizable? */
static bool sub_linearizable(const add_history *h, const size_t *idx, const bool *keep, size_t n,
			     add_history *sub)
{
	add_history_clear(sub);
	for (size_t k = 0; k < n; k++) {
		if (!keep[k])
			continue;
		const add_hist_op *o = &h->ops[idx[k]];
		size_t j = add_history_invoke(sub, o->client, o->node, o->sector, o->kind, o->value,
					      o->invoke_ns);
		if (j == SIZE_MAX)
			return true; /* out of memory: stop minimizing */
		if (add_hist_op_done(o))
			add_history_complete(sub, j, o->value, o->response_ns);
	}
	add_check_result r;
	bool ok = add_check_history(sub, NULL, &r);
	bool conclusive = ok || !r.inconclusive;
	add_check_result_free(&r);
	return ok || !conclusive;
}

size_t add_check_minimize(const add_history *h, uint64_t sector, size_t culprit, size_t max_ops,
			  size_t **out)
{
	*out = NULL;
	size_t n = 0;
	for (size_t i = 0; i < h->len; i++)
		n += h->ops[i].sector == sector;
	if (n == 0 || n > max_ops)
		return 0;
	size_t *idx = malloc(n * sizeof(*idx));
	bool *keep = calloc(n, sizeof(*keep));
	add_history sub;
	add_history_init(&sub);
	if (!idx || !keep) {
		free(idx);
		free(keep);
		return 0;
	}
	n = 0;
	for (size_t i = 0; i < h->len; i++)
		if (h->ops[i].sector == sector)
			idx[n++] = i;
	dist_hist = h;
	dist_center = culprit < h->len ? h->ops[culprit].invoke_ns : 0;
	qsort(idx, n, sizeof(*idx), cmp_far_first);
	for (size_t k = 0; k < n; k++)
		keep[k] = true;
	size_t kept = n;
	if (sub_linearizable(h, idx, keep, n, &sub))
		kept = 0; /* nothing to minimize */
	for (int pass = 0; pass < 3 && kept > 0; pass++) {
		bool changed = false;
		for (size_t k = 0; k < n; k++) {
			if (!keep[k])
				continue;
			const add_hist_op *o = &h->ops[idx[k]];
			bool seen = false;
			for (size_t j = 0; j < n && o->kind == ADD_OP_WRITE && !seen; j++) {
				const add_hist_op *q = &h->ops[idx[j]];
				seen = keep[j] && q->kind == ADD_OP_READ && add_hist_op_done(q) &&
				       q->value == o->value;
			}
			if (seen)
				continue;
			keep[k] = false;
			if (sub_linearizable(h, idx, keep, n, &sub)) {
				keep[k] = true;
			} else {
				kept--;
				changed = true;
			}
		}
		if (!changed)
			break;
	}
	size_t m = 0;
	if (kept > 0) {
		*out = malloc(kept * sizeof(size_t));
		for (size_t k = 0; *out && k < n; k++)
			if (keep[k])
				(*out)[m++] = idx[k];
		if (*out) {
			sort_hist = h;
			qsort(*out, m, sizeof(size_t), cmp_by_invoke);
		}
	}
	add_history_free(&sub);
	free(idx);
	free(keep);
	return m;
}
