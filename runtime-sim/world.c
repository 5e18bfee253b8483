/* runtime-sim/world: the nodes (real core + store + sim disk), the event
 * loop, the checks after a run, and add_sim_run. See world.h. */
#include "durable_floor.h"
#include "world_internal.h"

#include <errno.h>

#include "rejoin.h"
#include "superblock.h"

/* ---- trace hash ----------------------------------------------------------- */
void sim_mix(world *w, uint64_t v)
{
	w->hash ^= v + 0x9e3779b97f4a7c15ull + (w->hash << 6) + (w->hash >> 2);
	w->hash *= 0xff51afd7ed558ccdull;
}

/* A message's first 32 bytes and its last 32 (the HMAC tag, itself a digest
 * of every byte) stand for the whole message in the trace hash. */
void sim_mix_bytes(world *w, const uint8_t *p, size_t len)
{
	uint64_t h = len;
	for (size_t i = 0; i < len; i++) {
		if (i == 32 && len > 64)
			i = len - 32;
		h = (h ^ p[i]) * 0x100000001b3ull;
	}
	sim_mix(w, h);
}

void sim_wlog(world *w, const char *fmt, ...)
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
void sim_push(world *w, uint64_t at, uint32_t kind, uint32_t target, uint64_t a, uint64_t b,
		 void *ptr)
{
	add_sim_event e = {.time_ns = at, .kind = kind, .target = target, .a = a, .b = b, .ptr = ptr};
	assert(at >= w->now);
	if (!add_evq_push(&w->q, &e)) {
		fprintf(stderr, "addsim: out of memory\n");
		abort();
	}
}

uint64_t sim_rand_between(add_prng *p, uint64_t lo, uint64_t hi)
{
	return lo >= hi ? lo : add_prng_range(p, lo, hi);
}

/* Queues `len` bytes for delivery at `t` on connection `id` (to node or
 * client `target`). Sometimes the bytes arrive in two reads, as TCP may
 * deliver them, so the stream decoders' partial-message path runs too; both
 * parts share the time and keep their order (consecutive sequence numbers). */
void sim_deliver_at(world *w, uint32_t kind, uint32_t target, uint64_t id, uint64_t t,
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
		sim_push(w, t, kind, target, id, parts[k], copy);
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
		sim_wlog(sn->w, "node %u: %s", sn->idx + 1, line);
}


static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
{
	snode *sn = ctx;
	assert(rank >= 1 && rank <= sn->w->n && rank != sn->idx + 1);
	sim_send_peer_msg(sn->w, sn, rank - 1u, msg, len);
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
	uint64_t lat = sim_rand_between(&w->net_rng, w->s->latency_min_ns, w->s->latency_max_ns);
	uint64_t t = w->now + lat;
	if (t < c->to_client_last_ns)
		t = c->to_client_last_ns; /* TCP: in order within a connection */
	c->to_client_last_ns = t;
	sim_deliver_at(w, EV_DELIVER_CLIENT, c->from, id, t, msg, len);
}

static void on_durable(void *arg, uint64_t cookie)
{
	snode *sn = arg;
	sim_store_durable(sn, cookie); /* ONE TAG ONE VALUE */
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
	sim_wlog(sn->w, "node %u: store fatal: %s", sn->idx + 1, why);
}

static void store_log(void *arg, add_log_level level, const char *line)
{
	snode *sn = arg;
	if (level <= ADD_LOG_INFO)
		sim_wlog(sn->w, "node %u store: %s", sn->idx + 1, line);
}

/* Opens (recovers) the node's sector store. When a crash inside recovery is
 * due, the disk gets a crash point a random number of operations ahead
 * (within what the last complete open took): if the open goes past it, the
 * power is cut right after that operation and the open counts as failed. */
static add_sector_store *open_store(world *w, snode *sn, char *err, size_t err_len)
{
	add_sector_store_config cfg = {.disk = add_sim_disk_ops(sn->disk),
				       .n_sectors = w->s->sectors,
				       .on_durable = on_durable,
				       .on_fatal = on_fatal,
				       .arg = sn,
				       .journal_max_bytes = w->s->journal_max_bytes,
				       .rank = (uint8_t)(sn->idx + 1),
				       .log = store_log};
	/* Used only when the store is created: deterministic, from the seed. */
	add_prng_bytes(&sn->rng, cfg.new_identity, sizeof(cfg.new_identity));
	bool crash_inside = sim_storage_recovery_crash_due(w, sn);
	uint64_t before = add_sim_disk_op_count(sn->disk);
	uint64_t span = sn->open_ops_last > 4 ? sn->open_ops_last : 4;
	uint64_t k = crash_inside ? before + add_prng_below(&w->nem_rng, span) : UINT64_MAX;
	add_sim_disk_set_crash_after(sn->disk, k);
	add_sector_store *st = add_sector_store_open(&cfg, err, err_len);
	uint64_t used = add_sim_disk_op_count(sn->disk) - before;
	if (crash_inside && add_sim_disk_past_crash_point(sn->disk)) {
		/* The open went past the crash point: nothing after it became
		 * durable. Free what it built, then the power cut. */
		if (st)
			add_sector_store_close(st);
		sn->recovery_crash_streak++;
		w->r->stats.recovery_crashes++;
		sim_sometimes(w, "sim.crash_inside_recovery");
		sim_wlog(w, "node %u: CRASH inside recovery, after disk operation %" PRIu64
			 " of %" PRIu64 " the open made",
			 sn->idx + 1, k - before, used);
		sim_power_cut(w, sn);
		assert(!add_sim_disk_past_crash_point(sn->disk));
		snprintf(err, err_len, "crashed inside recovery after %" PRIu64 " disk operations",
			 k - before);
		return NULL;
	}
	add_sim_disk_set_crash_after(sn->disk, UINT64_MAX);
	if (st) {
		sn->open_ops_last = used;
		sn->recovery_crash_streak = 0;
	}
	return st;
}


/* Before the store opens (core/rejoin.h): is this storage new? */
static bool open_rejoin(world *w, snode *sn)
{
	char err[200];
	add_superblock sb;
	int rc = add_superblock_read(add_sim_disk_ops(sn->disk), &sb, err, sizeof(err));
	add_rejoin_config rc_cfg = {.rank = (uint8_t)(sn->idx + 1),
				    .n_procs = (uint8_t)w->n,
				    .n_sectors = w->s->sectors,
				    .store_created = rc == -ENOENT,
				    .disk = add_sim_disk_ops(sn->disk),
				    .log = store_log,
				    .log_arg = sn};

	assert(sn->rejoin == NULL);
	sn->rejoin = add_rejoin_open(&rc_cfg, err, sizeof(err));
	if (sn->rejoin == NULL) {
		snprintf(sn->open_err, sizeof(sn->open_err), "rejoin open failed: %s", err);
		snprintf(w->r->why, sizeof(w->r->why), "node %u: rejoin open failed: %s",
			 sn->idx + 1, err);
		return false;
	}
	return true;
}

bool sim_node_start(world *w, snode *sn)
{
	assert(!sn->up);
	if (w->o->store == ADD_SIM_STORE_MEM) {
		if (!sn->mem)
			sn->mem = add_memstore_create(w->s->sectors, on_durable, on_fatal, sn);
		if (!sn->mem)
			return false;
		add_memstore_recover(sn->mem);
		sn->base_ops = add_memstore_ops();
		sn->base_ctx = sn->mem;
	} else {
		char err[200];
		if (!open_rejoin(w, sn))
			return false;
		sn->store = open_store(w, sn, err, sizeof(err));
		if (!sn->store) {
			add_rejoin_close(sn->rejoin);
			sn->rejoin = NULL;
			snprintf(sn->open_err, sizeof(sn->open_err), "store open failed: %s", err);
			snprintf(w->r->why, sizeof(w->r->why), "node %u: store open failed: %s",
				 sn->idx + 1, err);
			return false;
		}
		sn->base_ops = add_sector_store_ops();
		sn->base_ctx = sn->store;
		add_superblock sb;
		add_sector_store_identity(sn->store, &sb);
		add_rejoin_attach(sn->rejoin, &w->store_ops, sn, sb.incarnation);
		sim_floor_check(sn); /* DURABLE TAG WENT BACK */
	}
	sn->open_err[0] = '\0';
	/* The node sees its store through the tag check (storage.c). */
	const add_store_ops *ops = &w->store_ops;
	void *store_ctx = sn;
	if (sn->rejoin != NULL) { /* the rejoin sees the tag check's ops */
		ops = add_rejoin_store_ops();
		store_ctx = sn->rejoin;
	}
	add_node_config cfg = {.rank = (uint8_t)(sn->idx + 1),
			       .n_procs = (uint8_t)w->n,
			       .n_sectors = w->s->sectors,
			       .retransmit_initial_ns = SIM_RETX_INITIAL_NS,
			       .retransmit_max_ns = SIM_RETX_MAX_NS,
			       .rejoin = sn->rejoin};
	memcpy(cfg.client_key, w->client_secret, sizeof(cfg.client_key));
	memcpy(cfg.system_key, w->system_secret, sizeof(cfg.system_key));
	sn->io = (add_io){.ctx = sn,
			  .now_ns = io_now,
			  .random_bytes = io_random,
			  .send_peer = io_send_peer,
			  .send_client = io_send_client,
			  .log = io_log,
			  .sometimes = sim_io_sometimes,
			  .buggify = sim_io_buggify};
	sn->node = add_node_create(&cfg, &sn->io, ops, store_ctx);
	if (!sn->node) {
		snprintf(w->r->why, sizeof(w->r->why), "node %u: add_node_create failed",
			 sn->idx + 1);
		add_rejoin_close(sn->rejoin);
		sn->rejoin = NULL;
		return false;
	}
	sn->up = true;
	sn->starts++;
	sn->fatal = false;
	sn->scrub_credit = 0;
	sn->last_stores_durable = 0;
	sn->last_activity_ns = w->now;
	sn->flush_armed = false;
	sn->flush_scheduled = false;
	sn->n_durable = 0;
	sim_push(w, w->now + add_prng_range(&w->nem_rng, 1, ADD_NODE_TICK_NS), EV_TICK, sn->idx,
	     sn->incarnation, 0, NULL);
	return true;
}

/* The node's damage and repair counts, added to the run's before the node
 * goes (its counts die with it). */
void sim_add_node_counts(world *w, snode *sn)
{
	add_node_stats ns;
	add_node_get_stats(sn->node, &ns);
	w->r->stats.damaged_found += ns.damaged_found;
	w->r->stats.repairs_done += ns.repairs_done;
	w->r->stats.scrubbed += ns.scrubbed;
}

void sim_node_crash(world *w, snode *sn, const char *why)
{
	if (!sn->up)
		return;
	sim_wlog(w, "node %u: CRASH (%s)", sn->idx + 1, why);
	w->r->stats.crashes++;
	sim_mix(w, 0xc4a5u + sn->idx);
	sn->up = false;
	sn->paused = false;
	sn->incarnation++; /* its pending ticks and flushes are void */
	sim_add_node_counts(w, sn);
	add_node_destroy(sn->node);
	sn->node = NULL;
	add_rejoin_close(sn->rejoin);
	sn->rejoin = NULL;
	if (w->o->store == ADD_SIM_STORE_MEM) {
		add_memstore_crash(sn->mem);
	} else {
		/* The power cut first (unsynced data lost or torn, pending flush
		 * completions dropped), then the store's memory is released. */
		sim_power_cut(w, sn);
		add_sector_store_close(sn->store);
		sn->store = NULL;
	}
	sn->n_durable = 0;
	sn->flush_armed = false;
	sim_store_pending_clear(sn);
	/* Every connection of the node breaks. */
	for (size_t id = 1; id < w->n_conns; id++) {
		conn *c = &w->conns[id];
		if (!c->open)
			continue;
		if (c->node == sn->idx || (c->kind == CONN_PEER && c->from == sn->idx))
			sim_conn_close(w, id, c->node != sn->idx);
	}
	sim_update_health(w);
}

/* Restarts a crashed node. A store that cannot open (an injected fault:
 * no space left, a crash inside recovery, damage) leaves the node down and
 * the restart is retried a little later, until it opens. False while the
 * node stays down. */
void sim_node_wipe(world *w, snode *sn)
{
	sim_node_crash(w, sn, "amnesia");
	sim_wlog(w, "node %u: AMNESIA: its storage is replaced by an empty disk", sn->idx + 1);
	sn->wipes++;
	sim_floor_wipe(sn);
	if (w->o->store == ADD_SIM_STORE_MEM) {
		add_memstore_destroy(sn->mem);
		sn->mem = NULL; /* created empty at the next start */
		return;
	}
	add_sim_disk_destroy(sn->disk);
	sn->disk = add_sim_disk_create(add_prng_next(&sn->rng));
	assert(sn->disk != NULL);
	add_sim_disk_crash_mode(sn->disk, w->s->crash_mode == ADD_SCN_CRASH_MODE_ANY
						  ? ADD_SIM_CRASH_RANDOM
						  : (add_sim_crash_mode)w->s->crash_mode);
}

void sim_node_lose_file(world *w, snode *sn, const char *file)
{
	if (!sn->disk)
		return; /* --store mem: no files */
	sim_node_crash(w, sn, "a store file lost");
	const add_disk *d = add_sim_disk_ops(sn->disk);
	int rc = d->unlink(d->ctx, file);
	if (rc == 0)
		rc = d->sync_dir(d->ctx);
	sim_wlog(w, "node %u: LOSE FILE %s%s%s", sn->idx + 1, file, rc ? ": " : "",
		 rc ? strerror(-rc) : "");
	if (rc == 0)
		sn->lost_file = true;
}

bool sim_node_restart(world *w, snode *sn)
{
	if (sn->up)
		return true;
	sim_wlog(w, "node %u: RESTART", sn->idx + 1);
	w->r->stats.restarts++;
	sim_mix(w, 0x5e57u + sn->idx);
	if (!sim_node_start(w, sn)) {
		w->r->stats.open_failures++;
		w->r->why[0] = '\0';
		sim_wlog(w, "node %u: stays down: %s", sn->idx + 1, sn->open_err);
		if (sn->lost_file) {
			/* The store refuses a partial store, as it must: the
			 * operator replaces the storage (then it rejoins). */
			sn->lost_file = false;
			sim_node_wipe(w, sn);
		}
		if (!sn->restart_pending && w->phase != PH_DONE) {
			sn->restart_pending = true;
			sim_push(w,
				 w->now + sim_rand_between(&w->nem_rng, RESTART_RETRY_MIN_NS,
							   RESTART_RETRY_MAX_NS),
				 EV_RESTART, sn->idx, 1, 0, NULL);
		}
		return false;
	}
	sn->lost_file = false; /* the store opened without it */
	sim_links_refresh(w);
	sim_update_health(w);
	return true;
}

void sim_deliver_durable(snode *sn)
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
void sim_after_node(world *w, snode *sn)
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
		sim_deliver_durable(sn);
	}
	if (sn->fatal || add_node_failed(sn->node)) {
		sim_push(w, w->now, EV_CRASH, sn->idx, sn->incarnation, 0, NULL);
		return;
	}
	if (pending && !sn->flush_scheduled) {
		sn->flush_scheduled = true;
		uint64_t lat = sim_rand_between(&sn->rng, w->s->flush_min_ns, w->s->flush_max_ns);
		/* BUGGIFY: a slow disk now and then (its stores complete late) */
		if (sim_buggify(w, "sim.delay_store_completion"))
			lat += sim_rand_between(&w->bug_rng, 10000000ull, 100000000ull);
		sim_push(w, w->now + lat, EV_FLUSH, sn->idx, sn->incarnation, 0, NULL);
	}
}

void sim_on_flush_event(world *w, snode *sn)
{
	sn->flush_scheduled = false;
	if (w->o->store == ADD_SIM_STORE_MEM)
		add_memstore_complete_flush(sn->mem);
	else if (add_sim_disk_pending_flushes(sn->disk) >= 2 && add_prng_next(&sn->rng) % 2)
		add_sim_disk_complete_newest(sn->disk); /* flushes finish out of order */
	else
		add_sim_disk_complete_one(sn->disk);
	sim_after_node(w, sn);
}

/* ---- the loop --------------------------------------------------------------- */
bool sim_node_event_deferred(world *w, snode *sn, const add_sim_event *e)
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

void sim_dispatch(world *w, add_sim_event *e)
{
	sim_mix(w, e->time_ns);
	sim_mix(w, ((uint64_t)e->kind << 32) | e->target);
	sim_mix(w, e->a);
	sim_mix(w, e->b);
	switch (e->kind) {
	case EV_DELIVER_NODE: {
		snode *sn = &w->nodes[e->target];
		conn *c = &w->conns[e->a];
		if (c->open && sn->up && sim_node_event_deferred(w, sn, e))
			return; /* keeps its buffer */
		if (c->open && sn->up) {
			sim_mix_bytes(w, e->ptr, e->b);
			if (c->kind == CONN_CLIENT && !add_node_accepting_clients(sn->node)) {
				add_sim_event d = *e;
				d.time_ns = w->now + MS;
				if (!add_evq_push(&w->q, &d))
					abort();
				return;
			}
			add_node_on_bytes(sn->node, e->a, c->dec_node, e->ptr, e->b);
			sim_after_node(w, sn);
		}
		free(e->ptr);
		return;
	}
	case EV_DELIVER_CLIENT:
		sim_mix_bytes(w, e->ptr, e->b);
		sim_on_deliver_client(w, &w->clients[e->target], e->a, e->ptr, e->b);
		free(e->ptr);
		if (w->phase == PH_DRAIN)
			sim_phase_step(w);
		return;
	case EV_TICK: {
		snode *sn = &w->nodes[e->target];
		if (!sn->up || sn->incarnation != e->a)
			return;
		if (sim_node_event_deferred(w, sn, e))
			return;
		add_node_tick(sn->node);
		if (w->phase <= PH_DRAIN)
			sim_node_scrub_tick(w, sn);
		if (w->o->store == ADD_SIM_STORE_REAL && !add_node_failed(sn->node)) {
			/* Like addd: a store idle for a while checkpoints (trims
			 * its journal: the disk goes back within its bound). */
			add_sector_store_stats st;
			add_sector_store_get_stats(sn->store, &st);
			if (st.stores_durable != sn->last_stores_durable ||
			    !add_sector_store_idle(sn->store)) {
				sn->last_stores_durable = st.stores_durable;
				sn->last_activity_ns = w->now;
			} else if (w->now - sn->last_activity_ns >= w->s->checkpoint_idle_ns) {
				if (w->phase == PH_WORKLOAD)
					sim_sometimes(w, "sim.checkpoint_under_workload");
				if (w->partitioned)
					sim_sometimes(w, "sim.checkpoint_during_partition");
				add_sector_store_checkpoint(sn->store);
				sn->last_activity_ns = w->now;
			}
		}
		sim_after_node(w, sn);
		sim_push(w, w->now + ADD_NODE_TICK_NS, EV_TICK, sn->idx, sn->incarnation, 0, NULL);
		return;
	}
	case EV_FLUSH: {
		snode *sn = &w->nodes[e->target];
		if (!sn->up || sn->incarnation != e->a)
			return;
		if (sim_node_event_deferred(w, sn, e))
			return;
		sim_on_flush_event(w, sn);
		return;
	}
	case EV_CRASH: {
		snode *sn = &w->nodes[e->target];
		if (!sn->up || sn->incarnation != e->a)
			return;
		sim_node_crash(w, sn, sn->fatal ? "fatal store error" : "node failed");
		/* A process that died of a disk error comes back later. */
		sim_push(w,
		     w->now + sim_rand_between(&w->nem_rng, w->s->down_min_ns, w->s->down_max_ns),
		     EV_RESTART, sn->idx, 0, 0, NULL);
		return;
	}
	case EV_LINK_CONNECT:
		sim_on_link_connect(w, (uint32_t)e->a, (uint32_t)e->b);
		return;
	case EV_CLIENT_ISSUE:
		sim_client_issue(w, &w->clients[e->target]);
		if (w->phase == PH_WORKLOAD && !sim_workload_wants_more(w))
			sim_phase_step(w);
		return;
	case EV_CLIENT_TIMEOUT:
		sim_client_on_timeout(w, &w->clients[e->target], e->a, e->b);
		if (w->phase == PH_DRAIN)
			sim_phase_step(w);
		return;
	case EV_CLIENT_CONNECT:
		sim_client_connect(w, &w->clients[e->target]);
		return;
	case EV_CLIENT_CONN_LOST:
		sim_client_on_conn_lost(w, &w->clients[e->target], e->a);
		if (w->phase == PH_DRAIN)
			sim_phase_step(w);
		return;
	case EV_TIMELINE:
		sim_on_timeline(w, &w->s->events[e->a]);
		return;
	case EV_RESTART:
		/* a: 1 for the retry of a failed open */
		if (e->a)
			w->nodes[e->target].restart_pending = false;
		if (w->phase != PH_DONE)
			sim_node_restart(w, &w->nodes[e->target]);
		return;
	case EV_DISK_SPACE:
		sim_storage_on_space(w, &w->nodes[e->target], e->a);
		return;
	case EV_HEAL:
		if (w->partition_gen == e->a && w->phase <= PH_DRAIN) {
			sim_wlog(w, "HEAL (random)");
			sim_heal(w);
		}
		return;
	case EV_UNPAUSE: {
		snode *sn = &w->nodes[e->target];
		if (sn->pause_gen == e->a && sn->paused) {
			sn->paused = false;
			sim_wlog(w, "node %u: UNPAUSE", sn->idx + 1);
			sim_update_health(w);
		}
		return;
	}
	case EV_NEMESIS:
		sim_on_nemesis(w);
		return;
	case EV_PHASE:
		/* a: the phase this step was scheduled for */
		if ((enum phase)e->a == w->phase)
			sim_phase_step(w);
		return;
	}
	assert(0 && "unknown event");
}

/* ---- checks after the run ------------------------------------------------- */
void sim_check_no_quorum(world *w)
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
void sim_window_around(world *w, size_t culprit)
{
	/* The culprit's sector, ops that overlap [culprit's invocation - 100 ms,
	 * its response (or invocation + 100 ms)]: the 32 closest before the
	 * culprit and the 31 closest after it. */
	enum { BEFORE = 32, AFTER = 31 };
	const add_history *h = &w->r->history;
	const add_hist_op *c = &h->ops[culprit];
	uint64_t lo = c->invoke_ns > 100 * MS ? c->invoke_ns - 100 * MS : 0;
	uint64_t hi = add_hist_op_done(c) ? c->response_ns : c->invoke_ns + 100 * MS;
	add_check_result *cr = &w->r->check;
	free(cr->window);
	cr->window = malloc((BEFORE + 1 + AFTER) * sizeof(size_t));
	cr->window_len = 0;
	if (!cr->window)
		return;
	size_t before[BEFORE], nb = 0, after = 0;
	for (size_t i = 0; i < h->len; i++) {
		const add_hist_op *o = &h->ops[i];
		if (o->sector != c->sector || i == culprit || o->invoke_ns > hi ||
		    (add_hist_op_done(o) && o->response_ns < lo))
			continue;
		if (i < culprit) {
			before[nb % BEFORE] = i; /* a ring: the latest BEFORE ones */
			nb++;
		} else if (after < AFTER) {
			cr->window[BEFORE + 1 + after++] = i;
		}
	}
	size_t keep = nb < BEFORE ? nb : BEFORE;
	for (size_t k = 0; k < keep; k++)
		cr->window[cr->window_len++] = before[(nb - keep + k) % BEFORE];
	cr->window[cr->window_len++] = culprit;
	memmove(cr->window + cr->window_len, cr->window + BEFORE + 1, after * sizeof(size_t));
	cr->window_len += after;
	cr->culprit = culprit;
	cr->sector = c->sector;
}

/* Once idle (after the final reads and a quiet period): no register, client
 * command or store work left on any node, and each disk within the space
 * bound of PROTOCOL.md: 1.1 * written sectors * 4096 + a constant. */
#define SPACE_CONSTANT_BYTES (64u * 1024)

void sim_check_resources(world *w)
{
	if (w->r->verdict != ADD_SIM_PASS)
		return;
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		if (!sn->up)
			continue;
		add_node_stats ns;
		add_node_get_stats(sn->node, &ns);
		w->r->stats.registers_left += ns.registers_active;
		const char *what = NULL;
		char detail[200] = "";
		if (ns.registers_active || ns.client_cmds_pending) {
			what = "work left on an idle node";
			snprintf(detail, sizeof(detail),
				 "%" PRIu64 " registers active, %" PRIu64 " client commands pending",
				 ns.registers_active, ns.client_cmds_pending);
		} else if (w->o->store == ADD_SIM_STORE_REAL) {
			uint64_t written = add_sector_store_written(sn->store);
			uint64_t used = add_sim_disk_bytes_used(sn->disk);
			uint64_t bound = written * ADD_SECTOR_SIZE * 11 / 10 + SPACE_CONSTANT_BYTES;
			if (used > w->r->stats.disk_bytes_max)
				w->r->stats.disk_bytes_max = used;
			if (!add_sector_store_idle(sn->store)) {
				what = "the sector store is not idle";
			} else if (used > bound) {
				what = "disk space over the bound";
				snprintf(detail, sizeof(detail),
					 "%" PRIu64 " bytes used for %" PRIu64
					 " written sectors (bound %" PRIu64 ")",
					 used, written, bound);
			}
		}
		if (what) {
			w->r->verdict = ADD_SIM_RESOURCES;
			snprintf(w->r->why, sizeof(w->r->why), "node %u, %.0f ms after the last op: %s%s%s",
				 i + 1, w->s->quiesce_ns / 1e6, what, detail[0] ? ": " : "", detail);
			return;
		}
	}
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
	sim_hooks_init(w);
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
	w->wipe_per_s = s->wipe_per_s;
	w->partition_per_s = s->partition_per_s;
	w->pause_per_s = s->pause_per_s;
	w->flush_fail_per_s = s->flush_fail_per_s;
	w->rot_per_s = s->rot_per_s;
	w->read_error_per_s = s->read_error_per_s;
	w->disk_full_per_s = s->disk_full_per_s;
	w->recovery_crash = s->recovery_crash;
	sim_tags_init(w);
	sim_store_ops_init(w, o->store == ADD_SIM_STORE_MEM ? add_memstore_ops()
							     : add_sector_store_ops());
	w->max_down = s->max_down >= 0 ? s->max_down : (int)(s->nodes - 1) / 2;
	double loss = s->drop + s->corrupt; /* a corrupted tag is dropped too */
	add_sim_liveness_params lp = {
		.base_ns = s->liveness_ns,
		.loss = loss > 1 ? 1 : loss,
		.nodes = s->nodes,
		.retx_initial_ns = SIM_RETX_INITIAL_NS,
		.retx_max_ns = SIM_RETX_MAX_NS,
		.tick_ns = ADD_NODE_TICK_NS,
		.round_trip_ns = 2 * s->latency_max_ns + s->reorder_max_ns + s->flush_max_ns,
	};
	w->op_liveness_ns = add_sim_liveness_bound_ns(&lp);
	assert(w->op_liveness_ns >= s->liveness_ns);
	r->stats.op_liveness_ns = w->op_liveness_ns;
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
			/* On a fresh disk this only sets the mode; ANY draws one
			 * per power cut (sim_power_cut). */
			add_sim_disk_crash_mode(sn->disk, s->crash_mode == ADD_SCN_CRASH_MODE_ANY
								  ? ADD_SIM_CRASH_RANDOM
								  : (add_sim_crash_mode)s->crash_mode);
		}
		if (!sim_node_start(w, sn)) {
			r->verdict = ADD_SIM_SETUP_ERROR;
			goto out;
		}
	}
	w->quorum = true;
	w->healthy = true;
	for (uint32_t i = 0; i < w->n; i++)
		w->nodes[i].quorum_since = UINT64_MAX;
	sim_update_health(w);
	sim_links_refresh(w);
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
		sim_push(w, add_prng_range(&c->rng, 0, 10 * MS), EV_CLIENT_CONNECT, k, 0, 0, NULL);
	}
	for (size_t i = 0; i < s->n_events; i++) {
		sim_push(w, s->events[i].at_ns, EV_TIMELINE, 0, i, 0, NULL);
		if (s->events[i].at_ns > w->last_timeline_ns)
			w->last_timeline_ns = s->events[i].at_ns;
	}
	sim_push(w, NEMESIS_PERIOD_NS, EV_NEMESIS, 0, 0, 0, NULL);
	sim_push(w, s->duration_ns, EV_PHASE, 0, PH_WORKLOAD, 0, NULL);
	/* The hard stop: nothing may hang the simulator. */
	/* (the drain, the heal and settle with every node up within liveness,
	 * the scrub within repair_time, the final reads, the quiet period) */
	uint64_t hard_stop = s->duration_ns + 2 * s->client_timeout_ns + s->settle_ns +
			     w->op_liveness_ns + 3 * s->liveness_ns + s->repair_time_ns +
			     s->quiesce_ns + 10000 * MS;

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
		sim_dispatch(w, &e);
	}
	if (!w->stop && r->verdict == ADD_SIM_PASS && w->phase != PH_DONE) {
		r->verdict = ADD_SIM_LIVENESS;
		snprintf(r->why, sizeof(r->why), "the simulation ran out of events in phase %d",
			 (int)w->phase);
	}
	r->stats.sim_ns = w->now;
	for (uint32_t i = 0; i < w->n; i++)
		if (w->nodes[i].up)
			sim_add_node_counts(w, &w->nodes[i]);
	if (s->expect_refusal) {
		/* a majority lost its storage: what no intact quorum can tell must
		 * stay unknown; the run ends with some node not a member and the
		 * liveness checks unmet, and the history is checked as it is */
		uint32_t waiting = 0;
		for (uint32_t i = 0; i < w->n; i++)
			if (w->nodes[i].rejoin != NULL &&
			    add_rejoin_get_state(w->nodes[i].rejoin) != ADD_REJOIN_MEMBER)
				waiting++;
		if (r->verdict == ADD_SIM_LIVENESS && waiting > 0) {
			r->verdict = ADD_SIM_PASS;
			r->why[0] = '\0';
			sim_wlog(w, "REFUSED as expected: %u node(s) still not members", waiting);
		} else if (r->verdict == ADD_SIM_PASS) {
			r->verdict = ADD_SIM_GUESSED;
			snprintf(r->why, sizeof(r->why),
				 "a majority lost its storage, yet every node ended a member and "
				 "every final read completed");
		}
	}
	if (r->verdict == ADD_SIM_PASS)
		sim_check_no_quorum(w);
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
		sim_window_around(w, r->culprit);
	}
	for (size_t i = 0; i < r->history.len; i++) {
		const add_hist_op *op = &r->history.ops[i];
		sim_mix(w, op->invoke_ns ^ (op->response_ns << 1) ^ (op->value << 7) ^ op->sector);
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
		add_rejoin_close(sn->rejoin);
		if (sn->disk)
			add_sim_disk_destroy(sn->disk);
		if (sn->mem)
			add_memstore_destroy(sn->mem);
		free(sn->durable);
		free(sn->pst);
		sim_floor_free(sn);
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
	sim_tags_free(w);
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
	case ADD_SIM_RESOURCES:
		return "RESOURCES NOT RELEASED";
	case ADD_SIM_PROTOCOL:
		return "PROTOCOL VIOLATION";
	case ADD_SIM_SETUP_ERROR:
		return "SETUP ERROR";
	case ADD_SIM_TAG_CONFLICT:
		return "ONE TAG ONE VALUE";
	case ADD_SIM_NOT_REPAIRED:
		return "NOT REPAIRED";
	case ADD_SIM_GUESSED:
		return "GUESSED INSTEAD OF REFUSING";
	case ADD_SIM_DURABLE_WENT_BACK:
		return "DURABLE TAG WENT BACK";
	}
	return "?";
}
