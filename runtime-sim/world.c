/* runtime-sim/world: the simulated cluster, network, clients and nemesis.
 * See world.h. */
#include "world.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evq.h"
#include "memstore.h"
#include "node.h"
#include "prng.h"
#include "sector_store.h"
#include "sim_disk.h"
#include "wire.h"

#define MS 1000000ull
#define NEMESIS_PERIOD_NS (50 * MS)
/* A client that cannot reach a node waits this long before the next one. */
#define CLIENT_RECONNECT_NS (20 * MS)
/* A broken TCP connection is noticed by the other end after this. */
#define RST_DELAY_NS (1 * MS)

enum ev_kind {
	EV_DELIVER_NODE = 1, /* ptr/b: bytes for node `target` on conn a */
	EV_DELIVER_CLIENT,   /* ptr/b: bytes for client `target` on conn a */
	EV_TICK,	     /* node target, incarnation a */
	EV_FLUSH,	     /* node target, incarnation a: one flush completes */
	EV_LINK_CONNECT,     /* a -> b (node indices) */
	EV_CLIENT_ISSUE,     /* client target */
	EV_CLIENT_TIMEOUT,   /* client target, conn a, request b */
	EV_CLIENT_CONNECT,   /* client target */
	EV_CLIENT_CONN_LOST, /* client target, conn a */
	EV_TIMELINE,	     /* scenario event a */
	EV_RESTART,	     /* node target (random or after a failed flush) */
	EV_HEAL,	     /* random partition over (a = partition generation) */
	EV_UNPAUSE,	     /* node target, pause generation a */
	EV_NEMESIS,	     /* periodic random faults */
	EV_CRASH,	     /* node target, incarnation a: fatal error seen */
	EV_PHASE,	     /* phase machine step */
};

enum phase { PH_WORKLOAD = 0, PH_DRAIN, PH_SETTLE, PH_FINAL, PH_DONE };

enum conn_kind { CONN_CLIENT = 1, CONN_PEER = 2 };

typedef struct conn {
	uint8_t kind;
	bool open;
	uint32_t node;   /* the node side (receives commands / peer messages) */
	uint32_t from;   /* client index, or the sending node's index */
	uint64_t to_node_last_ns, to_client_last_ns; /* FIFO delivery */
	add_wire_decoder *dec_node;		      /* at the node */
	add_wire_decoder *dec_client;		      /* at the client */
} conn;

typedef struct pend {
	bool used;
	uint8_t kind;
	uint64_t request, sector, value;
	size_t hidx;
} pend;

typedef struct client {
	uint32_t idx;
	add_prng rng;
	uint64_t conn; /* 0: not connected */
	uint32_t node;
	pend *pend;
	uint32_t n_pend;
	uint64_t next_request;
	bool issue_scheduled;
	bool connect_scheduled;
	/* final reads assigned to this client */
	uint64_t *final_sectors;
	size_t n_final, next_final;
} client;

struct world;

typedef struct snode {
	struct world *w;
	uint32_t idx;
	bool up, paused, flush_armed;
	uint64_t pause_gen;
	uint64_t paused_until;
	uint64_t incarnation;
	add_node *node;
	add_io io;
	add_prng rng;
	/* storage */
	add_sim_disk *disk;
	add_sector_store *store;
	add_memstore *mem;
	bool flush_scheduled;
	uint64_t *durable; /* cookies made durable, delivered after the flush */
	size_t n_durable, cap_durable;
	bool fatal;
	uint64_t links_out[ADD_SCN_NODES_MAX]; /* conn id of the link to node j */
} snode;

typedef struct world {
	const add_scenario *s;
	const add_sim_opts *o;
	add_sim_result *r;
	uint64_t now;
	add_evq q;
	add_prng net_rng, nem_rng, wl_rng;
	snode nodes[ADD_SCN_NODES_MAX];
	uint32_t n;
	client *clients;
	conn *conns;
	size_t n_conns, cap_conns;
	bool reach[ADD_SCN_NODES_MAX][ADD_SCN_NODES_MAX];
	bool partitioned;
	uint64_t partition_gen;
	/* fault rates in force (zeroed by chaos_off and at HEAL) */
	double drop, duplicate, reorder, corrupt, split;
	double conn_break_per_s, crash_per_s, partition_per_s, pause_per_s, flush_fail_per_s;
	int max_down;
	/* phases */
	enum phase phase;
	uint64_t last_timeline_ns;
	uint64_t ops_issued;
	uint64_t final_left;
	uint32_t final_round;
	uint64_t *final_secs;
	size_t n_final_secs;
	/* quorum and health tracking */
	bool quorum;
	uint64_t no_quorum_since;
	uint64_t (*no_quorum)[2];
	size_t n_no_quorum, cap_no_quorum;
	bool healthy;
	uint64_t healthy_since;
	bool stop;
	/* keys */
	uint8_t client_secret[ADD_CLIENT_KEY_SIZE];
	uint8_t system_secret[ADD_SYSTEM_KEY_SIZE];
	add_hmac_key client_key;
	uint64_t hash;
	uint8_t buf[ADD_WIRE_MSG_SIZE_MAX];
	uint8_t data[ADD_SECTOR_SIZE];
} world;

/* ---- trace hash ----------------------------------------------------------- */
static inline void mix(world *w, uint64_t v)
{
	w->hash ^= v + 0x9e3779b97f4a7c15ull + (w->hash << 6) + (w->hash >> 2);
	w->hash *= 0xff51afd7ed558ccdull;
}

/* A message's first 32 bytes and its last 32 (the HMAC tag, itself a digest
 * of every byte) stand for the whole message in the trace hash. */
static void mix_bytes(world *w, const uint8_t *p, size_t len)
{
	uint64_t h = len;
	for (size_t i = 0; i < len; i++) {
		if (i == 32 && len > 64)
			i = len - 32;
		h = (h ^ p[i]) * 0x100000001b3ull;
	}
	mix(w, h);
}

static void wlog(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wlog(world *w, const char *fmt, ...)
{
	if (!w->o->log)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(w->o->log, "%12.3f ms  ", w->now / 1e6);
	vfprintf(w->o->log, fmt, ap);
	fputc('\n', w->o->log);
	va_end(ap);
}

/* ---- values --------------------------------------------------------------- */
static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void add_sim_value_fill(uint8_t *data, uint64_t sector, uint64_t value)
{
	assert(value != ADD_VALUE_INITIAL && value != ADD_VALUE_GARBAGE);
	put_le64(data, value);
	put_le64(data + 8, sector);
	uint64_t st = value * 0x9e3779b97f4a7c15ull ^ sector;
	for (size_t i = 16; i < ADD_SECTOR_SIZE; i += 8)
		put_le64(data + i, add_splitmix64(&st));
}

uint64_t add_sim_value_decode(const uint8_t *data, uint64_t sector)
{
	static const uint8_t zeros[ADD_SECTOR_SIZE];
	if (memcmp(data, zeros, ADD_SECTOR_SIZE) == 0)
		return ADD_VALUE_INITIAL;
	uint64_t v = get_le64(data);
	if (v == ADD_VALUE_INITIAL || v == ADD_VALUE_GARBAGE || get_le64(data + 8) != sector)
		return ADD_VALUE_GARBAGE;
	uint64_t st = v * 0x9e3779b97f4a7c15ull ^ sector;
	for (size_t i = 16; i < ADD_SECTOR_SIZE; i += 8)
		if (get_le64(data + i) != add_splitmix64(&st))
			return ADD_VALUE_GARBAGE;
	return v;
}

/* ---- events --------------------------------------------------------------- */
static void push(world *w, uint64_t at, uint32_t kind, uint32_t target, uint64_t a, uint64_t b,
		 void *ptr)
{
	add_sim_event e = {.time_ns = at, .kind = kind, .target = target, .a = a, .b = b, .ptr = ptr};
	assert(at >= w->now);
	if (!add_evq_push(&w->q, &e)) {
		fprintf(stderr, "addsim: out of memory\n");
		abort();
	}
}

static uint64_t rand_between(add_prng *p, uint64_t lo, uint64_t hi)
{
	return lo >= hi ? lo : add_prng_range(p, lo, hi);
}

/* Queues `len` bytes for delivery at `t` on connection `id` (to node or
 * client `target`). Sometimes the bytes arrive in two reads, as TCP may
 * deliver them, so the stream decoders' partial-message path runs too; both
 * parts share the time and keep their order (consecutive sequence numbers). */
static void deliver_at(world *w, uint32_t kind, uint32_t target, uint64_t id, uint64_t t,
		       const uint8_t *msg, size_t len)
{
	size_t cut = 0;
	if (len > 1 && add_prng_chance(&w->net_rng, w->split))
		cut = 1 + add_prng_below(&w->net_rng, len - 1);
	size_t parts[2] = {cut ? cut : len, cut ? len - cut : 0};
	for (int k = 0; k < 2 && parts[k]; k++) {
		uint8_t *copy = malloc(parts[k]);
		if (!copy)
			abort();
		memcpy(copy, msg + (k ? cut : 0), parts[k]);
		push(w, t, kind, target, id, parts[k], copy);
	}
}

/* ---- connections ---------------------------------------------------------- */
static uint64_t conn_new(world *w, uint8_t kind, uint32_t node, uint32_t from)
{
	if (w->n_conns == w->cap_conns) {
		size_t cap = w->cap_conns * 2;
		conn *c = realloc(w->conns, cap * sizeof(*c));
		if (!c)
			abort();
		w->conns = c;
		w->cap_conns = cap;
	}
	uint64_t id = w->n_conns++;
	conn *c = &w->conns[id];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->open = true;
	c->node = node;
	c->from = from;
	snode *sn = &w->nodes[node];
	assert(sn->up);
	c->dec_node = malloc(sizeof(*c->dec_node));
	if (!c->dec_node)
		abort();
	add_wire_decoder_init(c->dec_node, ADD_WIRE_MODE_PROCESS, add_node_client_key(sn->node),
			      add_node_system_key(sn->node));
	if (kind == CONN_CLIENT) {
		c->dec_client = malloc(sizeof(*c->dec_client));
		if (!c->dec_client)
			abort();
		add_wire_decoder_init(c->dec_client, ADD_WIRE_MODE_CLIENT, &w->client_key, NULL);
	}
	return id;
}

static void after_node(world *w, snode *sn);

/* Closes a connection; tells the node side (if it still lives) and the
 * client side (after the time a reset takes to arrive). */
static void conn_close(world *w, uint64_t id, bool tell_node)
{
	conn *c = &w->conns[id];
	if (!c->open)
		return;
	c->open = false;
	free(c->dec_node);
	c->dec_node = NULL;
	snode *sn = &w->nodes[c->node];
	if (tell_node && sn->up) {
		add_node_on_connection_closed(sn->node, id);
		after_node(w, sn);
	}
	if (c->kind == CONN_CLIENT) {
		free(c->dec_client);
		c->dec_client = NULL;
		push(w, w->now + RST_DELAY_NS, EV_CLIENT_CONN_LOST, c->from, id, 0, NULL);
	} else {
		w->nodes[c->from].links_out[c->node] = 0;
	}
}

/* ---- node lifecycle --------------------------------------------------------- */
static uint64_t io_now(void *ctx)
{
	snode *sn = ctx;
	return sn->w->now;
}

static void io_random(void *ctx, uint8_t *out, size_t len)
{
	snode *sn = ctx;
	add_prng_bytes(&sn->rng, out, len);
}

static void io_log(void *ctx, add_log_level level, const char *line)
{
	snode *sn = ctx;
	if (level <= ADD_LOG_INFO)
		wlog(sn->w, "node %u: %s", sn->idx + 1, line);
}

static void send_peer_msg(world *w, snode *from, uint32_t to, const uint8_t *msg, size_t len);

static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
{
	snode *sn = ctx;
	assert(rank >= 1 && rank <= sn->w->n && rank != sn->idx + 1);
	send_peer_msg(sn->w, sn, rank - 1u, msg, len);
}

static void io_send_client(void *ctx, uint64_t id, const uint8_t *msg, size_t len)
{
	snode *sn = ctx;
	world *w = sn->w;
	assert(id < w->n_conns);
	conn *c = &w->conns[id];
	w->r->stats.msgs_sent++;
	if (!c->open || c->kind != CONN_CLIENT)
		return;
	uint64_t lat = rand_between(&w->net_rng, w->s->latency_min_ns, w->s->latency_max_ns);
	uint64_t t = w->now + lat;
	if (t < c->to_client_last_ns)
		t = c->to_client_last_ns; /* TCP: in order within a connection */
	c->to_client_last_ns = t;
	deliver_at(w, EV_DELIVER_CLIENT, c->from, id, t, msg, len);
}

static void on_durable(void *arg, uint64_t cookie)
{
	snode *sn = arg;
	/* Delivered to the node after the flush call returns, not from inside
	 * the store's callback. */
	if (sn->n_durable == sn->cap_durable) {
		size_t cap = sn->cap_durable ? sn->cap_durable * 2 : 256;
		uint64_t *d = realloc(sn->durable, cap * sizeof(*d));
		if (!d)
			abort();
		sn->durable = d;
		sn->cap_durable = cap;
	}
	sn->durable[sn->n_durable++] = cookie;
}

static void on_fatal(void *arg, const char *why)
{
	snode *sn = arg;
	sn->fatal = true;
	wlog(sn->w, "node %u: store fatal: %s", sn->idx + 1, why);
}

static void update_health(world *w);
static void links_refresh(world *w);

static bool node_start(world *w, snode *sn)
{
	assert(!sn->up);
	const add_store_ops *ops;
	void *store_ctx;
	if (w->o->store == ADD_SIM_STORE_MEM) {
		if (!sn->mem)
			sn->mem = add_memstore_create(w->s->sectors, on_durable, on_fatal, sn);
		if (!sn->mem)
			return false;
		add_memstore_recover(sn->mem);
		ops = add_memstore_ops();
		store_ctx = sn->mem;
	} else {
		add_sector_store_config cfg = {.disk = add_sim_disk_ops(sn->disk),
					       .n_sectors = w->s->sectors,
					       .on_durable = on_durable,
					       .on_fatal = on_fatal,
					       .arg = sn};
		char err[200];
		sn->store = add_sector_store_open(&cfg, err, sizeof(err));
		if (!sn->store) {
			snprintf(w->r->why, sizeof(w->r->why), "node %u: store open failed: %s",
				 sn->idx + 1, err);
			return false;
		}
		ops = add_sector_store_ops();
		store_ctx = sn->store;
	}
	add_node_config cfg = {.rank = (uint8_t)(sn->idx + 1),
			       .n_procs = (uint8_t)w->n,
			       .n_sectors = w->s->sectors};
	memcpy(cfg.client_key, w->client_secret, sizeof(cfg.client_key));
	memcpy(cfg.system_key, w->system_secret, sizeof(cfg.system_key));
	sn->io = (add_io){.ctx = sn,
			  .now_ns = io_now,
			  .random_bytes = io_random,
			  .send_peer = io_send_peer,
			  .send_client = io_send_client,
			  .log = io_log};
	sn->node = add_node_create(&cfg, &sn->io, ops, store_ctx);
	if (!sn->node) {
		snprintf(w->r->why, sizeof(w->r->why), "node %u: add_node_create failed",
			 sn->idx + 1);
		return false;
	}
	sn->up = true;
	sn->fatal = false;
	sn->flush_armed = false;
	sn->flush_scheduled = false;
	sn->n_durable = 0;
	push(w, w->now + add_prng_range(&w->nem_rng, 1, ADD_NODE_TICK_NS), EV_TICK, sn->idx,
	     sn->incarnation, 0, NULL);
	return true;
}

static void node_crash(world *w, snode *sn, const char *why)
{
	if (!sn->up)
		return;
	wlog(w, "node %u: CRASH (%s)", sn->idx + 1, why);
	w->r->stats.crashes++;
	mix(w, 0xc4a5u + sn->idx);
	sn->up = false;
	sn->paused = false;
	sn->incarnation++; /* its pending ticks and flushes are void */
	add_node_destroy(sn->node);
	sn->node = NULL;
	if (w->o->store == ADD_SIM_STORE_MEM) {
		add_memstore_crash(sn->mem);
	} else {
		/* The power cut first (unsynced data lost or torn, pending flush
		 * completions dropped), then the store's memory is released. */
		add_sim_disk_crash(sn->disk);
		add_sector_store_close(sn->store);
		sn->store = NULL;
	}
	sn->n_durable = 0;
	sn->flush_armed = false;
	/* Every connection of the node breaks. */
	for (size_t id = 1; id < w->n_conns; id++) {
		conn *c = &w->conns[id];
		if (!c->open)
			continue;
		if (c->node == sn->idx || (c->kind == CONN_PEER && c->from == sn->idx))
			conn_close(w, id, c->node != sn->idx);
	}
	update_health(w);
}

static bool node_restart(world *w, snode *sn)
{
	if (sn->up)
		return true;
	wlog(w, "node %u: RESTART", sn->idx + 1);
	w->r->stats.restarts++;
	mix(w, 0x5e57u + sn->idx);
	if (!node_start(w, sn))
		return false;
	links_refresh(w);
	update_health(w);
	return true;
}

static void deliver_durable(snode *sn)
{
	/* Completions gathered by on_durable, handed to the node after the
	 * store's callback returned (never re-entering the store). Delivering
	 * one may submit more stores; those wait for the next flush. */
	size_t n = sn->n_durable;
	for (size_t i = 0; i < n && !add_node_failed(sn->node); i++)
		add_node_on_store_done(sn->node, sn->durable[i]);
	memmove(sn->durable, sn->durable + n, (sn->n_durable - n) * sizeof(uint64_t));
	sn->n_durable -= n;
}

/* After every call into a node: the store's group commit is started (a
 * runtime does it once per loop iteration), completions reported meanwhile
 * are delivered, a flush completion is scheduled, and a fatal error becomes
 * a crash (queued, never from inside a callback). */
static void after_node(world *w, snode *sn)
{
	if (!sn->up)
		return;
	bool pending = false;
	for (int guard = 0; guard < 1000; guard++) {
		if (sn->fatal || add_node_failed(sn->node))
			break;
		if (w->o->store == ADD_SIM_STORE_MEM) {
			add_memstore_kick(sn->mem);
			pending = add_memstore_flush_pending(sn->mem);
		} else {
			add_sector_store_kick(sn->store);
			pending = add_sim_disk_pending_flushes(sn->disk) > 0;
		}
		if (sn->n_durable == 0)
			break;
		deliver_durable(sn);
	}
	if (sn->fatal || add_node_failed(sn->node)) {
		push(w, w->now, EV_CRASH, sn->idx, sn->incarnation, 0, NULL);
		return;
	}
	if (pending && !sn->flush_scheduled) {
		sn->flush_scheduled = true;
		uint64_t lat = rand_between(&sn->rng, w->s->flush_min_ns, w->s->flush_max_ns);
		push(w, w->now + lat, EV_FLUSH, sn->idx, sn->incarnation, 0, NULL);
	}
}

static void on_flush_event(world *w, snode *sn)
{
	sn->flush_scheduled = false;
	if (w->o->store == ADD_SIM_STORE_MEM)
		add_memstore_complete_flush(sn->mem);
	else
		add_sim_disk_complete_one(sn->disk);
	after_node(w, sn);
}

/* ---- network ---------------------------------------------------------------- */
static void send_peer_msg(world *w, snode *from, uint32_t to, const uint8_t *msg, size_t len)
{
	w->r->stats.msgs_sent++;
	uint64_t id = from->links_out[to];
	if (id == 0 || !w->conns[id].open) {
		w->r->stats.msgs_dropped++;
		return;
	}
	conn *c = &w->conns[id];
	add_prng *p = &w->net_rng;
	if (add_prng_chance(p, w->drop)) {
		w->r->stats.msgs_dropped++;
		return;
	}
	int copies = add_prng_chance(p, w->duplicate) ? 2 : 1;
	for (int k = 0; k < copies; k++) {
		uint64_t t = w->now + rand_between(p, w->s->latency_min_ns, w->s->latency_max_ns);
		if (k > 0 || add_prng_chance(p, w->reorder)) {
			/* Out of order: a late copy, or a message overtaken by
			 * later ones (stubborn links resend, so the protocol
			 * must take either). */
			t += add_prng_range(p, 0, w->s->reorder_max_ns);
			if (k > 0)
				w->r->stats.msgs_duplicated++;
			else
				w->r->stats.msgs_reordered++;
		} else {
			if (t < c->to_node_last_ns)
				t = c->to_node_last_ns;
			c->to_node_last_ns = t;
		}
		const uint8_t *bytes = msg;
		if (add_prng_chance(p, w->corrupt)) {
			/* A flipped bit in the tag: the HMAC must reject it. */
			assert(len <= sizeof(w->buf));
			memcpy(w->buf, msg, len);
			w->buf[len - 1 - add_prng_below(p, ADD_HMAC_TAG_SIZE)] ^=
				(uint8_t)(1u << add_prng_below(p, 8));
			w->r->stats.msgs_corrupted++;
			bytes = w->buf;
		}
		deliver_at(w, EV_DELIVER_NODE, to, id, t, bytes, len);
	}
}

static void link_break(world *w, uint32_t i, uint32_t j)
{
	uint64_t id = w->nodes[i].links_out[j];
	if (id)
		conn_close(w, id, true);
}

/* Schedules the (re)connection of every link that may exist but does not. */
static void links_refresh(world *w)
{
	for (uint32_t i = 0; i < w->n; i++) {
		for (uint32_t j = 0; j < w->n; j++) {
			if (i == j)
				continue;
			snode *a = &w->nodes[i], *b = &w->nodes[j];
			uint64_t id = a->links_out[j];
			bool possible = a->up && b->up && w->reach[i][j];
			if (id && !possible)
				link_break(w, i, j);
			else if (!id && possible)
				push(w,
				     w->now + rand_between(&w->net_rng, w->s->reconnect_min_ns,
							   w->s->reconnect_max_ns),
				     EV_LINK_CONNECT, 0, i, j, NULL);
		}
	}
}

static void on_link_connect(world *w, uint32_t i, uint32_t j)
{
	snode *a = &w->nodes[i], *b = &w->nodes[j];
	if (a->links_out[j] || !a->up || !b->up || !w->reach[i][j])
		return;
	a->links_out[j] = conn_new(w, CONN_PEER, j, i);
	add_node_on_peer_connected(a->node, (uint8_t)(j + 1));
	after_node(w, a);
}

/* ---- quorum and health ---------------------------------------------------- */
static bool node_live(const world *w, uint32_t i)
{
	return w->nodes[i].up && !w->nodes[i].paused;
}

static void update_health(world *w)
{
	/* A quorum exists if some live node reaches a majority of live nodes
	 * (itself included). */
	bool quorum = false, healthy = !w->partitioned;
	for (uint32_t i = 0; i < w->n; i++) {
		if (!node_live(w, i)) {
			healthy = false;
			continue;
		}
		uint32_t reach = 0;
		for (uint32_t j = 0; j < w->n; j++)
			reach += node_live(w, j) && (i == j || w->reach[i][j]);
		if (reach > w->n / 2)
			quorum = true;
	}
	if (quorum != w->quorum) {
		if (!quorum) {
			w->no_quorum_since = w->now;
			w->r->stats.no_quorum_periods++;
			wlog(w, "no quorum from here");
		} else {
			if (w->n_no_quorum == w->cap_no_quorum) {
				size_t cap = w->cap_no_quorum ? w->cap_no_quorum * 2 : 16;
				uint64_t(*p)[2] = realloc(w->no_quorum, cap * sizeof(*p));
				if (!p)
					abort();
				w->no_quorum = p;
				w->cap_no_quorum = cap;
			}
			w->no_quorum[w->n_no_quorum][0] = w->no_quorum_since;
			w->no_quorum[w->n_no_quorum][1] = w->now;
			w->n_no_quorum++;
			wlog(w, "quorum is back");
		}
		w->quorum = quorum;
	}
	if (healthy && !w->healthy)
		w->healthy_since = w->now;
	w->healthy = healthy;
}

static uint32_t down_count(const world *w)
{
	uint32_t d = 0;
	for (uint32_t i = 0; i < w->n; i++)
		d += !w->nodes[i].up || w->nodes[i].paused || w->nodes[i].flush_armed;
	return d;
}

/* ---- nemesis --------------------------------------------------------------- */
static void set_partition(world *w, const uint8_t *group)
{
	/* group[rank]: nodes in the same group reach each other. */
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++)
			w->reach[i][j] = i == j || (group[i + 1] && group[i + 1] == group[j + 1]);
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	links_refresh(w);
	update_health(w);
}

static void set_ring(world *w)
{
	/* Node i reaches i +- k for k <= (N-1)/2 / 2...: each sees a majority
	 * (itself and its N/2 nearest on the ring), no two see the same one. */
	uint32_t half = w->n / 2; /* neighbours on each side: ceil((n/2)/2) */
	uint32_t side = (half + 1) / 2;
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++) {
			uint32_t d = i > j ? i - j : j - i;
			if (w->n - d < d)
				d = w->n - d;
			w->reach[i][j] = d <= side;
		}
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	links_refresh(w);
	update_health(w);
}

/* Only the pair a-b cannot talk (the others may bridge them). */
static void cut(world *w, uint32_t a, uint32_t b)
{
	w->reach[a][b] = w->reach[b][a] = false;
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	links_refresh(w);
	update_health(w);
}

static void heal(world *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++)
			w->reach[i][j] = true;
	w->partitioned = false;
	w->partition_gen++;
	links_refresh(w);
	update_health(w);
}

static void pause_node(world *w, snode *sn, uint64_t dur)
{
	if (!sn->up || sn->paused)
		return;
	wlog(w, "node %u: PAUSE %.1f ms", sn->idx + 1, dur / 1e6);
	w->r->stats.pauses++;
	sn->paused = true;
	sn->paused_until = w->now + dur;
	sn->pause_gen++;
	push(w, sn->paused_until, EV_UNPAUSE, sn->idx, sn->pause_gen, 0, NULL);
	update_health(w);
}

static void arm_flush_failure(world *w, snode *sn)
{
	if (!sn->up || sn->flush_armed)
		return;
	wlog(w, "node %u: next flush fails", sn->idx + 1);
	w->r->stats.flush_failures++;
	sn->flush_armed = true;
	if (w->o->store == ADD_SIM_STORE_MEM)
		add_memstore_fail_next_flush(sn->mem);
	else
		add_sim_disk_fail_next_flush(sn->disk);
}

static void chaos_off(world *w)
{
	w->drop = w->duplicate = w->reorder = w->corrupt = 0;
	w->conn_break_per_s = w->crash_per_s = w->partition_per_s = 0;
	w->pause_per_s = w->flush_fail_per_s = 0;
}

static void on_timeline(world *w, const add_scn_event *e)
{
	if (w->phase >= PH_SETTLE)
		return; /* the run is being healed: the timeline is over */
	snode *sn = e->node ? &w->nodes[e->node - 1] : NULL;
	switch (e->action) {
	case ADD_SCN_CRASH:
		node_crash(w, sn, "timeline");
		break;
	case ADD_SCN_RESTART:
		if (!node_restart(w, sn))
			w->stop = true;
		break;
	case ADD_SCN_CRASH_ALL:
		for (uint32_t i = 0; i < w->n; i++)
			node_crash(w, &w->nodes[i], "timeline: all");
		break;
	case ADD_SCN_RESTART_ALL:
		for (uint32_t i = 0; i < w->n; i++)
			if (!node_restart(w, &w->nodes[i]))
				w->stop = true;
		break;
	case ADD_SCN_PARTITION:
		wlog(w, "PARTITION");
		set_partition(w, e->group);
		break;
	case ADD_SCN_RING:
		wlog(w, "PARTITION ring");
		set_ring(w);
		break;
	case ADD_SCN_ISOLATE: {
		uint8_t g[ADD_SCN_NODES_MAX + 1] = {0};
		for (uint32_t i = 1; i <= w->n; i++)
			g[i] = i == e->node ? 2 : 1;
		wlog(w, "ISOLATE node %u", e->node);
		set_partition(w, g);
		break;
	}
	case ADD_SCN_CUT:
		wlog(w, "CUT %u-%u", e->node, e->node2);
		cut(w, e->node - 1u, e->node2 - 1u);
		break;
	case ADD_SCN_HEAL:
		wlog(w, "HEAL");
		heal(w);
		break;
	case ADD_SCN_PAUSE:
		pause_node(w, sn, e->duration_ns);
		break;
	case ADD_SCN_FAIL_FLUSH:
		arm_flush_failure(w, sn);
		break;
	case ADD_SCN_BREAK_LINKS:
		for (uint32_t i = 0; i < w->n; i++)
			for (uint32_t j = 0; j < w->n; j++)
				if (i != j)
					link_break(w, i, j);
		w->r->stats.link_breaks++;
		links_refresh(w);
		break;
	case ADD_SCN_CHAOS_OFF:
		chaos_off(w);
		break;
	}
}

static void random_partition(world *w)
{
	add_prng *p = &w->nem_rng;
	uint8_t g[ADD_SCN_NODES_MAX + 1] = {0};
	uint64_t kind = add_prng_below(p, w->n >= 5 ? 4 : 3);
	if (kind == 3) {
		uint32_t a = (uint32_t)add_prng_below(p, w->n);
		uint32_t b = (a + 1 + (uint32_t)add_prng_below(p, w->n - 1)) % w->n;
		wlog(w, "CUT %u-%u (random)", a + 1, b + 1);
		cut(w, a, b);
	} else if (kind == 2) {
		wlog(w, "PARTITION ring (random)");
		set_ring(w);
	} else {
		/* A minority (one node, or a random minority) cut off. */
		uint32_t minority = kind == 0 ? 1 : 1 + (uint32_t)add_prng_below(p, (w->n - 1) / 2);
		for (uint32_t i = 1; i <= w->n; i++)
			g[i] = 1;
		for (uint32_t k = 0; k < minority;) {
			uint32_t r = 1 + (uint32_t)add_prng_below(p, w->n);
			if (g[r] == 1) {
				g[r] = 2;
				k++;
			}
		}
		wlog(w, "PARTITION %u node(s) cut off (random)", minority);
		set_partition(w, g);
	}
	push(w, w->now + rand_between(p, w->s->down_min_ns, w->s->down_max_ns), EV_HEAL, 0,
	     w->partition_gen, 0, NULL);
}

static void on_nemesis(world *w)
{
	if (w->phase != PH_WORKLOAD)
		return;
	add_prng *p = &w->nem_rng;
	const double dt = (double)NEMESIS_PERIOD_NS / 1e9;
	uint32_t down = down_count(w);
	if (add_prng_chance(p, w->crash_per_s * dt) && (int)down < w->max_down &&
	    !w->partitioned) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed) {
			node_crash(w, sn, "random");
			push(w, w->now + rand_between(p, w->s->down_min_ns, w->s->down_max_ns),
			     EV_RESTART, sn->idx, 0, 0, NULL);
			down++;
		}
	}
	if (add_prng_chance(p, w->pause_per_s * dt) && (int)down < w->max_down &&
	    !w->partitioned) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed) {
			pause_node(w, sn,
				   rand_between(p, w->s->pause_min_ns, w->s->pause_max_ns));
			down++;
		}
	}
	if (add_prng_chance(p, w->flush_fail_per_s * dt) && (int)down < w->max_down &&
	    !w->partitioned) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed) {
			arm_flush_failure(w, sn);
			down++;
		}
	}
	if (add_prng_chance(p, w->partition_per_s * dt) && down == 0 && !w->partitioned &&
	    w->max_down > 0)
		random_partition(w);
	if (add_prng_chance(p, w->conn_break_per_s * dt)) {
		uint32_t i = (uint32_t)add_prng_below(p, w->n);
		uint32_t j = (uint32_t)add_prng_below(p, w->n);
		if (i != j && w->nodes[i].links_out[j]) {
			wlog(w, "link %u->%u breaks", i + 1, j + 1);
			w->r->stats.link_breaks++;
			link_break(w, i, j);
			links_refresh(w);
		}
	}
	push(w, w->now + NEMESIS_PERIOD_NS, EV_NEMESIS, 0, 0, 0, NULL);
}

/* ---- clients ---------------------------------------------------------------- */
static void client_schedule_issue(world *w, client *c, uint64_t delay)
{
	if (c->issue_scheduled)
		return;
	c->issue_scheduled = true;
	push(w, w->now + delay, EV_CLIENT_ISSUE, c->idx, 0, 0, NULL);
}

static void client_connect(world *w, client *c)
{
	c->connect_scheduled = false;
	if (c->conn)
		return;
	if (w->phase == PH_DONE)
		return;
	snode *sn = &w->nodes[c->node];
	if (!sn->up) {
		/* Refused: try another node a little later. */
		c->node = (uint32_t)add_prng_below(&c->rng, w->n);
		c->connect_scheduled = true;
		push(w, w->now + CLIENT_RECONNECT_NS, EV_CLIENT_CONNECT, c->idx, 0, 0, NULL);
		return;
	}
	c->conn = conn_new(w, CONN_CLIENT, c->node, c->idx);
	client_schedule_issue(w, c, 0);
}

/* Every op pending on the client's connection becomes indeterminate. */
static void client_abandon_all(world *w, client *c, uint8_t flag, uint64_t timed_out_request)
{
	for (uint32_t k = 0; k < w->s->concurrency; k++) {
		pend *pd = &c->pend[k];
		if (!pd->used)
			continue;
		uint8_t f = pd->request == timed_out_request ? ADD_OPF_TIMED_OUT : flag;
		add_history_abandon(&w->r->history, pd->hidx, f);
		w->r->stats.ops_indeterminate++;
		if (pd->kind == ADD_OP_READ && w->r->history.ops[pd->hidx].flags & ADD_OPF_FINAL) {
			/* A final read must be answered: try again elsewhere. */
			c->next_final--;
			c->final_sectors[c->next_final] = pd->sector;
		}
		pd->used = false;
	}
	c->n_pend = 0;
}

static void client_reconnect_elsewhere(world *w, client *c)
{
	c->conn = 0;
	if (w->n > 1)
		c->node = (c->node + 1 + (uint32_t)add_prng_below(&c->rng, w->n - 1)) % w->n;
	if (!c->connect_scheduled) {
		c->connect_scheduled = true;
		push(w, w->now + CLIENT_RECONNECT_NS, EV_CLIENT_CONNECT, c->idx, 0, 0, NULL);
	}
}

static bool sector_pending(const world *w, const client *c, uint64_t sector)
{
	for (uint32_t k = 0; k < w->s->concurrency; k++)
		if (c->pend[k].used && c->pend[k].sector == sector)
			return true;
	return false;
}

static void send_cmd(world *w, client *c, pend *pd)
{
	conn *cn = &w->conns[c->conn];
	add_client_cmd cmd = {.type = pd->kind == ADD_OP_WRITE ? ADD_TYPE_WRITE : ADD_TYPE_READ,
			      .request = pd->request,
			      .sector = pd->sector,
			      .data = NULL};
	/* Padding is not guaranteed zero (a known kernel client): sometimes
	 * send garbage there. */
	if (add_prng_chance(&c->rng, 0.25))
		add_prng_bytes(&c->rng, cmd.padding, sizeof(cmd.padding));
	if (pd->kind == ADD_OP_WRITE) {
		add_sim_value_fill(w->data, pd->sector, pd->value);
		cmd.data = w->data;
	}
	size_t len = add_wire_encode_cmd(&cmd, &w->client_key, w->buf);
	assert(len > 0);
	uint64_t t = w->now + rand_between(&w->net_rng, w->s->latency_min_ns, w->s->latency_max_ns);
	if (t < cn->to_node_last_ns)
		t = cn->to_node_last_ns;
	cn->to_node_last_ns = t;
	w->r->stats.msgs_sent++;
	deliver_at(w, EV_DELIVER_NODE, cn->node, c->conn, t, w->buf, len);
	/* A final read (the cluster is healed) has the liveness bound. */
	bool final = w->r->history.ops[pd->hidx].flags & ADD_OPF_FINAL;
	push(w, w->now + (final ? w->s->liveness_ns : w->s->client_timeout_ns), EV_CLIENT_TIMEOUT,
	     c->idx, c->conn, pd->request, NULL);
}

static bool workload_wants_more(const world *w)
{
	if (w->phase != PH_WORKLOAD)
		return false;
	return w->ops_issued < w->s->ops || w->now < w->last_timeline_ns ||
	       w->now < w->s->min_duration_ns;
}

static void client_issue(world *w, client *c)
{
	c->issue_scheduled = false;
	if (!c->conn || c->n_pend >= w->s->concurrency)
		return;
	uint32_t k = 0;
	while (c->pend[k].used)
		k++;
	pend *pd = &c->pend[k];
	if (w->phase == PH_FINAL) {
		if (c->next_final >= c->n_final)
			return;
		uint64_t sector = c->final_sectors[c->next_final];
		if (sector_pending(w, c, sector))
			return; /* retried when the pending one answers */
		c->next_final++;
		*pd = (pend){.used = true, .kind = ADD_OP_READ, .sector = sector};
	} else {
		if (!workload_wants_more(w))
			return;
		uint64_t sector;
		int tries = 0;
		do {
			sector = add_prng_below(&c->rng, w->s->sectors);
		} while (sector_pending(w, c, sector) && ++tries < 16);
		if (sector_pending(w, c, sector))
			return;
		bool read = add_prng_chance(&c->rng, w->s->read_ratio);
		*pd = (pend){.used = true,
			     .kind = read ? ADD_OP_READ : ADD_OP_WRITE,
			     .sector = sector,
			     .value = read ? 0 : w->ops_issued + 1};
		w->ops_issued++;
	}
	pd->request = c->next_request++;
	pd->hidx = add_history_invoke(&w->r->history, c->idx, (uint8_t)(c->node + 1), pd->sector,
				      pd->kind, pd->value, w->now);
	if (pd->hidx == SIZE_MAX)
		abort();
	if (w->phase == PH_FINAL)
		w->r->history.ops[pd->hidx].flags |= ADD_OPF_FINAL;
	w->r->stats.ops_invoked++;
	mix(w, pd->hidx);
	c->n_pend++;
	send_cmd(w, c, pd);
	if (c->n_pend < w->s->concurrency)
		client_schedule_issue(w, c, add_prng_range(&c->rng, 0, w->s->think_ns_max));
}

static void phase_step(world *w);
static void client_close_conn(world *w, client *c);

static void client_on_response(world *w, client *c, uint64_t conn_id, const add_client_rsp *rsp,
			       bool hmac_ok)
{
	pend *pd = NULL;
	for (uint32_t k = 0; k < w->s->concurrency; k++)
		if (c->pend[k].used && c->pend[k].request == rsp->request)
			pd = &c->pend[k];
	if (!pd || !hmac_ok || rsp->status != ADD_STATUS_OK ||
	    rsp->type != ((pd->kind == ADD_OP_WRITE ? ADD_TYPE_WRITE : ADD_TYPE_READ) |
			  ADD_TYPE_RESPONSE_BIT)) {
		/* A response a correct server never sends: make it visible as a
		 * failure of the run rather than guess. */
		if (w->r->verdict == ADD_SIM_PASS) {
			w->r->verdict = ADD_SIM_NOT_LINEARIZABLE;
			snprintf(w->r->why, sizeof(w->r->why),
				 "client %u got a bad response on conn %" PRIu64
				 " (request %" PRIu64 ", status %u, type 0x%02x, hmac %s%s)",
				 c->idx, conn_id, rsp->request, rsp->status, rsp->type,
				 hmac_ok ? "ok" : "BAD", pd ? "" : ", unknown request");
			w->stop = true;
		}
		return;
	}
	uint64_t value = 0;
	if (pd->kind == ADD_OP_READ)
		value = add_sim_value_decode(rsp->data, pd->sector);
	add_history_complete(&w->r->history, pd->hidx, value, w->now);
	mix(w, pd->hidx ^ (value << 20));
	w->r->stats.ops_ok++;
	if (w->r->history.ops[pd->hidx].flags & ADD_OPF_FINAL) {
		w->r->stats.final_reads++;
		assert(w->final_left > 0);
		w->final_left--;
	}
	pd->used = false;
	c->n_pend--;
	client_schedule_issue(w, c, add_prng_range(&c->rng, 0, w->s->think_ns_max));
	if (w->final_left == 0 && w->phase == PH_FINAL)
		phase_step(w);
}

static void liveness_violation(world *w, const add_hist_op *op, size_t hidx, const char *what)
{
	if (w->r->verdict != ADD_SIM_PASS)
		return;
	w->r->verdict = ADD_SIM_LIVENESS;
	w->r->culprit = hidx;
	snprintf(w->r->why, sizeof(w->r->why),
		 "%s: %s of sector %" PRIu64 " by client %u via node %u, invoked at %.3f ms, "
		 "no answer after %.3f ms",
		 what, op->kind == ADD_OP_READ ? "read" : "write", op->sector, op->client, op->node,
		 op->invoke_ns / 1e6, (w->now - op->invoke_ns) / 1e6);
	w->stop = true;
}

static void client_on_timeout(world *w, client *c, uint64_t conn_id, uint64_t request)
{
	if (c->conn != conn_id)
		return;
	pend *pd = NULL;
	for (uint32_t k = 0; k < w->s->concurrency; k++)
		if (c->pend[k].used && c->pend[k].request == request)
			pd = &c->pend[k];
	if (!pd)
		return;
	const add_hist_op *op = &w->r->history.ops[pd->hidx];
	wlog(w, "client %u: timeout on request %" PRIu64 " (sector %" PRIu64 ")", c->idx, request,
	     pd->sector);
	bool healthy_all_along = w->healthy && w->healthy_since <= op->invoke_ns;
	if (op->flags & ADD_OPF_FINAL) {
		liveness_violation(w, op, pd->hidx, "final read not answered");
	} else if (w->s->expect_liveness && healthy_all_along) {
		/* Healthy all along (message loss aside): wait up to the liveness
		 * bound before calling it stuck. */
		uint64_t bound = op->invoke_ns + w->s->liveness_ns;
		if (w->now < bound) {
			push(w, bound, EV_CLIENT_TIMEOUT, c->idx, conn_id, request, NULL);
			return;
		}
		liveness_violation(w, op, pd->hidx, "stuck while the cluster was healthy");
	}
	/* Give up on this connection: close it and go elsewhere. */
	client_abandon_all(w, c, ADD_OPF_CONN_LOST, request);
	client_close_conn(w, c);
	client_reconnect_elsewhere(w, c);
}

static void client_on_conn_lost(world *w, client *c, uint64_t conn_id)
{
	if (c->conn != conn_id)
		return;
	client_abandon_all(w, c, ADD_OPF_CONN_LOST, UINT64_MAX);
	client_reconnect_elsewhere(w, c);
}

static void on_deliver_client(world *w, client *c, uint64_t conn_id, uint8_t *bytes, size_t len)
{
	conn *cn = &w->conns[conn_id];
	if (!cn->open || c->conn != conn_id)
		return;
	add_wire_msg m;
	for (;;) {
		size_t used = add_wire_decoder_feed(cn->dec_client, bytes, len, &m);
		bytes += used;
		len -= used;
		if (m.kind == ADD_WIRE_NONE)
			break;
		if (m.kind == ADD_WIRE_RSP)
			client_on_response(w, c, conn_id, &m.rsp, m.hmac_ok);
		if (!cn->open || c->conn != conn_id)
			break;
	}
}

/* ---- phases --------------------------------------------------------------- */
static bool clients_idle(const world *w)
{
	for (uint32_t i = 0; i < w->s->clients; i++)
		if (w->clients[i].n_pend)
			return false;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The client side closes its connection (the node is told). */
static void client_close_conn(world *w, client *c)
{
	if (!c->conn)
		return;
	conn *cn = &w->conns[c->conn];
	if (cn->open) {
		cn->open = false;
		free(cn->dec_client);
		cn->dec_client = NULL;
		free(cn->dec_node);
		cn->dec_node = NULL;
		snode *sn = &w->nodes[cn->node];
		if (sn->up) {
			add_node_on_connection_closed(sn->node, c->conn);
			after_node(w, sn);
		}
	}
	c->conn = 0;
}

/* Round r of the final reads: every written sector is read once, through
 * node (client + r) mod N; N rounds, one after the other, so every sector is
 * read through every node, in sequence. */
static void start_final_round(world *w)
{
	uint32_t r = w->final_round;
	for (uint32_t k = 0; k < w->s->clients; k++) {
		client *c = &w->clients[k];
		uint32_t target = (k + r) % w->n;
		c->n_final = c->next_final = 0;
		if (c->conn && c->node == target)
			continue;
		client_close_conn(w, c);
		c->node = target;
		if (!c->connect_scheduled) {
			c->connect_scheduled = true;
			push(w, w->now, EV_CLIENT_CONNECT, c->idx, 0, 0, NULL);
		}
	}
	for (size_t i = 0; i < w->n_final_secs; i++) {
		client *c = &w->clients[i % w->s->clients];
		c->final_sectors[c->n_final++] = w->final_secs[i];
	}
	w->final_left = w->n_final_secs;
	wlog(w, "FINAL reads, round %u: %zu sectors", r + 1, w->n_final_secs);
	for (uint32_t k = 0; k < w->s->clients; k++)
		client_schedule_issue(w, &w->clients[k], 0);
}

static void start_final_reads(world *w)
{
	/* Every sector any write touched. */
	const add_history *h = &w->r->history;
	uint64_t *secs = malloc((h->len + 1) * sizeof(*secs));
	if (!secs)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < h->len; i++)
		if (h->ops[i].kind == ADD_OP_WRITE)
			secs[n++] = h->ops[i].sector;
	qsort(secs, n, sizeof(*secs), cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || secs[u - 1] != secs[i])
			secs[u++] = secs[i];
	w->final_secs = secs;
	w->n_final_secs = u;
	for (uint32_t k = 0; k < w->s->clients; k++) {
		client *c = &w->clients[k];
		c->final_sectors = malloc((u / w->s->clients + 2) * sizeof(uint64_t));
		if (!c->final_sectors)
			abort();
	}
	w->final_round = 0;
	start_final_round(w);
}

static void phase_step(world *w)
{
	switch (w->phase) {
	case PH_WORKLOAD:
		if (workload_wants_more(w) && w->now < w->s->duration_ns)
			return;
		w->phase = PH_DRAIN;
		wlog(w, "workload over: %" PRIu64 " ops issued", w->ops_issued);
		/* fall through */
	case PH_DRAIN:
		if (!clients_idle(w))
			return;
		/* Heal everything, then let it settle. */
		w->phase = PH_SETTLE;
		wlog(w, "HEAL all: chaos off, partitions healed, nodes restarted");
		chaos_off(w);
		for (uint32_t i = 0; i < w->n; i++) {
			snode *sn = &w->nodes[i];
			sn->paused = false;
			if (!node_restart(w, sn)) {
				w->r->verdict = ADD_SIM_SETUP_ERROR;
				w->stop = true;
				return;
			}
		}
		heal(w);
		push(w, w->now + w->s->settle_ns, EV_PHASE, 0, PH_SETTLE, 0, NULL);
		return;
	case PH_SETTLE:
		w->phase = PH_FINAL;
		start_final_reads(w);
		if (w->final_left)
			return;
		/* fall through */
	case PH_FINAL:
		if (w->final_left)
			return;
		if (++w->final_round < w->n && w->n_final_secs) {
			start_final_round(w);
			return;
		}
		w->phase = PH_DONE;
		w->stop = true;
		return;
	case PH_DONE:
		return;
	}
}

/* ---- the loop --------------------------------------------------------------- */
static bool node_event_deferred(world *w, snode *sn, const add_sim_event *e)
{
	if (!sn->paused)
		return false;
	/* A paused process runs nothing: its events wait for the pause's end,
	 * in the order they were due. */
	add_sim_event d = *e;
	d.time_ns = sn->paused_until;
	if (!add_evq_push(&w->q, &d))
		abort();
	return true;
}

static void dispatch(world *w, add_sim_event *e)
{
	mix(w, e->time_ns);
	mix(w, ((uint64_t)e->kind << 32) | e->target);
	mix(w, e->a);
	mix(w, e->b);
	switch (e->kind) {
	case EV_DELIVER_NODE: {
		snode *sn = &w->nodes[e->target];
		conn *c = &w->conns[e->a];
		if (c->open && sn->up && node_event_deferred(w, sn, e))
			return; /* keeps its buffer */
		if (c->open && sn->up) {
			mix_bytes(w, e->ptr, e->b);
			if (c->kind == CONN_CLIENT && !add_node_accepting_clients(sn->node)) {
				add_sim_event d = *e;
				d.time_ns = w->now + MS;
				if (!add_evq_push(&w->q, &d))
					abort();
				return;
			}
			add_node_on_bytes(sn->node, e->a, c->dec_node, e->ptr, e->b);
			after_node(w, sn);
		}
		free(e->ptr);
		return;
	}
	case EV_DELIVER_CLIENT:
		mix_bytes(w, e->ptr, e->b);
		on_deliver_client(w, &w->clients[e->target], e->a, e->ptr, e->b);
		free(e->ptr);
		if (w->phase == PH_DRAIN)
			phase_step(w);
		return;
	case EV_TICK: {
		snode *sn = &w->nodes[e->target];
		if (!sn->up || sn->incarnation != e->a)
			return;
		if (node_event_deferred(w, sn, e))
			return;
		add_node_tick(sn->node);
		after_node(w, sn);
		push(w, w->now + ADD_NODE_TICK_NS, EV_TICK, sn->idx, sn->incarnation, 0, NULL);
		return;
	}
	case EV_FLUSH: {
		snode *sn = &w->nodes[e->target];
		if (!sn->up || sn->incarnation != e->a)
			return;
		if (node_event_deferred(w, sn, e))
			return;
		on_flush_event(w, sn);
		return;
	}
	case EV_CRASH: {
		snode *sn = &w->nodes[e->target];
		if (!sn->up || sn->incarnation != e->a)
			return;
		node_crash(w, sn, sn->fatal ? "fatal store error" : "node failed");
		/* A process that died of a disk error comes back later. */
		push(w,
		     w->now + rand_between(&w->nem_rng, w->s->down_min_ns, w->s->down_max_ns),
		     EV_RESTART, sn->idx, 0, 0, NULL);
		return;
	}
	case EV_LINK_CONNECT:
		on_link_connect(w, (uint32_t)e->a, (uint32_t)e->b);
		return;
	case EV_CLIENT_ISSUE:
		client_issue(w, &w->clients[e->target]);
		if (w->phase == PH_WORKLOAD && !workload_wants_more(w))
			phase_step(w);
		return;
	case EV_CLIENT_TIMEOUT:
		client_on_timeout(w, &w->clients[e->target], e->a, e->b);
		if (w->phase == PH_DRAIN)
			phase_step(w);
		return;
	case EV_CLIENT_CONNECT:
		client_connect(w, &w->clients[e->target]);
		return;
	case EV_CLIENT_CONN_LOST:
		client_on_conn_lost(w, &w->clients[e->target], e->a);
		if (w->phase == PH_DRAIN)
			phase_step(w);
		return;
	case EV_TIMELINE:
		on_timeline(w, &w->s->events[e->a]);
		return;
	case EV_RESTART:
		if (w->phase != PH_DONE && !node_restart(w, &w->nodes[e->target]))
			w->stop = true;
		return;
	case EV_HEAL:
		if (w->partition_gen == e->a && w->phase <= PH_DRAIN) {
			wlog(w, "HEAL (random)");
			heal(w);
		}
		return;
	case EV_UNPAUSE: {
		snode *sn = &w->nodes[e->target];
		if (sn->pause_gen == e->a && sn->paused) {
			sn->paused = false;
			wlog(w, "node %u: UNPAUSE", sn->idx + 1);
			update_health(w);
		}
		return;
	}
	case EV_NEMESIS:
		on_nemesis(w);
		return;
	case EV_PHASE:
		/* a: the phase this step was scheduled for */
		if ((enum phase)e->a == w->phase)
			phase_step(w);
		return;
	}
	assert(0 && "unknown event");
}

/* ---- checks after the run ------------------------------------------------- */
static void check_no_quorum(world *w)
{
	const add_history *h = &w->r->history;
	if (!w->quorum) {
		/* still without a quorum at the end (cannot happen after HEAL) */
		w->no_quorum_since = w->no_quorum_since ? w->no_quorum_since : w->now;
	}
	for (size_t k = 0; k < w->n_no_quorum; k++) {
		uint64_t a = w->no_quorum[k][0], b = w->no_quorum[k][1];
		for (size_t i = 0; i < h->len; i++) {
			const add_hist_op *op = &h->ops[i];
			if (add_hist_op_done(op) && op->invoke_ns >= a && op->response_ns < b) {
				w->r->verdict = ADD_SIM_NO_QUORUM_COMPLETION;
				w->r->culprit = i;
				snprintf(w->r->why, sizeof(w->r->why),
					 "%s of sector %" PRIu64 " by client %u via node %u completed "
					 "at %.3f ms, but no majority was up and connected from "
					 "%.3f ms to %.3f ms (it was invoked at %.3f ms)",
					 op->kind == ADD_OP_READ ? "read" : "write", op->sector,
					 op->client, op->node, op->response_ns / 1e6, a / 1e6,
					 b / 1e6, op->invoke_ns / 1e6);
				return;
			}
		}
	}
	if (w->s->expect_no_completions && w->n_no_quorum == 0) {
		w->r->verdict = ADD_SIM_SETUP_ERROR;
		snprintf(w->r->why, sizeof(w->r->why),
			 "the scenario expects a majority down, but there always was a quorum");
	}
}

/* The ops of the culprit's sector around it, for the report. */
static void window_around(world *w, size_t culprit)
{
	const add_history *h = &w->r->history;
	const add_hist_op *c = &h->ops[culprit];
	uint64_t lo = c->invoke_ns > 2000 * MS ? c->invoke_ns - 2000 * MS : 0;
	add_check_result *cr = &w->r->check;
	free(cr->window);
	cr->window = malloc(64 * sizeof(size_t));
	cr->window_len = 0;
	if (!cr->window)
		return;
	for (size_t i = 0; i < h->len && cr->window_len < 64; i++) {
		const add_hist_op *o = &h->ops[i];
		if (o->sector == c->sector && o->invoke_ns >= lo && o->invoke_ns <= c->invoke_ns + MS)
			cr->window[cr->window_len++] = i;
	}
	cr->culprit = culprit;
	cr->sector = c->sector;
}

/* ---- setup ------------------------------------------------------------------ */
int add_sim_run(const add_scenario *s, const add_sim_opts *o, add_sim_result *r)
{
	memset(r, 0, sizeof(*r));
	add_history_init(&r->history);
	r->culprit = SIZE_MAX;
	world *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		r->verdict = ADD_SIM_SETUP_ERROR;
		return -1;
	}
	w->s = s;
	w->o = o;
	w->r = r;
	w->n = s->nodes;
	w->hash = 0xcbf29ce484222325ull ^ o->seed;
	add_evq_init(&w->q);
	add_prng_seed2(&w->net_rng, o->seed, 1);
	add_prng_seed2(&w->nem_rng, o->seed, 2);
	add_prng_seed2(&w->wl_rng, o->seed, 3);
	add_prng_bytes(&w->wl_rng, w->client_secret, sizeof(w->client_secret));
	add_prng_bytes(&w->wl_rng, w->system_secret, sizeof(w->system_secret));
	int rc = -1;
	if (add_hmac_key_init(&w->client_key, w->client_secret, sizeof(w->client_secret)) != 0) {
		snprintf(r->why, sizeof(r->why), "HMAC key setup failed");
		goto out_nokey;
	}
	w->drop = s->drop;
	w->duplicate = s->duplicate;
	w->reorder = s->reorder;
	w->corrupt = s->corrupt;
	w->split = s->split;
	w->conn_break_per_s = s->conn_break_per_s;
	w->crash_per_s = s->crash_per_s;
	w->partition_per_s = s->partition_per_s;
	w->pause_per_s = s->pause_per_s;
	w->flush_fail_per_s = s->flush_fail_per_s;
	w->max_down = s->max_down >= 0 ? s->max_down : (int)(s->nodes - 1) / 2;
	w->cap_conns = 256;
	w->conns = calloc(w->cap_conns, sizeof(*w->conns));
	w->n_conns = 1; /* id 0 means "no connection" */
	w->clients = calloc(s->clients, sizeof(*w->clients));
	if (!w->conns || !w->clients)
		goto out;
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++)
			w->reach[i][j] = true;
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		sn->w = w;
		sn->idx = i;
		add_prng_seed2(&sn->rng, o->seed, 100 + i);
		if (o->store == ADD_SIM_STORE_REAL) {
			sn->disk = add_sim_disk_create(add_prng_next(&sn->rng));
			if (!sn->disk)
				goto out;
			add_sim_disk_crash_mode(sn->disk, (add_sim_crash_mode)s->crash_mode);
		}
		if (!node_start(w, sn)) {
			r->verdict = ADD_SIM_SETUP_ERROR;
			goto out;
		}
	}
	w->quorum = true;
	w->healthy = true;
	links_refresh(w);
	for (uint32_t k = 0; k < s->clients; k++) {
		client *c = &w->clients[k];
		c->idx = k;
		add_prng_seed2(&c->rng, o->seed, 1000 + k);
		c->pend = calloc(s->concurrency, sizeof(*c->pend));
		if (!c->pend)
			goto out;
		c->node = k % w->n;
		c->next_request = 1;
		c->connect_scheduled = true;
		push(w, add_prng_range(&c->rng, 0, 10 * MS), EV_CLIENT_CONNECT, k, 0, 0, NULL);
	}
	for (size_t i = 0; i < s->n_events; i++) {
		push(w, s->events[i].at_ns, EV_TIMELINE, 0, i, 0, NULL);
		if (s->events[i].at_ns > w->last_timeline_ns)
			w->last_timeline_ns = s->events[i].at_ns;
	}
	push(w, NEMESIS_PERIOD_NS, EV_NEMESIS, 0, 0, 0, NULL);
	push(w, s->duration_ns, EV_PHASE, 0, PH_WORKLOAD, 0, NULL);
	/* The hard stop: nothing may hang the simulator. */
	uint64_t hard_stop = s->duration_ns + 2 * s->client_timeout_ns + s->settle_ns +
			     2 * s->liveness_ns + 10000 * MS;

	add_sim_event e;
	while (!w->stop && add_evq_pop(&w->q, &e)) {
		assert(e.time_ns >= w->now);
		w->now = e.time_ns;
		r->stats.events++;
		if (w->now > hard_stop) {
			if (r->verdict == ADD_SIM_PASS) {
				r->verdict = ADD_SIM_LIVENESS;
				snprintf(r->why, sizeof(r->why),
					 "the run did not finish by %.0f ms (phase %d, %" PRIu64
					 " final reads left)",
					 hard_stop / 1e6, (int)w->phase, w->final_left);
			}
			if (e.kind == EV_DELIVER_NODE || e.kind == EV_DELIVER_CLIENT)
				free(e.ptr);
			break;
		}
		dispatch(w, &e);
	}
	if (!w->stop && r->verdict == ADD_SIM_PASS && w->phase != PH_DONE) {
		r->verdict = ADD_SIM_LIVENESS;
		snprintf(r->why, sizeof(r->why), "the simulation ran out of events in phase %d",
			 (int)w->phase);
	}
	r->stats.sim_ns = w->now;
	if (r->verdict == ADD_SIM_PASS)
		check_no_quorum(w);
	if (r->verdict == ADD_SIM_PASS && !o->skip_check) {
		/* Wall time of the check, for the figures only (not in the trace). */
		struct timespec c0, c1;
		clock_gettime(CLOCK_MONOTONIC, &c0);
		bool lin = add_check_history(&r->history, NULL, &r->check);
		clock_gettime(CLOCK_MONOTONIC, &c1);
		r->stats.check_ns_wall = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull +
					 (uint64_t)c1.tv_nsec - (uint64_t)c0.tv_nsec;
		if (!lin) {
			r->verdict = r->check.inconclusive ? ADD_SIM_INCONCLUSIVE
							   : ADD_SIM_NOT_LINEARIZABLE;
			r->culprit = r->check.culprit;
			snprintf(r->why, sizeof(r->why), "%s", r->check.why);
		}
	} else if (r->culprit != SIZE_MAX) {
		window_around(w, r->culprit);
	}
	for (size_t i = 0; i < r->history.len; i++) {
		const add_hist_op *op = &r->history.ops[i];
		mix(w, op->invoke_ns ^ (op->response_ns << 1) ^ (op->value << 7) ^ op->sector);
	}
	r->trace_hash = w->hash;
	rc = 0;
out:
	if (rc != 0 && r->verdict == ADD_SIM_PASS)
		r->verdict = ADD_SIM_SETUP_ERROR;
	/* Free everything: events still queued, nodes, stores, disks, conns. */
	while (add_evq_pop(&w->q, &e))
		if (e.kind == EV_DELIVER_NODE || e.kind == EV_DELIVER_CLIENT)
			free(e.ptr);
	add_evq_free(&w->q);
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		if (sn->node)
			add_node_destroy(sn->node);
		if (sn->store)
			add_sector_store_close(sn->store);
		if (sn->disk)
			add_sim_disk_destroy(sn->disk);
		if (sn->mem)
			add_memstore_destroy(sn->mem);
		free(sn->durable);
	}
	for (size_t id = 0; w->conns && id < w->n_conns; id++) {
		free(w->conns[id].dec_node);
		free(w->conns[id].dec_client);
	}
	free(w->conns);
	for (uint32_t k = 0; w->clients && k < s->clients; k++) {
		free(w->clients[k].pend);
		free(w->clients[k].final_sectors);
	}
	free(w->clients);
	free(w->no_quorum);
	free(w->final_secs);
	add_hmac_key_free(&w->client_key);
out_nokey:
	free(w);
	return rc;
}

void add_sim_result_free(add_sim_result *r)
{
	add_history_free(&r->history);
	add_check_result_free(&r->check);
}

const char *add_sim_verdict_name(add_sim_verdict v)
{
	switch (v) {
	case ADD_SIM_PASS:
		return "pass";
	case ADD_SIM_NOT_LINEARIZABLE:
		return "NOT LINEARIZABLE";
	case ADD_SIM_NO_QUORUM_COMPLETION:
		return "COMPLETED WITHOUT A QUORUM";
	case ADD_SIM_LIVENESS:
		return "LIVENESS";
	case ADD_SIM_INCONCLUSIVE:
		return "INCONCLUSIVE";
	case ADD_SIM_SETUP_ERROR:
		return "SETUP ERROR";
	}
	return "?";
}
