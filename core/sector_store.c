/*
 * core/sector_store: (data, ts, wr) per sector over an add_disk, with a
 * write-ahead journal, group commit and a CRC32C per sector. The file
 * layout, the device assumptions and the crash argument are in
 * sector_store.h; the memory layout is here:
 *
 *  - index: slot arrays in first-home-write order (sector u32, ts u64, wr
 *    u8, flags u8, data crc u32 = 18 bytes per written sector, grown by
 *    doubling), an open-addressing table of u32 slot numbers keyed by
 *    sector (load <= 0.7), and the sorted set of written sectors (u32 each,
 *    plus a small unsorted tail) for next_written. The index holds what is
 *    written home (applied); the batches hold what is newer;
 *  - per meta page (168 slots): its sequence number, which copy is current
 *    and a dirty bit;
 *  - NBATCH batch buffers in a ring, in submission order: at most one
 *    durable batch not yet written home, up to FLIGHTS_MAX batches whose
 *    journal flush is in flight (oldest first), then the one filling. Each
 *    is laid out exactly as its journal chunks (descriptor, data blocks,
 *    trailer), so a batch is one pwrite; allocated once, grown by doubling
 *    up to batch_max, reused. Each has a small hash sector -> latest record
 *    (entries tagged with an epoch, so emptying a batch is O(1)), which
 *    makes pending stores readable.
 */
#include "sector_store.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "errno_text.h"
#include "mutants.h"

#define SECTOR ADD_SECTOR_SIZE
#define BLK 4096u

/* journal: header block, then chunks; chunk = descriptor block, `count`
 * data blocks, trailer block (a copy of the descriptor). */
#define JHDR_MAGIC 0x3248444au	 /* "JDH2" */
#define DESC_MAGIC 0x3244444au	 /* "JDD2" */
#define TRAIL_MAGIC 0x3254444au	 /* "JDT2" */
#define JOURNAL_VERSION 2u
#define JHDR_COPY2 2048u /* second copy of the header inside block 0 */
#define JHDR_LEN 64u
#define DESC_HDR 32u
#define DESC_ENTRY 24u
#define REC_PER_CHUNK 169u /* (4096 - 32) / 24 */
#define CHUNK_BLOCKS (REC_PER_CHUNK + 2u)

/* meta: page p's two copies at blocks 2p and 2p + 1. */
#define META_MAGIC 0x3254454du /* "MET2" */
#define META_HDR 32u
#define META_ENTRY 24u
#define META_PER_PAGE 168u /* (4096 - 32) / 24 */
#define PAGE_NEW 2u	   /* page_cur: no copy written yet */

/* slot / entry / record flags */
#define F_USED 0x01u	 /* meta entry in use (on disk only) */
#define F_DAMAGED 0x02u	 /* data unknown here (persisted) */
#define F_EIO 0x04u	 /* ... because it could not be read (persisted) */
#define F_VERIFY 0x08u	 /* recovery: check the data's crc (memory only) */
#define F_SUSPECT 0x10u	 /* recovery marked it (memory only) */
#define F_REPAIR 0x20u	 /* journal record: a repair (applied in order) */
#define F_PERSIST (F_DAMAGED | F_EIO)

#define JOURNAL_MAX_DEFAULT (64ull << 20)
#define BATCH_MAX_DEFAULT 16384u
#define BATCH_INITIAL 16u
#define RECENT_MAX 1024u
#define META_READ_PAGES 256u
#define SCAN_BLOCKS CHUNK_BLOCKS
/* Journal flushes in flight at once: a batch that closes while one runs is
 * written and flushed at once; completions are reported in order. */
#define FLIGHTS_MAX 2
#define NBATCH (FLIGHTS_MAX + 2) /* + the durable one not yet home + the open one */

#define NO_SECTOR UINT32_MAX /* a slot holding no sector */

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
	uint8_t *buf; /* chunk layout: see rec_block() */
	uint64_t *cookies;
	uint64_t *sectors;
	uint64_t *ts;
	uint32_t *crc;
	uint8_t *wr;
	uint8_t *flags; /* F_REPAIR */
	batch_hash_entry *hash; /* 2 * cap entries */
	uint32_t epoch;		/* entries of other epochs are empty */
	size_t n, cap;
} batch;

/* The completion argument of one batch's journal flush. */
typedef struct flight {
	struct add_sector_store *s;
	int idx;	    /* its batch, b[idx] */
	bool done;	    /* its flush completed (successfully) */
	bool reported;	    /* its stores were reported durable */
	uint32_t first_seq; /* seq of its first chunk */
} flight;

typedef struct journal {
	int h;
	uint64_t gen;	   /* generation of its header and chunks */
	uint32_t next_seq; /* seq of its next chunk */
	uint64_t size;	   /* append offset; BLK = empty */
} journal;

struct add_sector_store {
	add_sector_store_config cfg;
	const add_disk *disk;
	int h_data, h_meta;
	add_superblock sb;
	uint32_t seed; /* crc seed: the cluster id (no forged blocks) */

	/* index */
	uint32_t *buckets; /* slot + 1; 0 = empty */
	size_t n_buckets;  /* power of two */
	uint32_t *slot_sector;
	uint64_t *slot_ts;
	uint32_t *slot_crc;
	uint8_t *slot_wr;
	uint8_t *slot_flags;
	size_t n_slots, cap_slots;

	/* written sectors (sorted) + recent additions (unsorted) */
	uint32_t *ws;
	size_t ws_n, ws_cap;
	uint32_t recent[RECENT_MAX];
	size_t recent_n;

	/* meta pages */
	uint64_t *page_seq;
	uint8_t *page_cur, *page_dirty;
	size_t cap_pages;
	uint32_t *ck_pages; /* pages the running checkpoint wrote */
	size_t ck_n, ck_cap;

	/* journals: batches go to j[aj]; j[1 - aj] is empty or being
	 * checkpointed. An empty journal has the highest generation. */
	journal j[2];
	int aj;
	enum ckpt_state ck;
	bool ck_trim; /* the running checkpoint truncates the journal files */
	uint64_t journal_max;
	uint32_t batch_max;
	int flights; /* journal flushes allowed in flight, 1..FLIGHTS_MAX */

	/* Ring of batches, oldest first: b[first] .. : n_unapplied (0 or 1)
	 * durable but not yet home, then n_flying with a journal flush in
	 * flight (all in the active journal), then the open one (filling). */
	batch b[NBATCH];
	flight fl[NBATCH];
	int first;
	int n_unapplied;
	int n_flying;
	bool reporting; /* on_durable callbacks running: advance() waits */
	bool fatal;
	bool opening; /* inside open: errors go to `why`, not on_fatal */
	char why[256]; /* the fatal error */
	add_sector_store_stats stats;
};

static const char *const JOURNAL_NAME[2] = { "journal-a", "journal-b" };

/* ---- little-endian encoding ---- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

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

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static bool tag_gt(uint64_t ts, uint8_t wr, uint64_t ts2, uint8_t wr2)
{
	return ts > ts2 || (ts == ts2 && wr > wr2);
}

/* ---- log lines and errors ---- */

static void slog(const add_sector_store *s, add_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void slog(const add_sector_store *s, add_log_level level, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	if (!s->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->cfg.log(s->cfg.arg, level, line);
}

static const char *etext(int e)
{
	static char buf[32]; /* single-threaded core (io.h) */

	return add_errno_text(e, buf, sizeof(buf));
}

static const char *full_hint(int e)
{
	return (e == -ENOSPC || e == ENOSPC || e == -EDQUOT || e == EDQUOT)
		       ? " (disk full: free space, then restart)"
		       : "";
}

static void store_fatal(add_sector_store *s, const char *why)
{
	if (s->fatal)
		return;
	s->fatal = true;
	snprintf(s->why, sizeof(s->why), "%s", why);
	if (s->opening)
		return; /* open reports it through its err */
	slog(s, ADD_LOG_ERROR, "%s", why);
	if (s->cfg.on_fatal)
		s->cfg.on_fatal(s->cfg.arg, why);
}

/* "sector store: <op> <file> at <off>: <errno text>" and fatal. */
static void io_fatal(add_sector_store *s, const char *op, const char *file, uint64_t off, int rc)
{
	char why[200];

	snprintf(why, sizeof(why), "sector store: %s %s at %llu: %s%s", op, file,
		 (unsigned long long)off, etext(rc), full_hint(rc));
	store_fatal(s, why);
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err || err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
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

/* Puts slot (whose slot_sector is set) under `sector` unless the sector
 * is there already: then returns that slot (nothing put), else -1. One
 * probe sequence for both. */
static int64_t index_put_unique(add_sector_store *s, uint64_t sector, uint32_t slot)
{
	size_t mask = s->n_buckets - 1;

	for (size_t i = hash_sector(sector, mask);; i = (i + 1) & mask) {
		uint32_t v = s->buckets[i];

		if (v == 0) {
			s->buckets[i] = slot + 1;
			return -1;
		}
		if (v - 1 != slot && s->slot_sector[v - 1] == sector)
			return v - 1;
	}
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

#define GROW(arr, cap)                                                   \
	do {                                                             \
		void *p_ = realloc((arr), (cap) * sizeof(*(arr)));       \
		if (!p_)                                                 \
			return -ENOMEM;                                  \
		(arr) = p_;                                              \
	} while (0)

static int pages_reserve(add_sector_store *s, size_t n_pages)
{
	if (n_pages <= s->cap_pages)
		return 0;
	size_t cap = s->cap_pages ? s->cap_pages : 8;

	while (cap < n_pages)
		cap *= 2;
	GROW(s->page_seq, cap);
	GROW(s->page_cur, cap);
	GROW(s->page_dirty, cap);
	for (size_t p = s->cap_pages; p < cap; p++) {
		s->page_seq[p] = 0;
		s->page_cur[p] = PAGE_NEW;
		s->page_dirty[p] = 0;
	}
	s->cap_pages = cap;
	return 0;
}

/* Makes room for `n_slots` slots (and their buckets and pages). */
static int index_reserve(add_sector_store *s, size_t n_slots)
{
	if (n_slots > s->cap_slots) {
		size_t cap = s->cap_slots ? s->cap_slots : 1024;

		while (cap < n_slots)
			cap *= 2;
		GROW(s->slot_sector, cap);
		GROW(s->slot_ts, cap);
		GROW(s->slot_crc, cap);
		GROW(s->slot_wr, cap);
		GROW(s->slot_flags, cap);
		s->cap_slots = cap;
	}
	int rc = pages_reserve(s, (n_slots + META_PER_PAGE - 1) / META_PER_PAGE);

	if (rc < 0)
		return rc;
	if (n_slots * 10 > s->n_buckets * 7) {
		size_t nb = s->n_buckets;

		while (n_slots * 10 > nb * 7)
			nb *= 2;
		return index_rehash(s, nb);
	}
	return 0;
}

static void mark_dirty(add_sector_store *s, size_t slot)
{
	assert(slot < s->n_slots && slot / META_PER_PAGE < s->cap_pages);
	s->page_dirty[slot / META_PER_PAGE] = 1;
}

/* Appends a slot for `sector` (not in the index). Returns it or -errno. */
static int64_t index_add(add_sector_store *s, uint64_t sector)
{
	assert(sector < NO_SECTOR && index_find(s, sector) < 0);
	int rc = index_reserve(s, s->n_slots + 1);

	if (rc < 0)
		return rc;
	size_t j = s->n_slots++;

	s->slot_sector[j] = (uint32_t)sector;
	s->slot_ts[j] = 0;
	s->slot_wr[j] = 0;
	s->slot_crc[j] = 0;
	s->slot_flags[j] = 0;
	index_bucket_put(s, sector, (uint32_t)j);
	mark_dirty(s, j);
	return (int64_t)j;
}

/* Sets a slot's flags, keeping damaged_now right. */
static void slot_set_flags(add_sector_store *s, size_t slot, uint8_t flags)
{
	bool was = s->slot_flags[slot] & F_DAMAGED, now = flags & F_DAMAGED;

	if (was && !now)
		s->stats.damaged_now--;
	else if (!was && now)
		s->stats.damaged_now++;
	if ((s->slot_flags[slot] & F_PERSIST) != (flags & F_PERSIST))
		mark_dirty(s, slot);
	s->slot_flags[slot] = flags;
}

/* ---- the set of written sectors ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Merges the recent additions into the sorted array. */
static int written_merge(add_sector_store *s)
{
	if (s->recent_n == 0)
		return 0;
	qsort(s->recent, s->recent_n, sizeof(s->recent[0]), cmp_u32);
	size_t n = s->ws_n + s->recent_n;

	if (n > s->ws_cap) {
		size_t cap = s->ws_cap < 1024 ? 1024 : s->ws_cap;

		while (cap < n)
			cap += cap / 2;
		GROW(s->ws, cap);
		s->ws_cap = cap;
	}
	/* merge from the back */
	size_t i = s->ws_n, k = s->recent_n, o = n;

	while (k > 0) {
		if (i > 0 && s->ws[i - 1] > s->recent[k - 1])
			s->ws[--o] = s->ws[--i];
		else
			s->ws[--o] = s->recent[--k];
	}
	s->ws_n = n;
	s->recent_n = 0;
	assert(s->ws_n < 2 || s->ws[0] <= s->ws[1]);
	return 0;
}

static int written_add(add_sector_store *s, uint64_t sector)
{
	if (s->recent_n == RECENT_MAX) {
		int rc = written_merge(s);

		if (rc < 0)
			return rc;
	}
	s->recent[s->recent_n++] = (uint32_t)sector;
	return 0;
}

static uint64_t written_next(const add_sector_store *s, uint64_t from)
{
	uint64_t best = UINT64_MAX;
	size_t lo = 0, hi = s->ws_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ws[mid] < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->ws_n)
		best = s->ws[lo];
	for (size_t k = 0; k < s->recent_n; k++)
		if (s->recent[k] >= from && s->recent[k] < best)
			best = s->recent[k];
	return best;
}

/* ---- batches ---- */

/* Block of record i inside a batch buffer (and inside its journal write):
 * chunk c = i / 169 takes blocks 171c (descriptor), 171c + 1 .. (data),
 * then its trailer right after its last record. */
static size_t rec_block(size_t i)
{
	return (i / REC_PER_CHUNK) * CHUNK_BLOCKS + 1 + i % REC_PER_CHUNK;
}

/* Blocks of a batch of n records, trailers included. */
static size_t batch_blocks(size_t n)
{
	size_t full = n / REC_PER_CHUNK, rem = n % REC_PER_CHUNK;

	return full * CHUNK_BLOCKS + (rem ? rem + 2 : 0);
}

static uint8_t *rec_data(const batch *b, size_t i)
{
	return b->buf + rec_block(i) * BLK;
}

static void batch_free(batch *b)
{
	free(b->buf);
	free(b->cookies);
	free(b->sectors);
	free(b->ts);
	free(b->crc);
	free(b->wr);
	free(b->flags);
	free(b->hash);
	memset(b, 0, sizeof(*b));
}

static void batch_index(batch *b, size_t i)
{
	size_t mask = 2 * b->cap - 1, k = hash_sector(b->sectors[i], mask);

	while (b->hash[k].epoch == b->epoch && b->sectors[b->hash[k].idx] != b->sectors[i])
		k = (k + 1) & mask;
	b->hash[k] = (batch_hash_entry){ .idx = (uint32_t)i, .epoch = b->epoch };
}

static int batch_grow(batch *b, size_t cap)
{
	GROW(b->buf, batch_blocks(cap) * BLK);
	GROW(b->cookies, cap);
	GROW(b->sectors, cap);
	GROW(b->ts, cap);
	GROW(b->crc, cap);
	GROW(b->wr, cap);
	GROW(b->flags, cap);
	batch_hash_entry *hash = calloc(2 * cap, sizeof(*hash));

	if (!hash)
		return -ENOMEM;
	free(b->hash);
	b->hash = hash;
	b->cap = cap;
	b->epoch = 1;
	for (size_t i = 0; i < b->n; i++)
		batch_index(b, i);
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

static void batch_clear(batch *b)
{
	b->n = 0;
	if (++b->epoch == 0) {
		memset(b->hash, 0, 2 * b->cap * sizeof(*b->hash));
		b->epoch = 1;
	}
}

/* Ring position k (0 = oldest) to batch index. */
static int ring_at(const add_sector_store *s, int k)
{
	return (s->first + k) % NBATCH;
}

/* The batch that is filling. */
static int open_idx(const add_sector_store *s)
{
	return ring_at(s, s->n_unapplied + s->n_flying);
}

/* The newest pending record of `sector` (filling batch first, then the
 * flights newest first, then the durable one not yet home): its batch and
 * index, or NULL. */
static const batch *pending_find(const add_sector_store *s, uint64_t sector, size_t *idx)
{
	for (int k = s->n_unapplied + s->n_flying; k >= 0; k--) {
		const batch *b = &s->b[ring_at(s, k)];
		int64_t i = batch_find(b, sector);

		if (i >= 0) {
			*idx = (size_t)i;
			return b;
		}
	}
	return NULL;
}

/* ---- on-disk encodings ---- */

/* Block checksums: CRC32C of bytes 8.. (the crc at 4 zero), seeded with the
 * store's cluster id, so a client's sector data can never pass for one of
 * the store's own blocks. */
static uint32_t block_crc(const add_sector_store *s, const uint8_t *blk, size_t len)
{
	return add_crc32c(s->seed, blk + 8, len - 8);
}

/* Journal header, 64 bytes, twice in block 0 (at 0 and 2048): magic, crc,
 * gen, version. */
static void jhdr_encode(const add_sector_store *s, uint8_t *blk, uint64_t gen)
{
	memset(blk, 0, BLK);
	for (int c = 0; c < 2; c++) {
		uint8_t *h = blk + (c ? JHDR_COPY2 : 0);

		put_u32(h, JHDR_MAGIC);
		put_u64(h + 8, gen);
		put_u32(h + 16, JOURNAL_VERSION);
		put_u32(h + 4, block_crc(s, h, JHDR_LEN));
	}
}

static bool jhdr_copy_decode(const add_sector_store *s, const uint8_t *h, uint64_t *gen)
{
	if (get_u32(h) != JHDR_MAGIC || get_u32(h + 16) != JOURNAL_VERSION ||
	    get_u32(h + 4) != block_crc(s, h, JHDR_LEN))
		return false;
	*gen = get_u64(h + 8);
	return true;
}

/* Decodes block 0: the generation, or false if neither copy is valid. Two
 * valid copies that differ are a torn reset: the higher generation is the
 * new, empty one (a reset happens only once the records are home). */
static bool jhdr_decode(const add_sector_store *s, const uint8_t *blk, uint64_t *gen,
			bool *one_bad)
{
	uint64_t g0 = 0, g1 = 0;
	bool ok0 = jhdr_copy_decode(s, blk, &g0), ok1 = jhdr_copy_decode(s, blk + JHDR_COPY2, &g1);

	*one_bad = ok0 != ok1;
	if (!ok0 && !ok1)
		return false;
	*gen = !ok0 ? g1 : !ok1 ? g0 : g0 > g1 ? g0 : g1;
	return true;
}

/* Chunk descriptor (and trailer, magic aside): magic, crc, gen, seq,
 * batch_first (seq of its batch's first chunk), batch_chunks, count,
 * flight_back (batch_first minus the first seq of the oldest batch whose
 * flush was still in flight when this batch was written: 0 when none was;
 * journals of one flight at a time hold 0 there); then per record: sector
 * u32, ts u64, wr, flags, data crc. */
typedef struct desc_info {
	uint64_t gen;
	uint32_t seq, batch_first, flight_back;
	uint16_t batch_chunks, count;
} desc_info;

static void desc_seal(const add_sector_store *s, uint8_t *blk, uint32_t magic, const desc_info *d)
{
	put_u32(blk, magic);
	put_u64(blk + 8, d->gen);
	put_u32(blk + 16, d->seq);
	put_u32(blk + 20, d->batch_first);
	put_u16(blk + 24, d->batch_chunks);
	put_u16(blk + 26, d->count);
	put_u32(blk + 28, d->flight_back);
	put_u32(blk + 4, block_crc(s, blk, BLK));
}

static bool desc_decode(const add_sector_store *s, const uint8_t *blk, uint32_t magic, uint64_t gen,
			desc_info *d)
{
	if (get_u32(blk) != magic || get_u64(blk + 8) != gen ||
	    get_u32(blk + 4) != block_crc(s, blk, BLK))
		return false;
	d->gen = gen;
	d->seq = get_u32(blk + 16);
	d->batch_first = get_u32(blk + 20);
	d->batch_chunks = get_u16(blk + 24);
	d->count = get_u16(blk + 26);
	d->flight_back = get_u32(blk + 28);
	return d->flight_back <= d->batch_first && d->count >= 1 && d->count <= REC_PER_CHUNK && d->batch_chunks >= 1 &&
	       d->batch_first <= d->seq && d->seq - d->batch_first < d->batch_chunks;
}

typedef struct drec {
	uint64_t sector, ts;
	uint32_t crc;
	uint8_t wr, flags;
} drec;

static void desc_put_rec(uint8_t *blk, size_t k, const drec *r)
{
	uint8_t *e = blk + DESC_HDR + k * DESC_ENTRY;

	memset(e, 0, DESC_ENTRY);
	put_u32(e, (uint32_t)r->sector);
	put_u64(e + 4, r->ts);
	e[12] = r->wr;
	e[13] = r->flags;
	put_u32(e + 16, r->crc);
}

static drec desc_get_rec(const uint8_t *blk, size_t k)
{
	const uint8_t *e = blk + DESC_HDR + k * DESC_ENTRY;

	return (drec){ .sector = get_u32(e),
		       .ts = get_u64(e + 4),
		       .wr = e[12],
		       .flags = e[13],
		       .crc = get_u32(e + 16) };
}

/* Meta page: magic, crc, page number, seq; 168 entries: sector u32, flags,
 * wr, ts u64, data crc u32. */
static void meta_page_encode(const add_sector_store *s, uint8_t *blk, size_t page, uint64_t seq)
{
	memset(blk, 0, BLK);
	put_u32(blk, META_MAGIC);
	put_u32(blk + 8, (uint32_t)page);
	put_u64(blk + 16, seq);
	for (size_t k = 0; k < META_PER_PAGE; k++) {
		size_t j = page * META_PER_PAGE + k;
		uint8_t *e = blk + META_HDR + k * META_ENTRY;

		if (j >= s->n_slots || s->slot_sector[j] == NO_SECTOR)
			continue;
		put_u32(e, s->slot_sector[j]);
		e[4] = (uint8_t)(F_USED | (s->slot_flags[j] & F_PERSIST));
		e[5] = s->slot_wr[j];
		put_u64(e + 8, s->slot_ts[j]);
		put_u32(e + 16, s->slot_crc[j]);
	}
	put_u32(blk + 4, block_crc(s, blk, BLK));
}

static bool meta_page_check(const add_sector_store *s, const uint8_t *blk, size_t page,
			    uint64_t *seq)
{
	if (get_u32(blk) != META_MAGIC || get_u32(blk + 8) != (uint32_t)page ||
	    get_u32(blk + 4) != block_crc(s, blk, BLK))
		return false;
	*seq = get_u64(blk + 16);
	return true;
}

/* ---- meta page writes ---- */

/* Writes page p from the index to its non-current copy (both copies for a
 * page never written: then either copy is a whole page). The copies become
 * current in meta_pages_flushed(), once meta is flushed: until then the
 * current copy is never written over, so a torn page write always leaves
 * the previous version whole. */
static int write_meta_page(add_sector_store *s, size_t p)
{
	uint8_t blk[BLK];
	int64_t rc;

	assert(p < s->cap_pages && p * META_PER_PAGE < s->n_slots);
	if (s->page_cur[p] == PAGE_NEW) {
		for (unsigned c = 0; c < 2; c++) {
			meta_page_encode(s, blk, p, s->page_seq[p] + 1 + c);
			rc = s->disk->pwrite(s->disk->ctx, s->h_meta, blk, BLK,
					     (uint64_t)(2 * p + c) * BLK);
			if (rc < 0) {
				io_fatal(s, "pwrite", "meta", (uint64_t)(2 * p + c) * BLK, (int)rc);
				return (int)rc;
			}
		}
		return 0;
	}
	unsigned c = 1u - s->page_cur[p];

	meta_page_encode(s, blk, p, s->page_seq[p] + 1);
	rc = s->disk->pwrite(s->disk->ctx, s->h_meta, blk, BLK, (uint64_t)(2 * p + c) * BLK);
	if (rc < 0) {
		io_fatal(s, "pwrite", "meta", (uint64_t)(2 * p + c) * BLK, (int)rc);
		return (int)rc;
	}
	return 0;
}

/* Writes every dirty page; remembers them in ck_pages. */
static int write_dirty_pages(add_sector_store *s)
{
	size_t n_pages = (s->n_slots + META_PER_PAGE - 1) / META_PER_PAGE;

	s->ck_n = 0;
	for (size_t p = 0; p < n_pages; p++) {
		if (!s->page_dirty[p])
			continue;
		if (s->ck_n == s->ck_cap) {
			size_t cap = s->ck_cap ? 2 * s->ck_cap : 64;

			GROW(s->ck_pages, cap);
			s->ck_cap = cap;
		}
		int rc = write_meta_page(s, p);

		if (rc < 0)
			return rc;
		s->page_dirty[p] = 0;
		s->ck_pages[s->ck_n++] = (uint32_t)p;
	}
	return 0;
}

/* Meta is flushed: the copies written become current. */
static void meta_pages_flushed(add_sector_store *s)
{
	for (size_t k = 0; k < s->ck_n; k++) {
		size_t p = s->ck_pages[k];

		if (s->page_cur[p] == PAGE_NEW) {
			s->page_cur[p] = 1;
			s->page_seq[p] += 2;
		} else {
			s->page_cur[p] = (uint8_t)(1 - s->page_cur[p]);
			s->page_seq[p] += 1;
		}
	}
	s->ck_n = 0;
}

/* ---- home writes ---- */

/* Writes a flushed batch home: data (page cache) and the index; meta pages
 * are only marked dirty (written at the next checkpoint). In order: a
 * record never overtakes an earlier one of its sector. */
static int write_batch_home(add_sector_store *s, const batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		uint64_t sector = b->sectors[i];
		int64_t slot = index_find(s, sector);

		if (slot < 0 && (slot = index_add(s, sector)) < 0) {
			store_fatal(s, "sector store: out of memory (index)");
			return (int)slot;
		}
		int64_t rc = s->disk->pwrite(s->disk->ctx, s->h_data, rec_data(b, i), SECTOR,
					     sector * SECTOR);

		if (rc < 0) {
			io_fatal(s, "pwrite", "data", sector * SECTOR, (int)rc);
			return (int)rc;
		}
		s->slot_ts[slot] = b->ts[i];
		s->slot_wr[slot] = b->wr[i];
		s->slot_crc[slot] = b->crc[i];
		slot_set_flags(s, (size_t)slot, 0);
		mark_dirty(s, (size_t)slot);
	}
	return 0;
}

/* ---- group commit and checkpoints ---- */

static void flush_done(void *arg, int result);
static void ckpt_done(void *arg, int result);
static void advance(add_sector_store *s, bool idle_apply);

static bool journal_empty(const journal *j)
{
	return j->size <= BLK;
}

static uint64_t max_gen(const add_sector_store *s)
{
	return s->j[0].gen > s->j[1].gen ? s->j[0].gen : s->j[1].gen;
}

/* A new, empty generation for journal `idx`: header (gen above both), and
 * the chunks cut off if `trim` (else left to be overwritten: appends to
 * allocated blocks make cheaper flushes; stale chunks carry an older
 * generation and are ignored). The caller flushes it before any chunk is
 * written over the old ones. */
static int journal_reset(add_sector_store *s, int idx, bool trim)
{
	journal *j = &s->j[idx];
	uint8_t h[BLK];
	int64_t rc;

	j->gen = max_gen(s) + 1;
	jhdr_encode(s, h, j->gen);
	rc = s->disk->pwrite(s->disk->ctx, j->h, h, sizeof(h), 0);
	if (rc < 0) {
		io_fatal(s, "pwrite", JOURNAL_NAME[idx], 0, (int)rc);
		return (int)rc;
	}
	if (trim && (rc = s->disk->truncate(s->disk->ctx, j->h, BLK)) < 0) {
		io_fatal(s, "truncate", JOURNAL_NAME[idx], BLK, (int)rc);
		return (int)rc;
	}
	j->size = BLK;
	j->next_seq = 0;
	assert(j->gen > s->j[1 - idx].gen);
	return 0;
}

/* Writes the durable batch (the oldest of the ring) home and empties it. */
static void apply_durable(add_sector_store *s)
{
	batch *b = &s->b[s->first];

	assert(s->n_unapplied == 1 && s->fl[s->first].reported);
	if (write_batch_home(s, b) < 0)
		return;
	batch_clear(b);
	s->fl[s->first].reported = false;
	s->fl[s->first].done = false;
	s->first = ring_at(s, 1);
	s->n_unapplied = 0;
}

/* Fills the descriptors and trailers of the open batch for journal j. */
static void seal_batch(add_sector_store *s, batch *b, const journal *j, uint32_t flight_back)
{
	size_t n_chunks = (b->n + REC_PER_CHUNK - 1) / REC_PER_CHUNK;

	for (size_t c = 0; c < n_chunks; c++) {
		size_t first = c * REC_PER_CHUNK;
		size_t count = b->n - first < REC_PER_CHUNK ? b->n - first : REC_PER_CHUNK;
		uint8_t *desc = b->buf + c * CHUNK_BLOCKS * BLK;
		uint8_t *trail = desc + (1 + count) * BLK;
		desc_info d = { .gen = j->gen,
				.seq = j->next_seq + (uint32_t)c,
				.batch_first = j->next_seq,
				.batch_chunks = (uint16_t)n_chunks,
				.count = (uint16_t)count,
				.flight_back = flight_back };

		memset(desc, 0, BLK);
		for (size_t k = 0; k < count; k++) {
			size_t i = first + k;
			drec r = { .sector = b->sectors[i],
				   .ts = b->ts[i],
				   .wr = b->wr[i],
				   .flags = b->flags[i],
				   .crc = b->crc[i] };

			desc_put_rec(desc, k, &r);
		}
		desc_seal(s, desc, DESC_MAGIC, &d);
		memcpy(trail, desc, BLK);
		desc_seal(s, trail, TRAIL_MAGIC, &d);
	}
}

/*
 * Appends the open batch to the active journal (one pwrite, at a 4 KiB
 * boundary, past every chunk acknowledged or in flight) and starts its
 * flush, even while earlier flushes run (up to FLIGHTS_MAX); then, while it
 * runs, writes the durable batch home if there is one.
 */
static void start_flush(add_sector_store *s)
{
	int idx = open_idx(s);
	batch *b = &s->b[idx];
	journal *j = &s->j[s->aj];
	flight *f = &s->fl[idx];
	uint32_t back = 0;

	assert(s->n_flying < s->flights && b->n > 0 && !s->fatal);
	assert(j->size % BLK == 0 && !f->done && !f->reported);
	if (s->n_flying > 0) {
		uint32_t oldest = s->fl[ring_at(s, s->n_unapplied)].first_seq;

		assert(oldest < j->next_seq);
		back = j->next_seq - oldest;
	}
	f->s = s;
	f->idx = idx;
	f->first_seq = j->next_seq;
	seal_batch(s, b, j, back);
	size_t len = batch_blocks(b->n) * BLK;
	int64_t rc = s->disk->pwrite(s->disk->ctx, j->h, b->buf, len, j->size);

	if (rc < 0) {
		io_fatal(s, "pwrite", JOURNAL_NAME[s->aj], j->size, (int)rc);
		return;
	}
	j->next_seq += (uint32_t)((b->n + REC_PER_CHUNK - 1) / REC_PER_CHUNK);
	j->size += len;
#if !ADD_MUTANT_ON(ADD_MUTANT_STORE_SKIP_FLUSH)
	/* Its completion comes later, from the event loop (disk.h), when the
	 * state below is in place. */
	if ((rc = s->disk->sync_async(s->disk->ctx, j->h, flush_done, f)) < 0) {
		io_fatal(s, "fdatasync (start)", JOURNAL_NAME[s->aj], j->size, (int)rc);
		return;
	}
#endif
	s->n_flying++;
	if ((uint64_t)s->n_flying > s->stats.flights_max)
		s->stats.flights_max = (uint64_t)s->n_flying;
	if (s->n_unapplied) {
		apply_durable(s);
		if (s->fatal)
			return;
	}
	assert(s->b[open_idx(s)].n == 0);
#if ADD_MUTANT_ON(ADD_MUTANT_STORE_SKIP_FLUSH)
	flush_done(f, 0); /* the bug: durable without a flush */
#endif
}

/*
 * Checkpoint: the active journal becomes inactive (its records are all home
 * already, in the page cache) and batches go on into the other, empty one;
 * the dirty meta pages are written (to their non-current copies), data and
 * meta are flushed, then the old journal is reset and flushed. Group commit
 * never waits for a checkpoint, unless the active journal reaches twice its
 * bound first.
 */
static void start_checkpoint(add_sector_store *s, bool trim)
{
	int rc;

	assert(s->n_flying == 0 && s->n_unapplied == 0 && s->ck == CK_NONE && !s->fatal);
	assert(journal_empty(&s->j[1 - s->aj]) && s->j[1 - s->aj].gen > s->j[s->aj].gen);
	s->aj = 1 - s->aj;
	s->ck = CK_DATA;
	s->stats.checkpoints_started++;
	s->ck_trim = trim;
	/* The new active journal may hold stale chunks of its last life. */
	if (trim && (rc = s->disk->truncate(s->disk->ctx, s->j[s->aj].h, BLK)) < 0) {
		io_fatal(s, "truncate", JOURNAL_NAME[s->aj], BLK, rc);
		return;
	}
	if (write_dirty_pages(s) < 0)
		return;
	if ((rc = s->disk->sync_async(s->disk->ctx, s->h_data, ckpt_done, s)) < 0)
		io_fatal(s, "fdatasync (start)", "data", 0, rc);
}

/*
 * Starts whatever can start now: a checkpoint (once no flush is in flight
 * and the last batch is home: every flight stays in one journal), the next
 * batch (while fewer than FLIGHTS_MAX flushes are in flight). A durable
 * batch not yet home is written home with the next flush (overlapped), or
 * here if `idle_apply` and none starts.
 */
static void advance(add_sector_store *s, bool idle_apply)
{
	if (s->fatal || s->reporting)
		return;
	if (s->ck == CK_NONE && s->j[s->aj].size > s->journal_max) {
		if (s->n_flying > 0)
			return; /* drain first; the last completion comes back here */
		if (s->n_unapplied)
			apply_durable(s);
		if (!s->fatal)
			start_checkpoint(s, false);
	}
	if (s->fatal)
		return;
	if (s->b[open_idx(s)].n > 0 && s->n_flying < s->flights &&
	    s->j[s->aj].size <= 2 * s->journal_max)
		start_flush(s);
	else if (s->n_unapplied && idle_apply)
		apply_durable(s);
}

/* Reports the stores of batch idx durable, in their submission order. */
static void report_batch(add_sector_store *s, int idx)
{
	const batch *b = &s->b[idx];

	assert(s->fl[idx].done && !s->fl[idx].reported);
	s->fl[idx].reported = true;
	s->stats.journal_flushes++;
	/* Stores the callbacks submit go to the open batch; a kick() from them
	 * waits for the loop's end. */
	s->reporting = true;
	for (size_t i = 0; i < b->n; i++) {
		s->stats.stores_durable++;
		if (b->flags[i] & F_REPAIR)
			s->stats.repairs++;
		if (s->cfg.on_durable)
			s->cfg.on_durable(s->cfg.arg, b->cookies[i]);
	}
	s->reporting = false;
}

/*
 * A journal flush completed. Its batch is reported durable only once every
 * earlier batch is (a later flush that completes first waits): the node
 * relies on completions in submission order. Each batch reported becomes
 * the durable one not yet home (the previous one is written home first).
 */
static void flush_done(void *arg, int result)
{
	flight *f = arg;
	add_sector_store *s = f->s;

	assert(s->n_flying > 0 && !f->done && f == &s->fl[f->idx]);
	if (result < 0) {
		io_fatal(s, "fdatasync", JOURNAL_NAME[s->aj], s->j[s->aj].size, result);
		return;
	}
	f->done = true;
	if (f != &s->fl[ring_at(s, s->n_unapplied)])
		s->stats.flights_waited++; /* an earlier flush still runs */
#if ADD_MUTANT_ON(ADD_MUTANT_STORE_FLUSH_OUT_OF_ORDER)
	report_batch(s, f->idx); /* the bug: reported before earlier batches */
#endif
	for (;;) {
		int oldest = ring_at(s, s->n_unapplied);

		if (s->fatal || s->n_flying == 0 || !s->fl[oldest].done)
			break;
		if (s->n_unapplied) {
			apply_durable(s); /* in order: before the next one is reported */
			if (s->fatal)
				return;
			oldest = ring_at(s, 0);
		}
		s->n_flying--;
		s->n_unapplied = 1; /* stays readable until written home */
		if (!s->fl[oldest].reported)
			report_batch(s, oldest);
	}
	advance(s, false);
}

static void ckpt_done(void *arg, int result)
{
	add_sector_store *s = arg;
	int old = 1 - s->aj;
	int rc = 0;

	if (result < 0) {
		io_fatal(s, "fdatasync", s->ck == CK_DATA ? "data"
					 : s->ck == CK_META ? "meta"
							    : JOURNAL_NAME[old],
			 0, result);
		return;
	}
	switch (s->ck) {
	case CK_DATA:
		s->ck = CK_META;
		if ((rc = s->disk->sync_async(s->disk->ctx, s->h_meta, ckpt_done, s)) < 0)
			io_fatal(s, "fdatasync (start)", "meta", 0, rc);
		return;
	case CK_META:
		meta_pages_flushed(s);
		if (journal_reset(s, old, s->ck_trim) < 0)
			return;
		s->ck = CK_RESET;
		if ((rc = s->disk->sync_async(s->disk->ctx, s->j[old].h, ckpt_done, s)) < 0)
			io_fatal(s, "fdatasync (start)", JOURNAL_NAME[old], 0, rc);
		return;
	case CK_RESET:
		s->stats.checkpoints++;
		s->ck = CK_NONE;
		advance(s, false);
		return;
	default:
		assert(0 && "checkpoint completion without a checkpoint");
		return;
	}
}

/* ---- the store ops ---- */

static void ss_get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	add_sector_store *s = ctx;
	size_t i;
	const batch *b = sector < s->cfg.n_sectors ? pending_find(s, sector, &i) : NULL;

	if (b) {
		*ts = b->ts[i];
		*wr = b->wr[i];
		return;
	}
	int64_t slot = sector < s->cfg.n_sectors ? index_find(s, sector) : -1;

	*ts = slot < 0 ? 0 : s->slot_ts[slot];
	*wr = slot < 0 ? 0 : s->slot_wr[slot];
}

/* Marks a sector found damaged by a read; the mark reaches meta with the
 * next checkpoint (and the data's crc in meta finds it again meanwhile). */
static void mark_read_damage(add_sector_store *s, size_t slot, uint8_t why)
{
	slot_set_flags(s, slot, (uint8_t)(s->slot_flags[slot] | F_DAMAGED | why));
	assert(s->slot_flags[slot] & F_DAMAGED);
}

static int ss_read_data(void *ctx, uint64_t sector, uint8_t out[SECTOR])
{
	add_sector_store *s = ctx;
	size_t i;

	if (sector >= s->cfg.n_sectors)
		return -EINVAL;
	const batch *b = pending_find(s, sector, &i);

	if (b) {
		memcpy(out, rec_data(b, i), SECTOR);
		return 0;
	}
	int64_t slot = index_find(s, sector);

	if (slot < 0) {
		memset(out, 0, SECTOR);
		return 0;
	}
	if (s->slot_flags[slot] & F_DAMAGED)
		return (s->slot_flags[slot] & F_EIO) ? -EIO : -EBADMSG;
	int64_t n = s->disk->pread(s->disk->ctx, s->h_data, out, SECTOR, sector * SECTOR);

	if (n < 0) {
		s->stats.read_errors++;
		mark_read_damage(s, (size_t)slot, F_EIO);
		slog(s, ADD_LOG_WARN,
		     "sector store: pread data at %llu: %s: sector %llu (ts %llu, wr %u) "
		     "marked damaged",
		     (unsigned long long)(sector * SECTOR), etext((int)n),
		     (unsigned long long)sector, (unsigned long long)s->slot_ts[slot],
		     s->slot_wr[slot]);
		memset(out, 0, SECTOR);
		return -EIO;
	}
	memset(out + n, 0, SECTOR - (size_t)n);
	uint32_t crc = add_crc32c(0, out, SECTOR);

	if (crc != s->slot_crc[slot] && !ADD_MUTANT_ON(ADD_MUTANT_STORE_NO_READ_CHECKSUM)) {
		s->stats.checksum_mismatches++;
		mark_read_damage(s, (size_t)slot, 0);
		slog(s, ADD_LOG_WARN,
		     "sector store: data at %llu: checksum mismatch (crc32c %08x, meta says "
		     "%08x): sector %llu (ts %llu, wr %u) marked damaged",
		     (unsigned long long)(sector * SECTOR), crc, s->slot_crc[slot],
		     (unsigned long long)sector, (unsigned long long)s->slot_ts[slot],
		     s->slot_wr[slot]);
		memset(out, 0, SECTOR);
		return -EBADMSG;
	}
	return 0;
}

static int submit(add_sector_store *s, uint64_t sector, uint64_t ts, uint8_t wr,
		  const uint8_t data[SECTOR], uint64_t cookie, uint8_t flags)
{
	batch *b = &s->b[open_idx(s)];
	size_t pi;

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
	if (!pending_find(s, sector, &pi) && index_find(s, sector) < 0 &&
	    written_add(s, sector) < 0)
		return -ENOMEM;
	size_t i = b->n++;

	memcpy(rec_data(b, i), data, SECTOR);
	b->crc[i] = add_crc32c(0, data, SECTOR);
	b->cookies[i] = cookie;
	b->sectors[i] = sector;
	b->ts[i] = ts;
	b->wr[i] = wr;
	b->flags[i] = flags;
	batch_index(b, i);
	assert(batch_find(b, sector) == (int64_t)i);
	return 0;
}

static int ss_store(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		    const uint8_t data[SECTOR], uint64_t cookie)
{
	return submit(ctx, sector, ts, wr, data, cookie, 0);
}

static bool ss_damaged(void *ctx, uint64_t sector)
{
	add_sector_store *s = ctx;
	size_t i;

	if (sector >= s->cfg.n_sectors || pending_find(s, sector, &i))
		return false;
	int64_t slot = index_find(s, sector);

	return slot >= 0 && (s->slot_flags[slot] & F_DAMAGED);
}

static int ss_repair(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		     const uint8_t data[SECTOR], uint64_t cookie)
{
	add_sector_store *s = ctx;
	uint64_t cts;
	uint8_t cwr;

	if (s->fatal)
		return -EIO;
	if (sector >= s->cfg.n_sectors)
		return -EINVAL;
	ss_get_meta(s, sector, &cts, &cwr);
	if (s->cfg.rank != 0 && cwr == s->cfg.rank && tag_gt(cts, cwr, ts, wr) &&
	    cts > s->sb.ts_floor) {
		/* Durable before the lower tag can be: this process must never
		 * write (ts' <= cts, rank) again. */
		add_superblock sb = s->sb;
		char err[160];

		sb.ts_floor = cts;
		int rc = add_superblock_write(s->disk, &sb, err, sizeof(err));

		if (rc < 0) {
			slog(s, ADD_LOG_ERROR, "sector store: raising ts_floor to %llu: %s",
			     (unsigned long long)cts, err);
			return rc;
		}
		s->sb = sb;
		slog(s, ADD_LOG_INFO,
		     "sector store: repair of sector %llu lowers own tag (%llu, %u): ts_floor "
		     "now %llu",
		     (unsigned long long)sector, (unsigned long long)cts, cwr,
		     (unsigned long long)cts);
	}
	return submit(s, sector, ts, wr, data, cookie, F_REPAIR);
}

static uint64_t ss_next_written(void *ctx, uint64_t from)
{
	const add_sector_store *s = ctx;

	return from >= s->cfg.n_sectors ? UINT64_MAX : written_next(s, from);
}

static uint64_t ss_next_damaged(void *ctx, uint64_t from)
{
	add_sector_store *s = ctx;

	if (s->stats.damaged_now == 0)
		return UINT64_MAX;
	for (uint64_t x = written_next(s, from); x != UINT64_MAX; x = written_next(s, x + 1))
		if (ss_damaged(s, x))
			return x;
	return UINT64_MAX;
}

static uint64_t ss_ts_floor(void *ctx)
{
	const add_sector_store *s = ctx;

	return s->sb.ts_floor;
}

static const add_store_ops sector_store_ops = {
	.get_meta = ss_get_meta,
	.read_data = ss_read_data,
	.store = ss_store,
	.damaged = ss_damaged,
	.repair = ss_repair,
	.next_damaged = ss_next_damaged,
	.next_written = ss_next_written,
	.ts_floor = ss_ts_floor,
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
	return s->n_flying == 0 && s->n_unapplied == 0 && s->ck == CK_NONE &&
	       s->b[open_idx(s)].n == 0;
}

uint64_t add_sector_store_written(const add_sector_store *s)
{
	return s->ws_n + s->recent_n;
}

static bool any_dirty_page(const add_sector_store *s)
{
	size_t n_pages = (s->n_slots + META_PER_PAGE - 1) / META_PER_PAGE;

	for (size_t p = 0; p < n_pages; p++)
		if (s->page_dirty[p])
			return true;
	return false;
}

bool add_sector_store_checkpoint(add_sector_store *s)
{
	if (s->fatal || !add_sector_store_idle(s))
		return false;
	if (journal_empty(&s->j[s->aj]) && !any_dirty_page(s)) {
		/* Nothing to make durable; cut stale chunks off (space). A lost
		 * truncate is harmless: stale chunks are ignored. */
		for (int k = 0; k < 2; k++) {
			int64_t size = s->disk->size(s->disk->ctx, s->j[k].h);

			if (size > (int64_t)BLK &&
			    (size = s->disk->truncate(s->disk->ctx, s->j[k].h, BLK)) < 0)
				io_fatal(s, "truncate", JOURNAL_NAME[k], BLK, (int)size);
		}
		return false;
	}
	start_checkpoint(s, true);
	return true;
}

void add_sector_store_get_stats(const add_sector_store *s, add_sector_store_stats *out)
{
	*out = s->stats;
	out->checkpoint_running = s->ck != CK_NONE;
	out->journal_bytes = s->j[0].size + s->j[1].size;
	out->index_bytes = s->n_buckets * sizeof(*s->buckets) +
			   s->cap_slots * (sizeof(*s->slot_sector) + sizeof(*s->slot_ts) +
					   sizeof(*s->slot_crc) + sizeof(*s->slot_wr) +
					   sizeof(*s->slot_flags)) +
			   s->ws_cap * sizeof(*s->ws) +
			   s->cap_pages * (sizeof(*s->page_seq) + 2) +
			   s->ck_cap * sizeof(*s->ck_pages);
	out->memory_bytes = sizeof(*s) + out->index_bytes;
	for (int k = 0; k < NBATCH; k++)
		out->memory_bytes += batch_blocks(s->b[k].cap) * BLK +
				     s->b[k].cap * (3 * sizeof(uint64_t) + sizeof(uint32_t) + 2 +
						    2 * sizeof(batch_hash_entry));
}

void add_sector_store_identity(const add_sector_store *s, add_superblock *out)
{
	*out = s->sb;
}

/* ---- recovery ---- */

typedef struct rstats {
	uint64_t meta_sectors, replayed, torn_records, corrupt, bad_copies, lost_pages,
		verified_bad, unreadable, chunks[2];
	bool torn[2];
	/* the journal being replayed lost its header: its repair records
	 * apply only where their tag is the highest (see probe_headerless) */
	bool tags_only;
} rstats;

/* Reads up to n blocks at off; returns whole blocks read (the rest of buf
 * zeroed) or -errno. */
static int64_t read_blocks(const add_sector_store *s, int h, uint8_t *buf, size_t n, uint64_t off)
{
	int64_t got = s->disk->pread(s->disk->ctx, h, buf, n * BLK, off);

	if (got < 0)
		return got;
	memset(buf + got, 0, n * BLK - (size_t)got);
	return got / BLK;
}

/* Like read_blocks, but a read error is narrowed to the blocks that fail,
 * which read as zeros (no checksum of the store passes on them) and are
 * counted in *bad and logged; -errno only if even that is impossible. */
static int64_t read_blocks_tolerant(add_sector_store *s, int h, const char *file, uint8_t *buf,
				    size_t n, uint64_t off, uint64_t *bad)
{
	int64_t nb = read_blocks(s, h, buf, n, off);

	if (nb >= 0 || nb == -ENOMEM)
		return nb;
	nb = 0;
	for (size_t b = 0; b < n; b++) {
		int64_t got = read_blocks(s, h, buf + b * BLK, 1, off + b * BLK);

		if (got < 0) {
			memset(buf + b * BLK, 0, BLK);
			(*bad)++;
			s->stats.read_errors++;
			slog(s, ADD_LOG_WARN, "sector store: pread %s at %llu: %s (block taken as bad)",
			     file, (unsigned long long)(off + b * BLK), etext((int)got));
			nb = (int64_t)b + 1;
		} else if (got == 1) {
			nb = (int64_t)b + 1;
		} else {
			break; /* the end of the file */
		}
	}
	return nb;
}

/* Reads meta (O(written)) into the index: per page the valid copy with the
 * highest seq. */
static int recover_meta(add_sector_store *s, rstats *rs, char *err, size_t err_len)
{
	int64_t size = s->disk->size(s->disk->ctx, s->h_meta);

	if (size < 0) {
		set_err(err, err_len, "sector store: size of meta: %s", etext((int)size));
		return (int)size;
	}
	size_t n_pages = ((size_t)size + 2 * BLK - 1) / (2 * BLK);
	uint8_t *buf = malloc((n_pages < META_READ_PAGES ? n_pages + 1 : META_READ_PAGES) * 2 * BLK);
	uint8_t *bad_copy = calloc(n_pages ? n_pages : 1, 1);
	int rc = index_reserve(s, n_pages * META_PER_PAGE);

	if (!buf || !bad_copy || rc < 0) {
		free(buf);
		free(bad_copy);
		set_err(err, err_len, "sector store: out of memory reading meta");
		return -ENOMEM;
	}
	for (size_t p0 = 0; p0 < n_pages; p0 += META_READ_PAGES) {
		size_t m = n_pages - p0 < META_READ_PAGES ? n_pages - p0 : META_READ_PAGES;
		int64_t got = read_blocks_tolerant(s, s->h_meta, "meta", buf, 2 * m,
						   (uint64_t)p0 * 2 * BLK, &rs->unreadable);

		if (got < 0) {
			free(buf);
			free(bad_copy);
			set_err(err, err_len, "sector store: pread meta at %llu: %s",
				(unsigned long long)p0 * 2 * BLK, etext((int)got));
			return (int)got;
		}
		for (size_t q = 0; q < m; q++) {
			size_t p = p0 + q;
			uint64_t seq[2] = { 0, 0 };
			bool ok[2];

			/* Both copies are checked: a bad one is rewritten at
			 * settle, so one copy is always whole. */
			for (int c = 0; c < 2; c++)
				ok[c] = meta_page_check(s, buf + (2 * q + c) * BLK, p, &seq[c]);
			int hi = ok[0] && ok[1] ? seq[1] > seq[0] : ok[1];

			if (!ok[0] && !ok[1]) {
				/* Both copies bad: a new page torn by a crash (its
				 * sectors are in a journal), or rot of both. */
				rs->lost_pages++;
				s->page_cur[p] = PAGE_NEW;
				bad_copy[p] = 1;
				continue;
			}
			int c = hi;
			bool one_bad = ok[0] != ok[1];
			const uint8_t *pg = buf + (2 * q + c) * BLK;

			s->page_cur[p] = (uint8_t)c;
			s->page_seq[p] = seq[c];
			if (one_bad) {
				rs->bad_copies++; /* healed: rewritten at settle */
				bad_copy[p] = 1;
			}
			for (size_t k = 0; k < META_PER_PAGE; k++) {
				const uint8_t *e = pg + META_HDR + k * META_ENTRY;
				size_t j = p * META_PER_PAGE + k;

				if (!(e[4] & F_USED))
					continue;
				uint64_t sector = get_u32(e), ts = get_u64(e + 8);
				uint8_t wr = e[5];

				if (sector >= s->cfg.n_sectors) {
					free(buf);
					free(bad_copy);
					set_err(err, err_len,
						"sector store: meta page %zu names sector %llu, beyond "
						"the store's %llu sectors",
						p, (unsigned long long)sector,
						(unsigned long long)s->cfg.n_sectors);
					return -EBADMSG;
				}
				while (s->n_slots <= j) {
					size_t x = s->n_slots++;

					s->slot_sector[x] = NO_SECTOR;
					s->slot_flags[x] = 0;
					s->slot_ts[x] = 0;
					s->slot_wr[x] = 0;
					s->slot_crc[x] = 0;
				}
				s->slot_sector[j] = (uint32_t)sector;
				int64_t dup = index_put_unique(s, sector, (uint32_t)j);

				if (dup >= 0)
					s->slot_sector[j] = NO_SECTOR;
				if (dup >= 0) {
					/* Should not happen; keep the higher tag. */
					slog(s, ADD_LOG_WARN,
					     "sector store: meta: sector %llu in slots %lld and %zu; "
					     "keeping the higher tag",
					     (unsigned long long)sector, (long long)dup, j);
					if (tag_gt(ts, wr, s->slot_ts[dup], s->slot_wr[dup])) {
						s->slot_ts[dup] = ts;
						s->slot_wr[dup] = wr;
						s->slot_crc[dup] = get_u32(e + 16);
						slot_set_flags(s, (size_t)dup, e[4] & F_PERSIST);
					}
					bad_copy[(size_t)dup / META_PER_PAGE] = 1;
					bad_copy[p] = 1; /* both rewritten at settle */
					continue;
				}
				s->slot_ts[j] = ts;
				s->slot_wr[j] = wr;
				s->slot_crc[j] = get_u32(e + 16);
				s->slot_flags[j] = 0;
				slot_set_flags(s, j,
					       (uint8_t)((e[4] & F_PERSIST) |
							 (one_bad ? F_VERIFY : 0)));
				rs->meta_sectors++;
			}
		}
	}
	free(buf);
	/* slot_set_flags marked pages dirty for persisted flags: not needed */
	if (s->cap_pages > 0)
		memset(s->page_dirty, 0, s->cap_pages);
	for (size_t p = 0; p < n_pages; p++)
		if (p * META_PER_PAGE < s->n_slots && bad_copy[p])
			s->page_dirty[p] = 1; /* rewritten at settle */
	free(bad_copy);
	return 0;
}

typedef struct chunk_ref {
	uint64_t off;	   /* descriptor block */
	uint64_t desc_off; /* the valid copy (descriptor or trailer) */
	desc_info d;
} chunk_ref;

/* The chunk `seq` at `off`: 1 (found, from its descriptor or else its
 * trailer), 0 (none), -errno. buf holds CHUNK_BLOCKS blocks. */
static int find_chunk(add_sector_store *s, int k, uint64_t off, uint32_t seq, uint8_t *buf,
		      chunk_ref *out, uint64_t *bad)
{
	int64_t nb = read_blocks_tolerant(s, s->j[k].h, JOURNAL_NAME[k], buf, 1, off, bad);
	desc_info d;

	if (nb < 0)
		return (int)nb;
	if (nb == 1 && desc_decode(s, buf, DESC_MAGIC, s->j[k].gen, &d) && d.seq == seq) {
		*out = (chunk_ref){ .off = off, .desc_off = off, .d = d };
		return 1;
	}
	/* Descriptor bad (or the end): look for its trailer. */
	uint64_t ignored = 0; /* counted once above */

	if ((nb = read_blocks_tolerant(s, s->j[k].h, JOURNAL_NAME[k], buf, CHUNK_BLOCKS, off,
				       &ignored)) < 0)
		return (int)nb;
	for (size_t c = 1; c <= REC_PER_CHUNK && (int64_t)(1 + c) < nb; c++) {
		const uint8_t *t = buf + (1 + c) * BLK;

		if (get_u32(t) == TRAIL_MAGIC && desc_decode(s, t, TRAIL_MAGIC, s->j[k].gen, &d) &&
		    d.seq == seq && d.count == c) {
			*out = (chunk_ref){ .off = off, .desc_off = off + (1 + c) * BLK, .d = d };
			return 1;
		}
	}
	return 0;
}

/* The first seq of the oldest batch still in flight when chunk d's batch
 * was written (its own batch_first when none was). */
static uint32_t flight_floor(const desc_info *d)
{
	return d->batch_first - d->flight_back;
}

/* After the last chunk found (the next one, `seq`, expected at `off`):
 * the highest flight_floor() of any chunk of this generation further on,
 * or -1 if none; -errno on a read error. */
static int64_t scan_ahead(add_sector_store *s, int k, uint64_t off, uint32_t seq,
			  uint8_t *buf, uint64_t *bad)
{
	int64_t best = -1;

	for (;; off += (uint64_t)SCAN_BLOCKS * BLK) {
		int64_t nb = read_blocks_tolerant(s, s->j[k].h, JOURNAL_NAME[k], buf, SCAN_BLOCKS,
						  off, bad);

		if (nb <= 0)
			return nb < 0 ? nb : best;
		for (int64_t b = 0; b < nb; b++) {
			const uint8_t *blk = buf + b * BLK;
			uint32_t m = get_u32(blk);
			desc_info d;

			if ((m == DESC_MAGIC || m == TRAIL_MAGIC) &&
			    desc_decode(s, blk, m, s->j[k].gen, &d) && d.seq >= seq &&
			    (int64_t)flight_floor(&d) > best)
				best = flight_floor(&d);
		}
		if (nb < (int64_t)SCAN_BLOCKS)
			return best;
	}
}

/* Applies one record (read from journal k at off) to home and index: the
 * highest tag wins, repairs apply in order. A record whose data is bad is a
 * torn write in the last batch (dropped), else corruption: its sector is
 * suspect with that record's tag if the tag is the newest known. */
static int replay_record(add_sector_store *s, rstats *rs, const drec *r, const uint8_t *data,
			 bool final, const char *jname, uint64_t off, char *err, size_t err_len)
{
	bool ok = add_crc32c(0, data, SECTOR) == r->crc;
	int64_t slot = index_find(s, r->sector);
	bool in_order = (r->flags & F_REPAIR) && !rs->tags_only;
	bool newer = slot < 0 || in_order ||
		     !tag_gt(s->slot_ts[slot], s->slot_wr[slot], r->ts, r->wr) ||
		     ADD_MUTANT_ON(ADD_MUTANT_STORE_REPLAY_ANY_TAG);

	if (r->sector >= s->cfg.n_sectors) {
		set_err(err, err_len, "sector store: %s at %llu: record names sector %llu, beyond %llu",
			jname, (unsigned long long)off, (unsigned long long)r->sector,
			(unsigned long long)s->cfg.n_sectors);
		return -EBADMSG;
	}
	if (!ok && final) {
		rs->torn_records++;
		return 0;
	}
	bool fresh = slot < 0;

	if (fresh && (slot = index_add(s, r->sector)) < 0) {
		set_err(err, err_len, "sector store: out of memory (index)");
		return (int)slot;
	}
	if (!ok) {
		rs->corrupt++;
		s->stats.corrupt_records++;
		slog(s, ADD_LOG_WARN,
		     "sector store: %s at %llu: record of sector %llu (ts %llu, wr %u) corrupt "
		     "(data checksum mismatch)%s",
		     jname, (unsigned long long)off, (unsigned long long)r->sector,
		     (unsigned long long)r->ts, r->wr,
		     newer ? ": sector marked damaged (suspect)" : ": a newer value is known");
		if (fresh || in_order ||
		    tag_gt(r->ts, r->wr, s->slot_ts[slot], s->slot_wr[slot])) {
			s->slot_ts[slot] = r->ts;
			s->slot_wr[slot] = r->wr;
			s->slot_crc[slot] = r->crc;
			slot_set_flags(s, (size_t)slot, F_DAMAGED | F_SUSPECT);
			mark_dirty(s, (size_t)slot);
		}
		return 0;
	}
	if (!newer)
		return 0;
	int64_t rc = s->disk->pwrite(s->disk->ctx, s->h_data, data, SECTOR, r->sector * SECTOR);

	if (rc < 0) {
		set_err(err, err_len, "sector store: pwrite data at %llu (journal replay): %s%s",
			(unsigned long long)(r->sector * SECTOR), etext((int)rc), full_hint((int)rc));
		return (int)rc;
	}
	s->slot_ts[slot] = r->ts;
	s->slot_wr[slot] = r->wr;
	s->slot_crc[slot] = r->crc;
	slot_set_flags(s, (size_t)slot, 0);
	mark_dirty(s, (size_t)slot);
	rs->replayed++;
	return 0;
}

/*
 * Replays journal k: finds its chunks (pass 1: descriptors only), tells a
 * torn tail from corruption, then applies the records (pass 2).
 *
 * A batch may be torn only if its flush may have been in flight at the
 * crash: if no chunk written after it names a flight floor above its first
 * seq (a later batch written once it was durable). With FLIGHTS_MAX flushes
 * in flight, that is one of the last FLIGHTS_MAX batches. A bad chunk or
 * record of any other batch is corruption. Where the chain of chunks stops
 * at a batch that may be torn, every chunk after it is dropped with it:
 * none was reported durable before it.
 */
static int replay_journal(add_sector_store *s, int k, rstats *rs, char *err, size_t err_len)
{
	const char *jname = JOURNAL_NAME[k];
	int64_t size = s->disk->size(s->disk->ctx, s->j[k].h);

	if (size < 0) {
		set_err(err, err_len, "sector store: size of %s: %s", jname, etext((int)size));
		return (int)size;
	}
	if (size <= (int64_t)BLK)
		return 0; /* a header alone: nothing to replay */
	uint8_t *buf = malloc((size_t)CHUNK_BLOCKS * BLK);
	chunk_ref *c = NULL;
	size_t n = 0, cap = 0;
	uint64_t off = BLK;
	int64_t later = -1; /* highest flight floor of the chunks after the chain */
	int rc = 0;

	if (!buf) {
		set_err(err, err_len, "sector store: out of memory (replay)");
		return -ENOMEM;
	}
	for (uint32_t seq = 0;; seq++) {
		chunk_ref ref;

		rc = find_chunk(s, k, off, seq, buf, &ref, &rs->unreadable);
		if (rc < 0) {
			set_err(err, err_len, "sector store: pread %s at %llu: %s", jname,
				(unsigned long long)off, etext(rc));
			goto out;
		}
		if (rc == 0) {
			/* The end, a torn tail, or a lost chunk mid-journal. */
			const chunk_ref *last = n ? &c[n - 1] : NULL;
			bool in_batch = last && last->d.seq + 1u <
							last->d.batch_first + last->d.batch_chunks;
			uint32_t bf = in_batch ? last->d.batch_first : seq;

			later = scan_ahead(s, k, off, seq, buf, &rs->unreadable);

			if (later < 0 && later != -1) {
				rc = (int)later;
				set_err(err, err_len, "sector store: pread %s: %s", jname, etext(rc));
				goto out;
			}
			if (later > (int64_t)bf && !ADD_MUTANT_ON(ADD_MUTANT_STORE_CORRUPT_AS_TORN)) {
				rc = -EBADMSG;
				set_err(err, err_len,
					"sector store: %s: chunk %u at %llu is corrupt (descriptor and "
					"trailer) and later batches follow: which sectors it held is "
					"lost; refusing to open",
					jname, seq, (unsigned long long)off);
				goto out;
			}
			/* Chunks of batches in flight with bf follow, or bf
			 * itself stops midway: a torn tail (dropped). */
			rs->torn[k] = in_batch || later >= 0;
			break;
		}
		if (ref.desc_off != ref.off)
			slog(s, ADD_LOG_INFO,
			     "sector store: %s at %llu: chunk descriptor bad, trailer used", jname,
			     (unsigned long long)ref.off);
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			chunk_ref *nc = realloc(c, ncap * sizeof(*c));

			if (!nc) {
				rc = -ENOMEM;
				set_err(err, err_len, "sector store: out of memory (replay)");
				goto out;
			}
			c = nc;
			cap = ncap;
		}
		c[n++] = ref;
		off += (uint64_t)(2 + ref.d.count) * BLK;
	}
	rs->chunks[k] = n;
	uint64_t torn_before = rs->torn_records;
	/* pass 2; floor_after: the highest flight floor of the chunks after
	 * chunk i (the chain's, then those found past its end) */
	int64_t *floor_after = n ? malloc(n * sizeof(*floor_after)) : NULL;

	if (n && !floor_after) {
		rc = -ENOMEM;
		set_err(err, err_len, "sector store: out of memory (replay)");
		goto out;
	}
	for (size_t i = n; i-- > 0;) {
		int64_t next = i + 1 < n ? (int64_t)flight_floor(&c[i + 1].d) : -1;
		int64_t after = i + 1 < n ? floor_after[i + 1] : later;

		floor_after[i] = next > after ? next : after;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t desc[BLK];
		int64_t nb = read_blocks(s, s->j[k].h, desc, 1, c[i].desc_off);

		if (nb >= 0) /* unreadable data blocks: their records are corrupt */
			nb = read_blocks_tolerant(s, s->j[k].h, jname, buf, c[i].d.count,
						  c[i].off + BLK, &rs->unreadable);
		if (nb < 0) {
			rc = (int)nb;
			set_err(err, err_len, "sector store: pread %s at %llu: %s", jname,
				(unsigned long long)c[i].off, etext(rc));
			free(floor_after);
			goto out;
		}
		/* its batch may have been in flight at the crash: bad = torn */
		bool final = floor_after[i] <= (int64_t)c[i].d.batch_first;

		for (size_t r = 0; r < c[i].d.count; r++) {
			drec rec = desc_get_rec(desc, r);
			const uint8_t *data = buf + r * BLK;
			uint64_t roff = c[i].off + (1 + r) * BLK;

			if (ADD_MUTANT_ON(ADD_MUTANT_STORE_CORRUPT_AS_TORN) &&
			    add_crc32c(0, data, SECTOR) != rec.crc) {
				free(floor_after);
				goto out; /* the bug: the rest dropped as a torn tail */
			}
			rc = replay_record(s, rs, &rec, data, final, jname, roff, err, err_len);
			if (rc < 0) {
				free(floor_after);
				goto out;
			}
		}
	}
	free(floor_after);
	if (rs->torn_records > torn_before)
		rs->torn[k] = true; /* records of the last batch torn */
	rc = 0;
out:
	free(c);
	free(buf);
	return rc;
}

/* Checks the data of sectors whose meta page had a bad copy and that no
 * record replaced: their entry may be older than their data. */
static int verify_suspect_pages(add_sector_store *s, rstats *rs)
{
	uint8_t buf[SECTOR];

	for (size_t j = 0; j < s->n_slots; j++) {
		if (s->slot_sector[j] == NO_SECTOR || !(s->slot_flags[j] & F_VERIFY))
			continue;
		uint8_t f = (uint8_t)(s->slot_flags[j] & ~F_VERIFY);
		uint64_t sector = s->slot_sector[j];

		if (!(f & F_DAMAGED)) {
			int64_t got = s->disk->pread(s->disk->ctx, s->h_data, buf, SECTOR,
						     sector * SECTOR);

			if (got >= 0)
				memset(buf + got, 0, SECTOR - (size_t)got);
			if (got < 0 || add_crc32c(0, buf, SECTOR) != s->slot_crc[j]) {
				f |= F_DAMAGED | F_SUSPECT | (got < 0 ? F_EIO : 0);
				rs->verified_bad++;
				slog(s, ADD_LOG_WARN,
				     "sector store: meta page %zu had a bad copy and sector %llu's "
				     "data does not match the other (%s): marked damaged",
				     j / META_PER_PAGE, (unsigned long long)sector,
				     got < 0 ? etext((int)got) : "checksum mismatch");
			}
		}
		slot_set_flags(s, j, f);
	}
	return 0;
}

/* Home files flushed (meta pages rewritten from the index first), then the
 * journals reset and flushed, the one with the OLDER generation first: at
 * any crash in between, what a journal still holds is newer than what was
 * reset (repairs replay in order, so the order matters), and home holds
 * all of it. Afterwards the active journal has the lower generation. */
static int settle(add_sector_store *s)
{
	int rc;

	if ((rc = write_dirty_pages(s)) < 0)
		return rc;
	if ((rc = s->disk->sync(s->disk->ctx, s->h_data)) < 0) {
		io_fatal(s, "fdatasync", "data", 0, rc);
		return rc;
	}
	if ((rc = s->disk->sync(s->disk->ctx, s->h_meta)) < 0) {
		io_fatal(s, "fdatasync", "meta", 0, rc);
		return rc;
	}
	meta_pages_flushed(s);
	int first = s->j[0].gen <= s->j[1].gen ? 0 : 1;

	if (ADD_MUTANT_ON(ADD_MUTANT_STORE_SETTLE_FIXED_ORDER))
		first = 0; /* the bug: journal-a first, whatever the generations */
	for (int n = 0, k = first; n < 2; n++, k = 1 - k) {
		if ((rc = journal_reset(s, k, true)) < 0)
			return rc;
		if ((rc = s->disk->sync(s->disk->ctx, s->j[k].h)) < 0) {
			io_fatal(s, "fdatasync", JOURNAL_NAME[k], 0, rc);
			return rc;
		}
	}
	s->aj = first;
	assert(s->j[first].gen < s->j[1 - first].gen);
	assert(journal_empty(&s->j[0]) && journal_empty(&s->j[1]));
	return 0;
}

/* LSD radix sort, two 16-bit passes: O(n), where qsort of a million
 * sectors costs a fifth of a second. */
static int radix_sort_u32(uint32_t *a, size_t n)
{
	if (n < 65536) { /* the count table would cost more than qsort */
		qsort(a, n, sizeof(*a), cmp_u32);
		return 0;
	}
	uint32_t *tmp = malloc((n ? n : 1) * sizeof(*tmp));
	size_t *count = malloc(65537 * sizeof(*count));

	if (!tmp || !count) {
		free(tmp);
		free(count);
		return -ENOMEM;
	}
	for (int shift = 0; shift < 32; shift += 16) {
		uint32_t *src = shift ? tmp : a, *dst = shift ? a : tmp;

		memset(count, 0, 65537 * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[((src[i] >> shift) & 0xffff) + 1]++;
		for (size_t d = 0; d < 65536; d++)
			count[d + 1] += count[d];
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
	}
	free(tmp);
	free(count);
	assert(n < 2 || a[0] <= a[n - 1]);
	return 0;
}

static int build_written(add_sector_store *s)
{
	size_t n = 0;

	for (size_t j = 0; j < s->n_slots; j++)
		n += s->slot_sector[j] != NO_SECTOR;
	free(s->ws);
	s->ws = malloc((n ? n : 1) * sizeof(*s->ws));
	if (!s->ws)
		return -ENOMEM;
	s->ws_cap = n ? n : 1;
	s->ws_n = 0;
	for (size_t j = 0; j < s->n_slots; j++)
		if (s->slot_sector[j] != NO_SECTOR)
			s->ws[s->ws_n++] = s->slot_sector[j];
	return radix_sort_u32(s->ws, s->ws_n);
}

/* Reads block 0 of journal k: its generation (0 if neither copy is valid). */
static int read_journal_header(add_sector_store *s, int k, bool *ok, char *err, size_t err_len)
{
	uint8_t blk[BLK];
	bool one_bad = false;
	int64_t nb = read_blocks(s, s->j[k].h, blk, 1, 0);

	if (nb < 0) {
		int64_t size = s->disk->size(s->disk->ctx, s->j[k].h);

		if (size >= 0 && size <= (int64_t)BLK) {
			/* An empty journal: nothing to replay; settle rewrites it. */
			s->stats.read_errors++;
			slog(s, ADD_LOG_WARN, "sector store: pread %s at 0: %s (an empty journal's "
					      "header: rewritten)", JOURNAL_NAME[k], etext((int)nb));
			*ok = false;
			s->j[k].gen = 0;
			return 0;
		}
		set_err(err, err_len,
			"sector store: pread %s at 0: %s: the header of a journal holding records "
			"is unreadable; refusing to open",
			JOURNAL_NAME[k], etext((int)nb));
		return (int)nb;
	}
	*ok = jhdr_decode(s, blk, &s->j[k].gen, &one_bad);
	if (!*ok)
		s->j[k].gen = 0;
	if (one_bad)
		slog(s, ADD_LOG_INFO, "sector store: %s: one copy of its header is bad (torn "
				      "reset or rot); using the other", JOURNAL_NAME[k]);
	return 0;
}

/* Lowest and highest written sector >= from, and how many. */
static uint64_t count_written_from(const add_sector_store *s, uint64_t from, uint64_t *lo,
				   uint64_t *hi)
{
	uint64_t n = 0;

	*lo = UINT64_MAX;
	*hi = 0;
	for (size_t j = 0; j < s->n_slots; j++) {
		uint64_t x = s->slot_sector[j];

		if (x == NO_SECTOR || x < from)
			continue;
		n++;
		*lo = x < *lo ? x : *lo;
		*hi = x > *hi ? x : *hi;
	}
	return n;
}

/*
 * Both copies of journal k's header are bad. Either a reset was torn by a
 * crash (its records, of the old generation, are all home and flushed:
 * none is needed), or rot hit both copies of a journal whose records may be
 * needed. The header says no more than the generation, and every chunk
 * descriptor repeats it: if the first chunk is whole, its generation is the
 * journal's. Newer than the other journal's (a valid header): this was the
 * active journal, its records are replayed as usual. Otherwise it cannot be
 * told from a torn reset: the records are replayed with the highest tag
 * winning for all of them, repairs too, which can only bring a sector up to
 * a value this process durably held, never back. (Without a whole first
 * chunk there is nothing to go on: nothing is replayed, as before.)
 * Returns true if the journal is to be replayed; *tags_only as above.
 */
static bool probe_headerless(add_sector_store *s, int k, bool other_ok, bool *tags_only)
{
	uint8_t blk[BLK];
	desc_info d;
	uint64_t gen;
	uint64_t ignored = 0;

	assert(k == 0 || k == 1);
	*tags_only = false;
	gen = 0;
	if (read_blocks_tolerant(s, s->j[k].h, JOURNAL_NAME[k], blk, 1, BLK, &ignored) == 1 &&
	    get_u32(blk) == DESC_MAGIC)
		gen = get_u64(blk + 8);
	if (gen == 0 || !desc_decode(s, blk, DESC_MAGIC, gen, &d) || d.seq != 0) {
		slog(s, ADD_LOG_WARN,
		     "sector store: %s: both copies of its header are corrupt (a torn reset, or "
		     "rot) and no whole record follows: nothing to replay; rewritten",
		     JOURNAL_NAME[k]);
		return false;
	}
	s->j[k].gen = gen;
	*tags_only = !(other_ok && gen > s->j[1 - k].gen);
	s->stats.corrupt_records++;
	slog(s, ADD_LOG_WARN,
	     "sector store: %s: both copies of its header are corrupt; its records "
	     "(generation %llu%s) are replayed%s",
	     JOURNAL_NAME[k], (unsigned long long)gen,
	     *tags_only ? "" : ", newer than the other journal's",
	     *tags_only ? " where they are the newest known (it may be a torn reset)" : "");
	assert(s->j[k].gen == gen);
	return true;
}

static int recover(add_sector_store *s, uint64_t want_sectors, char *err, size_t err_len)
{
	rstats rs = { 0 };
	bool ok[2] = { false, false };
	int rc;
	const char *names[4] = { "data", "meta", JOURNAL_NAME[0], JOURNAL_NAME[1] };
	int *hs[4] = { &s->h_data, &s->h_meta, &s->j[0].h, &s->j[1].h };

	for (int i = 0; i < 4; i++) {
		*hs[i] = s->disk->open(s->disk->ctx, names[i], false);
		if (*hs[i] < 0) {
			set_err(err, err_len, "sector store: open %s: %s", names[i], etext(*hs[i]));
			return *hs[i];
		}
	}
	if ((rc = recover_meta(s, &rs, err, err_len)) < 0)
		return rc;
	bool tags_only[2] = { false, false }, probed[2] = { false, false };

	for (int k = 0; k < 2; k++)
		if ((rc = read_journal_header(s, k, &ok[k], err, err_len)) < 0)
			return rc;
	for (int k = 0; k < 2; k++)
		if (!ok[k] && !ADD_MUTANT_ON(ADD_MUTANT_STORE_HEADERLESS_SKIPPED))
			probed[k] = probe_headerless(s, k, ok[1 - k], &tags_only[k]);
	for (int k = 0; k < 2; k++)
		ok[k] = ok[k] || probed[k];
	/* Older generation first: its records precede the other's. */
	int first = s->j[0].gen <= s->j[1].gen ? 0 : 1;

	for (int n = 0, k = first; n < 2; n++, k = 1 - k) {
		if (!ok[k] || ADD_MUTANT_ON(ADD_MUTANT_RECOVERY_IGNORES_JOURNAL))
			continue; /* (the mutant: the journal ignored) */
		rs.tags_only = tags_only[k];
		if ((rc = replay_journal(s, k, &rs, err, err_len)) < 0)
			return rc;
	}
	rs.tags_only = false;
	s->stats.recovered_records = rs.replayed;
	verify_suspect_pages(s, &rs);
	uint64_t suspects = 0;

	for (size_t j = 0; j < s->n_slots; j++) {
		if (s->slot_sector[j] == NO_SECTOR)
			continue;
		if ((s->slot_flags[j] & F_SUSPECT) && (s->slot_flags[j] & F_DAMAGED))
			suspects++;
		s->slot_flags[j] &= (uint8_t)~F_SUSPECT;
	}
	s->stats.suspect_sectors = suspects;
	s->stats.torn_tail = rs.torn[0] || rs.torn[1];
	if (want_sectors < s->cfg.n_sectors) {
		uint64_t lo, hi, n = count_written_from(s, want_sectors, &lo, &hi);

		if (n > 0) {
			set_err(err, err_len,
				"sector store: the store has %llu sectors and %llu were asked: sectors "
				"%llu..%llu hold data (%llu written); refusing to shrink",
				(unsigned long long)s->cfg.n_sectors, (unsigned long long)want_sectors,
				(unsigned long long)lo, (unsigned long long)hi, (unsigned long long)n);
			return -EINVAL;
		}
	}
	if ((rc = settle(s)) < 0) {
		set_err(err, err_len, "%s", s->why);
		return rc;
	}
	if ((rc = build_written(s)) < 0) {
		set_err(err, err_len, "sector store: out of memory");
		return rc;
	}
	s->stats.meta_pages_lost = rs.lost_pages;
	if (rs.corrupt || rs.lost_pages || rs.verified_bad || rs.unreadable)
		slog(s, ADD_LOG_WARN,
		     "sector store: recovery found corruption: %llu corrupt journal records, "
		     "%llu meta pages bad in both copies, %llu sectors whose data did not match "
		     "meta, %llu unreadable blocks",
		     (unsigned long long)rs.corrupt, (unsigned long long)rs.lost_pages,
		     (unsigned long long)rs.verified_bad, (unsigned long long)rs.unreadable);
	slog(s, ADD_LOG_INFO,
	     "sector store: recovered %llu sectors from meta, %llu journal records replayed "
	     "(%s %llu chunks, %s %llu chunks), torn tail %s (%llu records dropped), %llu "
	     "corrupt records, %llu suspect sectors, %llu meta pages with a bad copy, %llu "
	     "damaged now",
	     (unsigned long long)rs.meta_sectors, (unsigned long long)rs.replayed, JOURNAL_NAME[0],
	     (unsigned long long)rs.chunks[0], JOURNAL_NAME[1], (unsigned long long)rs.chunks[1],
	     s->stats.torn_tail ? "yes" : "no", (unsigned long long)rs.torn_records,
	     (unsigned long long)rs.corrupt, (unsigned long long)suspects,
	     (unsigned long long)rs.bad_copies, (unsigned long long)s->stats.damaged_now);
	return 0;
}

/* ---- open, creation, close ---- */

static uint32_t seed_of(const add_superblock *sb)
{
	return add_crc32c(0, sb->cluster_id, sizeof(sb->cluster_id));
}

/* Fresh store: empty files, journal headers (a: gen 1, active; b: gen 2,
 * empty), all durable, then the superblock; "journal-a" appears last, by
 * rename: with the superblock, its presence says "a store exists here". */
static int create_files(add_sector_store *s, bool write_sb, char *err, size_t err_len)
{
	const char *names[4] = { "data", "meta", JOURNAL_NAME[1], "journal-a.new" };
	int *hs[4] = { &s->h_data, &s->h_meta, &s->j[1].h, &s->j[0].h };
	int rc;

	for (int i = 0; i < 4; i++) {
		*hs[i] = s->disk->open(s->disk->ctx, names[i], true);
		if (*hs[i] < 0) {
			set_err(err, err_len, "sector store: create %s: %s", names[i],
				etext(*hs[i]));
			return *hs[i];
		}
	}
	/* Creation only (no store here yet): an empty meta is an empty store,
	 * whatever "data" holds; data is not truncated, so a runtime may
	 * preallocate it. */
	if ((rc = s->disk->truncate(s->disk->ctx, s->h_meta, 0)) < 0) {
		set_err(err, err_len, "sector store: truncate meta at 0: %s", etext(rc));
		return rc;
	}
	s->j[0].gen = s->j[1].gen = 0;
	if ((rc = journal_reset(s, 0, true)) < 0 || (rc = journal_reset(s, 1, true)) < 0) {
		set_err(err, err_len, "%s", s->why);
		return rc;
	}
	for (int i = 0; i < 4; i++)
		if ((rc = s->disk->sync(s->disk->ctx, *hs[i])) < 0) {
			set_err(err, err_len, "sector store: fdatasync %s: %s", names[i], etext(rc));
			return rc;
		}
	if (write_sb) {
		char e2[160];

		if ((rc = add_superblock_write(s->disk, &s->sb, e2, sizeof(e2))) < 0) {
			set_err(err, err_len, "sector store: writing the superblock: %s", e2);
			return rc;
		}
	}
	if ((rc = s->disk->rename(s->disk->ctx, "journal-a.new", JOURNAL_NAME[0])) < 0 ||
	    (rc = s->disk->sync_dir(s->disk->ctx)) < 0) {
		set_err(err, err_len, "sector store: rename journal-a.new to journal-a: %s",
			etext(rc));
		return rc;
	}
	s->aj = 0;
	if ((rc = build_written(s)) < 0)
		return rc;
	slog(s, ADD_LOG_INFO, "sector store: created (rank %u, %llu sectors)", s->sb.rank,
	     (unsigned long long)s->sb.n_sectors);
	return 0;
}

typedef struct dir_files {
	bool data, meta, ja, jb, ja_new;
} dir_files;

static void note_file(void *arg, const char *name)
{
	dir_files *f = arg;

	if (strcmp(name, "data") == 0)
		f->data = true;
	else if (strcmp(name, "meta") == 0)
		f->meta = true;
	else if (strcmp(name, JOURNAL_NAME[0]) == 0)
		f->ja = true;
	else if (strcmp(name, JOURNAL_NAME[1]) == 0)
		f->jb = true;
	else if (strcmp(name, "journal-a.new") == 0)
		f->ja_new = true;
}

/* "found data, meta; missing journal-a" */
static void describe_files(const dir_files *f, bool sb, char *out, size_t len)
{
	const char *names[5] = { "data", "meta", "journal-a", "journal-b", "superblock" };
	bool have[5] = { f->data, f->meta, f->ja, f->jb, sb };
	size_t o = 0;

	out[0] = 0;
	for (int pass = 0; pass < 2; pass++) {
		bool any = false;

		for (int i = 0; i < 5 && o < len; i++)
			if (have[i] == (pass == 0)) {
				o += (size_t)snprintf(out + o, len - o, "%s%s", any ? ", " : pass ? "; missing " : "found ", names[i]);
				any = true;
			}
		if (!any && o < len)
			o += (size_t)snprintf(out + o, len - o, "%s", pass ? "; missing nothing" : "found nothing");
	}
}

static void new_identity(add_sector_store *s, uint64_t n_sectors)
{
	memset(&s->sb, 0, sizeof(s->sb));
	s->sb.format_version = ADD_SUPERBLOCK_FORMAT;
	s->sb.rank = s->cfg.rank;
	s->sb.n_sectors = n_sectors;
	memcpy(s->sb.cluster_id, s->cfg.new_identity, ADD_CLUSTER_ID_SIZE);
	s->sb.incarnation = get_u64(s->cfg.new_identity) ^ (get_u64(s->cfg.new_identity + 8) << 1) ^
			    0x9e3779b97f4a7c15ull;
	s->seed = seed_of(&s->sb);
}

/* Size of a file of the directory; <= 0 if empty or missing. */
static int64_t file_size(const add_sector_store *s, const char *name)
{
	int h = s->disk->open(s->disk->ctx, name, false);

	if (h < 0)
		return h == -ENOENT ? 0 : h;
	int64_t size = s->disk->size(s->disk->ctx, h);

	s->disk->close(s->disk->ctx, h);
	return size;
}

/* Decides between create, finish an interrupted creation, recover, refuse. */
static int open_or_create(add_sector_store *s, char *err, size_t err_len)
{
	dir_files f = { 0 };
	char e2[200], files[160];
	uint64_t want = s->cfg.n_sectors;
	int rc = s->disk->list(s->disk->ctx, note_file, &f);

	if (rc < 0) {
		set_err(err, err_len, "sector store: listing the directory: %s", etext(rc));
		return rc;
	}
	rc = add_superblock_read(s->disk, &s->sb, e2, sizeof(e2));
	if (rc == -ENOENT) {
		bool any = f.data || f.meta || f.ja || f.jb;

		describe_files(&f, false, files, sizeof(files));
		if (!any || (!f.ja && file_size(s, "meta") <= 0 &&
			     file_size(s, JOURNAL_NAME[1]) <= (int64_t)BLK) ||
		    (ADD_MUTANT_ON(ADD_MUTANT_STORE_RECREATES_PARTIAL) && !f.ja)) {
			/* Nothing here, or a creation that never finished: no
			 * superblock, no journal-a, meta empty, journal-b at most
			 * a header (a store that was never opened, or an old
			 * one that never held anything: nothing is lost). */
			new_identity(s, want);
			return create_files(s, true, err, err_len);
		}
		if (f.ja)
			set_err(err, err_len,
				"sector store: old-format store here (journal-a without a superblock: "
				"layout 1; this is layout %u): refusing to open it; move its files "
				"away (%s)",
				ADD_SUPERBLOCK_FORMAT, files);
		else
			set_err(err, err_len,
				"sector store: partial store (%s): refusing to open or re-create over it",
				files);
		return -EEXIST;
	}
	if (rc < 0) {
		set_err(err, err_len, "sector store: superblock: %s", e2);
		return rc;
	}
	if (s->sb.format_version != ADD_SUPERBLOCK_FORMAT) {
		set_err(err, err_len, "sector store: superblock says layout %u, this code knows %u",
			s->sb.format_version, ADD_SUPERBLOCK_FORMAT);
		return -EBADMSG;
	}
	if (s->sb.rank != 0 && s->cfg.rank != 0 && s->sb.rank != s->cfg.rank) {
		set_err(err, err_len,
			"sector store: this storage belongs to rank %u, not to rank %u: refusing it",
			s->sb.rank, s->cfg.rank);
		return -EPERM;
	}
	s->seed = seed_of(&s->sb);
	if (!f.ja && f.ja_new) /* creation stopped after the superblock */
		return create_files(s, false, err, err_len);
	if (!(f.data && f.meta && f.ja && f.jb)) {
		describe_files(&f, true, files, sizeof(files));
		if (ADD_MUTANT_ON(ADD_MUTANT_STORE_RECREATES_PARTIAL))
			return create_files(s, false, err, err_len);
		set_err(err, err_len,
			"sector store: partial store (%s): refusing to open or re-create over it",
			files);
		return -ENOENT;
	}
	if (s->sb.n_sectors > s->cfg.n_sectors)
		s->cfg.n_sectors = s->sb.n_sectors; /* checked against `want` after replay */
	if ((rc = recover(s, want, err, err_len)) < 0)
		return rc;
	s->cfg.n_sectors = want;
	if (s->sb.n_sectors != want) {
		add_superblock sb = s->sb;

		sb.n_sectors = want;
		if ((rc = add_superblock_write(s->disk, &sb, e2, sizeof(e2))) < 0) {
			set_err(err, err_len, "sector store: resizing to %llu sectors: %s",
				(unsigned long long)want, e2);
			return rc;
		}
		slog(s, ADD_LOG_INFO, "sector store: resized from %llu to %llu sectors",
		     (unsigned long long)s->sb.n_sectors, (unsigned long long)want);
		s->sb = sb;
	}
	return 0;
}

add_sector_store *add_sector_store_open(const add_sector_store_config *cfg, char *err,
					size_t err_len)
{
	add_sector_store *s;

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
	s->opening = true;
	s->h_data = s->h_meta = s->j[0].h = s->j[1].h = -1;
	s->journal_max = cfg->journal_max_bytes ? cfg->journal_max_bytes : JOURNAL_MAX_DEFAULT;
	s->batch_max = cfg->batch_max ? cfg->batch_max : BATCH_MAX_DEFAULT;
	if (s->batch_max < BATCH_INITIAL)
		s->batch_max = BATCH_INITIAL;
	s->flights = cfg->journal_flights == 0 || cfg->journal_flights > FLIGHTS_MAX
			     ? FLIGHTS_MAX
			     : (int)cfg->journal_flights;
	assert(s->flights >= 1 && s->flights <= FLIGHTS_MAX);
	bool oom = index_rehash(s, 1024) < 0;

	for (int k = 0; k < NBATCH && !oom; k++)
		oom = batch_grow(&s->b[k], BATCH_INITIAL) < 0;
	if (oom) {
		set_err(err, err_len, "sector store: out of memory");
		goto fail;
	}
	if (open_or_create(s, err, err_len) < 0)
		goto fail;
	assert(!s->fatal && s->aj >= 0 && s->aj <= 1);
	s->opening = false;
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
	s->opening = true;
	if (!s->fatal && s->n_flying == 0 && s->n_unapplied &&
	    write_batch_home(s, &s->b[s->first]) == 0) {
		batch_clear(&s->b[s->first]);
		s->n_unapplied = 0;
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
	for (int k = 0; k < NBATCH; k++)
		batch_free(&s->b[k]);
	free(s->buckets);
	free(s->slot_sector);
	free(s->slot_ts);
	free(s->slot_crc);
	free(s->slot_wr);
	free(s->slot_flags);
	free(s->ws);
	free(s->page_seq);
	free(s->page_cur);
	free(s->page_dirty);
	free(s->ck_pages);
	free(s);
}
