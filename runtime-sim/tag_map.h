/*
 * runtime-sim/tag_map: ONE TAG ONE VALUE. Every value that travels under a
 * tag (sector, ts, wr) — in a VALUE or WRITE_PROC on the simulated network,
 * in a store() or repair() a node submits, in the bytes a successful
 * read_data returns for the sector's current tag — must be the same value
 * each time: a tag names one write. The map remembers, per tag, the first
 * value seen (a write id of add_sim_value_decode), where and when, so that a
 * second, different value (for instance zeros sent after a read error, or a
 * tag reused by a writer after a repair lowered it) is caught at the moment
 * it appears.
 *
 * Open addressing, grown by doubling; memory O(distinct tags).
 */
#ifndef ADD_SIM_TAG_MAP_H
#define ADD_SIM_TAG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct add_tag_seen {
	uint64_t value;	  /* write id (add_sim_value_decode) */
	uint64_t at_ns;	  /* first seen */
	uint8_t node;	  /* rank that sent / stored it */
	const char *what; /* "VALUE", "WRITE_PROC", "store", "repair", "read_data" */
} add_tag_seen;

typedef struct add_tag_entry {
	uint64_t sector, ts;
	uint8_t wr;
	bool used;
	add_tag_seen seen;
} add_tag_entry;

typedef struct add_tag_map {
	add_tag_entry *slots;
	size_t cap, len; /* cap: a power of two, or 0 */
} add_tag_map;

void add_tag_map_init(add_tag_map *m);
void add_tag_map_free(add_tag_map *m);
/* Records `seen` for the tag if it is new (returns true), else returns
 * whether the recorded value equals seen->value; *first gets the recorded
 * sighting either way. Aborts when out of memory (a simulator). */
bool add_tag_map_note(add_tag_map *m, uint64_t sector, uint64_t ts, uint8_t wr,
		      const add_tag_seen *seen, add_tag_seen *first);
/* The first sighting of a tag; false if never seen. */
bool add_tag_map_get(const add_tag_map *m, uint64_t sector, uint64_t ts, uint8_t wr,
		     add_tag_seen *out);

#endif /* ADD_SIM_TAG_MAP_H */
