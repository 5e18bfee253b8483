/*
 * runtime-sim/memstore: an in-memory model of the store contract
 * (core/store_ops.h) with the crash semantics of a disk: stores become
 * durable only when a flush (group commit) completes; a crash forgets every
 * store not yet durable. For early simulation and for measuring the cost of
 * the real sector store; `addsim --store mem`. The mutants of the sector
 * store (7, 8) live in the real store only.
 */
#ifndef ADD_SIM_MEMSTORE_H
#define ADD_SIM_MEMSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store_ops.h"

typedef struct add_memstore add_memstore;

add_memstore *add_memstore_create(uint64_t n_sectors, void (*on_durable)(void *, uint64_t),
				  void (*on_fatal)(void *, const char *), void *arg);
void add_memstore_destroy(add_memstore *m);
const add_store_ops *add_memstore_ops(void);
/* Starts a flush of everything stored so far if none is in flight. */
void add_memstore_kick(add_memstore *m);
/* A flush is in flight (its completion must be delivered). */
bool add_memstore_flush_pending(const add_memstore *m);
/* The flush in flight completes: its stores are durable (on_durable for
 * each, in order), or, if armed to fail, on_fatal. */
void add_memstore_complete_flush(add_memstore *m);
void add_memstore_fail_next_flush(add_memstore *m);
/* Power cut: only durable stores survive. */
void add_memstore_crash(add_memstore *m);
/* Reopen after a crash (nothing to do: the durable image is the state). */
void add_memstore_recover(add_memstore *m);

#endif /* ADD_SIM_MEMSTORE_H */
