/* runtime-sim/evq: binary heap of events by (time, seq). See evq.h. */
#include "evq.h"

#include <assert.h>
#include <stdlib.h>

static inline bool before(const add_sim_event *x, const add_sim_event *y)
{
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns;
	return x->seq < y->seq;
}

void add_evq_init(add_evq *q)
{
	q->heap = NULL;
	q->len = q->cap = 0;
	q->next_seq = 0;
}

void add_evq_free(add_evq *q)
{
	free(q->heap);
	add_evq_init(q);
}

bool add_evq_push(add_evq *q, const add_sim_event *ev)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		add_sim_event *h = realloc(q->heap, cap * sizeof(*h));
		if (!h)
			return false;
		q->heap = h;
		q->cap = cap;
	}
	size_t i = q->len++;
	add_sim_event e = *ev;
	e.seq = q->next_seq++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &q->heap[parent]))
			break;
		q->heap[i] = q->heap[parent];
		i = parent;
	}
	q->heap[i] = e;
	return true;
}

bool add_evq_pop(add_evq *q, add_sim_event *out)
{
	if (q->len == 0)
		return false;
	*out = q->heap[0];
	add_sim_event last = q->heap[--q->len];
	size_t i = 0, n = q->len;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const add_sim_event *best = &last;
		if (l < n && before(&q->heap[l], best)) {
			m = l;
			best = &q->heap[l];
		}
		if (r < n && before(&q->heap[r], best))
			m = r;
		if (m == i)
			break;
		q->heap[i] = q->heap[m];
		i = m;
	}
	if (n > 0)
		q->heap[i] = last;
	assert(q->len == 0 || !before(&q->heap[0], out));
	return true;
}

const add_sim_event *add_evq_peek(const add_evq *q)
{
	return q->len ? &q->heap[0] : NULL;
}
