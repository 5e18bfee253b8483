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
 */
#ifndef ADD_STORE_OPS_H
#define ADD_STORE_OPS_H

#include <stdint.h>

#include "wire_constants.h"

typedef struct add_store_ops {
	void (*get_meta)(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr);
	/* 0 or -errno */
	int (*read_data)(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE]);
	/* 0 (accepted) or -errno (the node treats it as fatal). */
	int (*store)(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		     const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie);
} add_store_ops;

#endif /* ADD_STORE_OPS_H */
