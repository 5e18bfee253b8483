/*
 * core/sector_store: durable (data[4096], ts, wr) per sector, atomic per
 * sector, with group commit, over an add_disk. It never lies: the bytes it
 * returns for a tag are the bytes stored with that tag, or it says the
 * sector is damaged.
 *
 * Contract (see also store_ops.h, which this module implements, damage ops
 * included):
 *  - after any crash a sector holds the old triple or the new one, never a
 *    mix; never written = zeros, ts 0, wr 0;
 *  - INVARIANT 1: across any sequence of crashes, crashes inside recovery
 *    included, a sector's durable (ts, wr) never decreases (the one
 *    exception is repair(), which may lower it on purpose, and is then
 *    never undone);
 *  - INVARIANT 2: read_data returns exactly the bytes stored with the
 *    sector's (ts, wr) (CRC32C of the 4096 bytes kept with the tag in meta
 *    and in memory, checked on every read from the data file); otherwise the
 *    sector is DAMAGED ("unknown here": -EBADMSG or -EIO), never other bytes;
 *  - INVARIANT 3: every anomaly is reported: a WARN line through cfg.log
 *    naming the file, the offset or sector and the cause, and a count in
 *    add_sector_store_stats; recovery says what it did in one INFO line;
 *  - group commit: the stores submitted between two kicks are one batch,
 *    one journal write and one flush; a batch that closes while a flush
 *    runs gets its own flush at once, up to 2 journal flushes in flight
 *    (more batches wait for a free one); each store's `on_durable(arg,
 *    cookie)` is called only after it is durable, in submission order (a
 *    later flush that completes first waits for the earlier ones);
 *  - space once idle <= 1.1 * written * 4096 + constant; memory a few tens of
 *    bytes per written sector (about 31), independent of n_sectors; recovery
 *    O(written + journal);
 *  - a failed write or flush calls `on_fatal` with "sector store: <op>
 *    <file> at <offset>: <errno text>" (the process must stop); open fails
 *    with such a line in `err`.
 *
 * Device assumptions (named as SQLite names device characteristics):
 *  - NOT assumed: atomic or power-safe overwrite of anything. A write in
 *    flight at a power cut may leave any mix of old bytes, new bytes and
 *    garbage in the blocks it covers, at 512-byte granularity or coarser
 *    (devices of 512 B .. 4 KiB sectors), and nothing outside them;
 *  - NOT assumed: write ordering without a flush;
 *  - assumed: a completed flush (sync / sync_async, fdatasync) makes every
 *    write that returned before it durable; rename is atomic and sync_dir
 *    makes directory operations durable (the superblock's kv_store relies
 *    on both);
 *  - assumed: bytes at rest may rot or become unreadable (detected by the
 *    checksums, never repaired silently).
 * Hence: no write ever touches a 4 KiB block holding an acknowledged record
 * or the current copy of a meta page; every checksummed unit is 4 KiB
 * aligned, so a torn write damages only blocks of the write in flight.
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
	/* Journal flushes in flight at once (1..2); 0 = default (2). 1 is the
	 * one-flush-at-a-time group commit (benchmarks compare the two). */
	uint32_t journal_flights;
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
 * On disk (in the disk's directory; layout ADD_SUPERBLOCK_FORMAT = 2):
 *  - the superblock (core/superblock.h, its own files): format, rank,
 *    n_sectors, cluster id, incarnation, ts_floor. Written at creation,
 *    rewritten to resize or raise ts_floor. Its cluster id seeds every
 *    block checksum below, so sector data can never pass for a store block;
 *  - "data":    sparse, sector i at offset i * 4096 (home of the data);
 *  - "meta":    4 KiB pages of 168 entries {sector, flags (used, damaged,
 *               unreadable), wr, ts, data crc}, slot j in first-home-write
 *               order; page p has two copies (blocks 2p, 2p + 1), each with
 *               magic, page number, sequence number and a CRC32C. Pages are
 *               written only at a checkpoint (and by recovery), rebuilt from
 *               the in-memory index, into the copy that is NOT current; it
 *               becomes current once meta is flushed. A torn page write
 *               leaves the other copy whole; recovery takes the valid copy
 *               with the highest seq and rewrites a bad copy;
 *  - "journal-a", "journal-b": write-ahead logs, one active at a time.
 *               Block 0 is a header (magic, generation, version; twice in
 *               the block). Then chunks, each starting on a 4 KiB block: a
 *               descriptor block {magic, gen, seq, batch_first,
 *               batch_chunks, count, per record sector/ts/wr/flags/data crc,
 *               crc}, `count` (<= 169) data blocks, and a trailer (the
 *               descriptor again), so one bad block does not lose which
 *               sectors a chunk held. A batch of stores is one or more
 *               chunks appended with one pwrite past the last acknowledged
 *               block and flushed once (sync_async); only then are the
 *               stores reported durable and written home (data in the page
 *               cache, tags in the index; meta pages marked dirty). Each
 *               descriptor also names the first seq of the oldest batch
 *               whose flush was still in flight when it was written
 *               (flight_back; 0 = none), which recovery uses below.
 * Checkpoint (active journal over journal_max_bytes, or
 * add_sector_store_checkpoint() when idle): the other, empty journal becomes
 * active, so group commit goes on, while the dirty meta pages are written,
 * data and meta flushed, and the old journal reset to a new generation (and
 * flushed). Generations: an empty journal has a generation above the
 * active one; a reset takes max + 1; so records are ordered by generation,
 * then seq. A torn home write is always covered by a journal, which is
 * reset only after the home files are flushed.
 *
 * Recovery: meta into the index (O(written)), then each journal, older
 * generation first: its chunks in seq order (descriptor, else trailer).
 * Where the chain stops, the rest of the file is scanned for chunks of the
 * same generation. A batch may be torn only if its flush may have been in
 * flight at the crash: if no chunk written after it names, as the oldest
 * batch then in flight, one after it. With 2 flushes in flight that is one
 * of the last 2 batches. A bad chunk of any other batch is corruption (the
 * open is refused: which sectors it held is lost); a bad chunk of one that
 * may be torn is a torn tail: it and every chunk after it are dropped
 * (none was acknowledged: completions are reported in order). A bad record
 * (data) of a batch that may be torn is dropped (torn) too. Records
 * apply so that no sector goes back: per sector the highest (ts, wr) wins
 * across meta and every record; repair records (flagged) apply in order. A
 * corrupt record (bad data crc) before the last batch whose tag is the
 * newest known marks its sector damaged (suspect) under that tag. Sectors
 * of a meta page with a bad copy that no record replaced are checked
 * against their data crc. Then settle: dirty pages written (damage marks
 * included), data and meta flushed, and the journals reset, the OLDER
 * generation first (a crash between the two resets leaves only the newer
 * journal, which replays harmlessly). Recovery writes home only what the
 * journals hold; a full disk fails it with "disk full" in the message.
 *
 * Open: a directory with none of the files creates the store (files, then
 * the superblock, then journal-a by rename); a creation cut short (no
 * journal-a, empty meta) is done again. Refused, with a one-line reason: a
 * store missing some of its files (named), an old-format store (files
 * without a superblock), another rank's store, a size below a written
 * sector ("sectors A..B hold data"). A larger n_sectors grows the store.
 * Existing data is never re-created over, meta never truncated.
 *
 * Known limits (rot at rest, not crashes; each is reported):
 *  - rot in one of the last 2 batches of a journal (one whose flush may
 *    have been in flight, as above) looks like a torn write: its bad
 *    records are dropped (torn tail, INFO), so the sector shows its previous
 *    value; rot in an earlier batch is corruption;
 *  - rot of the current copy of a meta page: the other (older) copy is used;
 *    sectors whose data changed since are marked damaged, but under the
 *    older tag (lower than the durable one); both copies bad: the page's
 *    sectors are known again only if a journal holds them (WARN);
 *  - an unreadable header of a journal holding records, or a bad
 *    superblock, refuses the open.
 *
 * Memory: about 31 bytes per written sector (index 18, hash table, sorted
 * set of written sectors, meta page state), plus four batch buffers (the
 * filling one, two in flight, one durable not yet home; 16 records each at
 * first, each grown by doubling up to batch_max).
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
	uint64_t flights_max;	  /* most journal flushes in flight at once so far */
	uint64_t flights_waited;  /* flushes that completed before an earlier one */
	uint64_t stores_durable;  /* stores reported durable */
	uint64_t checkpoints;
	uint64_t checkpoints_started;
	bool checkpoint_running;  /* a checkpoint's flushes are in flight now */
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
	/* meta pages the last open found bad in both copies: which sectors
	 * they held is lost (none of them is marked damaged) */
	uint64_t meta_pages_lost;
	bool torn_tail;		      /* recovery found (and dropped) a torn tail */
} add_sector_store_stats;
void add_sector_store_get_stats(const add_sector_store *s, add_sector_store_stats *out);

/* The superblock read (or written) at open. */
void add_sector_store_identity(const add_sector_store *s, add_superblock *out);

#endif /* ADD_SECTOR_STORE_H */
