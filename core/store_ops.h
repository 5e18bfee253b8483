/*
 * core/store_ops: what the node needs from durable sector storage.
 *
 * The real implementation is core/sector_store.h (add_sector_store_ops()); the
 * node's unit tests may use an in-memory fake with the same contract:
 *  - get_meta / read_data are synchronous and reflect every store submitted
 *    so far (durable or not); a never-written sector is ts 0, wr 0, zeros;
 *  - store() is asynchronous: it returns 0 when accepted, then the owner is
 *    told "durable" with the cookie (add_node_on_store_done) strictly later,
 *    never from inside store(); completions come in submission order;
 *    several stores of one sector may be in flight, the last one wins.
 *
 * Damage (a local copy that cannot be trusted):
 *  - a sector is DAMAGED here when its bytes cannot be the bytes stored with
 *    its (ts, wr): a checksum mismatch, a read error, or recovery could not
 *    tell its newest value (a corrupt journal record). get_meta still gives
 *    the highest (ts, wr) known for it (never lower than what was durable),
 *    but its data is unknown: read_data fails and `out` must not be used;
 *  - read_data finding damage marks the sector damaged (durably enough that
 *    a restart finds it again) before it returns -EBADMSG (corrupt) or -EIO
 *    (unreadable); any other negative value is an error the node treats as
 *    fatal. Bytes from a failed read never leave the process;
 *  - store() of a (ts, wr) above get_meta's clears the mark (the new value
 *    supersedes the unknown one); repair() stores a value the node fetched
 *    from other processes unconditionally (its (ts, wr) may be lower than
 *    get_meta's, when the local tag named a value nobody else holds) and
 *    clears the mark. Both are durable exactly like store();
 *  - ts_floor: when repair() lowers a tag whose wr is this process's own
 *    rank, the store durably remembers that ts: this process must never
 *    write a tag (ts', rank) with ts' <= the floor again, since some reader
 *    may still hold the old value under that tag. A writer picks
 *    ts = max(maxts, floor) + 1.
 *  The damage ops are optional (NULL in a store that cannot be damaged): then
 *  no sector is ever damaged, and the floor is 0.
 */
#ifndef ADD_STORE_OPS_H
#define ADD_STORE_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "wire_constants.h"

typedef struct add_store_ops {
	void (*get_meta)(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr);
	/* 0; -EBADMSG / -EIO: damaged (see above); other -errno: fatal. */
	int (*read_data)(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE]);
	/* 0 (accepted) or -errno (the node treats it as fatal). */
	int (*store)(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		     const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie);

	/* --- damage (optional, see above) --- */
	/* True while the sector's local copy is unknown (reflects submitted
	 * stores and repairs, like get_meta). */
	bool (*damaged)(void *ctx, uint64_t sector);
	/* Like store(), unconditionally, clearing the damaged mark. */
	int (*repair)(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		      const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie);
	/* The lowest damaged sector >= from, or UINT64_MAX: lets the node
	 * repair what recovery found without waiting for a client. */
	uint64_t (*next_damaged)(void *ctx, uint64_t from);
	/* The lowest written sector >= from, or UINT64_MAX: a scrub walks
	 * these and verifies each with read_data. */
	uint64_t (*next_written)(void *ctx, uint64_t from);
	/* See ts_floor above. */
	uint64_t (*ts_floor)(void *ctx);
	/* Optional (NULL: not told): the node calls it once a repair() it
	 * submitted for `sector` is durable (core/rejoin.h counts the sector
	 * as re-learned only then). */
	void (*repair_durable)(void *ctx, uint64_t sector);
	/* Optional (NULL: the zeros are stored with repair()): a repair found
	 * that no other process ever wrote the sector (every tag (0, 0)). True
	 * if the store needs nothing written for it and takes it as repaired
	 * at once (core/rejoin.h: a rebuild does not fill the disk with the
	 * never-written sectors). */
	bool (*repair_unwritten)(void *ctx, uint64_t sector);
} add_store_ops;

#endif /* ADD_STORE_OPS_H */
