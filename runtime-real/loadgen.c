/* runtime-real/loadgen: see loadgen.h. */
#include "loadgen.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "net.h"
#include "wire.h"

#define READ_CHUNK (64u * 1024)
#define RETRY_NS (100ull * 1000 * 1000)
#define CONNECT_TIMEOUT_NS (2000ull * 1000 * 1000)
#define DRAIN_NS (10ull * 1000 * 1000 * 1000)
/* Latency histogram: 1 us buckets below 100 ms, then 100 us buckets to 10 s. */
#define HIST_FINE_US 100000u
#define HIST_COARSE_US 100u
#define HIST_BUCKETS (HIST_FINE_US + 99000u + 1u)
#define UNKNOWN_MAX (1u << 20)
#define DEPTH_MAX 1024
#define VERIFY_BATCH 64
#define INFLIGHT 1u
#define TOUCHED 2u /* a write was issued */

typedef struct slot {
	bool busy;
	uint8_t type;
	uint64_t sector; /* index into the range (0-based) */
	uint64_t wid;    /* WRITE: the write id */
	uint64_t req;
	uint64_t t0_ns;
} slot;

typedef struct lconn {
	uint32_t idx;
	int fd;
	size_t peer;
	bool connecting;
	bool up;
	bool want_write;
	uint64_t retry_at_ns;
	uint64_t connect_deadline_ns;
	uint64_t seq;
	uint64_t writes_made;
	uint32_t busy;
	slot *slots;
	add_outbuf out;
	add_wire_decoder dec;
} lconn;

typedef struct unknown_write {
	uint64_t sector;
	uint64_t wid;
} unknown_write;

typedef struct lg {
	const add_loadgen_config *cfg;
	add_loadgen_result *res;
	add_hmac_key key;
	int epfd;
	lconn *conns;
	uint64_t *acked;   /* per sector: last acknowledged write id, 0 = none */
	uint8_t *inflight; /* per sector: INFLIGHT | TOUCHED bits */
	unknown_write *unknown;
	size_t n_unknown;
	uint32_t *hist;
	uint64_t hist_n;
	uint64_t rng;
	uint8_t msg[ADD_CMD_WRITE_SIZE];
	uint8_t data[ADD_SECTOR_SIZE];
	uint8_t expect[ADD_SECTOR_SIZE];
	uint8_t rbuf[READ_CHUNK];
} lg;

static const uint8_t zeros[ADD_SECTOR_SIZE];

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* The self-describing content of write `wid` to `sector`. */
static void fill_data(uint8_t *buf, uint64_t sector, uint64_t wid)
{
	uint64_t s = (sector + 1) * 0x9e3779b97f4a7c15ull ^ wid * 0xbf58476d1ce4e5b9ull;
	if (s == 0)
		s = 1;
	add_put_be64(buf, sector);
	add_put_be64(buf + 8, wid);
	for (size_t off = 16; off < ADD_SECTOR_SIZE; off += 8) {
		uint64_t v = xorshift(&s);
		memcpy(buf + off, &v, 8);
	}
}

static bool is_unknown(const lg *g, uint64_t sector, uint64_t wid)
{
	for (size_t i = 0; i < g->n_unknown; i++)
		if (g->unknown[i].sector == sector && g->unknown[i].wid == wid)
			return true;
	return false;
}

/* Data read from `sector` (0-based): explained by the last acknowledged
 * write, or by a write of unknown outcome? */
static bool data_ok(lg *g, uint64_t sector, const uint8_t *data)
{
	uint64_t abs = g->cfg->first_sector + sector;
	uint64_t wid;

	/* Before this run writes a sector, it holds whatever was there: the
	 * run cannot know it (unless told the range is fresh: zeros). */
	if (g->cfg->prior_writes && !(g->inflight[sector] & TOUCHED))
		return true;
	if (memcmp(data, zeros, ADD_SECTOR_SIZE) == 0)
		return g->acked[sector] == 0;
	if (add_get_be64(data) != abs)
		return false;
	wid = add_get_be64(data + 8);
	if (wid == 0)
		return false;
	fill_data(g->expect, abs, wid);
	if (memcmp(data, g->expect, ADD_SECTOR_SIZE) != 0)
		return false;
	return wid == g->acked[sector] || is_unknown(g, sector, wid);
}

static void hist_add(lg *g, uint64_t ns)
{
	uint64_t us = ns / 1000, b;

	b = us < HIST_FINE_US ? us : HIST_FINE_US + (us - HIST_FINE_US) / HIST_COARSE_US;
	g->hist[b < HIST_BUCKETS ? b : HIST_BUCKETS - 1]++;
	g->hist_n++;
	if ((double)us > g->res->lat_max_us)
		g->res->lat_max_us = (double)us;
}

static double hist_pct(const lg *g, double p)
{
	uint64_t want = (uint64_t)ceil(p * (double)g->hist_n), seen = 0;
	if (g->hist_n == 0)
		return 0;
	if (want == 0)
		want = 1;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += g->hist[i];
		if (seen >= want)
			return i < HIST_FINE_US ? i
					       : HIST_FINE_US + (double)(i - HIST_FINE_US) * HIST_COARSE_US;
	}
	return g->res->lat_max_us;
}

/* ---- connections ------------------------------------------------------ */

static void conn_set_events(lg *g, lconn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | (c->want_write || c->connecting ? EPOLLOUT : 0),
				 .data.u32 = c->idx};
	(void)epoll_ctl(g->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_start(lg *g, lconn *c)
{
	add_sockaddr a;
	char err[256];

	c->retry_at_ns = 0;
	if (add_net_resolve(&g->cfg->peers[c->peer], &a, err, sizeof(err)) != 0) {
		c->retry_at_ns = add_now_ns() + RETRY_NS;
		return;
	}
	int fd = add_net_connect_start(&a);
	if (fd < 0) {
		c->retry_at_ns = add_now_ns() + RETRY_NS;
		return;
	}
	c->fd = fd;
	c->connecting = true;
	c->connect_deadline_ns = add_now_ns() + CONNECT_TIMEOUT_NS;
	c->want_write = false;
	add_wire_decoder_init(&c->dec, ADD_WIRE_MODE_CLIENT, &g->key, NULL);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = c->idx};
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		c->fd = -1;
		c->connecting = false;
		c->retry_at_ns = add_now_ns() + RETRY_NS;
	}
}

static void conn_break(lg *g, lconn *c, const char *why)
{
	if (c->fd >= 0) {
		if (c->up && !g->cfg->quiet)
			fprintf(stderr, "connection %u to %s:%u lost: %s\n", c->idx,
				g->cfg->peers[c->peer].host, g->cfg->peers[c->peer].port, why);
		if (c->up)
			g->res->broken++;
		epoll_ctl(g->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	for (uint32_t i = 0; i < g->cfg->depth; i++) {
		slot *s = &c->slots[i];
		if (!s->busy)
			continue;
		if (s->type == ADD_TYPE_WRITE) {
			/* Applied or not: we cannot know. */
			if (g->n_unknown < UNKNOWN_MAX) {
				g->unknown[g->n_unknown].sector = s->sector;
				g->unknown[g->n_unknown].wid = s->wid;
				g->n_unknown++;
			}
			g->res->unknown_writes++;
		}
		g->inflight[s->sector] &= (uint8_t)~INFLIGHT;
		s->busy = false;
	}
	c->busy = 0;
	c->fd = -1;
	c->up = false;
	c->connecting = false;
	add_outbuf_reset(&c->out);
	/* Next time, try the next process. */
	c->peer = (c->peer + 1) % g->cfg->n_peers;
	c->retry_at_ns = add_now_ns() + RETRY_NS;
}

static void issue(lg *g, lconn *c, uint64_t now)
{
	const add_loadgen_config *cfg = g->cfg;
	uint64_t owned = (cfg->sectors - c->idx + cfg->connections - 1) / cfg->connections;
	uint32_t si;

	if (owned == 0)
		return;
	for (si = 0; si < cfg->depth && c->slots[si].busy; si++)
		;
	assert(si < cfg->depth);
	uint64_t k = xorshift(&g->rng) % owned, sector = UINT64_MAX;
	for (int tries = 0; tries < 8; tries++) {
		uint64_t s = c->idx + ((k + (uint64_t)tries) % owned) * cfg->connections;
		if (!(g->inflight[s] & INFLIGHT)) {
			sector = s;
			break;
		}
	}
	if (sector == UINT64_MAX)
		return;
	slot *s = &c->slots[si];
	bool is_read = (double)(xorshift(&g->rng) >> 11) / 9007199254740992.0 < cfg->read_ratio;
	add_client_cmd cmd = {
		.type = is_read ? ADD_TYPE_READ : ADD_TYPE_WRITE,
		.request = ((++c->seq) << 16) | si,
		.sector = cfg->first_sector + sector,
	};
	if (!is_read) {
		s->wid = ((uint64_t)(c->idx + 1) << 40) | ++c->writes_made;
		fill_data(g->data, cmd.sector, s->wid);
		cmd.data = g->data;
	}
	size_t n = add_wire_encode_cmd(&cmd, &g->key, g->msg);
	assert(n == add_wire_cmd_size(cmd.type));
	if (!add_outbuf_append(&c->out, g->msg, n))
		return;
	s->busy = true;
	s->type = cmd.type;
	s->sector = sector;
	s->req = cmd.request;
	s->t0_ns = now;
	g->inflight[sector] |= (uint8_t)(INFLIGHT | (is_read ? 0 : TOUCHED));
	c->busy++;
}

static void on_reply(lg *g, lconn *c, const add_client_rsp *rsp, bool hmac_ok, uint64_t now)
{
	uint32_t si = (uint32_t)(rsp->request & 0xffff);
	slot *s;

	if (!hmac_ok || si >= g->cfg->depth || !c->slots[si].busy ||
	    c->slots[si].req != rsp->request ||
	    rsp->type != (uint8_t)(c->slots[si].type | ADD_TYPE_RESPONSE_BIT)) {
		if (g->res->errors++ < 10)
			fprintf(stderr, "bad reply on connection %u: %s (request %llu)\n", c->idx,
				!hmac_ok ? "HMAC does not verify (not the cluster's client key?)"
					 : "unexpected request number/type",
				(unsigned long long)rsp->request);
		return;
	}
	s = &c->slots[si];
	s->busy = false;
	c->busy--;
	g->inflight[s->sector] &= (uint8_t)~INFLIGHT;
	if (rsp->status != ADD_STATUS_OK) {
		if (g->res->errors++ < 10)
			fprintf(stderr, "status %u%s for sector %llu\n", rsp->status,
				rsp->status == ADD_STATUS_INVALID_SECTOR_INDEX
					? " (InvalidSectorIndex: --first-sector + --sectors goes "
					  "beyond the processes' --sectors)"
				: rsp->status == ADD_STATUS_AUTH_FAILURE
					? " (AuthFailure: not the cluster's client key)"
					: "",
				(unsigned long long)(g->cfg->first_sector + s->sector));
		return;
	}
	hist_add(g, now - s->t0_ns);
	if (s->type == ADD_TYPE_WRITE) {
		g->acked[s->sector] = s->wid;
		g->res->writes++;
		return;
	}
	g->res->reads++;
	if (!data_ok(g, s->sector, rsp->data)) {
		if (g->res->mismatches++ < 10)
			fprintf(stderr, "READ of sector %llu returned data no write explains "
				"(last acknowledged write id %llx, found id %llx)\n",
				(unsigned long long)(g->cfg->first_sector + s->sector),
				(unsigned long long)g->acked[s->sector],
				(unsigned long long)add_get_be64(rsp->data + 8));
	}
}

static void conn_read(lg *g, lconn *c, uint64_t now)
{
	for (int i = 0; i < 4; i++) {
		ssize_t n = read(c->fd, g->rbuf, sizeof(g->rbuf));
		if (n == 0) {
			conn_break(g, c, "closed by the process");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_break(g, c, strerror(errno));
			return;
		}
		const uint8_t *p = g->rbuf;
		size_t len = (size_t)n;
		add_wire_msg m;
		for (;;) {
			size_t used = add_wire_decoder_feed(&c->dec, p, len, &m);
			p += used;
			len -= used;
			if (m.kind == ADD_WIRE_NONE)
				break;
			if (m.kind == ADD_WIRE_RSP)
				on_reply(g, c, &m.rsp, m.hmac_ok, now);
		}
		if ((size_t)n < sizeof(g->rbuf))
			return;
	}
}

static void conn_flush(lg *g, lconn *c)
{
	int rc = add_outbuf_flush(&c->out, c->fd);
	if (rc < 0) {
		conn_break(g, c, strerror(-rc));
		return;
	}
	bool ww = rc == 1;
	if (ww != c->want_write) {
		c->want_write = ww;
		conn_set_events(g, c);
	}
}

static void on_event(lg *g, lconn *c, uint32_t ev, uint64_t now)
{
	if (c->fd < 0)
		return;
	if (c->connecting) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int rc = add_net_connect_result(c->fd);
		if (rc != 0) {
			conn_break(g, c, strerror(-rc));
			return;
		}
		c->connecting = false;
		c->up = true;
		conn_set_events(g, c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(g, c, now);
	if (c->fd >= 0 && (ev & EPOLLOUT))
		conn_flush(g, c);
}

/* ---- verification ----------------------------------------------------- */

/* Reads back every sector with a write through process `p`. */
static void verify_through(lg *g, size_t p)
{
	const add_loadgen_config *cfg = g->cfg;
	char err[256];
	add_wire_decoder dec;
	uint64_t batch[VERIFY_BATCH], checked = 0, failures = 0;
	int fd = add_net_connect_blocking(&cfg->peers[p], 30000, err, sizeof(err));

	if (fd < 0) {
		fprintf(stderr, "verify: %s\n", err);
		g->res->verify_failures++;
		return;
	}
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_CLIENT, &g->key, NULL);
	uint64_t next = 0;
	while (next < cfg->sectors) {
		uint32_t nb = 0;
		size_t len = 0;
		static uint8_t out[VERIFY_BATCH * ADD_CMD_READ_SIZE];
		for (; next < cfg->sectors && nb < VERIFY_BATCH; next++) {
			if (!(g->inflight[next] & TOUCHED))
				continue;
			add_client_cmd cmd = {.type = ADD_TYPE_READ, .request = nb,
					      .sector = cfg->first_sector + next};
			len += add_wire_encode_cmd(&cmd, &g->key, out + len);
			batch[nb++] = next;
		}
		if (nb == 0)
			break;
		if (add_write_all(fd, out, len) != 0) {
			fprintf(stderr, "verify: write to %s:%u failed\n", cfg->peers[p].host,
				cfg->peers[p].port);
			g->res->verify_failures++;
			close(fd);
			return;
		}
		uint32_t got = 0;
		while (got < nb) {
			ssize_t n = read(fd, g->rbuf, sizeof(g->rbuf));
			if (n <= 0) {
				fprintf(stderr, "verify: connection to %s:%u lost\n",
					cfg->peers[p].host, cfg->peers[p].port);
				g->res->verify_failures++;
				close(fd);
				return;
			}
			const uint8_t *q = g->rbuf;
			size_t l = (size_t)n;
			add_wire_msg m;
			for (;;) {
				size_t used = add_wire_decoder_feed(&dec, q, l, &m);
				q += used;
				l -= used;
				if (m.kind == ADD_WIRE_NONE)
					break;
				if (m.kind != ADD_WIRE_RSP || !m.hmac_ok || m.rsp.request >= nb ||
				    m.rsp.status != ADD_STATUS_OK ||
				    m.rsp.type != ADD_TYPE_READ_RESPONSE) {
					failures++;
					got++;
					continue;
				}
				uint64_t sec = batch[m.rsp.request];
				if (!data_ok(g, sec, m.rsp.data)) {
					if (failures < 10)
						fprintf(stderr,
							"verify: sector %llu via %s:%u does not "
							"hold its last acknowledged write\n",
							(unsigned long long)(cfg->first_sector + sec),
							cfg->peers[p].host, cfg->peers[p].port);
					failures++;
				}
				checked++;
				got++;
			}
		}
	}
	close(fd);
	g->res->verified_sectors += checked;
	g->res->verify_failures += failures;
}

/* ---- the run ---------------------------------------------------------- */

static void progress(lg *g, double t, uint64_t dr, uint64_t dw, double dt)
{
	uint32_t up = 0;
	for (uint32_t i = 0; i < g->cfg->connections; i++)
		up += g->conns[i].up;
	fprintf(stderr, "[%5.1fs] writes %8.0f/s  reads %8.0f/s  errors %llu  connections up %u/%u\n",
		t, (double)dw / dt, (double)dr / dt, (unsigned long long)g->res->errors, up,
		g->cfg->connections);
}

static void lg_free(lg *g)
{
	if (g->conns) {
		for (uint32_t i = 0; i < g->cfg->connections; i++) {
			if (g->conns[i].fd >= 0)
				close(g->conns[i].fd);
			add_outbuf_free(&g->conns[i].out);
			free(g->conns[i].slots);
		}
	}
	free(g->conns);
	free(g->acked);
	free(g->inflight);
	free(g->unknown);
	free(g->hist);
	if (g->epfd >= 0)
		close(g->epfd);
	add_hmac_key_free(&g->key);
	free(g);
}

int add_loadgen_run(const add_loadgen_config *cfg, add_loadgen_result *res)
{
	lg *g;
	struct epoll_event evs[64];

	memset(res, 0, sizeof(*res));
	if (cfg->connections == 0 || cfg->depth == 0 || cfg->depth > DEPTH_MAX ||
	    cfg->sectors == 0 || cfg->n_peers == 0) {
		fprintf(stderr, "bench: bad parameters\n");
		return -1;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -1;
	g->cfg = cfg;
	g->res = res;
	g->epfd = -1;
	g->rng = cfg->seed ? cfg->seed : (add_now_ns() | 1);
	if (add_hmac_key_init(&g->key, cfg->client_key, ADD_CLIENT_KEY_SIZE) != 0) {
		free(g);
		return -1;
	}
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	g->conns = calloc(cfg->connections, sizeof(*g->conns));
	g->acked = calloc(cfg->sectors, sizeof(*g->acked));
	g->inflight = calloc(cfg->sectors, 1);
	g->unknown = calloc(UNKNOWN_MAX, sizeof(*g->unknown));
	g->hist = calloc(HIST_BUCKETS, sizeof(*g->hist));
	if (g->epfd < 0 || !g->conns || !g->acked || !g->inflight || !g->unknown || !g->hist) {
		fprintf(stderr, "bench: out of memory\n");
		lg_free(g);
		return -1;
	}
	for (uint32_t i = 0; i < cfg->connections; i++) {
		lconn *c = &g->conns[i];
		c->idx = i;
		c->fd = -1;
		c->peer = i % cfg->n_peers;
		c->slots = calloc(cfg->depth, sizeof(*c->slots));
		add_outbuf_init(&c->out, (size_t)cfg->depth * ADD_CMD_WRITE_SIZE * 2);
		if (c->slots == NULL) {
			lg_free(g);
			return -1;
		}
		conn_start(g, c);
	}

	uint64_t start = add_now_ns(), end = start + (uint64_t)(cfg->duration_s * 1e9);
	uint64_t next_report = start + 1000000000ull, last_r = 0, last_w = 0, last_t = start;
	uint64_t drain_end = 0;
	bool running = true;
	for (;;) {
		uint64_t now = add_now_ns();
		if (running && now >= end) {
			running = false;
			drain_end = now + DRAIN_NS;
			res->elapsed_s = (double)(now - start) / 1e9;
		}
		if (!running) {
			uint32_t busy = 0;
			for (uint32_t i = 0; i < cfg->connections; i++)
				busy += g->conns[i].busy;
			if (busy == 0 || now >= drain_end)
				break;
		}
		for (uint32_t i = 0; i < cfg->connections; i++) {
			lconn *c = &g->conns[i];
			if (c->fd < 0 && c->retry_at_ns && now >= c->retry_at_ns)
				conn_start(g, c);
			if (c->fd >= 0 && c->connecting && now >= c->connect_deadline_ns)
				conn_break(g, c, "connect timed out");
			if (!c->up)
				continue;
			while (running && c->busy < cfg->depth) {
				uint32_t before = c->busy;
				issue(g, c, now);
				if (c->busy == before)
					break;
			}
			if (add_outbuf_pending(&c->out) > 0 && !c->want_write)
				conn_flush(g, c);
		}
		if (running && now >= next_report) {
			if (!cfg->quiet)
				progress(g, (double)(now - start) / 1e9, res->reads - last_r,
					 res->writes - last_w, (double)(now - last_t) / 1e9);
			last_r = res->reads;
			last_w = res->writes;
			last_t = now;
			next_report += 1000000000ull;
		}
		int n = epoll_wait(g->epfd, evs, 64, 10);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			break;
		}
		now = add_now_ns();
		for (int i = 0; i < n; i++)
			on_event(g, &g->conns[evs[i].data.u32], evs[i].events, now);
	}
	/* Whatever is still in flight has an unknown outcome. */
	for (uint32_t i = 0; i < cfg->connections; i++)
		if (g->conns[i].busy > 0 || g->conns[i].fd >= 0) {
			g->conns[i].up = false; /* not counted as broken */
			conn_break(g, &g->conns[i], "end of run");
		}
	res->lat_p50_us = hist_pct(g, 0.50);
	res->lat_p99_us = hist_pct(g, 0.99);
	res->lat_p999_us = hist_pct(g, 0.999);
	if (cfg->verify)
		for (size_t p = 0; p < cfg->n_peers; p++)
			verify_through(g, p);
	lg_free(g);
	return 0;
}
