/* core/sector_map: see sector_map.h. */
#include <assert.h>
#include <stdlib.h>

#include "mutants.h"
#include "sector_map.h"

#define MAP_CAP_MIN 64

static size_t slot_of(uint64_t key, size_t cap)
{
	/* Fibonacci hashing: consecutive sectors spread over the table. */
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

void add_sector_map_init(add_sector_map *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->len = 0;
}

void add_sector_map_free(add_sector_map *m)
{
	free(m->slots);
	add_sector_map_init(m);
}

void *add_sector_map_get(const add_sector_map *m, uint64_t sector)
{
	uint64_t key = sector + 1;

	if (m->cap == 0)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key)
			return m->slots[i].value;
		if (m->slots[i].key == 0)
			return NULL;
	}
}

static void insert_slot_hashed(add_sector_map_slot *slots, size_t cap, size_t hash_cap,
			       uint64_t key, void *value)
{
	size_t i = slot_of(key, hash_cap) & (cap - 1);

	while (slots[i].key != 0) {
		assert(slots[i].key != key);
		i = (i + 1) & (cap - 1);
	}
	slots[i].key = key;
	slots[i].value = value;
}

static void insert_slot(add_sector_map_slot *slots, size_t cap, uint64_t key, void *value)
{
	insert_slot_hashed(slots, cap, cap, key, value);
}

static int resize(add_sector_map *m, size_t cap)
{
	add_sector_map_slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -1;
	/* the mutant hashes with the old capacity when shrinking (slots of the
	 * new table stay in range: the old slot is masked by the new cap) */
	size_t hash_cap = ADD_MUTANT_ON(ADD_MUTANT_MAP_SHRINK_OLD_CAP) && cap < m->cap ? m->cap : cap;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != 0)
			insert_slot_hashed(slots, cap, hash_cap, m->slots[i].key, m->slots[i].value);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int add_sector_map_put(add_sector_map *m, uint64_t sector, void *value)
{
	assert(value != NULL);
	assert(add_sector_map_get(m, sector) == NULL);
	/* load factor <= 1/2 keeps probes short */
	if ((m->len + 1) * 2 > m->cap && resize(m, m->cap ? m->cap * 2 : MAP_CAP_MIN) != 0)
		return -1;
	insert_slot(m->slots, m->cap, sector + 1, value);
	m->len++;
	return 0;
}

void add_sector_map_del(add_sector_map *m, uint64_t sector)
{
	uint64_t key = sector + 1;
	size_t mask = m->cap - 1, i, j;

	assert(m->cap > 0);
	for (i = slot_of(key, m->cap); m->slots[i].key != key; i = (i + 1) & mask)
		assert(m->slots[i].key != 0);
	/* backward-shift deletion: no tombstones */
	for (j = (i + 1) & mask; m->slots[j].key != 0 && !ADD_MUTANT_ON(ADD_MUTANT_MAP_DEL_NO_SHIFT);
	     j = (j + 1) & mask) {
		size_t home = slot_of(m->slots[j].key, m->cap);

		/* move j into the hole at i unless its home lies in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = 0;
	m->slots[i].value = NULL;
	m->len--;
	/* shrink when at most 1/8 full (a failed shrink is harmless) */
	if (m->cap > MAP_CAP_MIN && m->len * 8 <= m->cap)
		(void)resize(m, m->cap / 2);
}
