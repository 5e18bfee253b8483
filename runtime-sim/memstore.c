/* runtime-sim/memstore: see memstore.h. */
#include "memstore.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
	uint64_t ts;
	uint8_t wr;
	uint8_t *data; /* NULL: zeros */
} slot;

typedef struct pending {
	uint64_t sector, ts, cookie;
	uint8_t wr;
	uint8_t *data;
} pending;

struct add_memstore {
	uint64_t n_sectors;
	slot *cur, *durable;
	pending *pend;
	size_t n_pend, cap_pend, batch; /* pend[0..batch) are being flushed */
	bool inflight, fail_next;
	void (*on_durable)(void *, uint64_t);
	void (*on_fatal)(void *, const char *);
	void *arg;
};

add_memstore *add_memstore_create(uint64_t n_sectors, void (*on_durable)(void *, uint64_t),
				  void (*on_fatal)(void *, const char *), void *arg)
{
	add_memstore *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->n_sectors = n_sectors;
	m->cur = calloc(n_sectors, sizeof(slot));
	m->durable = calloc(n_sectors, sizeof(slot));
	if (!m->cur || !m->durable) {
		free(m->cur);
		free(m->durable);
		free(m);
		return NULL;
	}
	m->on_durable = on_durable;
	m->on_fatal = on_fatal;
	m->arg = arg;
	return m;
}

static void drop_pending(add_memstore *m)
{
	for (size_t i = 0; i < m->n_pend; i++)
		free(m->pend[i].data);
	m->n_pend = m->batch = 0;
	m->inflight = false;
}

void add_memstore_destroy(add_memstore *m)
{
	if (!m)
		return;
	drop_pending(m);
	free(m->pend);
	for (uint64_t s = 0; s < m->n_sectors; s++) {
		if (m->cur[s].data != m->durable[s].data)
			free(m->cur[s].data);
		free(m->durable[s].data);
	}
	free(m->cur);
	free(m->durable);
	free(m);
}

static void get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	add_memstore *m = ctx;
	assert(sector < m->n_sectors);
	*ts = m->cur[sector].ts;
	*wr = m->cur[sector].wr;
}

static int read_data(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE])
{
	add_memstore *m = ctx;
	assert(sector < m->n_sectors);
	if (m->cur[sector].data)
		memcpy(out, m->cur[sector].data, ADD_SECTOR_SIZE);
	else
		memset(out, 0, ADD_SECTOR_SIZE);
	return 0;
}

static int store(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		 const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	add_memstore *m = ctx;
	if (sector >= m->n_sectors)
		return -EINVAL;
	if (m->n_pend == m->cap_pend) {
		size_t cap = m->cap_pend ? m->cap_pend * 2 : 64;
		pending *p = realloc(m->pend, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->pend = p;
		m->cap_pend = cap;
	}
	uint8_t *copy = malloc(ADD_SECTOR_SIZE);
	uint8_t *cur = m->cur[sector].data == m->durable[sector].data ? malloc(ADD_SECTOR_SIZE)
								      : m->cur[sector].data;
	if (!copy || !cur) {
		free(copy);
		if (cur != m->cur[sector].data)
			free(cur);
		return -ENOMEM;
	}
	memcpy(copy, data, ADD_SECTOR_SIZE);
	memcpy(cur, data, ADD_SECTOR_SIZE);
	m->cur[sector] = (slot){.ts = ts, .wr = wr, .data = cur};
	m->pend[m->n_pend++] = (pending){
		.sector = sector, .ts = ts, .cookie = cookie, .wr = wr, .data = copy};
	return 0;
}

const add_store_ops *add_memstore_ops(void)
{
	static const add_store_ops ops = {
		.get_meta = get_meta, .read_data = read_data, .store = store};
	return &ops;
}

void add_memstore_kick(add_memstore *m)
{
	if (m->inflight || m->n_pend == 0)
		return;
	m->inflight = true;
	m->batch = m->n_pend;
}

bool add_memstore_flush_pending(const add_memstore *m)
{
	return m->inflight;
}

void add_memstore_complete_flush(add_memstore *m)
{
	if (!m->inflight)
		return;
	if (m->fail_next) {
		m->fail_next = false;
		m->inflight = false;
		m->on_fatal(m->arg, "flush failed (injected)");
		return;
	}
	size_t batch = m->batch;
	for (size_t i = 0; i < batch; i++) {
		pending *p = &m->pend[i];
		slot *d = &m->durable[p->sector];
		free(d->data == m->cur[p->sector].data ? NULL : d->data);
		d->data = p->data;
		d->ts = p->ts;
		d->wr = p->wr;
		p->data = NULL;
	}
	/* Callbacks after the state is consistent; they never re-enter us. */
	uint64_t cookies[256];
	size_t done = 0;
	while (done < batch) {
		size_t k = 0;
		for (; k < 256 && done + k < batch; k++)
			cookies[k] = m->pend[done + k].cookie;
		done += k;
		for (size_t i = 0; i < k; i++)
			m->on_durable(m->arg, cookies[i]);
	}
	memmove(m->pend, m->pend + batch, (m->n_pend - batch) * sizeof(*m->pend));
	m->n_pend -= batch;
	m->batch = 0;
	m->inflight = false;
}

void add_memstore_fail_next_flush(add_memstore *m)
{
	m->fail_next = true;
}

void add_memstore_crash(add_memstore *m)
{
	drop_pending(m);
	m->fail_next = false;
	for (uint64_t s = 0; s < m->n_sectors; s++) {
		if (m->cur[s].data != m->durable[s].data)
			free(m->cur[s].data);
		m->cur[s] = m->durable[s];
	}
}

void add_memstore_recover(add_memstore *m)
{
	(void)m;
}
