/*
 * core/node: one ADD process (see node.h). It owns:
 *  - the registers of the active sectors (sector_map), created when work
 *    arrives and freed as soon as they are idle (add_reg_idle);
 *  - the client operations (add_op), from a small pool, each holding the
 *    WRITE_PROC bytes it will send, so a retransmission re-sends them as
 *    they are;
 *  - the stubborn links: every op in its READ or WRITE phase is on an
 *    intrusive list with its next retransmission time; add_node_tick walks
 *    only that list;
 *  - the queue of messages to self: they skip the wire and the HMAC, and
 *    are delivered before the entry point that produced them returns (never
 *    by recursion);
 *  - damage (node.h, "Damage"): a damaged local copy is never read out;
 *    repairs are REPAIR ops (register.h) from the same op pool, queued in
 *    the sector's register, so an idle sector costs nothing. Repairs the
 *    node starts itself (damage found while answering, a WRITE_PROC it may
 *    not ACK, scrub, the store's list) are asked for in a small queue,
 *    started when the entry point returns, at most REPAIRS_NODE_MAX at a
 *    time; one asked for beyond that is dropped and asked for again (the
 *    peer retransmits, the background walk of next_damaged comes back).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errno_text.h"
#include "mutants.h"
#include "sim_hooks.h"
#include "node.h"
#include "rejoin.h"
#include "register.h"
#include "sector_map.h"

#define RETX_INITIAL_NS_DEFAULT (100ull * 1000 * 1000)
#define RETX_MAX_NS_DEFAULT (2000ull * 1000 * 1000)
#define CLIENT_CMDS_MAX_DEFAULT 4096u
/* Idle objects kept for reuse (beyond these, freed). */
#define OPS_CACHED_MAX 256u /* 1.1 MiB at most */
#define REGS_CACHED_MAX 1024u
#define WAITERS_CACHED_MAX 1024u
#define SELFQ_CAP_MIN 64u
/* Repairs the node starts without a client (each holds one op), and the
 * queue of such repairs asked for during an entry point. */
#define REPAIRS_NODE_MAX 16u
/* The same while a rebuild (core/rejoin.h) re-learns every sector: the
 * repairs then are the process's main work, and each finished one lets the
 * next walk start at the next tick. */
#define REPAIRS_REBUILD_MAX 128u
#define REPAIR_WANT_MAX 16u
/* The background walk of the store's damaged sectors: how often, and how
 * many next_damaged calls at most per walk. */
#define REPAIR_SCAN_NS (50ull * 1000 * 1000)
#define REPAIR_SCAN_CALLS_MAX 64u
/* While some peer is not known to speak META, it is asked again this often
 * (a probe or its answer may be lost without the link going down). */
#define META_REPROBE_NS (1000ull * 1000 * 1000)
/* How often a recovering or fresh process logs its progress (rejoin.h). */
#define REJOIN_LOG_NS (5ull * 1000 * 1000 * 1000)
/* No correct history reaches this timestamp (2^63 writes): a message above
 * it is refused, so that maxts + 1 can never wrap around. */
#define TS_LIMIT (1ull << 63)

/* A message to self: no bytes, no HMAC. A WRITE_PROC's (ts, wr, data) are
 * those of the sender's op, looked up at delivery (if the op is gone, the
 * message no longer matters). */
typedef struct self_msg {
	uint8_t type;
	uint8_t uuid[ADD_UUID_SIZE];
	uint64_t sector;
} self_msg;

struct add_node {
	add_node_config cfg;
	add_io io;
	const add_store_ops *store;
	void *store_ctx;
	add_hmac_key client_key;
	add_hmac_key system_key;
	add_reg_env env;

	uint8_t incarnation[8]; /* drawn once: op UUID = incarnation | counter */
	uint64_t op_counter;

	add_sector_map regs;
	add_register *reg_cache;
	size_t reg_cache_len;
	add_op *op_cache;
	size_t op_cache_len;
	add_reply_waiter *waiter_cache;
	size_t waiter_cache_len;

	add_op *all_ops; /* every client op not yet answered */
	add_op *flying;  /* ops in READ or WRITE phase: retransmitted */

	self_msg *selfq;
	size_t selfq_cap, selfq_head, selfq_len;
	/* speaks_meta[rank]: that peer sent a META probe or answer (see
	 * META_PROBE_UUID), a READ_PROC_META or a VALUE_META, with a valid
	 * HMAC, so it understands them (never reset: every
	 * process of a cluster runs the same version). Until all peers do, the
	 * registers speak only PROTOCOL.md's standard messages (env.
	 * peers_speak_meta), so that any process written from PROTOCOL.md
	 * alone can be a peer. */
	bool speaks_meta[ADD_PROCS_MAX + 1];
	uint64_t meta_reprobe_at_ns; /* while !env.peers_speak_meta */
	uint64_t identity_ask_at_ns; /* while rejoin says FRESH */
	bool heard[ADD_PROCS_MAX + 1]; /* a valid internal message came from it */
	unsigned depth; /* entry-point nesting: the self queue drains at 0 */
	bool failed;

	/* damage */
	uint64_t repair_want[REPAIR_WANT_MAX]; /* sectors, started at leave() */
	size_t n_repair_want;
	uint32_t repairs_live;     /* REPAIR ops allocated (any cause) */
	uint32_t repairs_by_node;  /* of which started without a client */
	uint64_t repair_cursor;    /* background walk of next_damaged */
	uint64_t repair_scan_at_ns;
	bool repair_scan_active;   /* the last walk found something (or none yet) */
	uint64_t scrub_cursor;
	uint64_t scrub_passes;

	add_node_stats stats;
	uint8_t scratch_data[ADD_SECTOR_SIZE];
	uint8_t scratch_msg[ADD_WIRE_MSG_SIZE_MAX];
};

/* ---- small helpers ------------------------------------------------------ */

static bool rebuilding(const add_node *n)
{
	return n->cfg.rejoin != NULL && add_rejoin_get_state(n->cfg.rejoin) == ADD_REJOIN_RECOVERING;
}

static uint32_t repairs_node_max(const add_node *n)
{
	return rebuilding(n) ? REPAIRS_REBUILD_MAX : REPAIRS_NODE_MAX;
}

static void node_log(add_node *n, add_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void node_log(add_node *n, add_log_level level, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (n->io.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n->io.log(n->io.ctx, level, line);
}

/* The process cannot go on (store failure, out of memory on a path that
 * cannot drop work): it stops, like a crash, and the runtime exits. */
static void node_fail(add_node *n, const char *why)
{
	if (!n->failed)
		node_log(n, ADD_LOG_ERROR, "fatal: %s", why);
	n->failed = true;
}

static bool op_answered(const add_op *op, uint8_t rank)
{
	return (op->answered[rank / 64] >> (rank % 64)) & 1u;
}

static void new_uuid(add_node *n, uint8_t uuid[ADD_UUID_SIZE])
{
	memcpy(uuid, n->incarnation, sizeof(n->incarnation));
	add_put_be64(uuid + 8, n->op_counter++);
}

/* ---- damage ------------------------------------------------------------- */

static bool sector_damaged(const add_node *n, uint64_t sector)
{
	return n->store->damaged != NULL && n->store->damaged(n->store_ctx, sector);
}

/* Asks for a repair of `sector` once the current entry point is done (never
 * from inside a register's callback). Dropped when the queue is full: the
 * store keeps the mark, and whoever needs the sector asks again. */
static void want_repair(add_node *n, uint64_t sector)
{
	for (size_t i = 0; i < n->n_repair_want; i++)
		if (n->repair_want[i] == sector)
			return;
	if (n->n_repair_want == REPAIR_WANT_MAX)
		return;
	n->repair_want[n->n_repair_want++] = sector;
	assert(n->n_repair_want <= REPAIR_WANT_MAX);
}

/* The local value of `sector` into `out`: true, or false when the copy is
 * damaged (nothing of `out` may be used; a repair is asked for) or the
 * store failed (the node fails). */
static bool read_local(add_node *n, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE])
{
	uint64_t ts;
	uint8_t wr;
	int rc;

	if (sector_damaged(n, sector)) {
		want_repair(n, sector);
		return false;
	}
	rc = n->store->read_data(n->store_ctx, sector, out);
	if (rc == 0)
		return true;
	if (rc != -EBADMSG && rc != -EIO) {
		char buf[32];

		node_log(n, ADD_LOG_ERROR, "store read_data of sector %llu failed: %s",
			 (unsigned long long)sector, add_errno_text(rc, buf, sizeof(buf)));
		node_fail(n, "store read_data failed");
		return false;
	}
	if (ADD_MUTANT_ON(ADD_MUTANT_READ_DATA_ERROR_IGNORED))
		return true;
	n->stats.damaged_found++;
	n->repair_scan_active = true;
	n->store->get_meta(n->store_ctx, sector, &ts, &wr);
	node_log(n, ADD_LOG_WARN, "sector %llu: local copy of (%llu, %u) damaged (%s): "
		 "not served, repairing from the other processes", (unsigned long long)sector,
		 (unsigned long long)ts, wr, rc == -EBADMSG ? "corrupt" : "unreadable");
	if (n->store->damaged == NULL || n->store->repair == NULL) {
		node_fail(n, "store reports damage but cannot track or repair it");
		return false;
	}
	want_repair(n, sector);
	return false;
}

/* READ_PROC / READ_PROC_META (or a deferred VALUE) for a damaged sector:
 * not answered; the coordinator retransmits until it is repaired. */
static bool refuse_damaged(add_node *n, uint64_t sector)
{
	if (ADD_MUTANT_ON(ADD_MUTANT_DAMAGED_ANSWERS_READ_PROC))
		return false;
	if (!sector_damaged(n, sector))
		return false;
	n->stats.reads_refused_damaged++;
	want_repair(n, sector);
	return true;
}

/* ---- pools -------------------------------------------------------------- */

static add_op *op_alloc(add_node *n)
{
	add_op *op = n->op_cache;

	if (op != NULL) {
		n->op_cache = op->next_in_sector;
		n->op_cache_len--;
	} else {
		op = malloc(sizeof(*op));
		if (op == NULL)
			return NULL;
	}
	/* the 4 KiB buffer is overwritten before use: clear only the rest */
	memset(op, 0, offsetof(add_op, read_proc_msg));
	return op;
}

static void op_release(add_node *n, add_op *op)
{
	assert(!op->in_flight);
	if (n->op_cache_len >= OPS_CACHED_MAX) {
		free(op);
		return;
	}
	op->next_in_sector = n->op_cache;
	n->op_cache = op;
	n->op_cache_len++;
}

static add_register *reg_get_or_create(add_node *n, uint64_t sector)
{
	add_register *r = add_sector_map_get(&n->regs, sector);

	if (r != NULL)
		return r;
	r = n->reg_cache;
	if (r != NULL) {
		n->reg_cache = r->next_free;
		n->reg_cache_len--;
	} else {
		r = malloc(sizeof(*r));
		if (r == NULL)
			return NULL;
	}
	add_reg_init(r, sector);
	if (add_sector_map_put(&n->regs, sector, r) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* After every event delivered to r: an idle register is freed. */
static void reg_settle(add_node *n, add_register *r)
{
	if (!add_reg_idle(r))
		return;
	add_sector_map_del(&n->regs, r->sector);
	if (n->reg_cache_len >= REGS_CACHED_MAX) {
		free(r);
		return;
	}
	r->next_free = n->reg_cache;
	n->reg_cache = r;
	n->reg_cache_len++;
}

static add_reply_waiter *env_new_waiter(void *ctx)
{
	add_node *n = ctx;
	add_reply_waiter *w = n->waiter_cache;

	if (w != NULL) {
		n->waiter_cache = w->next;
		n->waiter_cache_len--;
		return w;
	}
	return malloc(sizeof(*w));
}

static void env_free_waiter(void *ctx, add_reply_waiter *w)
{
	add_node *n = ctx;

	if (n->waiter_cache_len >= WAITERS_CACHED_MAX) {
		free(w);
		return;
	}
	w->next = n->waiter_cache;
	n->waiter_cache = w;
	n->waiter_cache_len++;
}

/* ---- intrusive lists ---------------------------------------------------- */

static void all_link(add_node *n, add_op *op)
{
	op->prev_all = NULL;
	op->next_all = n->all_ops;
	if (n->all_ops != NULL)
		n->all_ops->prev_all = op;
	n->all_ops = op;
}

static void all_unlink(add_node *n, add_op *op)
{
	if (op->prev_all != NULL)
		op->prev_all->next_all = op->next_all;
	else
		n->all_ops = op->next_all;
	if (op->next_all != NULL)
		op->next_all->prev_all = op->prev_all;
	op->prev_all = op->next_all = NULL;
}

static void fly_link(add_node *n, add_op *op)
{
	assert(!op->in_flight);
	op->in_flight = true;
	op->prev_fly = NULL;
	op->next_fly = n->flying;
	if (n->flying != NULL)
		n->flying->prev_fly = op;
	n->flying = op;
}

static void fly_unlink(add_node *n, add_op *op)
{
	if (!op->in_flight)
		return;
	if (op->prev_fly != NULL)
		op->prev_fly->next_fly = op->next_fly;
	else
		n->flying = op->next_fly;
	if (op->next_fly != NULL)
		op->next_fly->prev_fly = op->prev_fly;
	op->prev_fly = op->next_fly = NULL;
	op->in_flight = false;
}

/* ---- messages to self --------------------------------------------------- */

static void self_send(add_node *n, uint8_t type, uint64_t sector,
		      const uint8_t uuid[ADD_UUID_SIZE])
{
	self_msg *m;

	if (n->selfq_len == n->selfq_cap) {
		size_t cap = n->selfq_cap ? n->selfq_cap * 2 : SELFQ_CAP_MIN;
		self_msg *q = malloc(cap * sizeof(*q));

		if (q == NULL) {
			node_fail(n, "out of memory (self queue)");
			return;
		}
		for (size_t i = 0; i < n->selfq_len; i++)
			q[i] = n->selfq[(n->selfq_head + i) % n->selfq_cap];
		free(n->selfq);
		n->selfq = q;
		n->selfq_cap = cap;
		n->selfq_head = 0;
	}
	m = &n->selfq[(n->selfq_head + n->selfq_len) % n->selfq_cap];
	m->type = type;
	m->sector = sector;
	memcpy(m->uuid, uuid, ADD_UUID_SIZE);
	n->selfq_len++;
}

/* ---- effects of the registers (add_reg_env) ---------------------------- */

static void env_get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	add_node *n = ctx;

	n->store->get_meta(n->store_ctx, sector, ts, wr);
}

static bool env_read_data(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE])
{
	return read_local(ctx, sector, out);
}

static bool env_damaged(void *ctx, uint64_t sector)
{
	return sector_damaged(ctx, sector);
}

static uint64_t env_ts_floor(void *ctx)
{
	add_node *n = ctx;

	return n->store->ts_floor != NULL ? n->store->ts_floor(n->store_ctx) : 0;
}

static void env_want_repair(void *ctx, uint64_t sector)
{
	want_repair(ctx, sector);
}

static void env_store(void *ctx, add_register *r, uint64_t ts, uint8_t wr, const uint8_t *data)
{
	add_node *n = ctx;
	/* the cookie names the sector and the store's rank among its stores;
	 * completions come in submission order (store_ops.h) */
	uint64_t cookie = (r->stores_submitted << 32) | r->sector;
	int rc;

	assert(r->sector <= UINT32_MAX);
	rc = n->store->store(n->store_ctx, r->sector, ts, wr, data, cookie);
	if (rc != 0)
		node_fail(n, "store submission failed");
}

/* The same through the store's repair() (a REPAIR's value). */
static bool env_repair_unwritten(void *ctx, uint64_t sector)
{
	add_node *n = ctx;

	return n->store->repair_unwritten != NULL &&
	       n->store->repair_unwritten(n->store_ctx, sector);
}

static void env_repair(void *ctx, add_register *r, uint64_t ts, uint8_t wr, const uint8_t *data)
{
	add_node *n = ctx;
	uint64_t cookie = (r->stores_submitted << 32) | r->sector;
	int rc;

	assert(r->sector <= UINT32_MAX);
	assert(n->store->repair != NULL); /* add_node_create checks it */
	rc = n->store->repair(n->store_ctx, r->sector, ts, wr, data, cookie);
	if (rc != 0)
		node_fail(n, "store repair submission failed");
}

static void arm_retransmission(add_node *n, add_op *op)
{
	op->retx_interval_ns = n->cfg.retransmit_initial_ns;
	op->retx_at_ns = n->io.now_ns(n->io.ctx) + op->retx_interval_ns;
	fly_link(n, op);
}

static void send_to_peers(add_node *n, const uint8_t *msg, size_t len)
{
	for (unsigned rank = 1; rank <= n->cfg.n_procs; rank++)
		if (rank != n->cfg.rank)
			n->io.send_peer(n->io.ctx, (uint8_t)rank, msg, len);
}

static void env_broadcast_read_proc(void *ctx, add_register *r, add_op *op)
{
	add_node *n = ctx;
	/* a write's read phase needs only (ts, wr): READ_PROC_META, answered
	 * by 80-byte VALUE_METAs instead of 4176-byte VALUEs; so does a read's
	 * first round, unless a peer turns out to hold a newer value than this
	 * process (then the round is redone with READ_PROC, read_full). The
	 * register asks for READ_PROC from the start (read_full) unless every
	 * peer speaks META (env.peers_speak_meta). */
	add_peer_msg m = {
		.type = op->read_full ? ADD_TYPE_READ_PROC : ADD_TYPE_READ_PROC_META,
		.rank = n->cfg.rank,
		.sector = r->sector,
	};
	size_t len;

	memcpy(m.uuid, op->uuid, ADD_UUID_SIZE);
	len = add_wire_encode_peer(&m, &n->system_key, op->read_proc_msg);
	assert(len == ADD_PEER_SMALL_SIZE);
	assert(op->kind != ADD_OP_REPAIR || op->read_full);
	send_to_peers(n, op->read_proc_msg, len);
	if (op->kind != ADD_OP_REPAIR) /* a repair asks the others only */
		self_send(n, ADD_TYPE_READ_PROC, r->sector, op->uuid);
	arm_retransmission(n, op);
}

/* Fills in the header and the tag of WRITE_PROC around the data already in
 * op->buf (the encoder would copy the data onto itself). The layout is
 * PROTOCOL.md's; the unit tests decode it with the wire decoder. */
static void env_broadcast_write_proc(void *ctx, add_register *r, add_op *op)
{
	add_node *n = ctx;
	uint8_t *b = op->buf;

	b[ADD_PEER_OFF_MAGIC + 0] = ADD_MAGIC_0;
	b[ADD_PEER_OFF_MAGIC + 1] = ADD_MAGIC_1;
	b[ADD_PEER_OFF_MAGIC + 2] = ADD_MAGIC_2;
	b[ADD_PEER_OFF_MAGIC + 3] = ADD_MAGIC_3;
	memset(b + ADD_PEER_OFF_PADDING, 0, ADD_PEER_PADDING_SIZE);
	b[ADD_PEER_OFF_RANK] = n->cfg.rank;
	b[ADD_PEER_OFF_TYPE] = ADD_TYPE_WRITE_PROC;
	memcpy(b + ADD_PEER_OFF_UUID, op->uuid, ADD_UUID_SIZE);
	add_put_be64(b + ADD_PEER_OFF_SECTOR, r->sector);
	add_put_be64(b + ADD_PEER_OFF_TS, op->w_ts);
	memset(b + ADD_PEER_OFF_TS_PADDING, 0, ADD_PEER_TS_PADDING_SIZE);
	b[ADD_PEER_OFF_WR] = op->w_wr;
	add_hmac_sign(&n->system_key, b, ADD_PEER_VALUE_SIZE - ADD_HMAC_TAG_SIZE,
		      b + ADD_PEER_VALUE_SIZE - ADD_HMAC_TAG_SIZE);
	send_to_peers(n, b, ADD_PEER_VALUE_SIZE);
	self_send(n, ADD_TYPE_WRITE_PROC, r->sector, op->uuid);
	arm_retransmission(n, op);
}

static void env_phase_over(void *ctx, add_register *r, add_op *op)
{
	(void)r;
	fly_unlink(ctx, op);
}

static void env_send_ack(void *ctx, uint64_t sector, uint8_t rank,
			 const uint8_t uuid[ADD_UUID_SIZE])
{
	add_node *n = ctx;
	add_peer_msg m = {
		.type = ADD_TYPE_ACK,
		.rank = n->cfg.rank,
		.sector = sector,
	};
	uint8_t msg[ADD_PEER_SMALL_SIZE];
	size_t len;

	if (rank == n->cfg.rank) {
		self_send(n, ADD_TYPE_ACK, sector, uuid);
		return;
	}
	if (n->cfg.rejoin != NULL && !add_rejoin_sector_known(n->cfg.rejoin, sector) &&
	    !ADD_MUTANT_ON(ADD_MUTANT_REJOIN_ACKS_UNKNOWN)) {
		/* stored, but a sector this new storage has not re-learned does
		 * not count in a write quorum (core/rejoin.h): no ACK; learn it */
		want_repair(n, sector);
		return;
	}
	memcpy(m.uuid, uuid, ADD_UUID_SIZE);
	len = add_wire_encode_peer(&m, &n->system_key, msg);
	assert(len == sizeof(msg));
	n->io.send_peer(n->io.ctx, rank, msg, len);
}

static void reply_client(add_node *n, uint64_t conn, uint8_t cmd_type, uint64_t request,
			 uint8_t status, const uint8_t *data)
{
	add_client_rsp rsp = {
		.type = (uint8_t)(cmd_type + ADD_TYPE_RESPONSE_BIT),
		.status = status,
		.request = request,
		.data = data,
	};
	size_t len = add_wire_encode_rsp(&rsp, &n->client_key, n->scratch_msg);

	if (len == 0) {
		node_log(n, ADD_LOG_WARN, "cannot encode a response to type %u", cmd_type);
		return;
	}
	n->io.send_client(n->io.ctx, conn, n->scratch_msg, len);
}

static void repair_done(add_node *n, add_op *op)
{
	assert(op->kind == ADD_OP_REPAIR && n->repairs_live > 0);
	if (op->repaired) {
		ADD_SOMETIMES(&n->io, "node.sector_repaired");
		/* a rebuild (core/rejoin.h) repairs every sector: not one line each */
		add_log_level level = n->cfg.rejoin != NULL &&
						      add_rejoin_get_state(n->cfg.rejoin) != ADD_REJOIN_MEMBER
					      ? ADD_LOG_DEBUG
					      : ADD_LOG_INFO;

		n->stats.repairs_done++;
		if (n->store->repair_durable != NULL)
			n->store->repair_durable(n->store_ctx, op->sector);
		if (n->cfg.rejoin != NULL && add_rejoin_failed(n->cfg.rejoin))
			node_fail(n, "rejoin: its record could not be written");
		node_log(n, level, "sector %llu repaired from the other processes: (%llu, %u)",
			 (unsigned long long)op->sector, (unsigned long long)op->w_ts, op->w_wr);
	}
	n->repairs_live--;
	if (op->by_node) {
		n->repairs_by_node--;
		if (rebuilding(n)) /* the next walk at the next tick */
			n->repair_scan_at_ns = 0;
	}
	all_unlink(n, op);
	op_release(n, op);
}

static void env_op_done(void *ctx, add_op *op)
{
	add_node *n = ctx;

	assert(op->phase == ADD_PHASE_DONE);
	assert(!op->in_flight);
	if (op->kind == ADD_OP_REPAIR) {
		repair_done(n, op);
		return;
	}
	if (op->abandoned)
		n->stats.ops_abandoned++;
	else
		n->stats.ops_completed++;
	if (op->conn == ADD_NODE_CONN_LOCAL) {
		bool rd = op->kind == ADD_OP_READ;

		/* A local op is answered whatever happened to connections. */
		assert(n->io.local_done != NULL);
		n->io.local_done(n->io.ctx, op->request, rd ? op->buf + ADD_PEER_OFF_DATA : NULL);
	} else if (op->conn_open) {
		bool rd = op->kind == ADD_OP_READ;

		reply_client(n, op->conn, rd ? ADD_TYPE_READ : ADD_TYPE_WRITE, op->request,
			     ADD_STATUS_OK,
			     rd ? op->buf + (ADD_MUTANT_ON(ADD_MUTANT_NODE_READ_REPLY_OFFSET)
					     ? 0 : ADD_PEER_OFF_DATA)
				: NULL);
	} else if (ADD_MUTANT_ON(ADD_MUTANT_NODE_PENDING_LEAK)) {
		all_unlink(n, op);
		op_release(n, op);
		return;
	}
	all_unlink(n, op);
	assert(n->stats.client_cmds_pending > 0);
	n->stats.client_cmds_pending--;
	op_release(n, op);
}

/* A REPAIR op for r's sector (no client): from the op pool, on the list
 * of live ops (so that destroy frees it). */
static add_op *env_new_repair(void *ctx, add_register *r)
{
	add_node *n = ctx;
	add_op *op = op_alloc(n);

	if (op == NULL) {
		node_fail(n, "out of memory (repair)");
		return NULL;
	}
	op->kind = ADD_OP_REPAIR;
	op->sector = r->sector;
	op->conn_open = false;
	new_uuid(n, op->uuid);
	all_link(n, op);
	n->repairs_live++;
	assert(op->by_node == false && op->phase == ADD_PHASE_QUEUED);
	return op;
}

/* ---- delivery ----------------------------------------------------------- */

/* [VALUE, uuid, ts, wr, val] with the current state, straight from the
 * store, or [VALUE_META, uuid, ts, wr] (type). To self: no data, the
 * coordinator reads its own value when it decides. */
static void env_send_value(void *ctx, uint64_t sector, uint8_t rank,
			   const uint8_t uuid[ADD_UUID_SIZE], uint8_t type)
{
	add_node *n = ctx;
	add_peer_msg m = {
		.type = type,
		.rank = n->cfg.rank,
		.sector = sector,
	};
	size_t len;

	assert(type == ADD_TYPE_VALUE || type == ADD_TYPE_VALUE_META);
	if (refuse_damaged(n, sector))
		return; /* e.g. a deferred VALUE: the sector went bad meanwhile */
	if (rank == n->cfg.rank) {
		self_send(n, ADD_TYPE_VALUE, sector, uuid);
		return;
	}
	memcpy(m.uuid, uuid, ADD_UUID_SIZE);
	n->store->get_meta(n->store_ctx, sector, &m.ts, &m.wr);
	if (ADD_MUTANT_ON(ADD_MUTANT_NODE_VALUE_OWN_RANK) && m.ts > 0)
		m.wr = n->cfg.rank;
	if (ADD_MUTANT_ON(ADD_MUTANT_NODE_VALUE_STALE_TS) && m.ts > 1)
		m.ts--;
	if (type == ADD_TYPE_VALUE) {
		if (!read_local(n, sector, n->scratch_data)) {
			ADD_SOMETIMES(&n->io, "node.value_refused_damaged");
			n->stats.reads_refused_damaged++;
			return; /* damage found now: nothing leaves */
		}
		m.data = n->scratch_data;
	}
	len = add_wire_encode_peer(&m, &n->system_key, n->scratch_msg);
	assert(len == (type == ADD_TYPE_VALUE ? ADD_PEER_VALUE_SIZE : ADD_PEER_META_SIZE));
	n->io.send_peer(n->io.ctx, rank, n->scratch_msg, len);
}

/* upon event < sbeb, Deliver | p, [READ_PROC, id] >: a sector with no
 * register has nothing in flight, so it answers at once without one. */
static void on_read_proc(add_node *n, uint8_t from, uint64_t sector,
			 const uint8_t uuid[ADD_UUID_SIZE], uint8_t reply_type)
{
	add_register *r = add_sector_map_get(&n->regs, sector);

	if (refuse_damaged(n, sector))
		return;
	if (r == NULL || ADD_MUTANT_ON(ADD_MUTANT_NODE_READ_PROC_BYPASSES_REGISTER)) {
		env_send_value(n, sector, from, uuid, reply_type);
		return;
	}
	add_reg_on_read_proc(r, &n->env, from, uuid, reply_type);
	reg_settle(n, r);
}

static void deliver_self(add_node *n, const self_msg *m)
{
	uint8_t self = n->cfg.rank;
	add_register *r;
	add_op *op;

	if (m->type == ADD_TYPE_READ_PROC) {
		on_read_proc(n, self, m->sector, m->uuid, ADD_TYPE_VALUE);
		return;
	}
	r = add_sector_map_get(&n->regs, m->sector);
	if (r == NULL)
		return; /* its op is gone: it no longer matters */
	switch (m->type) {
	case ADD_TYPE_VALUE:
		add_reg_on_value(r, &n->env, self, m->uuid, 0, 0, NULL);
		break;
	case ADD_TYPE_ACK:
		add_reg_on_ack(r, &n->env, self, m->uuid);
		break;
	case ADD_TYPE_WRITE_PROC:
		op = add_reg_running(r);
		if (op == NULL || op->phase != ADD_PHASE_WRITE ||
		    memcmp(op->uuid, m->uuid, ADD_UUID_SIZE) != 0)
			return; /* its op is gone */
		add_reg_on_write_proc(r, &n->env, self, m->uuid, op->w_ts, op->w_wr,
				      op->buf + ADD_PEER_OFF_DATA);
		break;
	default:
		assert(0 && "bad self message");
	}
	reg_settle(n, r);
}

static void enter(add_node *n)
{
	n->depth++;
}

/* Starts a repair of `sector` the node needs (no client op waits on it), if
 * it is still damaged, has none queued, and fewer than REPAIRS_NODE_MAX run.
 * A sector busy with ops gets it at the end of its queue (a client op that
 * starts before it moves it in front of itself). */
static void node_repair(add_node *n, uint64_t sector)
{
	add_register *r = add_sector_map_get(&n->regs, sector);

	if (!sector_damaged(n, sector) || (r != NULL && r->repair != NULL))
		return;
	if (n->repairs_by_node >= repairs_node_max(n))
		return; /* asked for again later (store_ops keeps the mark) */
	r = reg_get_or_create(n, sector);
	if (r == NULL) {
		node_log(n, ADD_LOG_WARN, "out of memory: repair of sector %llu postponed",
			 (unsigned long long)sector);
		return;
	}
	if (add_reg_want_repair(r, &n->env) && r->repair != NULL && !r->repair->by_node) {
		r->repair->by_node = true;
		n->repairs_by_node++;
	}
	reg_settle(n, r);
	assert(n->repairs_by_node <= n->repairs_live);
}

/* Leaving the outermost entry point: deliver every message to self,
 * including those that delivering produces (a loop, not recursion), and
 * start the repairs asked for. */
static void leave(add_node *n)
{
	assert(n->depth > 0);
	if (n->depth == 1) {
		while ((n->selfq_len > 0 || n->n_repair_want > 0) && !n->failed) {
			if (n->selfq_len > 0) {
				self_msg m = n->selfq[n->selfq_head];

				n->selfq_head = (n->selfq_head + 1) % n->selfq_cap;
				n->selfq_len--;
				deliver_self(n, &m);
			} else {
				uint64_t sector = n->repair_want[--n->n_repair_want];

				node_repair(n, sector);
			}
		}
	}
	n->depth--;
}

/* ---- capability of the peers (READ_PROC_META / VALUE_META) ------------- */

static bool all_peers_speak_meta(const add_node *n)
{
	for (unsigned rank = 1; rank <= n->cfg.n_procs; rank++)
		if (rank != n->cfg.rank && !n->speaks_meta[rank])
			return false;
	return true; /* also with no peer at all (N = 1) */
}

/* A META probe, answer or message with a valid HMAC came from `rank`. */
static void send_identity(add_node *n, uint8_t rank, bool ask);

static void learn_speaks_meta(add_node *n, uint8_t rank)
{
	if (n->speaks_meta[rank])
		return;
	n->speaks_meta[rank] = true;
	send_identity(n, rank, true);
	n->env.peers_speak_meta = all_peers_speak_meta(n);
	if (n->env.peers_speak_meta)
		node_log(n, ADD_LOG_INFO, "every peer speaks READ_PROC_META: read phases use it");
}

/* Whether a peer speaks META is asked and answered with PROTOCOL.md's own
 * 56-byte transport ack (READ_PROC_TACK, system key) carrying one of these
 * UUIDs, never with a type >= 0x80: a process written from PROTOCOL.md alone
 * takes a transport ack of no message it sent as the optional, ignorable
 * message it is, whereas a type it does not know is an invalid message to
 * it (and a checker of the protocol may count it as one). The daemon's hello
 * is a transport ack too, with the null UUID; an op's UUID starts with 8
 * random bytes, so matching these is a 2^-64 accident. */
#define META_PROBE_UUID "ADD-META-PROBE-1"
#define META_ANSWER_UUID "ADD-META-ANSWER1"
_Static_assert(sizeof(META_PROBE_UUID) == ADD_UUID_SIZE + 1, "16 bytes");
_Static_assert(sizeof(META_ANSWER_UUID) == ADD_UUID_SIZE + 1, "16 bytes");

static void send_meta_tack(add_node *n, uint8_t rank, const char *uuid)
{
	add_peer_msg m = {
		.type = ADD_TYPE_READ_PROC_TACK,
		.rank = n->cfg.rank,
	};
	uint8_t msg[ADD_TACK_SIZE];
	size_t len;

	memcpy(m.uuid, uuid, ADD_UUID_SIZE);
	len = add_wire_encode_peer(&m, &n->system_key, msg);
	assert(len == sizeof(msg));
	n->io.send_peer(n->io.ctx, rank, msg, len);
}

/* ---- the rejoin identity handshake (core/rejoin.h) ----------------------
 * A VALUE_META (the project's own type, sent only to peers known to speak
 * META) whose uuid is ADD_REJOIN_ID_MARKER | state | the receiver's genesis
 * incarnation (8, LE); sector = the sender's incarnation; ts bit 0: "please
 * answer with yours". A peer without rejoin drops it (no such operation, or
 * a sector out of range). */
static void send_identity(add_node *n, uint8_t rank, bool ask)
{
	add_peer_msg m = {
		.type = ADD_TYPE_VALUE_META,
		.rank = n->cfg.rank,
		.ts = ask ? 1u : 0u,
	};
	uint8_t msg[ADD_PEER_META_SIZE], state;
	uint64_t inc, genesis;
	size_t len;

	if (n->cfg.rejoin == NULL || !n->speaks_meta[rank])
		return;
	add_rejoin_identity_for(n->cfg.rejoin, rank, &state, &inc, &genesis);
	memcpy(m.uuid, ADD_REJOIN_ID_MARKER, ADD_REJOIN_ID_MARKER_LEN);
	m.uuid[ADD_REJOIN_ID_MARKER_LEN] = state;
	for (int i = 0; i < 8; i++)
		m.uuid[ADD_REJOIN_ID_MARKER_LEN + 1 + i] = (uint8_t)(genesis >> (8 * i));
	m.sector = inc;
	len = add_wire_encode_peer(&m, &n->system_key, msg);
	assert(len == sizeof(msg));
	n->io.send_peer(n->io.ctx, rank, msg, len);
	/* the founders it knows (rejoin.h, ADD_REJOIN_GN_MARKER) */
	for (unsigned r = 1; r <= n->cfg.n_procs; r++) {
		uint64_t g = add_rejoin_genesis_of(n->cfg.rejoin, (uint8_t)r);

		if (g == 0 || r == rank)
			continue;
		m.ts = 0;
		memset(m.uuid, 0, sizeof(m.uuid));
		memcpy(m.uuid, ADD_REJOIN_GN_MARKER, ADD_REJOIN_ID_MARKER_LEN);
		m.uuid[ADD_REJOIN_ID_MARKER_LEN] = (uint8_t)r;
		m.sector = g;
		len = add_wire_encode_peer(&m, &n->system_key, msg);
		assert(len == sizeof(msg));
		n->io.send_peer(n->io.ctx, rank, msg, len);
	}
}

static bool is_identity(const add_peer_msg *msg)
{
	return msg->type == ADD_TYPE_VALUE_META &&
	       (memcmp(msg->uuid, ADD_REJOIN_ID_MARKER, ADD_REJOIN_ID_MARKER_LEN) == 0 ||
		memcmp(msg->uuid, ADD_REJOIN_GN_MARKER, ADD_REJOIN_ID_MARKER_LEN) == 0);
}

static void on_identity(add_node *n, const add_peer_msg *msg)
{
	uint64_t genesis = 0;

	assert(is_identity(msg) && msg->rank != n->cfg.rank);
	if (n->cfg.rejoin == NULL)
		return;
	if (memcmp(msg->uuid, ADD_REJOIN_GN_MARKER, ADD_REJOIN_ID_MARKER_LEN) == 0) {
		add_rejoin_on_genesis(n->cfg.rejoin, msg->rank, msg->uuid[ADD_REJOIN_ID_MARKER_LEN],
				      msg->sector);
		if (add_rejoin_failed(n->cfg.rejoin))
			node_fail(n, "rejoin: its record could not be written");
		return;
	}
	for (int i = 0; i < 8; i++)
		genesis |= (uint64_t)msg->uuid[ADD_REJOIN_ID_MARKER_LEN + 1 + i] << (8 * i);
	if (add_rejoin_on_identity(n->cfg.rejoin, msg->rank, msg->uuid[ADD_REJOIN_ID_MARKER_LEN],
				   msg->sector, genesis)) {
		/* tell the others at once (a founder's word lets the other
		 * founders decide without waiting for their next question) */
		for (unsigned rank = 1; rank <= n->cfg.n_procs; rank++)
			if (rank != n->cfg.rank && rank != msg->rank)
				send_identity(n, (uint8_t)rank, false);
		if (add_rejoin_get_state(n->cfg.rejoin) == ADD_REJOIN_RECOVERING) {
			/* the rebuild starts: the background walk of next_damaged */
			n->repair_scan_active = true;
			n->repair_scan_at_ns = n->io.now_ns(n->io.ctx);
		}
	}
	if (msg->ts & 1u)
		send_identity(n, msg->rank, false);
	if (add_rejoin_failed(n->cfg.rejoin))
		node_fail(n, "rejoin: its record could not be written");
}

/* A transport ack from `rank` (valid HMAC): a META probe is answered (so
 * that a restarted process learns about peers that already knew it), and
 * both the probe and the answer teach us that `rank` speaks META. Other
 * transport acks mean nothing to the node: the stubborn links do without. */
static void on_transport_ack(add_node *n, const add_peer_msg *msg)
{
	if (msg->type != ADD_TYPE_READ_PROC_TACK)
		return;
	if (memcmp(msg->uuid, META_PROBE_UUID, ADD_UUID_SIZE) == 0) {
		learn_speaks_meta(n, msg->rank);
		send_meta_tack(n, msg->rank, META_ANSWER_UUID);
	} else if (memcmp(msg->uuid, META_ANSWER_UUID, ADD_UUID_SIZE) == 0) {
		learn_speaks_meta(n, msg->rank);
	}
}

/* ---- public entry points ------------------------------------------------ */

add_node *add_node_create(const add_node_config *cfg, const add_io *io,
			  const add_store_ops *store, void *store_ctx)
{
	add_node *n;

	if (cfg == NULL || io == NULL || store == NULL)
		return NULL;
	if (cfg->n_procs < 1 || cfg->n_procs > ADD_PROCS_MAX || cfg->rank < 1 ||
	    cfg->rank > cfg->n_procs || cfg->n_sectors < 1 || cfg->n_sectors > UINT32_MAX)
		return NULL;
	if (io->now_ns == NULL || io->random_bytes == NULL || io->send_peer == NULL ||
	    io->send_client == NULL || store->get_meta == NULL || store->read_data == NULL ||
	    store->store == NULL)
		return NULL;
	if (store->damaged != NULL && store->repair == NULL)
		return NULL; /* a store that can be damaged must offer repair() */
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->cfg = *cfg;
	if (n->cfg.retransmit_initial_ns == 0)
		n->cfg.retransmit_initial_ns = RETX_INITIAL_NS_DEFAULT;
	if (n->cfg.retransmit_max_ns == 0)
		n->cfg.retransmit_max_ns = RETX_MAX_NS_DEFAULT;
	if (n->cfg.retransmit_max_ns < n->cfg.retransmit_initial_ns)
		n->cfg.retransmit_max_ns = n->cfg.retransmit_initial_ns;
	if (n->cfg.client_cmds_max == 0)
		n->cfg.client_cmds_max = CLIENT_CMDS_MAX_DEFAULT;
	n->io = *io;
	n->store = store;
	n->store_ctx = store_ctx;
	if (add_hmac_key_init(&n->client_key, cfg->client_key, ADD_CLIENT_KEY_SIZE) != 0) {
		free(n);
		return NULL;
	}
	if (add_hmac_key_init(&n->system_key, cfg->system_key, ADD_SYSTEM_KEY_SIZE) != 0) {
		add_hmac_key_free(&n->client_key);
		free(n);
		return NULL;
	}
	n->env = (add_reg_env){
		.ctx = n,
		.self = cfg->rank,
		.n_procs = cfg->n_procs,
		.get_meta = env_get_meta,
		.read_data = env_read_data,
		.damaged = env_damaged,
		.store = env_store,
		.repair = env_repair,
		.repair_unwritten = env_repair_unwritten,
		.ts_floor = env_ts_floor,
		.new_repair = env_new_repair,
		.want_repair = env_want_repair,
		.broadcast_read_proc = env_broadcast_read_proc,
		.broadcast_write_proc = env_broadcast_write_proc,
		.phase_over = env_phase_over,
		.send_ack = env_send_ack,
		.send_value = env_send_value,
		.op_done = env_op_done,
		.new_waiter = env_new_waiter,
		.free_waiter = env_free_waiter,
	};
	n->env.peers_speak_meta = all_peers_speak_meta(n);
	n->meta_reprobe_at_ns = io->now_ns(io->ctx) + META_REPROBE_NS;
	/* recovery may have found damaged sectors: then the first tick looks */
	n->repair_scan_active = store->next_damaged != NULL &&
				store->next_damaged(store_ctx, 0) < cfg->n_sectors;
	n->repair_scan_at_ns = io->now_ns(io->ctx);
	add_sector_map_init(&n->regs);
	io->random_bytes(io->ctx, n->incarnation, sizeof(n->incarnation));
	node_log(n, ADD_LOG_INFO, "process %u of %u up, %llu sectors", cfg->rank, cfg->n_procs,
		 (unsigned long long)cfg->n_sectors);
	return n;
}

static void free_waiters(add_reply_waiter *w)
{
	while (w != NULL) {
		add_reply_waiter *next = w->next;

		free(w);
		w = next;
	}
}

void add_node_destroy(add_node *n)
{
	if (n == NULL)
		return;
	while (n->all_ops != NULL) {
		add_op *op = n->all_ops;

		n->all_ops = op->next_all;
		free(op);
	}
	for (size_t i = 0; i < n->regs.cap; i++) {
		add_register *r = n->regs.slots[i].value;

		if (n->regs.slots[i].key == 0)
			continue;
		free_waiters(r->waiters);
		free(r);
	}
	add_sector_map_free(&n->regs);
	while (n->reg_cache != NULL) {
		add_register *r = n->reg_cache;

		n->reg_cache = r->next_free;
		free(r);
	}
	while (n->op_cache != NULL) {
		add_op *op = n->op_cache;

		n->op_cache = op->next_in_sector;
		free(op);
	}
	free_waiters(n->waiter_cache);
	free(n->selfq);
	add_hmac_key_free(&n->client_key);
	add_hmac_key_free(&n->system_key);
	free(n);
}

const add_hmac_key *add_node_client_key(const add_node *n)
{
	return &n->client_key;
}

const add_hmac_key *add_node_system_key(const add_node *n)
{
	return &n->system_key;
}

bool add_node_failed(const add_node *n)
{
	return n->failed;
}

void add_node_on_client_command(add_node *n, uint64_t conn, const add_client_cmd *cmd,
				bool hmac_ok)
{
	add_register *r;
	add_op *op;

	if (n->failed)
		return;
	if (cmd->type != ADD_TYPE_READ && cmd->type != ADD_TYPE_WRITE)
		return; /* the decoder yields no such command */
	if (!hmac_ok && !ADD_MUTANT_ON(ADD_MUTANT_NODE_BAD_HMAC_EXECUTED)) {
		ADD_SOMETIMES(&n->io, "node.client_bad_hmac_refused");
		n->stats.bad_hmac_client++;
		reply_client(n, conn, cmd->type, cmd->request, ADD_STATUS_AUTH_FAILURE, NULL);
		return;
	}
	if (ADD_MUTANT_ON(ADD_MUTANT_NODE_SECTOR_RANGE_OFF_BY_ONE) ? cmd->sector > n->cfg.n_sectors
								     : cmd->sector >= n->cfg.n_sectors) {
		reply_client(n, conn, cmd->type, cmd->request, ADD_STATUS_INVALID_SECTOR_INDEX,
			     NULL);
		return;
	}
	if (cmd->type == ADD_TYPE_WRITE && cmd->data == NULL)
		return;
	enter(n);
	op = op_alloc(n);
	r = op ? reg_get_or_create(n, cmd->sector) : NULL;
	if (r == NULL) {
		/* the client is not answered; it sees a stalled request */
		node_log(n, ADD_LOG_ERROR, "out of memory: command on sector %llu dropped",
			 (unsigned long long)cmd->sector);
		if (op != NULL)
			op_release(n, op);
		leave(n);
		return;
	}
	op->kind = cmd->type == ADD_TYPE_READ ? ADD_OP_READ : ADD_OP_WRITE;
	op->sector = cmd->sector;
	op->conn = conn;
	op->conn_open = true;
	op->request = cmd->request;
	new_uuid(n, op->uuid); /* op_id := generate_unique_id() */
	if (op->kind == ADD_OP_WRITE)
		memcpy(op->buf + ADD_PEER_OFF_DATA, cmd->data, ADD_SECTOR_SIZE);
	all_link(n, op);
	n->stats.client_cmds_pending++;
	add_reg_submit(r, &n->env, op);
	reg_settle(n, r);
	leave(n);
}

bool add_node_submit_local(add_node *n, uint64_t sector, const uint8_t *data, uint64_t token)
{
	add_client_cmd cmd = {
		.type = data != NULL ? ADD_TYPE_WRITE : ADD_TYPE_READ,
		.request = token,
		.sector = sector,
		.data = data,
	};
	uint64_t before = n->stats.client_cmds_pending + n->stats.ops_completed;

	if (n->failed || n->io.local_done == NULL || sector >= n->cfg.n_sectors)
		return false;
	/* As a client command with a valid tag, on the local connection id. A
	 * submitted op adds one to pending (its completion, even at once, moves
	 * it to ops_completed): the sum grows by one exactly when it ran. */
	add_node_on_client_command(n, ADD_NODE_CONN_LOCAL, &cmd, true);
	assert(n->stats.client_cmds_pending + n->stats.ops_completed - before <= 1);
	return n->stats.client_cmds_pending + n->stats.ops_completed != before;
}

void add_node_on_peer_message(add_node *n, const add_peer_msg *msg, bool hmac_ok)
{
	add_register *r;

	if (n->failed)
		return;
	if (!hmac_ok) {
		ADD_SOMETIMES(&n->io, "node.peer_bad_hmac_dropped");
		/* worth a warning, but not one per message */
		if (n->stats.bad_hmac_peer++ % 1024 == 0)
			node_log(n, ADD_LOG_WARN, "internal message with a bad HMAC dropped "
				 "(%llu so far)", (unsigned long long)n->stats.bad_hmac_peer);
		return;
	}
	if (msg->rank < 1 || msg->rank > n->cfg.n_procs || msg->rank == n->cfg.rank) {
		n->stats.peer_msgs_dropped++;
		return;
	}
	n->heard[msg->rank] = true;
	if (msg->type == ADD_TYPE_READ_PROC_META || msg->type == ADD_TYPE_VALUE_META)
		learn_speaks_meta(n, msg->rank);
	if (is_identity(msg)) {
		on_identity(n, msg);
		return;
	}
	if (msg->type >= ADD_TYPE_READ_PROC_TACK && msg->type <= ADD_TYPE_ACK_TACK) {
		on_transport_ack(n, msg);
		return;
	}
	if (msg->sector >= n->cfg.n_sectors ||
	    ((msg->type == ADD_TYPE_VALUE || msg->type == ADD_TYPE_WRITE_PROC) &&
	     (msg->data == NULL || msg->ts > TS_LIMIT)) ||
	    (msg->type == ADD_TYPE_VALUE_META && msg->ts > TS_LIMIT)) {
		n->stats.peer_msgs_dropped++;
		return;
	}
	enter(n);
	switch (msg->type) {
	case ADD_TYPE_READ_PROC:
		on_read_proc(n, msg->rank, msg->sector, msg->uuid, ADD_TYPE_VALUE);
		break;
	case ADD_TYPE_READ_PROC_META:
		on_read_proc(n, msg->rank, msg->sector, msg->uuid, ADD_TYPE_VALUE_META);
		break;
	case ADD_TYPE_VALUE:
	case ADD_TYPE_VALUE_META: /* data NULL: only a write's read phase takes it */
		r = add_sector_map_get(&n->regs, msg->sector);
		if (r == NULL)
			break; /* no operation on that sector: stale */
		add_reg_on_value(r, &n->env, msg->rank, msg->uuid, msg->ts, msg->wr,
				 msg->type == ADD_TYPE_VALUE ? msg->data : NULL);
		reg_settle(n, r);
		break;
	case ADD_TYPE_WRITE_PROC:
		r = reg_get_or_create(n, msg->sector);
		if (r == NULL) {
			node_log(n, ADD_LOG_WARN, "out of memory: WRITE_PROC dropped");
			break; /* the coordinator retransmits */
		}
		add_reg_on_write_proc(r, &n->env, msg->rank, msg->uuid, msg->ts, msg->wr,
				      msg->data);
		reg_settle(n, r);
		break;
	case ADD_TYPE_ACK:
		r = add_sector_map_get(&n->regs, msg->sector);
		if (r == NULL)
			break;
		add_reg_on_ack(r, &n->env, msg->rank, msg->uuid);
		reg_settle(n, r);
		break;
	default:
		n->stats.peer_msgs_dropped++;
		break;
	}
	leave(n);
}

void add_node_on_bytes(add_node *n, uint64_t conn, add_wire_decoder *dec,
		       const uint8_t *bytes, size_t len)
{
	add_wire_msg m;

	enter(n);
	for (;;) {
		size_t used = add_wire_decoder_feed(dec, bytes, len, &m);

		assert(used <= len);
		bytes += used;
		len -= used;
		if (m.kind == ADD_WIRE_NONE) {
			if (len == 0 || used == 0)
				break; /* all consumed (used == 0: never loop forever) */
			continue;
		}
		if (m.kind == ADD_WIRE_CMD)
			add_node_on_client_command(n, conn, &m.cmd, m.hmac_ok);
		else if (m.kind == ADD_WIRE_PEER)
			add_node_on_peer_message(n, &m.peer, m.hmac_ok);
	}
	leave(n);
}

void add_node_on_connection_closed(add_node *n, uint64_t conn)
{
	for (add_op *op = n->all_ops; op != NULL; op = op->next_all)
		if (op->kind != ADD_OP_REPAIR && op->conn == conn) {
			op->conn_open = false;
			/* no tag chosen yet: the register ends it (register.h) */
			if (op->phase == ADD_PHASE_QUEUED || op->phase == ADD_PHASE_READ)
				op->abandoned = true;
		}
}

static void resend(add_node *n, add_op *op, uint8_t rank)
{
	if (op->phase == ADD_PHASE_READ)
		n->io.send_peer(n->io.ctx, rank, op->read_proc_msg, ADD_PEER_SMALL_SIZE);
	else
		n->io.send_peer(n->io.ctx, rank, op->buf, ADD_PEER_VALUE_SIZE);
	assert(rank >= 1 && rank <= n->cfg.n_procs && rank != n->cfg.rank);
	n->stats.retransmissions++;
	/* mutant 39: the per-peer count goes to the rank after the real one */
	n->stats.retransmissions_to[ADD_MUTANT_ON(ADD_MUTANT_NODE_RETRANSMIT_WRONG_PEER)
					    ? rank % n->cfg.n_procs + 1
					    : rank]++;
}

void add_node_on_peer_connected(add_node *n, uint8_t rank)
{
	if (n->failed || rank < 1 || rank > n->cfg.n_procs || rank == n->cfg.rank)
		return;
	if (!n->speaks_meta[rank])
		send_meta_tack(n, rank, META_PROBE_UUID); /* do you speak META? */
	else
		send_identity(n, rank, true);
	if (ADD_BUGGIFY(&n->io, "node.skip_resend_on_reconnect"))
		return; /* the retransmission timer still covers every op */
	for (add_op *op = n->flying; op != NULL; op = op->next_fly) {
		assert(op->phase == ADD_PHASE_READ || op->phase == ADD_PHASE_WRITE);
		if (!op_answered(op, rank)) {
			ADD_SOMETIMES(&n->io, "node.resend_on_reconnect");
			resend(n, op, rank);
		}
	}
}

void add_node_on_store_done(add_node *n, uint64_t cookie)
{
	uint64_t sector = cookie & UINT32_MAX;
	add_register *r;

	if (n->failed)
		return;
	r = add_sector_map_get(&n->regs, sector);
	/* a register lives while its stores are in flight, and they complete
	 * in order: anything else is a runtime bug */
	assert(r != NULL);
	assert(((r->stores_done + 1) & UINT32_MAX) == cookie >> 32);
	if (r == NULL)
		return;
	enter(n);
	add_reg_on_store_done(r, &n->env);
	reg_settle(n, r);
	leave(n);
}

/* The background repair of what the store lists as damaged (recovery):
 * walks next_damaged from a cursor, at most REPAIR_SCAN_CALLS_MAX calls, and
 * starts repairs while fewer than REPAIRS_NODE_MAX run. */
static void repair_scan(add_node *n, uint64_t now)
{
	uint64_t s = n->repair_cursor;
	bool wrapped = false, found = false;

	assert(n->store->next_damaged != NULL);
	for (unsigned calls = 0; calls < REPAIR_SCAN_CALLS_MAX; calls++) {
		if (n->repairs_by_node >= repairs_node_max(n)) {
			found = true; /* more may wait: look again */
			break;
		}
		s = s >= n->cfg.n_sectors ? UINT64_MAX : n->store->next_damaged(n->store_ctx, s);
		if (s == UINT64_MAX || s >= n->cfg.n_sectors) {
			s = 0;
			if (wrapped)
				break;
			wrapped = true;
			continue;
		}
		found = true;
		node_repair(n, s);
		s++;
	}
	n->repair_cursor = s;
	n->repair_scan_active = found;
	n->repair_scan_at_ns = now + REPAIR_SCAN_NS;
}

void add_node_tick(add_node *n)
{
	uint64_t now;

	if (n->failed)
		return;
	now = n->io.now_ns(n->io.ctx);
	if (n->store->next_damaged != NULL && n->repair_scan_active &&
	    now >= n->repair_scan_at_ns) {
		enter(n);
		repair_scan(n, now);
		leave(n);
	}
	if (n->cfg.rejoin != NULL) {
		add_rejoin_legacy_check(n->cfg.rejoin, now, n->heard, n->speaks_meta);
		add_rejoin_tick(n->cfg.rejoin, now, REJOIN_LOG_NS);
		if (add_rejoin_get_state(n->cfg.rejoin) != ADD_REJOIN_MEMBER &&
		    now >= n->identity_ask_at_ns) {
			if (add_rejoin_get_state(n->cfg.rejoin) == ADD_REJOIN_FRESH)
				for (unsigned rank = 1; rank <= n->cfg.n_procs; rank++)
					if (rank != n->cfg.rank)
						send_identity(n, (uint8_t)rank, true);
			n->identity_ask_at_ns = now + META_REPROBE_NS;
		}
	}
	if (!n->env.peers_speak_meta && now >= n->meta_reprobe_at_ns) {
		for (unsigned rank = 1; rank <= n->cfg.n_procs; rank++)
			if (rank != n->cfg.rank && !n->speaks_meta[rank])
				send_meta_tack(n, (uint8_t)rank, META_PROBE_UUID);
		n->meta_reprobe_at_ns = now + META_REPROBE_NS;
	}
	for (add_op *op = n->flying; op != NULL; op = op->next_fly) {
		/* BUGGIFY: an early retransmission (duplicates the receivers
		 * must take as such) */
		if (now < op->retx_at_ns && !ADD_BUGGIFY(&n->io, "node.retransmit_early"))
			continue;
		/* a repair whose sector is no longer damaged (a newer value, or a
		 * sector core/rejoin.h now knows) asks the ones that answered too:
		 * a duplicate answer lets it finish (register.c) */
		bool again = op->kind == ADD_OP_REPAIR && !sector_damaged(n, op->sector);
		ADD_SOMETIMES(&n->io, "node.retransmission");
		if (op->retx_interval_ns >= n->cfg.retransmit_max_ns)
			ADD_SOMETIMES(&n->io, "node.retransmission_at_max_interval");
		for (unsigned rank = 1; rank <= n->cfg.n_procs; rank++)
			if (rank != n->cfg.rank && (again || !op_answered(op, (uint8_t)rank)))
				resend(n, op, (uint8_t)rank);
		op->retx_interval_ns *= 2;
		if (op->retx_interval_ns > n->cfg.retransmit_max_ns)
			op->retx_interval_ns = n->cfg.retransmit_max_ns;
		op->retx_at_ns = now + op->retx_interval_ns;
	}
}

uint64_t add_node_next_tick_ns(const add_node *n)
{
	uint64_t next = UINT64_MAX;

	if (n->failed)
		return next;
	if (!n->env.peers_speak_meta)
		next = n->meta_reprobe_at_ns;
	if (n->cfg.rejoin != NULL && add_rejoin_get_state(n->cfg.rejoin) != ADD_REJOIN_MEMBER &&
	    n->identity_ask_at_ns < next)
		next = n->identity_ask_at_ns;
	if (n->store->next_damaged != NULL && n->repair_scan_active &&
	    n->repair_scan_at_ns < next)
		next = n->repair_scan_at_ns;
	for (const add_op *op = n->flying; op != NULL; op = op->next_fly)
		if (op->retx_at_ns < next)
			next = op->retx_at_ns;
	return next;
}

bool add_node_accepting_clients(const add_node *n)
{
	return n->stats.client_cmds_pending < n->cfg.client_cmds_max;
}

size_t add_node_scrub_step(add_node *n, size_t max)
{
	size_t done = 0;

	if (n->failed || n->store->next_written == NULL)
		return 0;
	enter(n);
	while (done < max && !n->failed) {
		uint64_t s = n->scrub_cursor >= n->cfg.n_sectors
				     ? UINT64_MAX
				     : n->store->next_written(n->store_ctx, n->scrub_cursor);

		if (s == UINT64_MAX || s >= n->cfg.n_sectors) {
			n->scrub_cursor = 0;
			n->scrub_passes++;
			break; /* a pass is done: the caller paces the next one */
		}
		assert(s >= n->scrub_cursor);
		n->scrub_cursor = s + 1;
		done++;
		n->stats.scrubbed++;
		(void)read_local(n, s, n->scratch_data); /* damage: a repair is asked for */
	}
	leave(n);
	assert(done <= max);
	return done;
}

uint64_t add_node_scrub_passes(const add_node *n)
{
	return n->scrub_passes;
}

/* The store's damaged sectors (when it lists them, else those with a repair
 * op), plus the repairs whose value is not durable yet (their sectors no
 * longer show damaged: the store reflects the submitted repair). */
uint64_t add_node_repairs_pending(const add_node *n)
{
	uint64_t pending = 0;

	for (const add_op *op = n->all_ops; op != NULL; op = op->next_all)
		if (op->kind == ADD_OP_REPAIR &&
		    (op->phase == ADD_PHASE_STORING || n->store->next_damaged == NULL))
			pending++;
	if (n->store->next_damaged == NULL)
		return pending;
	for (uint64_t s = n->store->next_damaged(n->store_ctx, 0);
	     s != UINT64_MAX && s < n->cfg.n_sectors; s = n->store->next_damaged(n->store_ctx, s + 1))
		pending++;
	return pending;
}

void add_node_get_stats(const add_node *n, add_node_stats *out)
{
	*out = n->stats;
	out->registers_active = n->regs.len;
}
