/*
 * core/sector_map: sector index -> pointer, an open-addressing hash map
 * (linear probing, backward-shift deletion). It grows by doubling and
 * shrinks when mostly empty, so its memory follows the number of live
 * entries (active registers), never n_sectors.
 */
#ifndef ADD_SECTOR_MAP_H
#define ADD_SECTOR_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct add_sector_map_slot {
	uint64_t key; /* sector + 1; 0 = empty */
	void *value;
} add_sector_map_slot;

typedef struct add_sector_map {
	add_sector_map_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t len;
} add_sector_map;

void add_sector_map_init(add_sector_map *m);
void add_sector_map_free(add_sector_map *m);
void *add_sector_map_get(const add_sector_map *m, uint64_t sector);
/* Inserts a key that is not present. 0, or -1 on allocation failure. */
int add_sector_map_put(add_sector_map *m, uint64_t sector, void *value);
/* Removes a present key. */
void add_sector_map_del(add_sector_map *m, uint64_t sector);

#endif /* ADD_SECTOR_MAP_H */
