/* DURABLE TAG WENT BACK (runtime-sim): per node and sector, the highest
 * (ts, wr) the node's store reported durable (a store's completion; an ACK
 * or VALUE never reveals more, PROTOCOL checks that) must be <= the tag the
 * store shows after every successful open (get_meta). Legitimate exceptions,
 * exactly:
 *  - a repair() of the sector sets the floor to the repair's tag (a repair
 *    may lower): at its submission to min(floor, its tag) (a repair cut by a
 *    crash may be durable after all), at its completion to its tag;
 *  - a wipe (amnesia) empties the node's floors;
 *  - a sector the store marks damaged after the open is not compared (the
 *    store knows it lost the value; the scrub repairs it);
 *  - at an open that found meta pages bad in both copies (stats
 *    meta_pages_lost: the store lost sectors without knowing which, none
 *    marked damaged; a weakness of the store, not a fault of the model),
 *    the node's floors are re-based to what it shows, not compared;
 *  - after a flip or a read error aimed at a journal file of the node
 *    (timeline `flip`/`read_error` naming journal-a or journal-b; random
 *    rot and random read errors hit only data and meta, storage_faults.c),
 *    an open that reports a torn tail (stats torn_tail) re-bases the
 *    node's floors likewise: a corrupt record of the journal's last batches
 *    is dropped as a torn write, which may lower its sector's tag. A
 *    corrupt record before them is marked damaged (compared otherwise).
 *    Without such a fault, a torn tail only drops batches whose flush was
 *    in flight, never reported durable: compared.
 * Checked with the real sector store only (--store mem: no recovery). */
#ifndef ADD_SIM_DURABLE_FLOOR_H
#define ADD_SIM_DURABLE_FLOOR_H

#include <stdbool.h>
#include <stdint.h>

struct snode;

/* The store reported a store (repair false) or repair (true) durable. */
void sim_floor_durable(struct snode *sn, uint64_t sector, uint64_t ts, uint8_t wr, bool repair);
/* A repair was submitted (it may become durable without its completion). */
void sim_floor_repair_submitted(struct snode *sn, uint64_t sector, uint64_t ts, uint8_t wr);
/* The node's storage was replaced by an empty one. */
void sim_floor_wipe(struct snode *sn);
/* A fault aimed at one of the node's store files. */
void sim_floor_fault(struct snode *sn, const char *file);
/* The store just opened: compare every sector; fails the run (verdict
 * DURABLE TAG WENT BACK) at the first sector below its floor. */
void sim_floor_check(struct snode *sn);
void sim_floor_free(struct snode *sn);

#endif /* ADD_SIM_DURABLE_FLOOR_H */
