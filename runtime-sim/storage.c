/* runtime-sim/storage: what the simulator checks about storage.
 *  - ONE TAG ONE VALUE (tag_map.h): the store every node sees is its real
 *    store wrapped so that each store(), repair() and successful read_data
 *    is checked against the tag map, as is every VALUE and WRITE_PROC the
 *    nodes send each other (sim_net.c calls sim_observe_peer_msg);
 *  - the end-of-run scrub: every node scrubs whole passes and repairs what
 *    it finds, within repair_time;
 *  - REPAIRED, once idle: on every node, every written sector is undamaged,
 *    readable, and holds the value its tag names. */
#include "durable_floor.h"
#include "world_internal.h"

/* ---- ONE TAG ONE VALUE ------------------------------------------------------ */
static void culprit_of_value(world *w, uint64_t sector, uint64_t value)
{
	const add_history *h = &w->r->history;
	for (size_t i = 0; i < h->len; i++)
		if (h->ops[i].kind == ADD_OP_WRITE && h->ops[i].sector == sector &&
		    h->ops[i].value == value) {
			w->r->culprit = i;
			return;
		}
}

static void value_name(uint64_t v, char *buf, size_t len)
{
	if (v == ADD_VALUE_INITIAL)
		snprintf(buf, len, "zeros");
	else if (v == ADD_VALUE_GARBAGE)
		snprintf(buf, len, "garbage");
	else
		snprintf(buf, len, "w%" PRIu64, v);
}

/* `record`: the value left the process or is durable (a new tag is
 * remembered); else (bytes a read returned) it is only compared. */
static void tag_observe_value(world *w, uint8_t rank, const char *what, uint64_t sector,
			      uint64_t ts, uint8_t wr, uint64_t v, bool record)
{
	if (w->r->verdict != ADD_SIM_PASS)
		return;
	add_tag_seen seen = {.value = v, .at_ns = w->now, .node = rank, .what = what};
	add_tag_seen first;
	char vs[32], fs[32];
	value_name(v, vs, sizeof(vs));
	if (ts == 0 || v == ADD_VALUE_INITIAL || v == ADD_VALUE_GARBAGE) {
		/* The initial tag names zeros, and only it does: every write
		 * writes a value of its own. */
		bool ok = ts == 0 ? (v == ADD_VALUE_INITIAL && wr == 0) : false;
		if (ok)
			return;
		w->r->verdict = ADD_SIM_TAG_CONFLICT;
		snprintf(w->r->why, sizeof(w->r->why),
			 "sector %" PRIu64 ", tag (ts %" PRIu64 ", wr %u): node %u's %s at %.3f ms "
			 "carries %s, which %s",
			 sector, ts, wr, rank, what, w->now / 1e6, vs,
			 ts == 0 ? "is not the initial zeros" : "no write of this tag wrote");
		w->stop = true;
		return;
	}
	if (record) {
		if (add_tag_map_note(&w->tags, sector, ts, wr, &seen, &first))
			return;
	} else if (!add_tag_map_get(&w->tags, sector, ts, wr, &first) || first.value == v) {
		return;
	}
	value_name(first.value, fs, sizeof(fs));
	w->r->verdict = ADD_SIM_TAG_CONFLICT;
	snprintf(w->r->why, sizeof(w->r->why),
		 "sector %" PRIu64 ", tag (ts %" PRIu64 ", wr %u): node %u's %s at %.3f ms carries "
		 "%s, but node %u's %s at %.3f ms carried %s under the same tag",
		 sector, ts, wr, rank, what, w->now / 1e6, vs, first.node, first.what,
		 first.at_ns / 1e6, fs);
	culprit_of_value(w, sector, v);
	if (w->r->culprit == SIZE_MAX)
		culprit_of_value(w, sector, first.value);
	w->stop = true;
}

void sim_tag_observe(world *w, uint8_t rank, const char *what, uint64_t sector, uint64_t ts,
		     uint8_t wr, const uint8_t *data)
{
	tag_observe_value(w, rank, what, sector, ts, wr, add_sim_value_decode(data, sector), true);
}

/* Checked at the moment it is broken (issue 16): a VALUE never reveals a
 * (ts, wr) that its sender has submitted to its store but not yet seen
 * durable: a crash could still lose it, and a reader that wrote it back
 * from there would have read a value no replica holds for good. */
static void check_value_durable(world *w, uint8_t rank, uint64_t sector, uint64_t ts, uint8_t wr)
{
	assert(rank >= 1 && rank <= w->n);
	const snode *sn = &w->nodes[rank - 1];
	for (size_t i = 0; i < sn->pst_len; i++) {
		const pending_store *p = &sn->pst[(sn->pst_head + i) % sn->pst_cap];
		if (p->sector != sector || p->ts != ts || p->wr != wr)
			continue;
		w->r->verdict = ADD_SIM_PROTOCOL;
		snprintf(w->r->why, sizeof(w->r->why),
			 "node %u sent a VALUE of sector %" PRIu64 " with tag (ts %" PRIu64
			 ", wr %u) at %.3f ms while its %s of that tag was not durable yet",
			 rank, sector, ts, wr, w->now / 1e6, p->repair ? "repair" : "store");
		w->stop = true;
		return;
	}
}

static size_t wp_slot(const uint8_t *uuid)
{
	uint64_t h = 0;
	for (int i = 0; i < 16; i++)
		h = h * 0x100000001b3ull ^ uuid[i];
	return (size_t)(h % SIM_WP_CACHE);
}

/* ... and an ACK leaves a replica only once the store of the WRITE_PROC it
 * answers is durable there (else a crash loses an acknowledged copy). */
static void check_ack_durable(world *w, uint8_t rank, const uint8_t *msg)
{
	const uint8_t *uuid = msg + ADD_PEER_OFF_UUID;
	const sim_wp_entry *e = &w->wp[wp_slot(uuid)];
	uint64_t sector = add_get_be64(msg + ADD_PEER_OFF_SECTOR);
	if (!e->used || memcmp(e->uuid, uuid, sizeof(e->uuid)) != 0 || e->sector != sector)
		return; /* not cached: no check */
	assert(rank >= 1 && rank <= w->n);
	const snode *sn = &w->nodes[rank - 1];
	for (size_t i = 0; i < sn->pst_len; i++) {
		const pending_store *p = &sn->pst[(sn->pst_head + i) % sn->pst_cap];
		if (p->sector != sector || p->ts != e->ts || p->wr != e->wr)
			continue;
		w->r->verdict = ADD_SIM_PROTOCOL;
		snprintf(w->r->why, sizeof(w->r->why),
			 "node %u sent an ACK for the WRITE_PROC of sector %" PRIu64 " with tag (ts %" PRIu64
			 ", wr %u) at %.3f ms while its %s of that tag was not durable yet",
			 rank, sector, e->ts, e->wr, w->now / 1e6, p->repair ? "repair" : "store");
		w->stop = true;
		return;
	}
}

void sim_observe_peer_msg(world *w, uint8_t rank, const uint8_t *msg, size_t len)
{
	if (len == ADD_PEER_SMALL_SIZE && msg[ADD_PEER_OFF_TYPE] == ADD_TYPE_ACK && !w->stop &&
	    w->r->verdict == ADD_SIM_PASS)
		check_ack_durable(w, rank, msg);
	if (len != ADD_PEER_VALUE_SIZE)
		return;
	if (msg[ADD_PEER_OFF_TYPE] == ADD_TYPE_WRITE_PROC) {
		sim_wp_entry *e = &w->wp[wp_slot(msg + ADD_PEER_OFF_UUID)];
		memcpy(e->uuid, msg + ADD_PEER_OFF_UUID, sizeof(e->uuid));
		e->sector = add_get_be64(msg + ADD_PEER_OFF_SECTOR);
		e->ts = add_get_be64(msg + ADD_PEER_OFF_TS);
		e->wr = msg[ADD_PEER_OFF_WR];
		e->used = true;
	}
	uint8_t type = msg[ADD_PEER_OFF_TYPE];
	if (type != ADD_TYPE_VALUE && type != ADD_TYPE_WRITE_PROC)
		return;
	assert(msg[ADD_PEER_OFF_RANK] == rank);
	uint64_t sector = add_get_be64(msg + ADD_PEER_OFF_SECTOR);
	uint64_t ts = add_get_be64(msg + ADD_PEER_OFF_TS);
	uint8_t wr = msg[ADD_PEER_OFF_WR];
	if (type == ADD_TYPE_VALUE && !w->stop && w->r->verdict == ADD_SIM_PASS)
		check_value_durable(w, rank, sector, ts, wr);
	sim_tag_observe(w, rank, type == ADD_TYPE_VALUE ? "VALUE" : "WRITE_PROC", sector, ts, wr,
			msg + ADD_PEER_OFF_DATA);
}

/* ---- the wrapped store ------------------------------------------------------- */
static uint8_t rank_of(const snode *sn)
{
	return (uint8_t)(sn->idx + 1);
}

static void w_get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	snode *sn = ctx;
	sn->base_ops->get_meta(sn->base_ctx, sector, ts, wr);
}

static int w_read_data(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE])
{
	snode *sn = ctx;
	int rc = sn->base_ops->read_data(sn->base_ctx, sector, out);
	if (rc == 0) {
		/* The bytes read are the value of the sector's current tag (which
		 * may not be durable yet: compared, not recorded). */
		uint64_t ts;
		uint8_t wr;
		sn->base_ops->get_meta(sn->base_ctx, sector, &ts, &wr);
		tag_observe_value(sn->w, rank_of(sn), "read_data", sector, ts, wr,
				  add_sim_value_decode(out, sector), false);
	}
	return rc;
}

static void pending_push(snode *sn, uint64_t cookie, uint64_t sector, uint64_t ts, uint8_t wr,
			 const uint8_t *data, bool repair)
{
	if (sn->pst_len == sn->pst_cap) {
		size_t cap = sn->pst_cap ? sn->pst_cap * 2 : 64;
		pending_store *p = malloc(cap * sizeof(*p));
		if (!p)
			abort();
		for (size_t i = 0; i < sn->pst_len; i++)
			p[i] = sn->pst[(sn->pst_head + i) % sn->pst_cap];
		free(sn->pst);
		sn->pst = p;
		sn->pst_cap = cap;
		sn->pst_head = 0;
	}
	sn->pst[(sn->pst_head + sn->pst_len) % sn->pst_cap] = (pending_store){
		.cookie = cookie,
		.sector = sector,
		.ts = ts,
		.wr = wr,
		.value = add_sim_value_decode(data, sector),
		.repair = repair,
	};
	sn->pst_len++;
}

/* The store reported `cookie` durable: the oldest pending store or repair
 * (completions come in submission order) now holds its tag for good. */
void sim_store_durable(snode *sn, uint64_t cookie)
{
	assert(sn->pst_len > 0);
	pending_store *p = &sn->pst[sn->pst_head];
	assert(p->cookie == cookie);
	sn->pst_head = (sn->pst_head + 1) % sn->pst_cap;
	sn->pst_len--;
	tag_observe_value(sn->w, rank_of(sn), p->repair ? "durable repair" : "durable store",
			  p->sector, p->ts, p->wr, p->value, true);
	sim_floor_durable(sn, p->sector, p->ts, p->wr, p->repair);
}

/* A crash: the completions of what was pending never come. Each of those
 * stores is lost or durable after all (the power cut decides): its tag
 * goes to maybe_tags. */
void sim_store_pending_clear(snode *sn)
{
	world *w = sn->w;
	for (size_t i = 0; i < sn->pst_len; i++) {
		const pending_store *p = &sn->pst[(sn->pst_head + i) % sn->pst_cap];
		add_tag_seen seen = {.value = p->value,
				     .at_ns = w->now,
				     .node = rank_of(sn),
				     .what = p->repair ? "repair cut by a crash" : "store cut by a crash"};
		add_tag_seen first;
		/* A tag lost twice may carry two values here: either may be
		 * the one that survived, the first is kept. */
		(void)add_tag_map_note(&w->maybe_tags, p->sector, p->ts, p->wr, &seen, &first);
	}
	sn->pst_head = sn->pst_len = 0;
}

void sim_tags_init(world *w)
{
	add_tag_map_init(&w->tags);
	add_tag_map_init(&w->maybe_tags);
}

void sim_tags_free(world *w)
{
	add_tag_map_free(&w->tags);
	add_tag_map_free(&w->maybe_tags);
}

static int w_store(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		   const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	snode *sn = ctx;
	int rc = sn->base_ops->store(sn->base_ctx, sector, ts, wr, data, cookie);
	if (rc == 0)
		pending_push(sn, cookie, sector, ts, wr, data, false);
	return rc;
}

static bool w_damaged(void *ctx, uint64_t sector)
{
	snode *sn = ctx;
	return sn->base_ops->damaged(sn->base_ctx, sector);
}

static int w_repair(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		    const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	snode *sn = ctx;
	int rc = sn->base_ops->repair(sn->base_ctx, sector, ts, wr, data, cookie);
	if (rc == 0) {
		pending_push(sn, cookie, sector, ts, wr, data, true);
		sim_floor_repair_submitted(sn, sector, ts, wr);
	}
	return rc;
}

static uint64_t w_next_damaged(void *ctx, uint64_t from)
{
	snode *sn = ctx;
	return sn->base_ops->next_damaged(sn->base_ctx, from);
}

static uint64_t w_next_written(void *ctx, uint64_t from)
{
	snode *sn = ctx;
	return sn->base_ops->next_written(sn->base_ctx, from);
}

static uint64_t w_ts_floor(void *ctx)
{
	snode *sn = ctx;
	return sn->base_ops->ts_floor(sn->base_ctx);
}

/* The wrapped table has an optional op exactly when the base table has it
 * (store_ops.h: NULL means "cannot be damaged"). */
void sim_store_ops_init(world *w, const add_store_ops *b)
{
	w->store_ops = (add_store_ops){
		.get_meta = w_get_meta,
		.read_data = w_read_data,
		.store = w_store,
		.damaged = b->damaged ? w_damaged : NULL,
		.repair = b->repair ? w_repair : NULL,
		.next_damaged = b->next_damaged ? w_next_damaged : NULL,
		.next_written = b->next_written ? w_next_written : NULL,
		.ts_floor = b->ts_floor ? w_ts_floor : NULL,
	};
	assert((w->store_ops.repair == NULL) == (b->repair == NULL));
}

/* ---- the end-of-run scrub ------------------------------------------------------ */
/* Two more whole passes than a node had done: the pass under way may have
 * gone past a sector before it was damaged; a node restarted since needs one
 * (its count and its walk start over at the first sector). */
void sim_scrub_begin(world *w)
{
	w->scrub_deadline_ns = w->now + w->s->repair_time_ns;
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		assert(sn->up);
		sn->scrub_target = add_node_scrub_passes(sn->node) + 2;
		sn->scrub_target_starts = sn->starts;
	}
}

/* One step of every node's scrub. True once every node has done its passes
 * and has no repair pending; false meanwhile; false with `why` set when the
 * deadline is over. */
bool sim_scrub_step_all(world *w, char *why, size_t why_len)
{
	bool done = true;
	why[0] = '\0';
	if (!w->store_ops.next_written)
		return true; /* a store that cannot be damaged: nothing to scrub */
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		if (!sn->up) {
			done = false;
			snprintf(why, why_len, "node %u is down (%s)", i + 1,
				 sn->open_err[0] ? sn->open_err : "crashed");
			continue;
		}
		if (sn->scrub_target_starts != sn->starts) {
			sn->scrub_target = 1; /* restarted meanwhile: its count starts over */
			sn->scrub_target_starts = sn->starts;
		}
		uint64_t passes = add_node_scrub_passes(sn->node);
		if (passes < sn->scrub_target) {
			add_node_scrub_step(sn->node, SCRUB_STEP_SECTORS);
			sim_after_node(w, sn);
			passes = add_node_scrub_passes(sn->node);
		}
		uint64_t pending = add_node_repairs_pending(sn->node);
		if (passes < sn->scrub_target || pending) {
			done = false;
			snprintf(why, why_len,
				 "node %u: %" PRIu64 " of %" PRIu64 " scrub passes, %" PRIu64
				 " repairs pending",
				 i + 1, passes, sn->scrub_target, pending);
		}
	}
	if (done || w->now < w->scrub_deadline_ns)
		why[0] = '\0';
	return done;
}

/* ---- REPAIRED ------------------------------------------------------------------ */
static void not_repaired(world *w, const snode *sn, uint64_t sector, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void not_repaired(world *w, const snode *sn, uint64_t sector, const char *fmt, ...)
{
	char detail[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	w->r->verdict = ADD_SIM_NOT_REPAIRED;
	snprintf(w->r->why, sizeof(w->r->why),
		 "node %u, sector %" PRIu64 ", after the scrub and the final reads: %s",
		 sn->idx + 1, sector, detail);
}

void sim_check_repaired(world *w)
{
	if (w->r->verdict != ADD_SIM_PASS)
		return;
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		if (!sn->up)
			continue;
		const add_store_ops *b = sn->base_ops;
		for (size_t k = 0; k < w->n_final_secs; k++) {
			uint64_t sector = w->final_secs[k];
			if (b->damaged && b->damaged(sn->base_ctx, sector)) {
				not_repaired(w, sn, sector, "the store still marks it damaged");
				return;
			}
			int rc = b->read_data(sn->base_ctx, sector, w->data);
			if (rc != 0) {
				not_repaired(w, sn, sector, "read_data fails: %s", strerror(-rc));
				return;
			}
			uint64_t ts;
			uint8_t wr;
			b->get_meta(sn->base_ctx, sector, &ts, &wr);
			uint64_t v = add_sim_value_decode(w->data, sector);
			char vs[32];
			value_name(v, vs, sizeof(vs));
			if (ts == 0) {
				if (v != ADD_VALUE_INITIAL || wr != 0) {
					not_repaired(w, sn, sector, "tag (0, %u) but the data is %s",
						     wr, vs);
					return;
				}
				continue;
			}
			add_tag_seen first;
			if (!add_tag_map_get(&w->tags, sector, ts, wr, &first) &&
			    !add_tag_map_get(&w->maybe_tags, sector, ts, wr, &first)) {
				not_repaired(w, sn, sector,
					     "tag (ts %" PRIu64 ", wr %u) was never stored or sent",
					     ts, wr);
				return;
			}
			if (first.value != v) {
				char fs[32];
				value_name(first.value, fs, sizeof(fs));
				not_repaired(w, sn, sector,
					     "tag (ts %" PRIu64 ", wr %u) names %s, the data is %s", ts,
					     wr, fs, vs);
				culprit_of_value(w, sector, first.value);
				return;
			}
		}
		if (w->o->store == ADD_SIM_STORE_REAL) {
			add_sector_store_stats st;
			add_sector_store_get_stats(sn->store, &st);
			if (st.damaged_now) {
				not_repaired(w, sn, UINT64_MAX,
					     "the store still counts %" PRIu64 " damaged sectors",
					     st.damaged_now);
				return;
			}
		}
	}
}
