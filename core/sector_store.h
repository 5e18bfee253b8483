/*
 * core/sector_store: durable (data[4096], ts, wr) per sector, atomic per
 * sector, with group commit, over an add_disk.
 *
 * Contract (see also store_ops.h, which this module implements):
 *  - after any crash a sector holds the old triple or the new one, never a
 *    mix; never written = zeros, ts 0, wr 0;
 *  - stores that arrive while a flush runs are made durable together by the
 *    next flush; each store's `on_durable(arg, cookie)` is called only after
 *    it is durable, in submission order; one flush per batch;
 *  - space once idle <= 1.1 * written * 4096 + constant; memory a few tens of
 *    bytes per written sector, independent of n_sectors; recovery O(written);
 *  - a failed flush calls `on_fatal` (the process must stop).
 */
#ifndef ADD_SECTOR_STORE_H
#define ADD_SECTOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"
#include "store_ops.h"

typedef struct add_sector_store add_sector_store;

typedef struct add_sector_store_config {
	const add_disk *disk; /* not owned; must outlive the store */
	uint64_t n_sectors;
	void (*on_durable)(void *arg, uint64_t cookie);
	void (*on_fatal)(void *arg, const char *why);
	void *arg;
} add_sector_store_config;

/* Opens (recovering whatever is on the disk) or creates the store.
 * Returns NULL and fills `err` (a one-line reason) on failure. */
add_sector_store *add_sector_store_open(const add_sector_store_config *cfg, char *err,
					size_t err_len);
void add_sector_store_close(add_sector_store *s);

/* The add_store_ops table; ctx is the add_sector_store *. */
const add_store_ops *add_sector_store_ops(void);

/* Starts the group commit of everything submitted since the last one, if no
 * flush is running (else it starts when that flush completes). A runtime
 * calls it once per event-loop iteration (before sleeping). */
void add_sector_store_kick(add_sector_store *s);

/* True when nothing is pending or in flight. */
bool add_sector_store_idle(const add_sector_store *s);

/* Number of distinct sectors ever written (ts > 0). */
uint64_t add_sector_store_written(const add_sector_store *s);

#endif /* ADD_SECTOR_STORE_H */
