/*
 * core/sector_store: (data, ts, wr) per sector over an add_disk, with a
 * write-ahead journal and group commit. The file layout and the crash
 * argument are in sector_store.h; the memory layout is here:
 *
 *  - index: slot arrays in first-write order (sector u32, ts u64, wr u8 =
 *    13 bytes per written sector, grown by doubling) and an open-addressing
 *    table of u32 slot numbers keyed by sector (load <= 0.7). About 20 to 35
 *    bytes per written sector, never sized by n_sectors;
 *  - two batch buffers (the one filling, the one being flushed), each a run
 *    of journal records exactly as written to the journal, so a batch is one
 *    pwrite; allocated once, grown by doubling up to batch_max, reused. Each
 *    has a small hash sector -> latest record (entries tagged with an epoch,
 *    so emptying a batch is O(1)), which makes pending stores readable.
 */
#include "sector_store.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "mutants.h"

#define SECTOR ADD_SECTOR_SIZE

#define META_ENTRY_SIZE 24u
#define META_CRC_OFF 20u

#define JOURNAL_MAGIC 0x4844444au /* "JDDH" little-endian: journal header */
#define RECORD_MAGIC 0x5244444au  /* "JDDR": journal record */
#define JOURNAL_VERSION 1u
#define JHDR_SIZE 64u
#define JREC_HDR_SIZE 64u
#define JREC_SIZE (JREC_HDR_SIZE + SECTOR)

#define JOURNAL_MAX_DEFAULT (64ull << 20)
#define BATCH_MAX_DEFAULT 16384u
#define BATCH_INITIAL 64u
#define RECOVERY_CHUNK_RECORDS 256u
#define RECOVERY_CHUNK_ENTRIES 65536u

#define NO_SECTOR UINT32_MAX /* a slot whose meta entry was unreadable */

/* The checkpoint of the inactive journal (see start_checkpoint). */
enum ckpt_state {
	CK_NONE, /* none running: the inactive journal is empty */
	CK_DATA, /* data flush running */
	CK_META, /* meta flush running */
	CK_RESET /* flush of the reset (inactive) journal running */
};

typedef struct batch_hash_entry {
	uint32_t idx;
	uint32_t epoch;
} batch_hash_entry;

typedef struct batch {
	uint8_t *recs; /* cap * JREC_SIZE */
	uint64_t *cookies;
	uint64_t *sectors;
	batch_hash_entry *hash; /* 2 * cap entries */
	uint32_t epoch;		/* entries of other epochs are empty */
	size_t n, cap;
} batch;

typedef struct journal {
	int h;
	uint64_t gen;	   /* generation of its header and records */
	uint64_t next_seq; /* seq of its next record */
	uint64_t size;	   /* append offset; JHDR_SIZE = empty */
} journal;

struct add_sector_store {
	add_sector_store_config cfg;
	const add_disk *disk;
	int h_data, h_meta;

	/* index */
	uint32_t *buckets; /* slot + 1; 0 = empty */
	size_t n_buckets;  /* power of two */
	uint32_t *slot_sector;
	uint64_t *slot_ts;
	uint8_t *slot_wr;
	size_t n_slots, cap_slots;
	uint64_t written;

	/* journals: batches go to j[aj]; j[1 - aj] is empty or being
	 * checkpointed. An empty journal has the highest generation. */
	journal j[2];
	int aj;
	enum ckpt_state ck;
	bool ck_trim; /* the running checkpoint truncates the journal files */
	uint64_t journal_max;
	uint32_t batch_max;

	batch b[2];
	int open;      /* index of the batch that is filling */
	bool flushing;	/* a journal flush of b[1 - open] is running */
	bool unapplied; /* b[1 - open] is durable, not yet written home */
	bool reporting; /* on_durable callbacks running: advance() waits */
	bool fatal;
	add_sector_store_stats stats;
};

/* ---- little-endian encoding ---- */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- fatal errors ---- */

static void store_fatal(add_sector_store *s, const char *why)
{
	if (s->fatal)
		return;
	s->fatal = true;
	if (s->cfg.on_fatal)
		s->cfg.on_fatal(s->cfg.arg, why);
}

/* ---- index ---- */

static size_t hash_sector(uint64_t sector, size_t mask)
{
	return (size_t)((sector * 0x9e3779b97f4a7c15ull) >> 20) & mask;
}

/* Returns the slot of `sector`, or -1. */
static int64_t index_find(const add_sector_store *s, uint64_t sector)
{
	size_t mask = s->n_buckets - 1;

	for (size_t i = hash_sector(sector, mask);; i = (i + 1) & mask) {
		uint32_t v = s->buckets[i];

		if (v == 0)
			return -1;
		if (s->slot_sector[v - 1] == sector)
			return v - 1;
	}
}

static void index_bucket_put(add_sector_store *s, uint64_t sector, uint32_t slot)
{
	size_t mask = s->n_buckets - 1;
	size_t i = hash_sector(sector, mask);

	while (s->buckets[i] != 0)
		i = (i + 1) & mask;
	s->buckets[i] = slot + 1;
}

static int index_rehash(add_sector_store *s, size_t n_buckets)
{
	uint32_t *nb = calloc(n_buckets, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	free(s->buckets);
	s->buckets = nb;
	s->n_buckets = n_buckets;
	for (size_t j = 0; j < s->n_slots; j++)
		if (s->slot_sector[j] != NO_SECTOR)
			index_bucket_put(s, s->slot_sector[j], (uint32_t)j);
	return 0;
}

/* Makes room for slot `n_slots` (and its bucket). */
static int index_reserve(add_sector_store *s, size_t n_slots)
{
	if (n_slots > s->cap_slots) {
		size_t cap = s->cap_slots ? s->cap_slots : 1024;

		while (cap < n_slots)
			cap *= 2;
		uint32_t *sec = realloc(s->slot_sector, cap * sizeof(*sec));

		if (!sec)
			return -ENOMEM;
		s->slot_sector = sec;
		uint64_t *ts = realloc(s->slot_ts, cap * sizeof(*ts));

		if (!ts)
			return -ENOMEM;
		s->slot_ts = ts;
		uint8_t *wr = realloc(s->slot_wr, cap);

		if (!wr)
			return -ENOMEM;
		s->slot_wr = wr;
		s->cap_slots = cap;
	}
	if (n_slots * 10 > s->n_buckets * 7) {
		size_t nb = s->n_buckets;

		while (n_slots * 10 > nb * 7)
			nb *= 2;
		return index_rehash(s, nb);
	}
	return 0;
}

/* Appends a slot for `sector` (not in the index). Returns it or -errno. */
static int64_t index_add(add_sector_store *s, uint64_t sector, uint64_t ts, uint8_t wr)
{
	int rc = index_reserve(s, s->n_slots + 1);

	if (rc < 0)
		return rc;
	size_t j = s->n_slots++;

	s->slot_sector[j] = (uint32_t)sector;
	s->slot_ts[j] = ts;
	s->slot_wr[j] = wr;
	index_bucket_put(s, sector, (uint32_t)j);
	s->written++;
	return (int64_t)j;
}

/* ---- batches ---- */

static void batch_free(batch *b)
{
	free(b->recs);
	free(b->cookies);
	free(b->sectors);
	free(b->hash);
	memset(b, 0, sizeof(*b));
}

static int batch_grow(batch *b, size_t cap)
{
	uint8_t *recs = realloc(b->recs, cap * JREC_SIZE);

	if (!recs)
		return -ENOMEM;
	b->recs = recs;
	uint64_t *cookies = realloc(b->cookies, cap * sizeof(*cookies));

	if (!cookies)
		return -ENOMEM;
	b->cookies = cookies;
	uint64_t *sectors = realloc(b->sectors, cap * sizeof(*sectors));

	if (!sectors)
		return -ENOMEM;
	b->sectors = sectors;
	batch_hash_entry *hash = calloc(2 * cap, sizeof(*hash));

	if (!hash)
		return -ENOMEM;
	free(b->hash);
	b->hash = hash;
	b->cap = cap;
	b->epoch = 1;
	for (size_t i = 0; i < b->n; i++) {
		size_t mask = 2 * cap - 1, k = hash_sector(b->sectors[i], mask);

		while (b->hash[k].epoch == b->epoch &&
		       b->sectors[b->hash[k].idx] != b->sectors[i])
			k = (k + 1) & mask;
		b->hash[k] = (batch_hash_entry){ .idx = (uint32_t)i, .epoch = b->epoch };
	}
	return 0;
}

/* The latest record of `sector` in the batch, or -1. */
static int64_t batch_find(const batch *b, uint64_t sector)
{
	if (b->n == 0)
		return -1;
	size_t mask = 2 * b->cap - 1;

	for (size_t k = hash_sector(sector, mask); b->hash[k].epoch == b->epoch;
	     k = (k + 1) & mask)
		if (b->sectors[b->hash[k].idx] == sector)
			return b->hash[k].idx;
	return -1;
}

static void batch_index(batch *b, size_t i)
{
	size_t mask = 2 * b->cap - 1, k = hash_sector(b->sectors[i], mask);

	while (b->hash[k].epoch == b->epoch && b->sectors[b->hash[k].idx] != b->sectors[i])
		k = (k + 1) & mask;
	b->hash[k] = (batch_hash_entry){ .idx = (uint32_t)i, .epoch = b->epoch };
}

static void batch_clear(batch *b)
{
	b->n = 0;
	if (++b->epoch == 0) {
		memset(b->hash, 0, 2 * b->cap * sizeof(*b->hash));
		b->epoch = 1;
	}
}

/* ---- on-disk encodings ---- */

static void meta_encode(uint8_t e[META_ENTRY_SIZE], uint64_t sector, uint64_t ts, uint8_t wr)
{
	memset(e, 0, META_ENTRY_SIZE);
	put_u64(e, sector);
	put_u64(e + 8, ts);
	e[16] = wr;
	put_u32(e + META_CRC_OFF, add_crc32c(0, e, META_CRC_OFF));
}

static bool meta_decode(const uint8_t e[META_ENTRY_SIZE], uint64_t *sector, uint64_t *ts,
			uint8_t *wr)
{
	if (get_u32(e + META_CRC_OFF) != add_crc32c(0, e, META_CRC_OFF))
		return false;
	*sector = get_u64(e);
	*ts = get_u64(e + 8);
	*wr = e[16];
	return true;
}

static void jhdr_encode(uint8_t h[JHDR_SIZE], uint64_t gen)
{
	memset(h, 0, JHDR_SIZE);
	put_u32(h, JOURNAL_MAGIC);
	put_u64(h + 8, gen);
	put_u32(h + 16, JOURNAL_VERSION);
	put_u32(h + 4, add_crc32c(0, h + 8, JHDR_SIZE - 8));
}

static bool jhdr_decode(const uint8_t h[JHDR_SIZE], uint64_t *gen)
{
	if (get_u32(h) != JOURNAL_MAGIC || get_u32(h + 16) != JOURNAL_VERSION ||
	    get_u32(h + 4) != add_crc32c(0, h + 8, JHDR_SIZE - 8))
		return false;
	*gen = get_u64(h + 8);
	return true;
}

/* Record header: magic, crc (of bytes 8.. and the data), gen, seq, sector,
 * ts, slot, wr. The data follows. */
static void jrec_seal(uint8_t *r, uint64_t gen, uint64_t seq)
{
	put_u32(r, RECORD_MAGIC);
	put_u64(r + 8, gen);
	put_u64(r + 16, seq);
	put_u32(r + 4, add_crc32c(0, r + 8, JREC_SIZE - 8));
}

typedef struct jrec {
	uint64_t sector, ts;
	uint32_t slot;
	uint8_t wr;
	const uint8_t *data;
} jrec;

static bool jrec_decode(const add_sector_store *s, const uint8_t *r, uint64_t gen, uint64_t seq,
			jrec *out)
{
	if (get_u32(r) != RECORD_MAGIC || get_u64(r + 8) != gen || get_u64(r + 16) != seq)
		return false;
	if (get_u32(r + 4) != add_crc32c(0, r + 8, JREC_SIZE - 8))
		return false;
	out->sector = get_u64(r + 24);
	out->ts = get_u64(r + 32);
	out->slot = get_u32(r + 40);
	out->wr = r[44];
	out->data = r + JREC_HDR_SIZE;
	return out->sector < s->cfg.n_sectors && out->slot < s->cfg.n_sectors;
}

/* ---- home writes ---- */

static int write_meta_slot(add_sector_store *s, size_t slot, uint64_t sector, uint64_t ts,
			   uint8_t wr)
{
	uint8_t e[META_ENTRY_SIZE];

	meta_encode(e, sector, ts, wr);
	int64_t rc = s->disk->pwrite(s->disk->ctx, s->h_meta, e, sizeof(e),
				     (uint64_t)slot * META_ENTRY_SIZE);
	return rc < 0 ? (int)rc : 0;
}

static int write_home(add_sector_store *s, uint64_t sector, uint32_t slot, uint64_t ts,
		      uint8_t wr, const uint8_t *data)
{
	int64_t rc = s->disk->pwrite(s->disk->ctx, s->h_data, data, SECTOR, sector * SECTOR);

	if (rc < 0)
		return (int)rc;
	return write_meta_slot(s, slot, sector, ts, wr);
}

#define META_RUN_MAX 256

/* Writes a flushed batch home (page cache): one pwrite per record into
 * data; meta entries of consecutive slots (the first writes of new sectors,
 * which take slots in order) in one pwrite. Order is kept: a record never
 * overtakes an earlier one of its slot. */
static int write_batch_home(add_sector_store *s, const batch *b)
{
	uint8_t run[META_RUN_MAX * META_ENTRY_SIZE];
	size_t run_len = 0;
	uint64_t run_slot = 0;
	int64_t rc;

	for (size_t i = 0; i <= b->n; i++) {
		const uint8_t *r = b->recs + i * JREC_SIZE;
		uint32_t slot = i < b->n ? get_u32(r + 40) : 0;

		if (run_len > 0 && (i == b->n || slot != run_slot + run_len ||
				    run_len == META_RUN_MAX)) {
			rc = s->disk->pwrite(s->disk->ctx, s->h_meta, run,
					     run_len * META_ENTRY_SIZE, run_slot * META_ENTRY_SIZE);
			if (rc < 0)
				return (int)rc;
			run_len = 0;
		}
		if (i == b->n)
			break;
		uint64_t sector = get_u64(r + 24);

		rc = s->disk->pwrite(s->disk->ctx, s->h_data, r + JREC_HDR_SIZE, SECTOR,
				     sector * SECTOR);
		if (rc < 0)
			return (int)rc;
		if (run_len == 0)
			run_slot = slot;
		meta_encode(run + run_len * META_ENTRY_SIZE, sector, get_u64(r + 32), r[44]);
		run_len++;
	}
	return 0;
}

/* ---- group commit and checkpoints ---- */

static const char *const JOURNAL_NAME[2] = { "journal-a", "journal-b" };

static void flush_done(void *arg, int result);
static void ckpt_done(void *arg, int result);

static bool journal_empty(const journal *j)
{
	return j->size <= JHDR_SIZE;
}

/* A new, empty generation for journal `idx`: header (gen above both), and
 * the records cut off if `trim` (else left to be overwritten: appends to
 * allocated blocks make cheaper flushes; stale records carry an older
 * generation and are ignored). The caller flushes it before any record is
 * written over the old ones: a crash could otherwise leave the old header
 * with a valid prefix of the old records, whose replay would put older
 * values over newer home ones. */
static int journal_reset(add_sector_store *s, int idx, bool trim)
{
	journal *j = &s->j[idx];
	uint8_t h[JHDR_SIZE];
	int64_t rc;

	j->gen = (s->j[0].gen > s->j[1].gen ? s->j[0].gen : s->j[1].gen) + 1;
	jhdr_encode(h, j->gen);
	rc = s->disk->pwrite(s->disk->ctx, j->h, h, sizeof(h), 0);
	if (rc < 0)
		return (int)rc;
	if (trim && (rc = s->disk->truncate(s->disk->ctx, j->h, JHDR_SIZE)) < 0)
		return (int)rc;
	j->size = JHDR_SIZE;
	j->next_seq = 0;
	return 0;
}

/* Writes the durable batch b[1 - open] home and empties it. */
static void apply_durable(add_sector_store *s)
{
	batch *b = &s->b[1 - s->open];

	assert(s->unapplied && !s->flushing);
	if (write_batch_home(s, b) < 0) {
		store_fatal(s, "sector store: home write failed");
		return;
	}
	batch_clear(b);
	s->unapplied = false;
}

/*
 * Appends the open batch to the active journal and starts its flush; then,
 * while that flush runs, writes the previous (durable) batch home: the home
 * writes' CPU time overlaps the flush instead of delaying the next batch.
 */
static void start_flush(add_sector_store *s)
{
	batch *b = &s->b[s->open];
	journal *j = &s->j[s->aj];

	assert(!s->flushing && b->n > 0 && !s->fatal);
	for (size_t i = 0; i < b->n; i++)
		jrec_seal(b->recs + i * JREC_SIZE, j->gen, j->next_seq + i);
	int64_t rc = s->disk->pwrite(s->disk->ctx, j->h, b->recs, b->n * JREC_SIZE, j->size);

	if (rc < 0) {
		store_fatal(s, "sector store: journal write failed");
		return;
	}
	j->next_seq += b->n;
	j->size += b->n * JREC_SIZE;
#if !ADD_MUTANT_ON(ADD_MUTANT_STORE_SKIP_FLUSH)
	/* Its completion comes later, from the event loop (disk.h), when the
	 * state below is in place. */
	if (s->disk->sync_async(s->disk->ctx, j->h, flush_done, s) < 0) {
		store_fatal(s, "sector store: journal flush could not start");
		return;
	}
#endif
	if (s->unapplied) {
		apply_durable(s);
		if (s->fatal)
			return;
	}
	s->open = 1 - s->open;
	assert(s->b[s->open].n == 0);
	s->flushing = true;
#if ADD_MUTANT_ON(ADD_MUTANT_STORE_SKIP_FLUSH)
	flush_done(s, 0); /* the bug: durable without a flush */
#endif
}

/*
 * Checkpoint: the active journal becomes inactive (its records are all home
 * already, in the page cache) and batches go on into the other, empty one;
 * meanwhile data and meta are flushed, then the old journal is reset and
 * flushed. Group commit never waits for a checkpoint, unless the active
 * journal reaches twice its bound first.
 */
static void start_checkpoint(add_sector_store *s, bool trim)
{
	assert(!s->flushing && !s->unapplied && s->ck == CK_NONE && !s->fatal);
	assert(journal_empty(&s->j[1 - s->aj]));
	s->aj = 1 - s->aj;
	s->ck = CK_DATA;
	s->ck_trim = trim;
	/* The new active journal may hold stale records of its last life. */
	if (trim && s->disk->truncate(s->disk->ctx, s->j[s->aj].h, JHDR_SIZE) < 0) {
		store_fatal(s, "sector store: journal truncate failed");
		return;
	}
	if (s->disk->sync_async(s->disk->ctx, s->h_data, ckpt_done, s) < 0)
		store_fatal(s, "sector store: data flush could not start");
}

/*
 * Starts whatever can start now: a checkpoint (after the last batch is
 * home), the next batch. A durable batch not yet home is written home with
 * the next flush (overlapped), or here if `idle_apply` and there is none:
 * a flush completion passes false, as stores usually follow before the
 * runtime's next kick().
 */
static void advance(add_sector_store *s, bool idle_apply)
{
	if (s->fatal || s->flushing || s->reporting)
		return;
	if (s->ck == CK_NONE && s->j[s->aj].size > s->journal_max) {
		if (s->unapplied)
			apply_durable(s);
		if (!s->fatal)
			start_checkpoint(s, false);
	}
	if (s->fatal)
		return;
	if (s->b[s->open].n > 0 && s->j[s->aj].size <= 2 * s->journal_max)
		start_flush(s);
	else if (s->unapplied && idle_apply)
		apply_durable(s);
}

static void flush_done(void *arg, int result)
{
	add_sector_store *s = arg;
	batch *b = &s->b[1 - s->open];

	assert(s->flushing && !s->unapplied);
	if (result < 0) {
		store_fatal(s, "sector store: journal flush failed (data may be lost)");
		return;
	}
	s->stats.journal_flushes++;
	s->flushing = false;
	s->unapplied = true; /* stays readable until written home */
	/* Durable now: report in submission order. Stores the callbacks submit
	 * go to the open batch; a kick() from them waits for the loop's end
	 * (it could otherwise write this batch home and empty it under us). */
	s->reporting = true;
	for (size_t i = 0; i < b->n; i++) {
		s->stats.stores_durable++;
		if (s->cfg.on_durable)
			s->cfg.on_durable(s->cfg.arg, b->cookies[i]);
	}
	s->reporting = false;
	advance(s, false);
}

static void ckpt_done(void *arg, int result)
{
	add_sector_store *s = arg;
	int old = 1 - s->aj;
	int rc = 0;

	if (result < 0) {
		store_fatal(s, "sector store: checkpoint flush failed");
		return;
	}
	switch (s->ck) {
	case CK_DATA:
		s->ck = CK_META;
		rc = s->disk->sync_async(s->disk->ctx, s->h_meta, ckpt_done, s);
		break;
	case CK_META:
		rc = journal_reset(s, old, s->ck_trim);
		if (rc < 0)
			break;
		s->ck = CK_RESET;
		rc = s->disk->sync_async(s->disk->ctx, s->j[old].h, ckpt_done, s);
		break;
	case CK_RESET:
		s->stats.checkpoints++;
		s->ck = CK_NONE;
		advance(s, false);
		return;
	default:
		assert(0 && "checkpoint completion without a checkpoint");
		return;
	}
	if (rc < 0)
		store_fatal(s, "sector store: checkpoint failed");
}

/* ---- the store ops ---- */

static void ss_get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	add_sector_store *s = ctx;
	int64_t slot = sector < s->cfg.n_sectors ? index_find(s, sector) : -1;

	*ts = slot < 0 ? 0 : s->slot_ts[slot];
	*wr = slot < 0 ? 0 : s->slot_wr[slot];
}

static int ss_read_data(void *ctx, uint64_t sector, uint8_t out[SECTOR])
{
	add_sector_store *s = ctx;

	if (sector >= s->cfg.n_sectors)
		return -EINVAL;
	for (int k = 0; k < 2; k++) {
		/* The filling batch holds the newest values, then the flushing one. */
		const batch *b = &s->b[k == 0 ? s->open : 1 - s->open];
		int64_t i = batch_find(b, sector);

		if (i >= 0) {
			memcpy(out, b->recs + (size_t)i * JREC_SIZE + JREC_HDR_SIZE, SECTOR);
			return 0;
		}
	}
	if (index_find(s, sector) < 0) {
		memset(out, 0, SECTOR);
		return 0;
	}
	int64_t n = s->disk->pread(s->disk->ctx, s->h_data, out, SECTOR, sector * SECTOR);

	if (n < 0)
		return (int)n;
	memset(out + n, 0, SECTOR - (size_t)n);
	return 0;
}

static int ss_store(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		    const uint8_t data[SECTOR], uint64_t cookie)
{
	add_sector_store *s = ctx;
	batch *b = &s->b[s->open];
	int64_t slot;

	if (s->fatal)
		return -EIO;
	if (sector >= s->cfg.n_sectors)
		return -EINVAL;
	if (b->n == b->cap) {
		if (b->cap >= s->batch_max)
			return -EAGAIN;
		size_t cap = b->cap * 2 > s->batch_max ? s->batch_max : b->cap * 2;

		if (batch_grow(b, cap) < 0)
			return -ENOMEM;
	}
	slot = index_find(s, sector);
	if (slot < 0) {
		slot = index_add(s, sector, ts, wr);
		if (slot < 0)
			return (int)slot;
	}
	s->slot_ts[slot] = ts;
	s->slot_wr[slot] = wr;

	size_t i = b->n++;
	uint8_t *r = b->recs + i * JREC_SIZE;

	memset(r, 0, JREC_HDR_SIZE);
	put_u64(r + 24, sector);
	put_u64(r + 32, ts);
	put_u32(r + 40, (uint32_t)slot);
	r[44] = wr;
	memcpy(r + JREC_HDR_SIZE, data, SECTOR);
	b->cookies[i] = cookie;
	b->sectors[i] = sector;
	batch_index(b, i);
	return 0;
}

static const add_store_ops sector_store_ops = {
	.get_meta = ss_get_meta,
	.read_data = ss_read_data,
	.store = ss_store,
};

const add_store_ops *add_sector_store_ops(void)
{
	return &sector_store_ops;
}

void add_sector_store_kick(add_sector_store *s)
{
	advance(s, true);
}

bool add_sector_store_idle(const add_sector_store *s)
{
	return !s->flushing && !s->unapplied && s->ck == CK_NONE && s->b[s->open].n == 0;
}

uint64_t add_sector_store_written(const add_sector_store *s)
{
	return s->written;
}

bool add_sector_store_checkpoint(add_sector_store *s)
{
	if (s->fatal || !add_sector_store_idle(s))
		return false;
	if (journal_empty(&s->j[s->aj])) {
		/* Nothing to make durable; cut stale records off (space). A lost
		 * truncate is harmless: stale records are ignored. */
		for (int k = 0; k < 2; k++) {
			int64_t size = s->disk->size(s->disk->ctx, s->j[k].h);

			if (size > (int64_t)JHDR_SIZE &&
			    s->disk->truncate(s->disk->ctx, s->j[k].h, JHDR_SIZE) < 0)
				store_fatal(s, "sector store: journal truncate failed");
		}
		return false;
	}
	start_checkpoint(s, true);
	return true;
}

void add_sector_store_get_stats(const add_sector_store *s, add_sector_store_stats *out)
{
	*out = s->stats;
	out->journal_bytes = s->j[0].size + s->j[1].size;
	out->index_bytes = s->n_buckets * sizeof(*s->buckets) +
			   s->cap_slots * (sizeof(*s->slot_sector) + sizeof(*s->slot_ts) +
					   sizeof(*s->slot_wr));
	out->memory_bytes = sizeof(*s) + out->index_bytes;
	for (int k = 0; k < 2; k++)
		out->memory_bytes += s->b[k].cap * (JREC_SIZE + 2 * sizeof(uint64_t) +
						    2 * sizeof(batch_hash_entry));
}

/* ---- open, recovery, close ---- */

static void set_err(char *err, size_t err_len, const char *msg)
{
	if (err && err_len > 0)
		snprintf(err, err_len, "%s", msg);
}

/* Reads meta into the index: O(written). Unreadable entries become holes
 * (their sector, if it matters, is in the journal). */
static int recover_meta(add_sector_store *s)
{
	int64_t size = s->disk->size(s->disk->ctx, s->h_meta);

	if (size < 0)
		return (int)size;
	size_t n = ((size_t)size + META_ENTRY_SIZE - 1) / META_ENTRY_SIZE;
	uint8_t *buf = malloc((size_t)RECOVERY_CHUNK_ENTRIES * META_ENTRY_SIZE);
	int rc = index_reserve(s, n);

	if (!buf || rc < 0) {
		free(buf);
		return -ENOMEM;
	}
	for (size_t j0 = 0; j0 < n; j0 += RECOVERY_CHUNK_ENTRIES) {
		size_t m = n - j0 < RECOVERY_CHUNK_ENTRIES ? n - j0 : RECOVERY_CHUNK_ENTRIES;
		size_t want = m * META_ENTRY_SIZE;
		int64_t got = s->disk->pread(s->disk->ctx, s->h_meta, buf, want,
					     (uint64_t)j0 * META_ENTRY_SIZE);

		if (got < 0) {
			free(buf);
			return (int)got;
		}
		memset(buf + got, 0, want - (size_t)got);
		for (size_t k = 0; k < m; k++) {
			uint64_t sector, ts;
			uint8_t wr;
			size_t j = j0 + k;

			s->slot_sector[j] = NO_SECTOR;
			s->n_slots = j + 1;
			if (!meta_decode(buf + k * META_ENTRY_SIZE, &sector, &ts, &wr) ||
			    sector >= s->cfg.n_sectors)
				continue;
			int64_t dup = index_find(s, sector);

			if (dup >= 0) {
				/* Should not happen; keep the newer, blank the other. */
				size_t lose = j;

				if (ts > s->slot_ts[dup] ||
				    (ts == s->slot_ts[dup] && wr > s->slot_wr[dup])) {
					s->slot_ts[dup] = ts;
					s->slot_wr[dup] = wr;
				}
				uint8_t zero[META_ENTRY_SIZE] = { 0 };

				if (s->disk->pwrite(s->disk->ctx, s->h_meta, zero, sizeof(zero),
						    (uint64_t)lose * META_ENTRY_SIZE) < 0) {
					free(buf);
					return -EIO;
				}
				continue;
			}
			s->slot_sector[j] = (uint32_t)sector;
			s->slot_ts[j] = ts;
			s->slot_wr[j] = wr;
			index_bucket_put(s, sector, (uint32_t)j);
			s->written++;
		}
	}
	free(buf);
	return 0;
}

/* Applies one replayed record home and to the index. */
static int replay_record(add_sector_store *s, const jrec *r)
{
	int64_t slot = index_find(s, r->sector);

	if (slot < 0) {
		/* Its meta entry never became durable: take the slot the record
		 * names, unless something else sits there (then a new one). */
		if (r->slot >= s->n_slots) {
			int rc = index_reserve(s, (size_t)r->slot + 1);

			if (rc < 0)
				return rc;
			while (s->n_slots <= r->slot)
				s->slot_sector[s->n_slots++] = NO_SECTOR;
		}
		if (s->slot_sector[r->slot] == NO_SECTOR) {
			slot = r->slot;
			s->slot_sector[slot] = (uint32_t)r->sector;
			index_bucket_put(s, r->sector, (uint32_t)slot);
			s->written++;
		} else {
			slot = index_add(s, r->sector, r->ts, r->wr);
			if (slot < 0)
				return (int)slot;
		}
	}
	s->slot_ts[slot] = r->ts;
	s->slot_wr[slot] = r->wr;
	return write_home(s, r->sector, (uint32_t)slot, r->ts, r->wr, r->data);
}

/* Reads journal `idx`'s header: its generation, or false if unreadable. */
static int read_journal_header(add_sector_store *s, int idx, bool *ok)
{
	uint8_t h[JHDR_SIZE];
	int64_t got = s->disk->pread(s->disk->ctx, s->j[idx].h, h, sizeof(h), 0);

	if (got < 0)
		return (int)got;
	*ok = got == (int64_t)sizeof(h) && jhdr_decode(h, &s->j[idx].gen);
	return 0;
}

/* Replays journal `idx`'s valid prefix; returns records replayed or -errno. */
static int64_t replay_journal(add_sector_store *s, int idx)
{
	const journal *j = &s->j[idx];
	uint64_t replayed = 0;
	int64_t got;
	uint8_t *buf = malloc((size_t)RECOVERY_CHUNK_RECORDS * JREC_SIZE);

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = JHDR_SIZE, seq = 0;;) {
		got = s->disk->pread(s->disk->ctx, j->h, buf,
				     (size_t)RECOVERY_CHUNK_RECORDS * JREC_SIZE, off);
		if (got < 0) {
			free(buf);
			return got;
		}
		size_t n = (size_t)got / JREC_SIZE;
		size_t k;

		for (k = 0; k < n; k++, seq++) {
			jrec r;

			if (!jrec_decode(s, buf + k * JREC_SIZE, j->gen, seq, &r))
				break;
			int rc = replay_record(s, &r);

			if (rc < 0) {
				free(buf);
				return rc;
			}
			replayed++;
		}
		if (k < RECOVERY_CHUNK_RECORDS)
			break; /* a bad record (torn, stale, never flushed), or the end */
		off += (uint64_t)n * JREC_SIZE;
	}
	free(buf);
	return (int64_t)replayed;
}

static int open_file(add_sector_store *s, const char *name, int *h)
{
	*h = s->disk->open(s->disk->ctx, name, true);
	return *h < 0 ? *h : 0;
}

/* Fresh store: empty files, journal headers (a: gen 1, active; b: gen 2,
 * empty), all durable. "journal-a" appears last, by rename: its presence
 * says "a store exists here". */
static int create_files(add_sector_store *s)
{
	int rc;

	if ((rc = open_file(s, "data", &s->h_data)) < 0 ||
	    (rc = open_file(s, "meta", &s->h_meta)) < 0 ||
	    (rc = open_file(s, JOURNAL_NAME[1], &s->j[1].h)) < 0 ||
	    (rc = open_file(s, "journal-a.new", &s->j[0].h)) < 0)
		return rc;
	/* An empty meta is an empty store, whatever "data" holds: data is not
	 * truncated, so a runtime may preallocate it (contiguous blocks). */
	if ((rc = s->disk->truncate(s->disk->ctx, s->h_meta, 0)) < 0)
		return rc;
	s->j[0].gen = s->j[1].gen = 0;
	if ((rc = journal_reset(s, 0, true)) < 0 || (rc = journal_reset(s, 1, true)) < 0)
		return rc;
	if ((rc = s->disk->sync(s->disk->ctx, s->h_data)) < 0 ||
	    (rc = s->disk->sync(s->disk->ctx, s->h_meta)) < 0 ||
	    (rc = s->disk->sync(s->disk->ctx, s->j[0].h)) < 0 ||
	    (rc = s->disk->sync(s->disk->ctx, s->j[1].h)) < 0)
		return rc;
	if ((rc = s->disk->rename(s->disk->ctx, "journal-a.new", JOURNAL_NAME[0])) < 0 ||
	    (rc = s->disk->sync_dir(s->disk->ctx)) < 0)
		return rc;
	s->aj = 0;
	return 0;
}

/* Home files flushed, then both journals reset (trimmed) and flushed, one
 * after the other: at any crash in between, a journal holds all of its
 * records (all home and flushed: replaying them is harmless) or none. */
static int settle(add_sector_store *s)
{
	int rc;

	if ((rc = s->disk->sync(s->disk->ctx, s->h_data)) < 0 ||
	    (rc = s->disk->sync(s->disk->ctx, s->h_meta)) < 0)
		return rc;
	for (int k = 0; k < 2; k++)
		if ((rc = journal_reset(s, k, true)) < 0 ||
		    (rc = s->disk->sync(s->disk->ctx, s->j[k].h)) < 0)
			return rc;
	s->aj = 0; /* j[1] was reset last: the empty one has the highest gen */
	return 0;
}

static int recover(add_sector_store *s, char *err, size_t err_len)
{
	bool ok[2] = { false, false };
	int rc;

	bool created_b = false;

	/* "data" and "meta" are durable before "journal-a" exists (creation). */
	s->h_data = s->disk->open(s->disk->ctx, "data", false);
	s->h_meta = s->disk->open(s->disk->ctx, "meta", false);
	s->j[1].h = s->disk->open(s->disk->ctx, JOURNAL_NAME[1], false);
	if (s->j[1].h == -ENOENT) {
		created_b = true;
		s->j[1].h = s->disk->open(s->disk->ctx, JOURNAL_NAME[1], true);
	}
	if (s->h_data < 0 || s->h_meta < 0 || s->j[1].h < 0) {
		set_err(err, err_len, "sector store: cannot open data, meta or journal-b");
		return -EIO;
	}
	rc = recover_meta(s);
	if (rc < 0) {
		set_err(err, err_len, "sector store: cannot read meta");
		return rc;
	}
	for (int k = 0; k < 2; k++) {
		if ((rc = read_journal_header(s, k, &ok[k])) < 0) {
			set_err(err, err_len, "sector store: cannot read a journal");
			return rc;
		}
		if (!ok[k]) {
			/* A torn header (creation or reset): its journal needs no
			 * replay, but it may hold stale records whose generation
			 * is unknown: cut them off for good before going on. */
			s->j[k].gen = 0;
			if ((rc = s->disk->truncate(s->disk->ctx, s->j[k].h, 0)) < 0 ||
			    (rc = s->disk->sync(s->disk->ctx, s->j[k].h)) < 0) {
				set_err(err, err_len, "sector store: cannot reset a journal");
				return rc;
			}
		}
	}
	/* Older generation first: its records precede the other's. */
	int first = s->j[0].gen <= s->j[1].gen ? 0 : 1;

	for (int n = 0, k = first; n < 2; n++, k = 1 - k) {
		if (!ok[k] || ADD_MUTANT_ON(ADD_MUTANT_RECOVERY_IGNORES_JOURNAL))
			continue; /* (the mutant: the journal ignored) */
		int64_t replayed = replay_journal(s, k);

		if (replayed < 0) {
			set_err(err, err_len, "sector store: journal replay failed");
			return (int)replayed;
		}
		s->stats.recovered_records += (uint64_t)replayed;
	}
	if ((rc = settle(s)) < 0 || (created_b && (rc = s->disk->sync_dir(s->disk->ctx)) < 0)) {
		set_err(err, err_len, "sector store: flush after recovery failed");
		return rc;
	}
	return 0;
}

add_sector_store *add_sector_store_open(const add_sector_store_config *cfg, char *err,
					size_t err_len)
{
	add_sector_store *s;
	int rc;

	if (!cfg || !cfg->disk || cfg->n_sectors == 0 || cfg->n_sectors >= NO_SECTOR) {
		set_err(err, err_len, "sector store: bad config (n_sectors must be 1..2^32-2)");
		return NULL;
	}
	add_crc32c_init();
	s = calloc(1, sizeof(*s));
	if (!s) {
		set_err(err, err_len, "sector store: out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	s->disk = cfg->disk;
	s->h_data = s->h_meta = s->j[0].h = s->j[1].h = -1;
	s->journal_max = cfg->journal_max_bytes ? cfg->journal_max_bytes : JOURNAL_MAX_DEFAULT;
	s->batch_max = cfg->batch_max ? cfg->batch_max : BATCH_MAX_DEFAULT;
	if (s->batch_max < BATCH_INITIAL)
		s->batch_max = BATCH_INITIAL;
	if (index_rehash(s, 1024) < 0 || batch_grow(&s->b[0], BATCH_INITIAL) < 0 ||
	    batch_grow(&s->b[1], BATCH_INITIAL) < 0) {
		set_err(err, err_len, "sector store: out of memory");
		goto fail;
	}
	s->j[0].h = s->disk->open(s->disk->ctx, JOURNAL_NAME[0], false);
	if (s->j[0].h == -ENOENT) {
		rc = create_files(s);
		if (rc < 0) {
			set_err(err, err_len, "sector store: cannot create files");
			goto fail;
		}
	} else if (s->j[0].h < 0) {
		set_err(err, err_len, "sector store: cannot open journal");
		goto fail;
	} else if (recover(s, err, err_len) < 0) {
		goto fail;
	}
	return s;
fail:
	s->fatal = true; /* no flushing on the way out */
	add_sector_store_close(s);
	return NULL;
}

void add_sector_store_close(add_sector_store *s)
{
	if (!s)
		return;
	/* Idle but for a durable batch not yet home: write it home. Idle: leave
	 * the journals empty and trimmed. Best effort, and quiet (no on_fatal):
	 * after a failure (or a simulated crash, which kills the handles) the
	 * journals are still there for recovery to replay. */
	if (!s->fatal && !s->flushing && s->unapplied &&
	    write_batch_home(s, &s->b[1 - s->open]) == 0) {
		batch_clear(&s->b[1 - s->open]);
		s->unapplied = false;
	}
	if (!s->fatal && add_sector_store_idle(s))
		(void)settle(s);
	if (s->h_data >= 0)
		s->disk->close(s->disk->ctx, s->h_data);
	if (s->h_meta >= 0)
		s->disk->close(s->disk->ctx, s->h_meta);
	for (int k = 0; k < 2; k++)
		if (s->j[k].h >= 0)
			s->disk->close(s->disk->ctx, s->j[k].h);
	batch_free(&s->b[0]);
	batch_free(&s->b[1]);
	free(s->buckets);
	free(s->slot_sector);
	free(s->slot_ts);
	free(s->slot_wr);
	free(s);
}
