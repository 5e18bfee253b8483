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
#include "io.h"
#include "store_ops.h"
#include "superblock.h"

typedef struct add_sector_store add_sector_store;

typedef struct add_sector_store_config {
	const add_disk *disk; /* not owned; must outlive the store */
	uint64_t n_sectors;
	void (*on_durable)(void *arg, uint64_t cookie);
	void (*on_fatal)(void *arg, const char *why);
	void *arg;
	/* Journal size that triggers a checkpoint (home files flushed, journal
	 * reset); 0 = default (64 MiB). */
	uint64_t journal_max_bytes;
	/* Hard bound on stores accepted but not yet in a running flush; beyond
	 * it store() returns -EAGAIN. 0 = default (16384, about 68 MiB of batch
	 * buffer at most; buffers start small and grow by doubling). */
	uint32_t batch_max;
	/* This process's rank (1..255): written into the superblock at
	 * creation; an existing store of another rank is refused. 0 = unchecked
	 * (tests that do not care), stored as 0. */
	uint8_t rank;
	/* Random bytes from the runtime, used only when the store is created
	 * (cluster identity and incarnation; the core draws no randomness). */
	uint8_t new_identity[ADD_CLUSTER_ID_SIZE];
	/* Log lines (damage at WARN with file, sector and cause; recovery's
	 * summary at INFO). May be NULL. */
	void (*log)(void *arg, add_log_level level, const char *line);
} add_sector_store_config;

/*
 * On disk (four files in the disk's directory):
 *  - "data":    sparse, sector i at offset i * 4096 (home of the data);
 *  - "meta":    one 24-byte checksummed entry (sector, ts, wr) per distinct
 *               written sector, slot j in first-write order (home of ts, wr);
 *  - "journal-a", "journal-b": write-ahead logs, one active at a time. A
 *               batch of stores is appended to the active one as checksummed
 *               records {gen, seq, sector, ts, wr, slot, data} (one pwrite)
 *               and flushed once (sync_async); only then are the stores
 *               reported durable and written home (page cache).
 * Checkpoint (active journal over journal_max_bytes, or
 * add_sector_store_checkpoint() when idle): the other, empty journal becomes
 * active, so group commit goes on, while data and meta are flushed and the
 * old journal is reset to a new generation (and flushed). A torn home write
 * is always covered by a journal, which is reset only after the home files
 * are flushed. Recovery reads meta (O(written)), replays the valid prefix of
 * each journal, older generation first, flushes home and resets both.
 * Under load the journals are recycled (stale records of an older generation
 * are overwritten, not truncated: no allocation on the flush path); an idle
 * checkpoint and close truncate them, so idle disk use is data + meta +
 * two 64-byte headers (about 1.006 x the written sectors).
 *
 * Memory: about 20-35 bytes per written sector (index), plus the two batch
 * buffers (64 records each at first, grown by doubling up to batch_max).
 * on_durable and on_fatal run inside kick() or a disk completion; they may
 * call the store ops and kick(), but must not close the store.
 */

/* Opens (recovering whatever is on the disk) or creates the store.
 * Returns NULL and fills `err` (a one-line reason) on failure. */
add_sector_store *add_sector_store_open(const add_sector_store_config *cfg, char *err,
					size_t err_len);
/* If idle, checkpoints synchronously (journals emptied and truncated) first.
 * Not idle: frees without flushing; stores not yet reported durable may be
 * lost (they were never acknowledged). With a flush in flight the caller must
 * make sure its completion is never delivered (a simulated crash) or drain it
 * first: the completion would find the store freed. */
void add_sector_store_close(add_sector_store *s);

/* The add_store_ops table; ctx is the add_sector_store *. */
const add_store_ops *add_sector_store_ops(void);

/* Starts the group commit of everything submitted since the last one, if no
 * flush is running (else it starts when that flush completes). A runtime
 * calls it once per event-loop iteration (before sleeping). */
void add_sector_store_kick(add_sector_store *s);

/* True when nothing is pending or in flight. (A batch made durable is
 * written home by the next kick(), overlapped with the next batch's flush
 * if there is one; until then the store is not idle.) */
bool add_sector_store_idle(const add_sector_store *s);

/* Number of distinct sectors ever stored (durable or pending). */
uint64_t add_sector_store_written(const add_sector_store *s);

/* If idle and the active journal holds records, starts an asynchronous
 * checkpoint (flush data, flush meta, reset and truncate the journals; three
 * flushes) and returns true; after it, disk use is within the 1.1x bound. If
 * idle with nothing to checkpoint, truncates stale journal space at once and
 * returns false. A runtime calls it when the store has been idle for a while
 * (e.g. one second): doing it at every idle moment would cost three flushes
 * per write at low load. Stores submitted meanwhile go on into the other
 * journal (group commit does not wait for a checkpoint). */
bool add_sector_store_checkpoint(add_sector_store *s);

typedef struct add_sector_store_stats {
	uint64_t journal_flushes; /* batches made durable */
	uint64_t stores_durable;  /* stores reported durable */
	uint64_t checkpoints;
	uint64_t journal_bytes;	  /* bytes of both journals in use (headers too) */
	uint64_t memory_bytes;	  /* index + batch buffers (heap) */
	uint64_t index_bytes;	  /* the per-written-sector part of memory_bytes */
	uint64_t recovered_records; /* journal records replayed at open */
	/* damage (core/store_ops.h): counted when found, never reset */
	uint64_t checksum_mismatches; /* data whose CRC32C did not match */
	uint64_t read_errors;	      /* reads of data that failed (-EIO) */
	uint64_t corrupt_records;     /* bad journal records with valid ones after them */
	uint64_t suspect_sectors;     /* marked damaged by recovery */
	uint64_t repairs;	      /* repair() calls made durable */
	uint64_t damaged_now;	      /* sectors marked damaged at this moment */
	bool torn_tail;		      /* recovery found (and dropped) a torn tail */
} add_sector_store_stats;
void add_sector_store_get_stats(const add_sector_store *s, add_sector_store_stats *out);

/* The superblock read (or written) at open. */
void add_sector_store_identity(const add_sector_store *s, add_superblock *out);

#endif /* ADD_SECTOR_STORE_H */
