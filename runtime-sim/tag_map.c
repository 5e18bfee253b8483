/* runtime-sim/tag_map: the first value seen under each (sector, ts, wr).
 * See tag_map.h. */
#include "tag_map.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void add_tag_map_init(add_tag_map *m)
{
	memset(m, 0, sizeof(*m));
}

void add_tag_map_free(add_tag_map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static uint64_t tag_hash(uint64_t sector, uint64_t ts, uint8_t wr)
{
	uint64_t h = sector * 0x9e3779b97f4a7c15ull ^ (ts + 0x632be59bd9b4e019ull) * 0xff51afd7ed558ccdull;
	h ^= (uint64_t)wr << 56;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static add_tag_entry *find(const add_tag_map *m, uint64_t sector, uint64_t ts, uint8_t wr)
{
	if (m->cap == 0)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = tag_hash(sector, ts, wr) & mask;; i = (i + 1) & mask) {
		add_tag_entry *e = &m->slots[i];
		if (!e->used || (e->sector == sector && e->ts == ts && e->wr == wr))
			return e;
	}
}

static void grow(add_tag_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	add_tag_entry *old = m->slots;
	size_t old_cap = m->cap;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		fprintf(stderr, "addsim: out of memory (tag map of %zu entries)\n", cap);
		abort();
	}
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*find(m, old[i].sector, old[i].ts, old[i].wr) = old[i];
	free(old);
}

bool add_tag_map_note(add_tag_map *m, uint64_t sector, uint64_t ts, uint8_t wr,
		      const add_tag_seen *seen, add_tag_seen *first)
{
	if ((m->len + 1) * 2 > m->cap)
		grow(m);
	add_tag_entry *e = find(m, sector, ts, wr);
	assert(e != NULL);
	if (!e->used) {
		*e = (add_tag_entry){.sector = sector, .ts = ts, .wr = wr, .used = true, .seen = *seen};
		m->len++;
		*first = *seen;
		return true;
	}
	*first = e->seen;
	return e->seen.value == seen->value;
}

bool add_tag_map_get(const add_tag_map *m, uint64_t sector, uint64_t ts, uint8_t wr,
		     add_tag_seen *out)
{
	const add_tag_entry *e = find(m, sector, ts, wr);
	if (!e || !e->used)
		return false;
	*out = e->seen;
	return true;
}
