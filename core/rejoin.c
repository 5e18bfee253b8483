/*
 * core/rejoin: see rejoin.h. The record (kv key "rejoin", files "rj.*",
 * little-endian):
 *   0 u32 magic "ADRJ"   4 u32 version (1)   8 u8 state, u8 n_procs, 2 zero
 *  12 u64 cursor        20 u64 ts floor       28 u64 genesis incarnation of
 *  ranks 1..n_procs     28 + 8 n  u32 CRC32C of everything before it
 *
 * The ts floor: an earlier incarnation of this rank may have left a write
 * (ts, rank) that never completed on processes the rebuild did not ask; a
 * new write must never reuse that tag with another value. Such a tag's ts
 * exceeds the highest ts the rebuild learned for its sector by at most the
 * number of writes of that sector that never completed in a row (each
 * needed a crash or a lost quorum), so every tag this storage writes is
 * lifted above (highest ts learned) + ADD_REJOIN_TS_MARGIN (2^32), recorded
 * before a write can use it.
 */
#include "rejoin.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "disk_prefix.h"
#include "kv_store.h"
#include "mutants.h"
#include "wire_constants.h"

#define RJ_PREFIX "rj."
#define RJ_KEY "rejoin"
#define RJ_MAGIC 0x4a524441u /* "ADRJ" */
#define RJ_VERSION 1u
#define RJ_HEAD 28u
#define TS_MARGIN (1ull << 32)
/* genesis[r]: r's founding incarnation; 0: r was no founder; this: not known */
#define GENESIS_UNKNOWN UINT64_MAX

struct add_rejoin {
	add_rejoin_config cfg;
	add_disk_prefix view;
	add_kv *kv;
	add_rejoin_state state;
	uint64_t cursor;       /* every sector below it is known */
	uint64_t floor;        /* writers' ts floor (see the top) */
	uint64_t floor_recorded;
	uint64_t known;        /* sectors known (RECOVERING) */
	uint64_t *bits;        /* known sectors (not MEMBER), n_sectors bits */
	uint64_t incarnation;  /* this storage's (superblock) */
	uint64_t genesis[ADD_PROCS_MAX + 1]; /* founders' incarnations, 0: none */
	/* what the peers said (peer_state 0: nothing yet) */
	uint8_t peer_state[ADD_PROCS_MAX + 1];
	uint64_t peer_inc[ADD_PROCS_MAX + 1];
	const add_store_ops *inner;
	void *inner_ctx;
	bool failed;
	uint64_t last_log_ns;
	uint64_t legacy_since_ns; /* 0: the legacy condition does not hold */
	uint64_t logged_known;
};

static void rj_log(add_rejoin *rj, add_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rj_log(add_rejoin *rj, add_log_level level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (rj->cfg.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rj->cfg.log(rj->cfg.log_arg, level, line);
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

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static size_t record_size(uint8_t n_procs)
{
	return RJ_HEAD + 8u * n_procs + 4u;
}

static size_t encode(const add_rejoin *rj, uint8_t *b)
{
	uint8_t n = rj->cfg.n_procs;
	size_t len = record_size(n);

	memset(b, 0, len);
	put_u32(b, RJ_MAGIC);
	put_u32(b + 4, RJ_VERSION);
	b[8] = (uint8_t)rj->state;
	b[9] = n;
	put_u64(b + 12, rj->cursor);
	put_u64(b + 20, rj->floor);
	for (unsigned r = 1; r <= n; r++)
		put_u64(b + RJ_HEAD + 8u * (r - 1), rj->genesis[r]);
	put_u32(b + len - 4, add_crc32c(0, b, len - 4));
	return len;
}

/* 0, or -EBADMSG with `why`. */
static int decode(add_rejoin *rj, const uint8_t *b, size_t len, const char **why)
{
	uint8_t n = rj->cfg.n_procs;

	if (len < RJ_HEAD + 4 || get_u32(b) != RJ_MAGIC || get_u32(b + 4) != RJ_VERSION) {
		*why = "not a rejoin record of this version";
		return -EBADMSG;
	}
	if (b[9] != n || len != record_size(n)) {
		*why = "recorded for another number of processes";
		return -EBADMSG;
	}
	if (get_u32(b + len - 4) != add_crc32c(0, b, len - 4)) {
		*why = "checksum mismatch";
		return -EBADMSG;
	}
	if (b[8] < ADD_REJOIN_MEMBER || b[8] > ADD_REJOIN_RECOVERING) {
		*why = "unknown state";
		return -EBADMSG;
	}
	rj->state = (add_rejoin_state)b[8];
	rj->cursor = get_u64(b + 12);
	rj->floor = rj->floor_recorded = get_u64(b + 20);
	if (rj->cursor > rj->cfg.n_sectors)
		rj->cursor = rj->cfg.n_sectors;
	for (unsigned r = 1; r <= n; r++)
		rj->genesis[r] = get_u64(b + RJ_HEAD + 8u * (r - 1));
	return 0;
}

/* Writes the record durably (kv put: returns once on disk); a failure makes
 * the process stop (add_rejoin_failed). */
static void persist(add_rejoin *rj)
{
	uint8_t b[RJ_HEAD + 8u * ADD_PROCS_MAX + 4u];
	size_t len = encode(rj, b);
	int rc = add_kv_put(rj->kv, RJ_KEY, strlen(RJ_KEY), b, len);

	assert(len <= sizeof(b));
	if (rc == 0)
		rj->floor_recorded = rj->floor;
	if (rc < 0) {
		rj->failed = true;
		rj_log(rj, ADD_LOG_ERROR,
		       "rejoin: writing its record (files " RJ_PREFIX "*) failed: errno %d", -rc);
	}
}

const char *add_rejoin_state_name(add_rejoin_state s)
{
	switch (s) {
	case ADD_REJOIN_MEMBER:
		return "member";
	case ADD_REJOIN_FRESH:
		return "fresh";
	case ADD_REJOIN_RECOVERING:
		return "recovering";
	}
	return "?";
}

static bool bit(const add_rejoin *rj, uint64_t s)
{
	return (rj->bits[s / 64] >> (s % 64)) & 1u;
}

static void become_member(add_rejoin *rj, const char *why)
{
	rj->state = ADD_REJOIN_MEMBER;
	rj->cursor = rj->cfg.n_sectors;
	free(rj->bits);
	rj->bits = NULL;
	persist(rj);
	rj_log(rj, ADD_LOG_INFO, "rejoin: now a full member (%s)", why);
}

static void become_recovering(add_rejoin *rj, const char *why)
{
	assert(rj->state == ADD_REJOIN_FRESH && rj->bits != NULL);
	rj->state = ADD_REJOIN_RECOVERING;
	persist(rj);
	rj_log(rj, ADD_LOG_WARN,
	       "rejoin: this storage is new but the cluster holds data (%s): recovering; "
	       "re-learning %llu sectors from the other processes before serving them",
	       why, (unsigned long long)rj->cfg.n_sectors);
}

add_rejoin *add_rejoin_open(const add_rejoin_config *cfg, char *err, size_t err_len)
{
	char why[160] = "";
	uint8_t b[RJ_HEAD + 8u * ADD_PROCS_MAX + 4u];
	size_t len = 0;
	add_rejoin *rj;
	int rc;

	if (cfg == NULL || cfg->disk == NULL || cfg->n_procs < 1 || cfg->rank < 1 ||
	    cfg->rank > cfg->n_procs || cfg->n_sectors == 0) {
		snprintf(err, err_len, "rejoin: bad configuration");
		return NULL;
	}
	rj = calloc(1, sizeof(*rj));
	if (rj == NULL) {
		snprintf(err, err_len, "rejoin: out of memory");
		return NULL;
	}
	rj->cfg = *cfg;
	if (!add_disk_prefix_init(&rj->view, cfg->disk, RJ_PREFIX) ||
	    (rj->kv = add_kv_open(&rj->view.ops, why, sizeof(why))) == NULL) {
		snprintf(err, err_len, "rejoin: opening its record (files " RJ_PREFIX "*): %s", why);
		free(rj);
		return NULL;
	}
	rj->state = ADD_REJOIN_MEMBER;
	if (cfg->store_created) {
		/* before the store exists: a crash from here on restarts FRESH */
		rj->state = ADD_REJOIN_FRESH;
		rj->cursor = 0;
		persist(rj);
	} else {
		rc = add_kv_get(rj->kv, RJ_KEY, strlen(RJ_KEY), b, sizeof(b), &len);
		if (rc == 0) {
			const char *bad = NULL;

			rc = decode(rj, b, len, &bad);
			if (rc < 0) {
				snprintf(err, err_len,
					 "rejoin: its record (files " RJ_PREFIX "*) is corrupt: %s; "
					 "refusing to guess whether this storage is complete "
					 "(--force-rejoin makes it a member: writes may be lost)",
					 bad);
				if (!cfg->force)
					goto fail;
				rj->state = ADD_REJOIN_RECOVERING;
			}
		} else if (rc != -ENOENT) {
			snprintf(err, err_len, "rejoin: reading its record (files " RJ_PREFIX "*): errno %d",
				 -rc);
			goto fail;
		}
		if (rc == -ENOENT) {
			/* a store from before rejoin, or the record was deleted:
			 * the storage continues its past (its superblock says so) */
			rj_log(rj, ADD_LOG_WARN,
			       "rejoin: no record (files " RJ_PREFIX "*) beside existing storage: "
			       "taken as continuing its own past (a store from before rejoin, or "
			       "the record was deleted); recorded as a member");
			persist(rj);
		}
	}
	if (rj->state != ADD_REJOIN_MEMBER) {
		rj->bits = calloc((size_t)((cfg->n_sectors + 63) / 64), sizeof(uint64_t));
		if (rj->bits == NULL) {
			snprintf(err, err_len, "rejoin: out of memory for %llu sectors",
				 (unsigned long long)cfg->n_sectors);
			goto fail;
		}
		for (uint64_t s = 0; s < rj->cursor; s++)
			rj->bits[s / 64] |= 1ull << (s % 64);
		rj->known = rj->cursor;
	}
	if (cfg->n_procs == 1 && rj->state != ADD_REJOIN_MEMBER) {
		/* alone: no other process could have held anything of it */
		become_member(rj, "a cluster of one process");
	} else if (cfg->force && rj->state != ADD_REJOIN_MEMBER) {
		rj_log(rj, ADD_LOG_WARN,
		       "rejoin: --force-rejoin: this %s storage is made a member without re-learning "
		       "what the cluster holds: writes acknowledged before may be LOST",
		       add_rejoin_state_name(rj->state));
		become_member(rj, "forced");
	} else if (rj->state == ADD_REJOIN_RECOVERING) {
		rj_log(rj, ADD_LOG_WARN, "rejoin: resuming recovery at sector %llu of %llu",
		       (unsigned long long)rj->cursor, (unsigned long long)cfg->n_sectors);
	} else if (rj->state == ADD_REJOIN_FRESH) {
		rj_log(rj, ADD_LOG_INFO,
		       "rejoin: new storage: serving nothing until the peers say whether the "
		       "cluster is new or holds data");
	}
	if (rj->failed) {
		snprintf(err, err_len, "rejoin: writing its record (files " RJ_PREFIX "*) failed");
		goto fail;
	}
	return rj;
fail:
	add_rejoin_close(rj);
	return NULL;
}

void add_rejoin_close(add_rejoin *rj)
{
	if (rj == NULL)
		return;
	if (rj->kv)
		add_kv_close(rj->kv);
	free(rj->bits);
	free(rj);
}

void add_rejoin_attach(add_rejoin *rj, const add_store_ops *inner, void *inner_ctx,
		       uint64_t incarnation)
{
	assert(rj != NULL && inner != NULL && inner->get_meta != NULL);
	rj->inner = inner;
	rj->inner_ctx = inner_ctx;
	rj->incarnation = incarnation;
}

add_rejoin_state add_rejoin_get_state(const add_rejoin *rj)
{
	return rj->state;
}

bool add_rejoin_sector_known(const add_rejoin *rj, uint64_t sector)
{
	if (rj->state == ADD_REJOIN_MEMBER)
		return true;
	if (ADD_MUTANT_ON(ADD_MUTANT_REJOIN_SERVES_UNKNOWN))
		return rj->state == ADD_REJOIN_RECOVERING;
	assert(rj->bits != NULL);
	return sector < rj->cfg.n_sectors && bit(rj, sector);
}

uint64_t add_rejoin_known(const add_rejoin *rj)
{
	return rj->state == ADD_REJOIN_MEMBER ? rj->cfg.n_sectors : rj->known;
}

uint64_t add_rejoin_cursor(const add_rejoin *rj)
{
	return rj->cursor;
}

bool add_rejoin_failed(const add_rejoin *rj)
{
	return rj->failed;
}

/* A repair of `sector` is durable: it is known now. */
static void learned(add_rejoin *rj, uint64_t sector)
{
	uint64_t before = rj->cursor;

	if (rj->state == ADD_REJOIN_MEMBER || sector >= rj->cfg.n_sectors || bit(rj, sector))
		return;
	rj->bits[sector / 64] |= 1ull << (sector % 64);
	rj->known++;
	while (rj->cursor < rj->cfg.n_sectors && bit(rj, rj->cursor))
		rj->cursor++;
	if (ADD_MUTANT_ON(ADD_MUTANT_REJOIN_SKIPS_SECTOR) && sector + 1 < rj->cfg.n_sectors &&
	    !bit(rj, sector + 1)) {
		/* the bug: the next sector is taken as known without a repair */
		rj->bits[(sector + 1) / 64] |= 1ull << ((sector + 1) % 64);
		rj->known++;
	}
	while (rj->cursor < rj->cfg.n_sectors && bit(rj, rj->cursor))
		rj->cursor++;
	assert(rj->known <= rj->cfg.n_sectors && rj->cursor <= rj->known);
	if (rj->state != ADD_REJOIN_RECOVERING)
		return; /* FRESH: a peer-less repair cannot happen (no answers) */
	if (rj->cursor == rj->cfg.n_sectors) {
		char why[96];

		snprintf(why, sizeof(why), "re-learned all %llu sectors from the others",
			 (unsigned long long)rj->cfg.n_sectors);
		become_member(rj, why);
	} else if (rj->cursor / ADD_REJOIN_PERSIST_EVERY != before / ADD_REJOIN_PERSIST_EVERY) {
		persist(rj);
	}
}

/* ---- the store ops the node sees --------------------------------------- */

/* An unknown sector shows the highest tag there is: its real tag says
 * nothing (the storage forgot what its earlier incarnation ACKed). So a
 * WRITE_PROC is never "newer" (not stored, not ACKed: a repair is asked
 * for), and the node's repair (register.c, repair_may_decide) waits for
 * EVERY other process to answer, the coordinator of any write the earlier
 * incarnation ACKed among them, whose answer already holds that write. */
static void w_get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	add_rejoin *rj = ctx;

	if (!add_rejoin_sector_known(rj, sector) && !ADD_MUTANT_ON(ADD_MUTANT_REJOIN_ACKS_UNKNOWN)) {
		*ts = UINT64_MAX;
		*wr = UINT8_MAX;
		return;
	}
	rj->inner->get_meta(rj->inner_ctx, sector, ts, wr);
}

static int w_read_data(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE])
{
	add_rejoin *rj = ctx;

	if (!add_rejoin_sector_known(rj, sector))
		return -EBADMSG; /* unknown: like damage, never read out */
	return rj->inner->read_data(rj->inner_ctx, sector, out);
}

static int w_store(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		   const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	add_rejoin *rj = ctx;

	return rj->inner->store(rj->inner_ctx, sector, ts, wr, data, cookie);
}

static bool w_damaged(void *ctx, uint64_t sector)
{
	add_rejoin *rj = ctx;

	if (!add_rejoin_sector_known(rj, sector))
		return true;
	return rj->inner->damaged != NULL && rj->inner->damaged(rj->inner_ctx, sector);
}

static int w_repair(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		    const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	add_rejoin *rj = ctx;

	if (rj->state != ADD_REJOIN_MEMBER && ts < UINT64_MAX - TS_MARGIN && ts + TS_MARGIN > rj->floor)
		rj->floor = ts + TS_MARGIN; /* recorded before a writer uses it */
	if (rj->inner->repair != NULL)
		return rj->inner->repair(rj->inner_ctx, sector, ts, wr, data, cookie);
	return rj->inner->store(rj->inner_ctx, sector, ts, wr, data, cookie);
}

static void w_repair_durable(void *ctx, uint64_t sector)
{
	add_rejoin *rj = ctx;

	learned(rj, sector);
	if (rj->inner->repair_durable != NULL)
		rj->inner->repair_durable(rj->inner_ctx, sector);
}

/* Every other process answered (0, 0): never written. Nothing to store if
 * the local copy holds nothing either (and is not damaged): known now. */
static bool w_repair_unwritten(void *ctx, uint64_t sector)
{
	add_rejoin *rj = ctx;
	uint64_t ts;
	uint8_t wr;

	if (add_rejoin_sector_known(rj, sector))
		return false; /* real damage: the store's own repair path */
	rj->inner->get_meta(rj->inner_ctx, sector, &ts, &wr);
	if (ts != 0 || wr != 0 ||
	    (rj->inner->damaged != NULL && rj->inner->damaged(rj->inner_ctx, sector)))
		return false;
	learned(rj, sector);
	return true;
}

/* The lowest unknown sector >= from (RECOVERING only: a FRESH process has
 * no one to ask yet), or UINT64_MAX. */
static uint64_t next_unknown(const add_rejoin *rj, uint64_t from)
{
	if (rj->state != ADD_REJOIN_RECOVERING)
		return UINT64_MAX;
	for (uint64_t s = from < rj->cursor ? rj->cursor : from; s < rj->cfg.n_sectors; s++) {
		if (s % 64 == 0 && rj->bits[s / 64] == UINT64_MAX) {
			s += 63;
			continue;
		}
		if (!bit(rj, s))
			return s;
	}
	return UINT64_MAX;
}

static uint64_t w_next_damaged(void *ctx, uint64_t from)
{
	add_rejoin *rj = ctx;
	uint64_t a = next_unknown(rj, from);
	uint64_t b = rj->inner->next_damaged ? rj->inner->next_damaged(rj->inner_ctx, from)
					     : UINT64_MAX;

	return a < b ? a : b;
}

static uint64_t w_next_written(void *ctx, uint64_t from)
{
	add_rejoin *rj = ctx;

	return rj->inner->next_written ? rj->inner->next_written(rj->inner_ctx, from)
				       : UINT64_MAX;
}

static uint64_t w_ts_floor(void *ctx)
{
	add_rejoin *rj = ctx;
	uint64_t inner = rj->inner->ts_floor ? rj->inner->ts_floor(rj->inner_ctx) : 0;

	if (ADD_MUTANT_ON(ADD_MUTANT_REJOIN_NO_FLOOR))
		return inner;
	if (rj->floor > rj->floor_recorded)
		persist(rj); /* durable before a tag above it can leave */
	return inner > rj->floor ? inner : rj->floor;
}

static const add_store_ops wrapped_ops = {
	.get_meta = w_get_meta,
	.read_data = w_read_data,
	.store = w_store,
	.damaged = w_damaged,
	.repair = w_repair,
	.next_damaged = w_next_damaged,
	.next_written = w_next_written,
	.ts_floor = w_ts_floor,
	.repair_durable = w_repair_durable,
	.repair_unwritten = w_repair_unwritten,
};

const add_store_ops *add_rejoin_store_ops(void)
{
	return &wrapped_ops;
}

/* ---- the identity handshake -------------------------------------------- */

void add_rejoin_identity_for(const add_rejoin *rj, uint8_t to, uint8_t *state,
			     uint64_t *incarnation, uint64_t *your_genesis)
{
	assert(to >= 1 && to <= rj->cfg.n_procs && to != rj->cfg.rank);
	*state = (uint8_t)rj->state;
	*incarnation = rj->incarnation;
	*your_genesis = rj->state == ADD_REJOIN_MEMBER ? rj->genesis[to] : 0;
}

bool add_rejoin_on_identity(add_rejoin *rj, uint8_t from, uint8_t state, uint64_t incarnation,
			    uint64_t your_genesis)
{
	uint8_t n = rj->cfg.n_procs;

	if (from < 1 || from > n || from == rj->cfg.rank || state < ADD_REJOIN_MEMBER ||
	    state > ADD_REJOIN_RECOVERING)
		return false;
	rj->peer_state[from] = state;
	rj->peer_inc[from] = incarnation;
	if (rj->state != ADD_REJOIN_FRESH)
		return false;
	if (state == ADD_REJOIN_MEMBER && your_genesis == GENESIS_UNKNOWN)
		return false; /* a founder that never heard of us: ask another */
	if (state == ADD_REJOIN_MEMBER && your_genesis != 0 && your_genesis == rj->incarnation) {
		/* every peer heard so far is a founder (a FRESH one, or members
		 * that confirm us); those not heard from may be founders too:
		 * "unknown" makes them wait for a member that knows */
		for (unsigned r = 1; r <= n; r++)
			rj->genesis[r] = rj->peer_state[r] != 0 ? rj->peer_inc[r] : GENESIS_UNKNOWN;
		rj->genesis[rj->cfg.rank] = rj->incarnation;
		become_member(rj, "a founder of a new cluster, as a member peer confirms");
		return true;
	}
	if (state == ADD_REJOIN_RECOVERING)
		return false; /* tells nothing about us: wait for a member's word */
	if (state != ADD_REJOIN_FRESH) {
		char why[96];

		snprintf(why, sizeof(why), "rank %u is %s", from,
			 add_rejoin_state_name((add_rejoin_state)state));
		become_recovering(rj, why);
		return true;
	}
	for (unsigned r = 1; r <= n; r++)
		if (r != rj->cfg.rank && rj->peer_state[r] != ADD_REJOIN_FRESH)
			return false;
	for (unsigned r = 1; r <= n; r++)
		rj->genesis[r] = rj->peer_inc[r];
	rj->genesis[rj->cfg.rank] = rj->incarnation;
	become_member(rj, "every process has new storage: a new cluster");
	return true;
}

void add_rejoin_legacy_check(add_rejoin *rj, uint64_t now_ns, const bool *heard,
			     const bool *meta)
{
	bool only_legacy = rj->state == ADD_REJOIN_FRESH, any_legacy = false;

	for (unsigned r = 1; r <= rj->cfg.n_procs && only_legacy; r++) {
		if (r == rj->cfg.rank)
			continue;
		bool legacy = heard[r] && !meta[r];
		any_legacy = any_legacy || legacy;
		only_legacy = legacy || rj->peer_state[r] == ADD_REJOIN_FRESH;
	}
	if (!only_legacy || !any_legacy) {
		rj->legacy_since_ns = 0;
		return;
	}
	if (rj->legacy_since_ns == 0) {
		rj->legacy_since_ns = now_ns | 1u;
		return;
	}
	if (now_ns - rj->legacy_since_ns < ADD_REJOIN_LEGACY_GRACE_NS)
		return;
	rj_log(rj, ADD_LOG_WARN,
	       "rejoin: some peers do not speak the project's messages (written from the "
	       "protocol alone) and the others are new too: they cannot tell whether this "
	       "new storage missed writes; serving as a member, amnesia protection is OFF "
	       "with such peers");
	for (unsigned r = 1; r <= rj->cfg.n_procs; r++)
		rj->genesis[r] = rj->peer_state[r] == ADD_REJOIN_FRESH ? rj->peer_inc[r] : 0;
	rj->genesis[rj->cfg.rank] = rj->incarnation;
	become_member(rj, "a new cluster, with peers without identity");
}

uint64_t add_rejoin_genesis_of(const add_rejoin *rj, uint8_t rank)
{
	assert(rank >= 1 && rank <= rj->cfg.n_procs);
	if (rj->state != ADD_REJOIN_MEMBER || rj->genesis[rank] == GENESIS_UNKNOWN)
		return 0;
	return rj->genesis[rank];
}

void add_rejoin_on_genesis(add_rejoin *rj, uint8_t from, uint8_t rank, uint64_t incarnation)
{
	if (from < 1 || from > rj->cfg.n_procs || rank < 1 || rank > rj->cfg.n_procs ||
	    incarnation == 0 || incarnation == GENESIS_UNKNOWN || rj->state != ADD_REJOIN_MEMBER ||
	    rj->genesis[rank] != GENESIS_UNKNOWN)
		return;
	rj->genesis[rank] = incarnation; /* a member's word (system key) */
	persist(rj);
	assert(rj->genesis[rank] == incarnation);
}

void add_rejoin_tick(add_rejoin *rj, uint64_t now_ns, uint64_t every_ns)
{
	if (rj->state == ADD_REJOIN_MEMBER || now_ns - rj->last_log_ns < every_ns)
		return;
	rj->last_log_ns = now_ns;
	if (rj->state == ADD_REJOIN_FRESH) {
		char who[128] = "";
		size_t o = 0;

		for (unsigned r = 1; r <= rj->cfg.n_procs && o < sizeof(who) - 8; r++)
			if (r != rj->cfg.rank && rj->peer_state[r] == 0)
				o += (size_t)snprintf(who + o, sizeof(who) - o, "%s%u", o ? "," : "", r);
		if (who[0])
			rj_log(rj, ADD_LOG_WARN,
			       "rejoin: new storage, waiting to hear from rank(s) %s before serving "
			       "(a cluster member would make this a recovery)", who);
		else
			rj_log(rj, ADD_LOG_WARN,
			       "rejoin: new storage, waiting for a member that knows whether this "
			       "storage founded the cluster (the members reached never heard of it)");
		return;
	}
	if (rj->known == rj->logged_known) {
		rj_log(rj, ADD_LOG_WARN,
		       "rejoin: recovering, no progress: %llu of %llu sectors re-learned; each needs "
		       "all %u other processes, holding their data, to answer (if a majority lost "
		       "its storage this waits forever: see --force-rejoin in deploy/README.md)",
		       (unsigned long long)rj->known, (unsigned long long)rj->cfg.n_sectors,
		       (unsigned)(rj->cfg.n_procs - 1));
	} else {
		rj_log(rj, ADD_LOG_INFO, "rejoin: recovering: %llu of %llu sectors re-learned",
		       (unsigned long long)rj->known, (unsigned long long)rj->cfg.n_sectors);
	}
	rj->logged_known = rj->known;
}
