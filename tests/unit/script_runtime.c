/* tests/unit/script_runtime: see script_runtime.h. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rejoin.h"
#include "script_runtime.h"
#include "../../runtime-sim/sim_disk.h"
#include "wire.h"

#define GROW(arr, n, cap)                                                        \
	do {                                                                     \
		if ((n) == (cap)) {                                              \
			(cap) = (cap) ? (cap) * 2 : 16;                          \
			(arr) = realloc((arr), (cap) * sizeof(*(arr)));          \
			assert((arr) != NULL);                                   \
		}                                                                \
	} while (0)

/* ---- fake store --------------------------------------------------------- */

static srt_sector *find_sector(srt_sector *v, size_t n, uint64_t sector)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].sector == sector)
			return &v[i];
	return NULL;
}

static void put_sector(srt_sector **v, size_t *n, size_t *cap, const srt_sector *s)
{
	srt_sector *e = find_sector(*v, *n, s->sector);

	if (e == NULL) {
		GROW(*v, *n, *cap);
		e = &(*v)[(*n)++];
	}
	*e = *s;
}

static void lookup(const srt_sector *v, size_t n, uint64_t sector, uint64_t *ts, uint8_t *wr,
		   uint8_t *data)
{
	const srt_sector *e = find_sector((srt_sector *)(uintptr_t)v, n, sector);

	*ts = e ? e->ts : 0;
	*wr = e ? e->wr : 0;
	if (data != NULL) {
		if (e != NULL)
			memcpy(data, e->data, ADD_SECTOR_SIZE);
		else
			memset(data, 0, ADD_SECTOR_SIZE);
	}
}

static void fs_get_meta(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr)
{
	srt_store *s = ctx;

	lookup(s->cur, s->n_cur, sector, ts, wr, NULL);
}

static int fs_read_data(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE])
{
	srt_store *s = ctx;
	srt_sector *e = find_sector(s->cur, s->n_cur, sector), *d;
	uint64_t ts;
	uint8_t wr;

	s->read_data_calls++;
	lookup(s->cur, s->n_cur, sector, &ts, &wr, out);
	if (e == NULL || !(e->damaged || e->latent))
		return 0;
	/* found: marked (durably, when the durable copy is this one) */
	e->latent = false;
	e->damaged = true;
	d = find_sector(s->dur, s->n_dur, sector);
	if (d != NULL && d->ts == e->ts && d->wr == e->wr) {
		d->latent = false;
		d->damaged = true;
	}
	return s->read_error_rc != 0 ? s->read_error_rc : -74; /* -EBADMSG */
}

static bool fs_damaged(void *ctx, uint64_t sector)
{
	srt_store *s = ctx;
	const srt_sector *e = find_sector(s->cur, s->n_cur, sector);

	return e != NULL && e->damaged;
}

static int fs_store(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		    const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	srt_store *s = ctx;
	struct srt_pending *p;

	if (s->fail_stores)
		return -5; /* -EIO */
	GROW(s->pending, s->n_pending, s->cap_pending);
	p = &s->pending[s->n_pending++];
	p->s.sector = sector;
	p->s.ts = ts;
	p->s.wr = wr;
	memcpy(p->s.data, data, ADD_SECTOR_SIZE);
	p->s.damaged = p->s.latent = false; /* a new value supersedes the unknown one */
	p->cookie = cookie;
	put_sector(&s->cur, &s->n_cur, &s->cap_cur, &p->s);
	s->stores_total++;
	return 0;
}

static int fs_repair(void *ctx, uint64_t sector, uint64_t ts, uint8_t wr,
		     const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	srt_store *s = ctx;
	uint64_t cur_ts;
	uint8_t cur_wr;

	lookup(s->cur, s->n_cur, sector, &cur_ts, &cur_wr, NULL);
	/* lowering a tag of its own writes: remember its ts (store_ops.h) */
	if (cur_wr == s->rank && s->rank != 0 &&
	    (ts < cur_ts || (ts == cur_ts && wr < cur_wr)) && cur_ts > s->ts_floor)
		s->ts_floor = cur_ts;
	s->repairs_total++;
	return fs_store(ctx, sector, ts, wr, data, cookie);
}

static uint64_t next_matching(const srt_store *s, uint64_t from, bool damaged_only)
{
	uint64_t best = UINT64_MAX;

	for (size_t i = 0; i < s->n_cur; i++) {
		const srt_sector *e = &s->cur[i];
		bool match = damaged_only ? e->damaged
					  : (e->ts != 0 || e->wr != 0 || e->damaged || e->latent);

		if (match && e->sector >= from && e->sector < best)
			best = e->sector;
	}
	return best;
}

static uint64_t fs_next_damaged(void *ctx, uint64_t from)
{
	return next_matching(ctx, from, true);
}

static uint64_t fs_next_written(void *ctx, uint64_t from)
{
	return next_matching(ctx, from, false);
}

static uint64_t fs_ts_floor(void *ctx)
{
	const srt_store *s = ctx;

	return s->ts_floor;
}

static const add_store_ops fake_store_ops = {
	.get_meta = fs_get_meta,
	.read_data = fs_read_data,
	.store = fs_store,
	.damaged = fs_damaged,
	.repair = fs_repair,
	.next_damaged = fs_next_damaged,
	.next_written = fs_next_written,
	.ts_floor = fs_ts_floor,
};

/* What fuzz_node's store offers: no damage ops at all. */
static const add_store_ops minimal_store_ops = {
	.get_meta = fs_get_meta,
	.read_data = fs_read_data,
	.store = fs_store,
};

/* ---- io ----------------------------------------------------------------- */

static uint64_t io_now(void *ctx)
{
	srt_proc *p = ctx;

	return p->w->now_ns;
}

static void io_random(void *ctx, uint8_t *out, size_t len)
{
	srt_proc *p = ctx;

	/* deterministic, distinct per process and incarnation */
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(p->rank * 37 + p->incarnations * 101 + i * 13 + 7);
}

static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
{
	srt_proc *p = ctx;
	srt_world *w = p->w;
	srt_msg *m;

	assert(rank >= 1 && rank <= w->n && rank != p->rank);
	assert(len >= 8);
	p->peer_sends++;
	if (w->link_down[p->rank][rank])
		return;
	GROW(w->msgs, w->n_msgs, w->cap_msgs);
	m = &w->msgs[w->n_msgs++];
	m->from = p->rank;
	m->to = rank;
	m->type = msg[7];
	m->len = len;
	m->bytes = malloc(len);
	assert(m->bytes != NULL);
	memcpy(m->bytes, msg, len);
}

static void io_send_client(void *ctx, uint64_t conn, const uint8_t *msg, size_t len)
{
	srt_proc *p = ctx;
	srt_world *w = p->w;
	add_hmac_key key;
	add_wire_decoder dec;
	add_wire_msg m;
	srt_reply *r;
	size_t used;

	assert(add_hmac_key_init(&key, w->cfg.client_key, ADD_CLIENT_KEY_SIZE) == 0);
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_CLIENT, &key, NULL);
	used = add_wire_decoder_feed(&dec, msg, len, &m);
	assert(m.kind == ADD_WIRE_RSP);
	assert(used == len);
	GROW(w->replies, w->n_replies, w->cap_replies);
	r = &w->replies[w->n_replies++];
	memset(r, 0, sizeof(*r));
	r->proc = p->rank;
	r->conn = conn;
	r->type = m.rsp.type;
	r->status = m.rsp.status;
	r->request = m.rsp.request;
	r->len = len;
	r->hmac_ok = m.hmac_ok;
	if (m.rsp.data != NULL && m.rsp.type != ADD_TYPE_STATUS_RESPONSE)
		memcpy(r->data, m.rsp.data, ADD_SECTOR_SIZE);
	add_hmac_key_free(&key);
}

static void io_log(void *ctx, add_log_level level, const char *line)
{
	srt_proc *p = ctx;

	if (level <= ADD_LOG_WARN)
		p->w->log_warnings++;
	if (getenv("SRT_LOG") != NULL)
		fprintf(stderr, "[%d] %s\n", (int)level, line);
}

/* ---- world -------------------------------------------------------------- */

static void srt_rejoin_log(void *arg, add_log_level level, const char *line)
{
	srt_proc *p = arg;

	io_log(p, level, line);
}

static void start_node(srt_world *w, uint8_t rank)
{
	srt_proc *p = &w->procs[rank];
	add_node_config cfg = w->cfg;

	cfg.rank = rank;
	if (w->rejoin) {
		char err[256];
		add_rejoin_config rc = {
			.rank = rank,
			.n_procs = w->n,
			.n_sectors = w->cfg.n_sectors,
			.store_created = p->rj_created,
			.force = w->rejoin_force,
			.disk = add_sim_disk_ops(p->rj_disk),
			.log = srt_rejoin_log,
			.log_arg = p,
		};
		p->rj = add_rejoin_open(&rc, err, sizeof(err));
		if (p->rj == NULL)
			fprintf(stderr, "srt: rank %u: %s\n", rank, err);
		assert(p->rj != NULL);
		p->rj_created = false;
		add_rejoin_attach(p->rj, &fake_store_ops, &p->store, 1000u * (p->wipes + 1) + rank);
		cfg.rejoin = p->rj;
		p->node = add_node_create(&cfg, &p->io, add_rejoin_store_ops(), p->rj);
	} else {
		p->node = add_node_create(&cfg, &p->io,
					  w->store_minimal_ops ? &minimal_store_ops
							       : &fake_store_ops,
					  &p->store);
	}
	assert(p->node != NULL);
	p->incarnations++;
}

static void complete_auto_stores(srt_world *w);

/* The links of `rank` come up, as in a runtime after a (re)start: the node
 * probes every live peer for READ_PROC_META, and the probes and their
 * answers are delivered at once (only those: anything queued before stays
 * as it was). Afterwards both sides know each other speaks META. */
static void handshake(srt_world *w, uint8_t rank)
{
	size_t first = w->n_msgs;

	for (uint8_t r = 1; r <= w->n; r++)
		if (r != rank && w->procs[r].node != NULL)
			add_node_on_peer_connected(w->procs[rank].node, r);
	while (w->n_msgs > first)
		srt_deliver(w, first);
}

srt_world *srt_new(uint8_t n, uint64_t n_sectors)
{
	srt_world *w = srt_new_bare(n, n_sectors);

	for (uint8_t r = 1; r <= n; r++)
		handshake(w, r);
	for (uint8_t r = 1; r <= n; r++)
		w->procs[r].peer_sends = 0; /* the tests count from here */
	return w;
}

srt_world *srt_new_bare(uint8_t n, uint64_t n_sectors)
{
	srt_world *w = calloc(1, sizeof(*w));

	assert(w != NULL && n >= 1 && n <= SRT_PROCS_MAX);
	w->n = n;
	w->now_ns = 1000;
	w->cfg.n_procs = n;
	w->cfg.n_sectors = n_sectors;
	for (int i = 0; i < ADD_CLIENT_KEY_SIZE; i++)
		w->cfg.client_key[i] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < ADD_SYSTEM_KEY_SIZE; i++)
		w->cfg.system_key[i] = (uint8_t)(0x50 + 3 * i);
	for (uint8_t r = 1; r <= n; r++) {
		srt_proc *p = &w->procs[r];

		p->w = w;
		p->rank = r;
		p->store.auto_complete = true;
		p->store.rank = r;
		p->io = (add_io){
			.ctx = p,
			.now_ns = io_now,
			.random_bytes = io_random,
			.send_peer = io_send_peer,
			.send_client = io_send_client,
			.log = io_log,
		};
		start_node(w, r);
	}
	return w;
}

srt_world *srt_new_rejoin(uint8_t n, uint64_t n_sectors)
{
	srt_world *w = calloc(1, sizeof(*w));

	assert(w != NULL && n >= 1 && n <= SRT_PROCS_MAX);
	w->n = n;
	w->now_ns = 1000;
	w->rejoin = true;
	w->cfg.n_procs = n;
	w->cfg.n_sectors = n_sectors;
	for (int i = 0; i < ADD_CLIENT_KEY_SIZE; i++)
		w->cfg.client_key[i] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < ADD_SYSTEM_KEY_SIZE; i++)
		w->cfg.system_key[i] = (uint8_t)(0x50 + 3 * i);
	for (uint8_t r = 1; r <= n; r++) {
		srt_proc *p = &w->procs[r];

		p->w = w;
		p->rank = r;
		p->store.auto_complete = true;
		p->store.rank = r;
		p->io = (add_io){
			.ctx = p,
			.now_ns = io_now,
			.random_bytes = io_random,
			.send_peer = io_send_peer,
			.send_client = io_send_client,
			.log = io_log,
		};
		p->rj_disk = add_sim_disk_create(r);
		p->rj_created = true;
		start_node(w, r);
	}
	for (uint8_t r = 1; r <= n; r++)
		handshake(w, r);
	for (uint8_t r = 1; r <= n; r++)
		w->procs[r].peer_sends = 0;
	return w;
}

void srt_wipe(srt_world *w, uint8_t rank)
{
	srt_proc *p = &w->procs[rank];
	srt_store *s = &p->store;

	assert(w->rejoin);
	if (p->node != NULL)
		srt_crash(w, rank);
	s->n_pending = s->n_cur = s->n_dur = 0;
	s->ts_floor = 0;
	add_sim_disk_destroy(p->rj_disk);
	p->rj_disk = add_sim_disk_create(100u + rank + 8u * p->wipes);
	p->rj_created = true;
	p->wipes++;
}

void srt_free(srt_world *w)
{
	for (uint8_t r = 1; r <= w->n; r++) {
		srt_proc *p = &w->procs[r];

		add_node_destroy(p->node);
		add_rejoin_close(p->rj);
		if (p->rj_disk != NULL)
			add_sim_disk_destroy(p->rj_disk);
		free(p->store.cur);
		free(p->store.dur);
		free(p->store.pending);
	}
	for (size_t i = 0; i < w->n_msgs; i++)
		free(w->msgs[i].bytes);
	free(w->msgs);
	free(w->replies);
	free(w);
}

add_node *srt_node(srt_world *w, uint8_t rank)
{
	return w->procs[rank].node;
}

srt_store *srt_store_of(srt_world *w, uint8_t rank)
{
	return &w->procs[rank].store;
}

void srt_crash(srt_world *w, uint8_t rank)
{
	srt_proc *p = &w->procs[rank];
	srt_store *s = &p->store;

	assert(p->node != NULL);
	add_node_destroy(p->node);
	p->node = NULL;
	add_rejoin_close(p->rj);
	p->rj = NULL;
	if (p->rj_disk != NULL)
		add_sim_disk_crash(p->rj_disk);
	/* what was not durable is lost */
	s->n_pending = 0;
	s->n_cur = 0;
	for (size_t i = 0; i < s->n_dur; i++)
		put_sector(&s->cur, &s->n_cur, &s->cap_cur, &s->dur[i]);
}

void srt_restart(srt_world *w, uint8_t rank)
{
	assert(w->procs[rank].node == NULL);
	start_node(w, rank);
	handshake(w, rank);
}

/* ---- clients ------------------------------------------------------------ */

/* Stores of auto-completing processes become durable right after the event
 * that submitted them (never from inside store()). */
static void complete_auto_stores(srt_world *w)
{
	bool more = true;

	while (more) {
		more = false;
		for (uint8_t r = 1; r <= w->n; r++)
			if (w->procs[r].store.auto_complete)
				while (srt_store_complete(w, r))
					more = true;
	}
}

static void feed(srt_world *w, uint8_t rank, uint64_t conn, const uint8_t *bytes, size_t len)
{
	add_node *n = w->procs[rank].node;
	add_wire_decoder dec;

	assert(n != NULL);
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, add_node_client_key(n),
			      add_node_system_key(n));
	add_node_on_bytes(n, conn, &dec, bytes, len);
	complete_auto_stores(w);
}

static size_t encode_cmd(srt_world *w, uint8_t type, uint64_t request, uint64_t sector,
			 const uint8_t *data, uint8_t *out)
{
	add_hmac_key key;
	add_client_cmd cmd = {
		.type = type,
		.request = request,
		.sector = sector,
		.data = data,
	};
	size_t len;

	assert(add_hmac_key_init(&key, w->cfg.client_key, ADD_CLIENT_KEY_SIZE) == 0);
	len = add_wire_encode_cmd(&cmd, &key, out);
	assert(len > 0);
	add_hmac_key_free(&key);
	return len;
}

void srt_client_read(srt_world *w, uint8_t rank, uint64_t conn, uint64_t request,
		     uint64_t sector)
{
	uint8_t buf[ADD_CMD_WRITE_SIZE];
	size_t len = encode_cmd(w, ADD_TYPE_READ, request, sector, NULL, buf);

	feed(w, rank, conn, buf, len);
}

void srt_client_write(srt_world *w, uint8_t rank, uint64_t conn, uint64_t request,
		      uint64_t sector, const uint8_t data[ADD_SECTOR_SIZE])
{
	uint8_t buf[ADD_CMD_WRITE_SIZE];
	size_t len = encode_cmd(w, ADD_TYPE_WRITE, request, sector, data, buf);

	feed(w, rank, conn, buf, len);
}

void srt_client_bad_hmac(srt_world *w, uint8_t rank, uint64_t conn, uint64_t request,
			 uint8_t type, uint64_t sector)
{
	uint8_t buf[ADD_CMD_WRITE_SIZE], data[ADD_SECTOR_SIZE];
	size_t len;

	srt_fill(data, 9);
	len = encode_cmd(w, type, request, sector, type == ADD_TYPE_WRITE ? data : NULL, buf);
	buf[len - 1] ^= 0x5a;
	feed(w, rank, conn, buf, len);
}

const srt_reply *srt_reply_for(const srt_world *w, uint8_t rank, uint64_t request)
{
	for (size_t i = 0; i < w->n_replies; i++)
		if (w->replies[i].proc == rank && w->replies[i].request == request)
			return &w->replies[i];
	return NULL;
}

/* ---- network ------------------------------------------------------------ */

const srt_msg *srt_msg_at(const srt_world *w, size_t i)
{
	assert(i < w->n_msgs);
	return &w->msgs[i];
}

static bool matches(const srt_msg *m, uint8_t type, uint8_t from, uint8_t to)
{
	return (type == 0 || m->type == type) && (from == 0 || m->from == from) &&
	       (to == 0 || m->to == to);
}

long srt_find(const srt_world *w, uint8_t type, uint8_t from, uint8_t to)
{
	for (size_t i = 0; i < w->n_msgs; i++)
		if (matches(&w->msgs[i], type, from, to))
			return (long)i;
	return -1;
}

size_t srt_count(const srt_world *w, uint8_t type, uint8_t from, uint8_t to)
{
	size_t c = 0;

	for (size_t i = 0; i < w->n_msgs; i++)
		c += matches(&w->msgs[i], type, from, to);
	return c;
}

static srt_msg take(srt_world *w, size_t i)
{
	srt_msg m;

	assert(i < w->n_msgs);
	m = w->msgs[i];
	memmove(&w->msgs[i], &w->msgs[i + 1], (w->n_msgs - i - 1) * sizeof(*w->msgs));
	w->n_msgs--;
	return m;
}

void srt_deliver(srt_world *w, size_t i)
{
	srt_msg m = take(w, i);

	if (w->procs[m.to].node != NULL)
		feed(w, m.to, 1000 + m.from, m.bytes, m.len);
	free(m.bytes);
}

void srt_drop(srt_world *w, size_t i)
{
	srt_msg m = take(w, i);

	free(m.bytes);
}

void srt_dup(srt_world *w, size_t i)
{
	srt_msg copy = *srt_msg_at(w, i);

	copy.bytes = malloc(copy.len);
	assert(copy.bytes != NULL);
	memcpy(copy.bytes, w->msgs[i].bytes, copy.len);
	GROW(w->msgs, w->n_msgs, w->cap_msgs);
	w->msgs[w->n_msgs++] = copy;
}

size_t srt_run(srt_world *w)
{
	size_t steps = 0;

	for (;;) {
		bool progressed = false;

		for (uint8_t r = 1; r <= w->n; r++)
			while (w->procs[r].node != NULL && w->procs[r].store.auto_complete &&
			       srt_store_complete(w, r)) {
				progressed = true;
				steps++;
			}
		if (w->n_msgs > 0) {
			srt_deliver(w, 0);
			progressed = true;
			steps++;
		}
		if (!progressed)
			return steps;
		assert(steps < 10 * 1000 * 1000);
	}
}

void srt_deliver_all_reversed(srt_world *w)
{
	size_t n = w->n_msgs;

	for (size_t k = 0; k < n; k++)
		srt_deliver(w, n - 1 - k);
	(void)n;
}

/* ---- store -------------------------------------------------------------- */

size_t srt_store_pending(const srt_world *w, uint8_t rank)
{
	return w->procs[rank].store.n_pending;
}

bool srt_store_complete(srt_world *w, uint8_t rank)
{
	srt_proc *p = &w->procs[rank];
	srt_store *s = &p->store;
	struct srt_pending done;

	if (s->n_pending == 0 || p->node == NULL)
		return false;
	done = s->pending[0];
	memmove(&s->pending[0], &s->pending[1], (s->n_pending - 1) * sizeof(*s->pending));
	s->n_pending--;
	put_sector(&s->dur, &s->n_dur, &s->cap_dur, &done.s);
	add_node_on_store_done(p->node, done.cookie);
	return true;
}

void srt_durable(const srt_world *w, uint8_t rank, uint64_t sector, uint64_t *ts, uint8_t *wr,
		 uint8_t *data)
{
	const srt_store *s = &w->procs[rank].store;

	lookup(s->dur, s->n_dur, sector, ts, wr, data);
}

void srt_current(const srt_world *w, uint8_t rank, uint64_t sector, uint64_t *ts, uint8_t *wr,
		 uint8_t *data)
{
	const srt_store *s = &w->procs[rank].store;

	lookup(s->cur, s->n_cur, sector, ts, wr, data);
}

void srt_seed(srt_world *w, uint8_t rank, uint64_t sector, uint64_t ts, uint8_t wr,
	      const uint8_t data[ADD_SECTOR_SIZE])
{
	srt_store *s = &w->procs[rank].store;
	srt_sector e = { .sector = sector, .ts = ts, .wr = wr };

	memcpy(e.data, data, ADD_SECTOR_SIZE);
	put_sector(&s->dur, &s->n_dur, &s->cap_dur, &e);
	put_sector(&s->cur, &s->n_cur, &s->cap_cur, &e);
}

static void damage_one(srt_sector **v, size_t *n, size_t *cap, uint64_t sector, bool latent)
{
	srt_sector *e = find_sector(*v, *n, sector);

	if (e == NULL) {
		srt_sector fresh = { .sector = sector };

		put_sector(v, n, cap, &fresh);
		e = find_sector(*v, *n, sector);
	}
	for (int i = 0; i < ADD_SECTOR_SIZE; i++)
		e->data[i] ^= 0xa5; /* what a bad disk hands back */
	e->damaged = !latent;
	e->latent = latent;
}

void srt_damage(srt_world *w, uint8_t rank, uint64_t sector, bool latent)
{
	srt_store *s = &w->procs[rank].store;

	damage_one(&s->cur, &s->n_cur, &s->cap_cur, sector, latent);
	damage_one(&s->dur, &s->n_dur, &s->cap_dur, sector, latent);
}

bool srt_is_damaged(const srt_world *w, uint8_t rank, uint64_t sector)
{
	const srt_store *s = &w->procs[rank].store;
	const srt_sector *e = find_sector(s->cur, s->n_cur, sector);
	const srt_sector *d = find_sector(s->dur, s->n_dur, sector);

	return (e != NULL && (e->damaged || e->latent)) || (d != NULL && (d->damaged || d->latent));
}

void srt_reconfigure(srt_world *w)
{
	for (uint8_t r = 1; r <= w->n; r++) {
		srt_crash(w, r);
		srt_restart(w, r);
	}
}

/* ---- misc --------------------------------------------------------------- */

void srt_advance(srt_world *w, uint64_t ns)
{
	/* tick at the period a runtime uses, so backoff is exercised as in life */
	uint64_t end = w->now_ns + ns;

	while (w->now_ns < end) {
		uint64_t step = end - w->now_ns < ADD_NODE_TICK_NS ? end - w->now_ns
								   : ADD_NODE_TICK_NS;

		w->now_ns += step;
		for (uint8_t r = 1; r <= w->n; r++)
			if (w->procs[r].node != NULL)
				add_node_tick(w->procs[r].node);
	}
}

void srt_fill(uint8_t data[ADD_SECTOR_SIZE], uint8_t seed)
{
	for (int i = 0; i < ADD_SECTOR_SIZE; i++)
		data[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

add_node_stats srt_stats(const srt_world *w, uint8_t rank)
{
	add_node_stats st;

	memset(&st, 0, sizeof(st));
	if (w->procs[rank].node != NULL)
		add_node_get_stats(w->procs[rank].node, &st);
	return st;
}
