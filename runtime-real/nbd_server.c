/* runtime-real/nbd_server: see nbd_server.h. */
#include "nbd_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "mutants.h"
#include "nbd_proto.h"
#include "net.h"
#include "wire_constants.h"

/* Bytes read per readable event. */
#define NBD_RBUF (64u * 1024)
/* A connection whose replies back up beyond this is not read until they
 * drain; what it may still be owed is bounded by its held requests. */
#define NBD_OUT_PAUSE (1u * 1024 * 1024)
#define NBD_OUT_MAX (NBD_OUT_PAUSE + ADD_NBD_CONN_BYTES_MAX + ADD_NBD_PAYLOAD_MAX + \
		     ADD_NBD_CONN_REQS_MAX * ADD_NBD_REPLY_PREFIX_MAX + ADD_NBD_HS_OUT_MAX)
/* A client that has not finished its handshake by then is closed. */
#define NBD_HANDSHAKE_NS (30ull * 1000 * 1000 * 1000)

typedef struct nbd_conn nbd_conn;

typedef struct nbd_req {
	struct nbd_req *next; /* the connection's requests, in arrival order */
	struct nbd_req *next_pump; /* the server's queue of sectors to submit */
	nbd_conn *c;		   /* NULL once its connection closed */
	add_nbd_req h;
	uint32_t err;	    /* NBD error of the reply (0: success) */
	uint8_t *buf;	    /* READ: the data read; WRITE: the payload */
	uint8_t *alloc;	    /* buf's allocation (a READ's starts with room for
			     * its reply header) */
	uint32_t bytes;	    /* held against the byte bounds */
	uint32_t n_sectors; /* sectors to run */
	uint32_t submitted; /* sectors given to the node (or given up) */
	uint32_t inflight;  /* sectors given to the node, not completed */
	bool ready;	    /* payload complete: sectors may be submitted */
	bool queued;	    /* on the pump queue */
} nbd_req;

struct nbd_conn {
	add_nbd_server *s;
	int fd; /* -1: slot free */
	bool handshaking;
	bool structured; /* structured replies negotiated */
	bool want_write;
	bool disc;	 /* NBD_CMD_DISC received: close once answered */
	bool close_after; /* close once the output is sent */
	uint64_t hs_timer;
	add_nbd_hs *hs;
	add_nbd_rx rx;
	nbd_req *reqs, *reqs_tail;
	uint32_t n_reqs;
	uint64_t bytes;
	nbd_req *cur_write; /* the WRITE whose payload is arriving */
	bool have_stalled;  /* a request header read but not yet admitted */
	add_nbd_req stalled;
	uint8_t *rbuf;
	size_t rpos, rlen;
	add_outbuf out;
	uint64_t id; /* for the log */
};

typedef struct sector_slot {
	nbd_req *req; /* NULL: free */
	uint32_t idx;
	uint32_t next_free;
	uint32_t gen;
} sector_slot;

struct add_nbd_server {
	add_loop *loop;
	add_node *node;
	int listen_fd;
	uint64_t export_size;
	uint64_t next_conn_id;
	nbd_conn conns[ADD_NBD_CONNS_MAX];
	uint32_t n_conns;
	uint64_t bytes;
	nbd_req *pump_head, *pump_tail;
	sector_slot slots[ADD_NBD_SECTORS_INFLIGHT_MAX];
	uint32_t free_slot; /* head of the free list; ADD_NBD_SECTORS_INFLIGHT_MAX: none */
	uint32_t slots_used;
	uint8_t zeros[ADD_SECTOR_SIZE];
	add_nbd_stats stats; /* connections_open and requests_in_flight: computed */
};

#define NO_SLOT ADD_NBD_SECTORS_INFLIGHT_MAX
/* Sectors of one request submitted before the next request's turn: a large
 * WRITE_ZEROES or TRIM does not hold everyone else back. */
#define PUMP_BURST 64u

static void conn_close(nbd_conn *c, const char *why);
static void conn_process(nbd_conn *c);

bool add_nbd_addr_is_loopback(const void *p)
{
	const struct sockaddr_storage *ss = p;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = p;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = p;
		const uint8_t *b = a->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && b[12] == 127;
	}
	return false;
}

/* ---- requests ----------------------------------------------------------- */

static void pump_push(add_nbd_server *s, nbd_req *r)
{
	assert(!r->queued);
	r->queued = true;
	r->next_pump = NULL;
	if (s->pump_tail)
		s->pump_tail->next_pump = r;
	else
		s->pump_head = r;
	s->pump_tail = r;
}

static void pump_remove(add_nbd_server *s, nbd_req *r)
{
	nbd_req **pp = &s->pump_head, *prev = NULL;

	if (!r->queued)
		return;
	while (*pp != r) {
		prev = *pp;
		pp = &(*pp)->next_pump;
		assert(*pp != NULL);
	}
	*pp = r->next_pump;
	if (s->pump_tail == r)
		s->pump_tail = prev;
	r->queued = false;
}

static void req_free(add_nbd_server *s, nbd_req *r)
{
	assert(r->inflight == 0);
	assert(!r->queued);
	assert(s->bytes >= r->bytes);
	s->bytes -= r->bytes;
	free(r->alloc);
	free(r);
}

/* Unlinks r from its connection's list; prev is the request before it
 * (NULL: r is the first). */
static void conn_unlink(nbd_conn *c, nbd_req *prev, nbd_req *r)
{
	assert(prev == NULL ? c->reqs == r : prev->next == r);
	if (prev == NULL)
		c->reqs = r->next;
	else
		prev->next = r->next;
	if (c->reqs_tail == r)
		c->reqs_tail = prev;
	assert(c->n_reqs > 0 && c->bytes >= r->bytes);
	c->n_reqs--;
	c->bytes -= r->bytes;
}

static void conn_queue_out(nbd_conn *c, const uint8_t *p, size_t len)
{
	if (c->close_after)
		return;
	if (!add_outbuf_append(&c->out, p, len)) {
		/* cannot happen within the bounds; never a silent drop */
		add_warn("nbd connection %llu: output bound exceeded: closing",
			 (unsigned long long)c->id);
		c->close_after = true;
		add_outbuf_reset(&c->out);
	}
}

/* Sends r's reply and forgets it (prev: as conn_unlink). */
static void req_answer(nbd_conn *c, nbd_req *prev, nbd_req *r)
{
	uint8_t hdr[ADD_NBD_REPLY_PREFIX_MAX];
	size_t n;

	assert(r->c == c && r->inflight == 0 && !r->queued);
	n = add_nbd_encode_reply(hdr, c->structured, &r->h, r->err);
	assert(n <= sizeof(hdr));
	if (r->err == 0 && r->h.type == ADD_NBD_CMD_WRITE)
		c->s->stats.bytes_written += r->h.length;
	if (r->h.type == ADD_NBD_CMD_READ && r->err == 0 && r->h.length > 0) {
		c->s->stats.bytes_read += r->h.length;
		/* one append: header and data are never split by another reply */
		uint8_t *p = r->buf - n;
		assert(r->buf == r->alloc + ADD_NBD_REPLY_PREFIX_MAX);
		memcpy(p, hdr, n);
		conn_queue_out(c, p, n + r->h.length);
	} else {
		conn_queue_out(c, hdr, n);
	}
	conn_unlink(c, prev, r);
	req_free(c->s, r);
}

static bool req_done(const nbd_req *r)
{
	return r->ready && r->submitted == r->n_sectors && r->inflight == 0;
}

/* Answers, in order, every finished request that may be answered: a FLUSH
 * only once no write received before it is still running. */
static void conn_answer_ready(nbd_conn *c)
{
	bool write_before = false;
	nbd_req *r = c->reqs, *prev = NULL;

	while (r != NULL) {
		nbd_req *next = r->next;
		bool answer = false;

		if (r->h.type == ADD_NBD_CMD_FLUSH)
			answer = !write_before || ADD_MUTANT_ON(ADD_MUTANT_NBD_FLUSH_EARLY);
		else if (req_done(r))
			answer = true;
		else if (add_nbd_is_write(r->h.type))
			write_before = true;
		if (answer)
			req_answer(c, prev, r); /* prev stays the one before next */
		else
			prev = r;
		r = next;
	}
}

/* Counts an admitted request by its command. */
static void req_count(add_nbd_server *s, const add_nbd_req *h, uint32_t err)
{
	switch (h->type) {
	case ADD_NBD_CMD_READ: s->stats.requests[ADD_NBD_STAT_READ]++; break;
	case ADD_NBD_CMD_WRITE: s->stats.requests[ADD_NBD_STAT_WRITE]++; break;
	case ADD_NBD_CMD_FLUSH: s->stats.requests[ADD_NBD_STAT_FLUSH]++; break;
	case ADD_NBD_CMD_WRITE_ZEROES: s->stats.requests[ADD_NBD_STAT_WRITE_ZEROES]++; break;
	case ADD_NBD_CMD_TRIM: s->stats.requests[ADD_NBD_STAT_TRIM]++; break;
	case ADD_NBD_CMD_DISC: s->stats.requests[ADD_NBD_STAT_DISC]++; break;
	default: break;
	}
	if (err == ADD_NBD_EINVAL)
		s->stats.requests_einval++;
}

void add_nbd_server_stats(const add_nbd_server *s, add_nbd_stats *out)
{
	uint64_t inflight = 0;

	assert(s != NULL && out != NULL);
	*out = s->stats;
	for (uint32_t k = 0; k < ADD_NBD_CONNS_MAX; k++)
		if (s->conns[k].fd >= 0)
			inflight += s->conns[k].n_reqs;
	out->connections_open = s->n_conns;
	out->requests_in_flight = inflight;
	assert(out->connections_open <= ADD_NBD_CONNS_MAX);
}

/* A new request from c; false when it cannot be taken now (bounds). */
static bool req_admit(nbd_conn *c, const add_nbd_req *h)
{
	add_nbd_server *s = c->s;
	uint32_t err = add_nbd_check(h, s->export_size);
	uint32_t bytes = 0;
	nbd_req *r;

	if (h->type == ADD_NBD_CMD_DISC) {
		req_count(s, h, 0);
		c->disc = true;
		return true;
	}
	if (err == 0 && (h->type == ADD_NBD_CMD_READ || h->type == ADD_NBD_CMD_WRITE))
		bytes = h->length;
	if (c->n_reqs >= ADD_NBD_CONN_REQS_MAX)
		return false;
	if (bytes > 0 && c->n_reqs > 0 &&
	    (c->bytes + bytes > ADD_NBD_CONN_BYTES_MAX ||
	     s->bytes + bytes > ADD_NBD_TOTAL_BYTES_MAX))
		return false;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return false;
	if (bytes > 0) {
		/* room before a READ's data for its reply header */
		size_t pre = h->type == ADD_NBD_CMD_READ ? ADD_NBD_REPLY_PREFIX_MAX : 0;
		r->alloc = malloc(pre + bytes);
		if (r->alloc == NULL) {
			free(r);
			return false;
		}
		r->buf = r->alloc + pre;
	}
	r->c = c;
	r->h = *h;
	r->err = err;
	r->bytes = bytes;
	r->n_sectors = err == 0 && h->type != ADD_NBD_CMD_FLUSH ? h->length / ADD_NBD_BLOCK : 0;
	assert(r->n_sectors <= h->length / ADD_NBD_BLOCK);
	/* a WRITE is ready once its payload is in */
	r->ready = !(h->type == ADD_NBD_CMD_WRITE && h->length > 0);
	if (c->reqs_tail)
		c->reqs_tail->next = r;
	else
		c->reqs = r;
	c->reqs_tail = r;
	c->n_reqs++;
	c->bytes += bytes;
	s->bytes += bytes;
	if (h->type == ADD_NBD_CMD_WRITE && h->length > 0)
		c->cur_write = r;
	if (r->ready && r->n_sectors > 0)
		pump_push(s, r);
	req_count(s, h, err);
	return true;
}

/* ---- submission and completion ----------------------------------------- */

static uint32_t slot_get(add_nbd_server *s, nbd_req *r, uint32_t idx)
{
	uint32_t i = s->free_slot;

	assert(i != NO_SLOT);
	s->free_slot = s->slots[i].next_free;
	s->slots[i].req = r;
	s->slots[i].idx = idx;
	s->slots[i].gen++;
	s->slots_used++;
	return i;
}

static void slot_put(add_nbd_server *s, uint32_t i)
{
	assert(s->slots[i].req != NULL && s->slots_used > 0);
	s->slots[i].req = NULL;
	s->slots[i].next_free = s->free_slot;
	s->free_slot = i;
	s->slots_used--;
}

static void pump(add_nbd_server *s)
{
	while (s->pump_head != NULL && s->free_slot != NO_SLOT &&
	       add_node_accepting_clients(s->node)) {
		nbd_req *r = s->pump_head;
		uint32_t idx = r->submitted;
		const uint8_t *data = NULL;
		uint32_t slot;
		uint64_t token;

		assert(idx < r->n_sectors && r->ready);
		if (r->h.type == ADD_NBD_CMD_WRITE)
			data = r->buf + (size_t)idx * ADD_NBD_BLOCK;
		else if (r->h.type != ADD_NBD_CMD_READ)
			data = s->zeros; /* WRITE_ZEROES, TRIM */
		slot = slot_get(s, r, idx);
		token = ((uint64_t)s->slots[slot].gen << 32) | slot;
		r->submitted++;
		r->inflight++;
		if (r->submitted == r->n_sectors) {
			s->pump_head = r->next_pump;
			if (s->pump_head == NULL)
				s->pump_tail = NULL;
			r->queued = false;
		} else if (r->submitted % PUMP_BURST == 0 && r->next_pump != NULL) {
			/* its turn is over: to the back of the queue */
			s->pump_head = r->next_pump;
			r->next_pump = NULL;
			s->pump_tail->next_pump = r;
			s->pump_tail = r;
		}
		if (!add_node_submit_local(s->node, r->h.offset / ADD_NBD_BLOCK + idx, data,
					   token)) {
			/* the node failed or ran out of memory: this request fails,
			 * its remaining sectors are not run */
			add_warn("nbd: sector %llu could not be submitted: answering EIO",
				 (unsigned long long)(r->h.offset / ADD_NBD_BLOCK + idx));
			slot_put(s, slot);
			r->inflight--;
			r->err = ADD_NBD_EIO;
			pump_remove(s, r);
			r->submitted = r->n_sectors;
			if (r->inflight == 0) {
				if (r->c != NULL)
					conn_answer_ready(r->c);
				else
					req_free(s, r);
			}
		}
	}
}

void add_nbd_server_local_done(add_nbd_server *s, uint64_t token, const uint8_t *data)
{
	uint32_t slot = (uint32_t)token;
	sector_slot *sl;
	nbd_req *r;

	assert(slot < ADD_NBD_SECTORS_INFLIGHT_MAX);
	sl = &s->slots[slot];
	assert(sl->req != NULL && sl->gen == (uint32_t)(token >> 32));
	r = sl->req;
	if (r->h.type == ADD_NBD_CMD_READ) {
		assert(data != NULL);
		memcpy(r->buf + (size_t)sl->idx * ADD_NBD_BLOCK, data, ADD_NBD_BLOCK);
	}
	slot_put(s, slot);
	assert(r->inflight > 0);
	r->inflight--;
	if (r->inflight > 0 || r->submitted < r->n_sectors)
		return;
	if (r->c == NULL) {
		req_free(s, r); /* its connection is gone */
		return;
	}
	conn_answer_ready(r->c);
}

/* ---- connections -------------------------------------------------------- */

static bool conn_reads(const nbd_conn *c)
{
	return !c->disc && !c->close_after && !c->have_stalled && c->rpos == c->rlen &&
	       add_outbuf_pending(&c->out) <= NBD_OUT_PAUSE;
}

static void conn_update_mask(nbd_conn *c)
{
	uint32_t mask = (conn_reads(c) ? ADD_LOOP_READABLE : 0u) |
			(c->want_write ? ADD_LOOP_WRITABLE : 0u);
	int rc = add_loop_set_mask(c->s->loop, c->fd, mask);

	assert(rc == 0);
	(void)rc;
}

/* Sends what is queued; closes the connection when it is done with. */
static void conn_flush(nbd_conn *c)
{
	int rc;

	if (c->fd < 0)
		return;
	/* requests finished without the node (refused, FLUSH, empty) */
	conn_answer_ready(c);
	if ((!c->want_write || c->close_after) && add_outbuf_pending(&c->out) > 0) {
		rc = add_outbuf_flush(&c->out, c->fd);
		if (rc < 0) {
			conn_close(c, strerror(-rc));
			return;
		}
		c->want_write = rc == 1;
	}
	/* closing: what the socket did not take at once is dropped (a client
	 * that does not read must not keep its slot) */
	if (c->close_after ||
	    (add_outbuf_pending(&c->out) == 0 && c->disc && c->n_reqs == 0 && !c->have_stalled)) {
		conn_close(c, c->close_after ? "done" : "NBD_CMD_DISC");
		return;
	}
	conn_update_mask(c);
}

static void conn_close(nbd_conn *c, const char *why)
{
	add_nbd_server *s = c->s;
	nbd_req *r = c->reqs;

	assert(c->fd >= 0);
	add_debug("nbd connection %llu closed: %s", (unsigned long long)c->id, why);
	while (r != NULL) {
		nbd_req *next = r->next;
		pump_remove(s, r);
		r->submitted = r->n_sectors; /* what was not submitted never runs */
		r->c = NULL;
		if (r->inflight == 0)
			req_free(s, r);
		/* else freed by its last completion */
		r = next;
	}
	c->reqs = c->reqs_tail = NULL;
	c->n_reqs = 0;
	c->bytes = 0;
	c->cur_write = NULL;
	if (c->hs_timer)
		add_loop_del_timer(s->loop, c->hs_timer);
	add_loop_del_fd(s->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	free(c->hs);
	c->hs = NULL;
	free(c->rbuf);
	c->rbuf = NULL;
	add_outbuf_free(&c->out);
	assert(s->n_conns > 0);
	s->n_conns--;
}

/* Transmission bytes: requests and WRITE payloads. */
static void conn_transmission(nbd_conn *c)
{
	while (!c->close_after && !c->disc) {
		add_nbd_rx_event ev;
		size_t used;

		if (c->have_stalled) {
			if (!req_admit(c, &c->stalled))
				return;
			c->have_stalled = false;
			continue;
		}
		if (c->rpos == c->rlen)
			return;
		used = add_nbd_rx_feed(&c->rx, c->rbuf + c->rpos, c->rlen - c->rpos, &ev);
		c->rpos += used;
		assert(c->rpos <= c->rlen);
		switch (ev.kind) {
		case ADD_NBD_RX_NONE:
			break;
		case ADD_NBD_RX_ERROR:
			add_info("nbd connection %llu: %s: closing it",
				 (unsigned long long)c->id, ev.why);
			c->s->stats.connections_bad_input++;
			c->close_after = true;
			add_outbuf_reset(&c->out);
			return;
		case ADD_NBD_RX_REQUEST:
			if (!req_admit(c, &ev.req)) {
				c->have_stalled = true;
				c->stalled = ev.req;
				return;
			}
			break;
		case ADD_NBD_RX_PAYLOAD: {
			nbd_req *r = c->cur_write;
			/* a refused WRITE (r->buf NULL) has its payload skipped */
			if (r != NULL && r->buf != NULL)
				memcpy(r->buf + ev.payload_off, ev.data, ev.data_len);
			if (ev.payload_end && r != NULL) {
				c->cur_write = NULL;
				r->ready = true;
				if (r->n_sectors > 0)
					pump_push(c->s, r);
			}
			break;
		}
		}
	}
}

static void conn_process(nbd_conn *c)
{
	while (c->handshaking && c->rpos < c->rlen) {
		uint8_t out[ADD_NBD_HS_OUT_MAX];
		size_t out_len, used;

		used = add_nbd_hs_feed(c->hs, c->rbuf + c->rpos, c->rlen - c->rpos, out, &out_len);
		c->rpos += used;
		if (out_len > 0)
			conn_queue_out(c, out, out_len);
		if (c->hs->state == ADD_NBD_HS_CLOSED) {
			add_debug("nbd connection %llu: handshake ends: %s",
				  (unsigned long long)c->id, c->hs->why);
			c->close_after = true;
			c->handshaking = false;
			c->rpos = c->rlen;
			return;
		}
		if (c->hs->state == ADD_NBD_HS_TRANSMISSION) {
			c->handshaking = false;
			c->structured = c->hs->structured;
			free(c->hs);
			c->hs = NULL;
			add_loop_del_timer(c->s->loop, c->hs_timer);
			c->hs_timer = 0;
			add_debug("nbd connection %llu: transmission", (unsigned long long)c->id);
		}
	}
	if (!c->handshaking)
		conn_transmission(c);
}

static void conn_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	nbd_conn *c = arg;

	(void)loop;
	assert(c->fd == fd);
	if (events & ADD_LOOP_WRITABLE) {
		c->want_write = false;
		conn_flush(c);
		if (c->fd < 0)
			return;
	}
	if ((events & ADD_LOOP_READABLE) && conn_reads(c)) {
		ssize_t n = read(fd, c->rbuf, NBD_RBUF);
		if (n == 0) {
			conn_close(c, "closed by the client");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				conn_close(c, strerror(errno));
			return;
		}
		c->rpos = 0;
		c->rlen = (size_t)n;
		conn_process(c);
		/* replies go out in the before-sleep hook, batched (one send per
		 * connection and loop iteration); a closing one goes now */
		if (c->close_after)
			conn_flush(c);
		else
			conn_update_mask(c);
	} else if ((events & ADD_LOOP_ERROR) && !(events & ADD_LOOP_WRITABLE)) {
		conn_close(c, "socket error");
	}
}

static uint64_t handshake_expired(add_loop *loop, uint64_t id, void *arg)
{
	nbd_conn *c = arg;

	(void)loop;
	if (c->fd >= 0 && c->hs_timer == id) {
		c->hs_timer = 0;
		conn_close(c, "handshake not finished in time");
	}
	return ADD_TIMER_STOP;
}

static void listen_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	add_nbd_server *s = arg;
	uint8_t greet[ADD_NBD_GREETING_SIZE];

	(void)loop;
	(void)events;
	for (int i = 0; i < 16; i++) {
		nbd_conn *c = NULL;
		int cfd = add_net_accept(fd);

		if (cfd < 0) {
			if (cfd != -EAGAIN && cfd != -EWOULDBLOCK && cfd != -EINTR &&
			    cfd != -ECONNABORTED)
				add_warn("nbd accept: %s", strerror(-cfd));
			return;
		}
		for (uint32_t k = 0; k < ADD_NBD_CONNS_MAX && c == NULL; k++)
			if (s->conns[k].fd < 0)
				c = &s->conns[k];
		if (c == NULL) {
			add_info("nbd: refused a connection: %u NBD connections open",
				 ADD_NBD_CONNS_MAX);
			s->stats.connections_refused++;
			close(cfd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->s = s;
		c->fd = cfd;
		c->id = ++s->next_conn_id;
		c->handshaking = true;
		c->hs = malloc(sizeof(*c->hs));
		c->rbuf = malloc(NBD_RBUF);
		add_outbuf_init(&c->out, NBD_OUT_MAX);
		add_nbd_rx_init(&c->rx);
		s->n_conns++;
		if (c->hs == NULL || c->rbuf == NULL ||
		    add_loop_add_fd(s->loop, cfd, ADD_LOOP_READABLE, conn_event, c) != 0) {
			add_warn("nbd: cannot take a connection: out of memory or fds");
			free(c->hs);
			free(c->rbuf);
			c->hs = NULL;
			c->rbuf = NULL;
			close(cfd);
			c->fd = -1;
			s->n_conns--;
			continue;
		}
		add_nbd_hs_init(c->hs, s->export_size);
		c->hs_timer = add_loop_add_timer(s->loop, NBD_HANDSHAKE_NS, handshake_expired, c);
		if (c->hs_timer == 0) {
			conn_close(c, "timer table full");
			continue;
		}
		add_nbd_greeting(greet);
		conn_queue_out(c, greet, sizeof(greet));
		s->stats.connections_accepted++;
		conn_flush(c);
		add_debug("nbd connection %llu accepted", (unsigned long long)c->id);
	}
}

void add_nbd_server_before_sleep(add_nbd_server *s)
{
	/* Connections held back by a bound take what was freed; then the
	 * sectors go to the node; then the replies go out. */
	for (uint32_t k = 0; k < ADD_NBD_CONNS_MAX; k++) {
		nbd_conn *c = &s->conns[k];
		if (c->fd >= 0 && !c->handshaking && (c->have_stalled || c->rpos < c->rlen))
			conn_process(c);
	}
	pump(s);
	for (uint32_t k = 0; k < ADD_NBD_CONNS_MAX; k++)
		if (s->conns[k].fd >= 0)
			conn_flush(&s->conns[k]);
}

add_nbd_server *add_nbd_server_create(const add_hostport *hp, bool allow_remote,
				      uint64_t n_sectors, add_loop *loop, add_node *node,
				      char *err, size_t err_len)
{
	add_nbd_server *s;
	add_sockaddr a;

	if (add_net_resolve(hp, &a, err, err_len) != 0)
		return NULL;
	if (!allow_remote && !add_nbd_addr_is_loopback(&a.ss)) {
		snprintf(err, err_len,
			 "--nbd-listen %s:%u is not a loopback address: NBD has no "
			 "authentication, add --nbd-allow-remote to serve it anyway",
			 hp->host, hp->port);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->node = node;
	s->export_size = n_sectors * ADD_NBD_BLOCK;
	for (uint32_t k = 0; k < ADD_NBD_CONNS_MAX; k++)
		s->conns[k].fd = -1;
	for (uint32_t i = 0; i < ADD_NBD_SECTORS_INFLIGHT_MAX; i++)
		s->slots[i].next_free = i + 1;
	s->free_slot = 0;
	s->listen_fd = add_net_listen(hp, 64, err, err_len);
	if (s->listen_fd < 0) {
		free(s);
		return NULL;
	}
	if (add_loop_add_fd(loop, s->listen_fd, ADD_LOOP_READABLE, listen_event, s) != 0) {
		snprintf(err, err_len, "cannot register the NBD socket with the event loop");
		close(s->listen_fd);
		free(s);
		return NULL;
	}
	return s;
}

void add_nbd_server_destroy(add_nbd_server *s)
{
	if (s == NULL)
		return;
	for (uint32_t k = 0; k < ADD_NBD_CONNS_MAX; k++)
		if (s->conns[k].fd >= 0)
			conn_close(&s->conns[k], "shutting down");
	/* The node is gone: operations still in flight never complete. */
	for (uint32_t i = 0; i < ADD_NBD_SECTORS_INFLIGHT_MAX; i++) {
		nbd_req *r = s->slots[i].req;
		if (r == NULL)
			continue;
		for (uint32_t j = i; j < ADD_NBD_SECTORS_INFLIGHT_MAX; j++)
			if (s->slots[j].req == r)
				slot_put(s, j);
		r->inflight = 0;
		req_free(s, r);
	}
	add_loop_del_fd(s->loop, s->listen_fd);
	close(s->listen_fd);
	free(s);
}
