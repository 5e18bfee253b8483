/* runtime-real/daemon: see daemon.h. */
#include "daemon.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "dir_usage.h"
#include "http.h"
#include "link_log.h"
#include "log.h"
#include "loop.h"
#include "ckpt_timer.h"
#include "metrics.h"
#include "mutants.h"
#include "nbd_server.h"
#include "net.h"
#include "node.h"
#include "optrack.h"
#include "posix_disk.h"
#include "rejoin.h"
#include "sector_store.h"
#include "status.h"
#include "tick_policy.h"
#include "version.h"
#include "storage_policy.h"
#include "wire.h"

/* Bytes read per readable event (one syscall; several messages). */
#define READ_CHUNK (64u * 1024)
/* Output bounds: a client that does not read its replies is closed; a peer
 * link that is this far behind drops (the node retransmits). */
#define CLIENT_OUT_MAX (8u * 1024 * 1024)
/* A client whose replies back up beyond this is not read until they drain:
 * with at most CLIENT_CMDS_MAX commands answered after that, its buffer
 * stays under CLIENT_OUT_MAX, so a slow reader is slowed, never cut off. */
#define CLIENT_OUT_PAUSE (1u * 1024 * 1024)
#define PEER_OUT_MAX (16u * 1024 * 1024)
/* A connection accepted while every client slot is taken gets this long to
 * prove it is a peer (peers say hello at once). */
#define PROBATION_NS (250ull * 1000 * 1000)
/* How long a half-closed client waits for its answers (a client that is in
 * fact gone must not keep commands queued in the node for long). */
#define HALF_CLOSE_GRACE_NS (5000ull * 1000 * 1000)
#define BACKOFF_MIN_NS (50ull * 1000 * 1000)
#define BACKOFF_MAX_NS (1000ull * 1000 * 1000)
/* A connect that neither succeeds nor fails by then (SYNs dropped by a dead
 * host) is abandoned and retried, so the link notices the peer's return. */
#define CONNECT_TIMEOUT_NS (2000ull * 1000 * 1000)
/* fds kept for the disk, epoll, signalfd, stdio, ... */
#define FDS_RESERVED 64
#define CONNS_MAX 1000
#define RANDOM_POOL 4096
/* Client commands accepted and not yet answered, all connections together;
 * beyond it clients are not read (backpressure). 16 clients x 64 deep. */
#define CLIENT_CMDS_MAX 1024u
/* Checkpoint the store (journal trimmed, disk use within the 1.1x bound)
 * once it has been idle this long; checked every IDLE_CHECK_NS. */
#define IDLE_CHECKPOINT_NS (1000ull * 1000 * 1000)
#define IDLE_CHECK_NS (250ull * 1000 * 1000)
/* The scrub runs from a timer this often, verifying what its pace says is
 * due (storage_policy.h). */
/* The scrub's tick: fast while it has sectors due (each step is bounded,
 * ADD_SCRUB_STEP_MAX), slow when its pace gives none (the default pace, a
 * pass a day, is well under one sector per tick), so that an idle addd
 * wakes only a few times a second. The pacer counts elapsed time, so the
 * slow tick loses nothing. */
#define SCRUB_TICK_NS (100ull * 1000 * 1000)
#define SCRUB_IDLE_TICK_NS (1000ull * 1000 * 1000)

typedef enum conn_kind {
	CONN_FREE = 0,
	CONN_UNKNOWN,   /* inbound, no message yet: holds a client slot */
	CONN_PROBATION, /* inbound while clients were full: must be a peer */
	CONN_CLIENT,
	CONN_PEER_IN,
	CONN_PEER_OUT,
} conn_kind;

typedef struct conn {
	conn_kind kind;
	int fd;
	uint32_t gen;
	uint32_t slot;
	uint8_t rank;        /* PEER_OUT: the far rank */
	bool connecting;     /* PEER_OUT: connect in progress */
	bool want_write;     /* socket was full: wait for writable */
	bool close_pending;  /* close at the next before-sleep */
	bool in_flush_list;
	/* The client shut its sending side (a TCP half-close, or a full close:
	 * they look alike): no more reads; the connection closes once every
	 * command it sent is answered, or after HALF_CLOSE_GRACE_NS. It gives
	 * its client slot back at once. */
	bool read_eof;
	uint32_t cmds_unanswered; /* client commands given to the node, not answered */
	uint64_t probation_timer;
	struct conn *next_flush;
	add_outbuf out;
	add_wire_decoder *dec;
} conn;

typedef struct peer_link {
	add_hostport hp;
	add_sockaddr addr;
	bool resolved;
	conn *c;
	uint64_t backoff_ns;
	uint64_t timer;
	uint64_t connect_timer;
	uint64_t up_since_ns; /* 0 while not connected */
	uint64_t drops;
	add_link_log log; /* what the operator is told about this link */
} peer_link;

typedef struct addd_state {
	add_addd_config *cfg;
	add_loop *loop;
	int listen_fd;
	int signal_fd;
	int disk_fd;
	int lock_fd; /* flock'd in the storage directory: one process per dir */
	add_posix_disk *pdisk;
	add_rejoin *rejoin; /* membership of this storage (core/rejoin.h) */
	add_sector_store *store;
	add_node *node;
	add_nbd_server *nbd; /* --nbd-listen, else NULL */
	add_io io;
	conn *conns;
	uint32_t conns_max;
	uint32_t conns_open;
	uint32_t client_slots_used; /* UNKNOWN + CLIENT */
	conn *flush_head;
	bool clients_paused;
	int exit_code;
	peer_link links[ADD_PROCS_MAX + 1];
	uint64_t tick_timer;	   /* the node's tick (runtime-real/tick_policy.h) */
	uint64_t tick_at_ns;	   /* when it fires */
	uint64_t wakeups;	   /* loop iterations (idle wake-ups, stats line) */
	uint64_t last_stats_ns;    /* last debug stats line */
	bool repairs_owed;         /* damage was found and not yet all repaired */
	uint64_t damage_seen;      /* damage found so far (store and node counters) */
	uint64_t last_stores;      /* stores_durable at the last idle check */
	uint64_t last_activity_ns; /* when it last changed */
	add_scrub_pacer scrub;
	uint64_t last_scrub_ns;    /* last scrub tick */
	uint8_t hello[ADD_TACK_SIZE];
	uint64_t start_ns;	   /* for the uptime */
	add_http_server *metrics; /* --metrics-listen, else NULL */
	add_optrack ops;	   /* client commands in flight: latency, oldest age */
	add_hist batch_size;	   /* stores per group commit */
	add_hist checkpoint;	   /* checkpoint durations */
	add_ckpt_timer ckpt;	   /* times them (last_ns 0: not started) */
	uint64_t seen_flushes, seen_durable; /* store stats at the last before-sleep */
	size_t random_used;
	uint8_t random_pool[RANDOM_POOL];
	uint8_t rbuf[READ_CHUNK];
} addd_state;

/* The one daemon of this process: loop callbacks that get a conn or a rank
 * as their argument find it here. */
static addd_state *the_daemon;

static void conn_close(addd_state *d, conn *c, const char *why);
static void link_schedule(addd_state *d, uint8_t rank);
static void link_try(addd_state *d, uint8_t rank);
static void link_log_up(addd_state *d, uint8_t rank);
static void link_log_down(addd_state *d, uint8_t rank, const char *why);
static void answer_status(addd_state *d, conn *c, const add_client_cmd *cmd, bool hmac_ok);
static void observe_group_commits(addd_state *d);
static uint64_t journal_max_bytes(void);

/* ---- connections ------------------------------------------------------ */

static uint64_t conn_id(const conn *c)
{
	return ((uint64_t)c->gen << 32) | c->slot;
}

static conn *conn_by_id(addd_state *d, uint64_t id)
{
	uint32_t slot = (uint32_t)id;
	conn *c;

	if (slot >= d->conns_max)
		return NULL;
	c = &d->conns[slot];
	if (c->kind == CONN_FREE || c->gen != (uint32_t)(id >> 32))
		return NULL;
	return c;
}

static bool conn_reads(const addd_state *d, const conn *c)
{
	if (c->connecting || c->close_pending || c->read_eof)
		return false;
	/* Backpressure applies to client commands only: peers always flow. */
	if (c->kind == CONN_CLIENT || c->kind == CONN_UNKNOWN) {
		if (d->clients_paused || add_outbuf_pending(&c->out) > CLIENT_OUT_PAUSE)
			return false;
	}
	return true;
}

static void conn_update_mask(addd_state *d, conn *c)
{
	uint32_t mask = (conn_reads(d, c) ? ADD_LOOP_READABLE : 0u) |
			(c->want_write || c->connecting ? ADD_LOOP_WRITABLE : 0u);
	int rc = add_loop_set_mask(d->loop, c->fd, mask);
	assert(rc == 0);
	(void)rc;
}

static void conn_queue_flush(addd_state *d, conn *c)
{
	if (c->in_flush_list)
		return;
	c->in_flush_list = true;
	c->next_flush = d->flush_head;
	d->flush_head = c;
}

static void conn_event(add_loop *loop, int fd, void *arg, uint32_t events);

static conn *conn_open(addd_state *d, int fd, conn_kind kind)
{
	conn *c = NULL;

	for (uint32_t i = 0; i < d->conns_max; i++) {
		if (d->conns[i].kind == CONN_FREE) {
			c = &d->conns[i];
			break;
		}
	}
	if (c == NULL)
		return NULL;
	c->dec = malloc(sizeof(*c->dec));
	if (c->dec == NULL)
		return NULL;
	add_wire_decoder_init(c->dec, ADD_WIRE_MODE_PROCESS, add_node_client_key(d->node),
			      add_node_system_key(d->node));
	c->kind = kind;
	c->fd = fd;
	c->gen++;
	if (c->gen == 0)
		c->gen = 1;
	c->rank = 0;
	c->connecting = false;
	c->want_write = false;
	c->close_pending = false;
	c->read_eof = false;
	c->cmds_unanswered = 0;
	/* in_flush_list / next_flush are left alone: a slot closed and reused
	 * within one iteration may still be on the flush list, and must stay
	 * linked exactly once (flush_all then sends the new connection's). */
	c->probation_timer = 0;
	add_outbuf_init(&c->out, kind == CONN_PEER_OUT ? PEER_OUT_MAX : CLIENT_OUT_MAX);
	if (add_loop_add_fd(d->loop, fd, ADD_LOOP_READABLE, conn_event, c) != 0) {
		free(c->dec);
		c->dec = NULL;
		c->kind = CONN_FREE;
		return NULL;
	}
	d->conns_open++;
	return c;
}

static void conn_close(addd_state *d, conn *c, const char *why)
{
	conn_kind kind = c->kind;

	assert(kind != CONN_FREE);
	add_debug("closing %s connection %u (fd %d): %s",
		  kind == CONN_CLIENT ? "client" : kind == CONN_PEER_IN ? "peer-in"
		  : kind == CONN_PEER_OUT ? "peer-out" : "new", c->slot, c->fd, why);
	add_loop_del_fd(d->loop, c->fd);
	close(c->fd);
	if (c->probation_timer)
		add_loop_del_timer(d->loop, c->probation_timer);
	if ((kind == CONN_CLIENT || kind == CONN_UNKNOWN) && !c->read_eof) {
		assert(d->client_slots_used > 0);
		d->client_slots_used--;
	}
	add_outbuf_free(&c->out);
	free(c->dec);
	c->dec = NULL;
	c->kind = CONN_FREE;
	c->fd = -1;
	d->conns_open--;
	/* Unlinking from the flush list is lazy: flush_all skips FREE slots
	 * (and a slot reused meanwhile is simply flushed early). */
	if (kind == CONN_CLIENT || kind == CONN_UNKNOWN) {
		add_node_on_connection_closed(d->node, conn_id(c));
		add_optrack_conn_closed(&d->ops, conn_id(c));
	}
	if (kind == CONN_PEER_OUT) {
		peer_link *l = &d->links[c->rank];
		link_log_down(d, c->rank, why);
		/* Backoff starts over only after a link that held a while: a
		 * peer that accepts and drops at once is not hammered. */
		if (l->up_since_ns != 0 && add_now_ns() - l->up_since_ns >= BACKOFF_MAX_NS)
			l->backoff_ns = BACKOFF_MIN_NS;
		l->up_since_ns = 0;
		l->c = NULL;
		link_schedule(d, c->rank);
	}
}

/* At most one line a second, however many connections are refused. */
static void log_refusal(void)
{
	static uint64_t last_ns, suppressed;
	uint64_t now = add_now_ns();

	if (last_ns != 0 && now - last_ns < 1000000000ull) {
		suppressed++;
		return;
	}
	add_info("refused a client connection: %d clients already connected (%llu more "
		 "refused since the last line)", ADD_CLIENTS_MAX, (unsigned long long)suppressed);
	last_ns = now;
	suppressed = 0;
}

/*
 * A client that hangs up and at once connects again can be accepted before
 * its old connection's end of file is read (both in one epoll batch): the
 * new one would be refused for a slot that is in fact free. Before refusing,
 * close the client connections whose far side has already hung up.
 */
static void reap_hung_up_clients(addd_state *d)
{
	for (uint32_t i = 0; i < d->conns_max; i++) {
		conn *c = &d->conns[i];
		char b;

		if ((c->kind != CONN_CLIENT && c->kind != CONN_UNKNOWN) || c->close_pending ||
		    c->read_eof)
			continue;
		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			conn_close(d, c, "closed by the other side");
	}
}

/* A connection on probation that a freed client slot can take. */
static bool probation_admit(addd_state *d, conn *c)
{
	if (d->client_slots_used >= ADD_CLIENTS_MAX)
		reap_hung_up_clients(d);
	if (d->client_slots_used >= ADD_CLIENTS_MAX)
		return false;
	if (c->probation_timer) {
		add_loop_del_timer(d->loop, c->probation_timer);
		c->probation_timer = 0;
	}
	c->kind = CONN_UNKNOWN;
	d->client_slots_used++;
	return true;
}

static uint64_t probation_expired(add_loop *loop, uint64_t id, void *arg)
{
	conn *c = arg;
	(void)loop;
	if (c->kind == CONN_PROBATION && c->probation_timer == id) {
		c->probation_timer = 0;
		if (probation_admit(the_daemon, c)) {
			conn_update_mask(the_daemon, c);
			return ADD_TIMER_STOP;
		}
		log_refusal();
		conn_close(the_daemon, c, "client limit");
	}
	return ADD_TIMER_STOP;
}

/* First message on an inbound connection: decide what it is. Returns false
 * when the connection was closed. */
static bool classify(addd_state *d, conn *c, const add_wire_msg *m)
{
	if (m->kind == ADD_WIRE_PEER) {
		if (!m->hmac_ok)
			return true; /* unauthenticated: proves nothing */
		if (c->kind == CONN_UNKNOWN)
			d->client_slots_used--;
		if (c->probation_timer) {
			add_loop_del_timer(d->loop, c->probation_timer);
			c->probation_timer = 0;
		}
		c->kind = CONN_PEER_IN;
		/* That peer is up: if our link to it waits in backoff, try now
		 * (after a restart, the link is back in a round trip, not a
		 * backoff period). */
		uint8_t r = m->peer.rank;
		if (r >= 1 && r <= d->cfg->n_procs && r != d->cfg->rank && d->links[r].c == NULL &&
		    d->links[r].timer != 0) {
			add_loop_del_timer(d->loop, d->links[r].timer);
			d->links[r].timer = 0;
			d->links[r].backoff_ns = BACKOFF_MIN_NS;
			link_try(d, r);
		}
		return true;
	}
	if (c->kind == CONN_PROBATION && !probation_admit(d, c)) {
		log_refusal();
		conn_close(d, c, "client limit");
		return false;
	}
	c->kind = CONN_CLIENT;
	conn_update_mask(d, c);
	return true;
}

static void conn_dispatch(addd_state *d, conn *c, const uint8_t *p, size_t len)
{
	add_wire_msg m;

	for (;;) {
		size_t used = add_wire_decoder_feed(c->dec, p, len, &m);
		assert(used <= len);
		p += used;
		len -= used;
		if (m.kind == ADD_WIRE_NONE) {
			if (len == 0)
				return;
			continue;
		}
		if ((c->kind == CONN_UNKNOWN || c->kind == CONN_PROBATION) &&
		    !classify(d, c, &m))
			return;
		if (m.kind == ADD_WIRE_CMD && m.cmd.type == ADD_TYPE_STATUS) {
			answer_status(d, c, &m.cmd, m.hmac_ok); /* the runtime's, not the node's */
		} else if (m.kind == ADD_WIRE_CMD) {
			if (m.hmac_ok)
				add_optrack_start(&d->ops, conn_id(c), m.cmd.type, m.cmd.request,
						  add_now_ns());
			c->cmds_unanswered++; /* first: the node may answer at once */
			add_node_on_client_command(d->node, conn_id(c), &m.cmd, m.hmac_ok);
		}
		else if (m.kind == ADD_WIRE_PEER)
			add_node_on_peer_message(d->node, &m.peer, m.hmac_ok);
		/* ADD_WIRE_RSP cannot come out of a PROCESS-mode decoder. */
	}
}

static uint64_t half_close_expired(add_loop *loop, uint64_t id, void *arg)
{
	conn *c = arg;
	(void)loop;
	if (c->kind == CONN_CLIENT && c->read_eof && c->probation_timer == id) {
		c->probation_timer = 0;
		conn_close(the_daemon, c, "half-closed and not answered in time");
	}
	return ADD_TIMER_STOP;
}

/* End of file from a client with commands unanswered: "that was all", a
 * TCP half-close (shutdown(SHUT_WR), nc -N) waiting for its answers. */
static bool half_close(addd_state *d, conn *c)
{
	assert(c->probation_timer == 0);
	c->probation_timer = add_loop_add_timer(d->loop, HALF_CLOSE_GRACE_NS, half_close_expired,
						c);
	if (c->probation_timer == 0)
		return false;
	c->read_eof = true;
	assert(d->client_slots_used > 0);
	d->client_slots_used--;
	conn_update_mask(d, c);
	return true;
}

static void conn_readable(addd_state *d, conn *c)
{
	/* A few chunks per event at most, so one busy connection cannot
	 * starve the others (level-triggered epoll comes back). */
	for (int i = 0; i < 4; i++) {
		ssize_t n = read(c->fd, d->rbuf, sizeof(d->rbuf));
		if (n == 0) {
			if (c->kind == CONN_CLIENT && c->cmds_unanswered > 0 &&
			    half_close(d, c))
				return;
			conn_close(d, c, "closed by the other side");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(d, c, strerror(errno));
			return;
		}
		uint32_t gen = c->gen;
		conn_dispatch(d, c, d->rbuf, (size_t)n);
		if (c->kind == CONN_FREE || c->gen != gen || !conn_reads(d, c))
			return;
		if (d->node && !add_node_accepting_clients(d->node) &&
		    (c->kind == CONN_CLIENT || c->kind == CONN_UNKNOWN))
			return;
		if ((size_t)n < sizeof(d->rbuf))
			return;
	}
}

static void link_connected(addd_state *d, conn *c)
{
	peer_link *l = &d->links[c->rank];
	int rc = add_net_connect_result(c->fd);

	if (rc != 0) {
		add_debug("connect to rank %u (%s:%u): %s", c->rank, l->hp.host, l->hp.port,
			  strerror(-rc));
		conn_close(d, c, strerror(-rc));
		return;
	}
	c->connecting = false;
	l->up_since_ns = add_now_ns();
	link_log_up(d, c->rank);
	/* Hello first, so that the far side counts us as a peer, not a client. */
	bool ok = add_outbuf_append(&c->out, d->hello, sizeof(d->hello));
	assert(ok);
	(void)ok;
	conn_queue_flush(d, c);
	conn_update_mask(d, c);
	add_node_on_peer_connected(d->node, c->rank);
}

/* A half-closed client whose every command is answered and sent: closed. */
static bool conn_close_if_done(addd_state *d, conn *c)
{
	if (!c->read_eof || c->cmds_unanswered > 0 || c->want_write ||
	    add_outbuf_pending(&c->out) > 0)
		return false;
	conn_close(d, c, "half-closed by the client, every command answered");
	return true;
}

static void exit_if_node_failed(addd_state *d);

static void conn_writable(addd_state *d, conn *c)
{
	exit_if_node_failed(d);
	int rc = add_outbuf_flush(&c->out, c->fd);
	if (rc < 0) {
		conn_close(d, c, strerror(-rc));
		return;
	}
	c->want_write = rc == 1;
	if (!conn_close_if_done(d, c))
		conn_update_mask(d, c);
}

static void conn_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	conn *c = arg;
	addd_state *d = the_daemon;

	(void)loop;
	(void)fd;
	if (c->connecting) {
		if (events & (ADD_LOOP_WRITABLE | ADD_LOOP_ERROR))
			link_connected(d, c);
		return;
	}
	if ((events & ADD_LOOP_ERROR) && !(events & ADD_LOOP_READABLE)) {
		conn_close(d, c, "socket error");
		return;
	}
	uint32_t gen = c->gen;
	if (events & ADD_LOOP_READABLE)
		conn_readable(d, c);
	if (c->kind != CONN_FREE && c->gen == gen && (events & ADD_LOOP_WRITABLE))
		conn_writable(d, c);
}

/* ---- peer links ------------------------------------------------------- */

static uint64_t connect_timeout(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = the_daemon;
	peer_link *l = &d->links[(uintptr_t)arg];

	(void)loop;
	if (l->connect_timer != id)
		return ADD_TIMER_STOP;
	l->connect_timer = 0;
	if (l->c != NULL && l->c->connecting)
		conn_close(d, l->c, "connect timed out");
	return ADD_TIMER_STOP;
}

static void link_try(addd_state *d, uint8_t rank)
{
	peer_link *l = &d->links[rank];
	char err[256];
	int fd;
	conn *c;

	assert(l->c == NULL);
	if (!l->resolved) {
		if (add_net_resolve(&l->hp, &l->addr, err, sizeof(err)) != 0) {
			add_warn("rank %u: %s", rank, err);
			link_schedule(d, rank);
			return;
		}
		l->resolved = true;
	}
	fd = add_net_connect_start(&l->addr);
	if (fd < 0) {
		add_debug("connect to rank %u: %s", rank, strerror(-fd));
		link_log_down(d, rank, strerror(-fd));
		link_schedule(d, rank);
		return;
	}
	c = conn_open(d, fd, CONN_PEER_OUT);
	if (c == NULL) {
		close(fd);
		link_schedule(d, rank);
		return;
	}
	c->rank = rank;
	c->connecting = true;
	l->c = c;
	conn_update_mask(d, c);
	if (l->connect_timer)
		add_loop_del_timer(d->loop, l->connect_timer);
	l->connect_timer = add_loop_add_timer(d->loop, CONNECT_TIMEOUT_NS, connect_timeout,
					      (void *)(uintptr_t)rank);
}

static uint64_t link_timer(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = the_daemon;
	uintptr_t rank = (uintptr_t)arg;

	(void)loop;
	if (d->links[rank].timer == id) {
		d->links[rank].timer = 0;
		link_try(d, (uint8_t)rank);
	}
	return ADD_TIMER_STOP;
}

static void link_schedule(addd_state *d, uint8_t rank)
{
	peer_link *l = &d->links[rank];

	if (l->timer != 0 || d->exit_code >= 0)
		return;
	l->timer = add_loop_add_timer(d->loop, l->backoff_ns, link_timer, (void *)(uintptr_t)rank);
	assert(l->timer != 0);
	l->backoff_ns *= 2;
	if (l->backoff_ns > BACKOFF_MAX_NS)
		l->backoff_ns = BACKOFF_MAX_NS;
}

/* ---- the io table the node calls -------------------------------------- */

static uint64_t io_now_ns(void *ctx)
{
	(void)ctx;
	return add_now_ns();
}

static void io_random_bytes(void *ctx, uint8_t *out, size_t len)
{
	addd_state *d = ctx;

	while (len > 0) {
		if (d->random_used == sizeof(d->random_pool)) {
			size_t got = 0;
			while (got < sizeof(d->random_pool)) {
				ssize_t n = getrandom(d->random_pool + got,
						      sizeof(d->random_pool) - got, 0);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0) {
					add_err("getrandom: %s", strerror(errno));
					_exit(1);
				}
				got += (size_t)n;
			}
			d->random_used = 0;
		}
		size_t n = sizeof(d->random_pool) - d->random_used;
		if (n > len)
			n = len;
		memcpy(out, d->random_pool + d->random_used, n);
		d->random_used += n;
		out += n;
		len -= n;
	}
}

/*
 * Once the node has failed (add_node_failed) nothing more leaves this
 * process, like a crash: whatever it queued in the iteration that failed may
 * have been built from the failed operation. Checked before every send to a
 * socket (before_sleep's flush, a writable event) and at every io send.
 */
static void exit_if_node_failed(addd_state *d)
{
	if (d->node == NULL || !add_node_failed(d->node))
		return;
	add_err("the node stopped on a fatal error: exiting without sending anything more");
	_exit(1);
}

static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
{
	addd_state *d = ctx;
	peer_link *l;

	assert(rank >= 1 && rank <= d->cfg->n_procs && rank != d->cfg->rank);
	if (add_node_failed(d->node))
		return; /* the process is stopping: nothing more is sent */
	l = &d->links[rank];
	if (l->c == NULL || l->c->connecting || l->c->close_pending)
		return; /* dropped: the stubborn link retransmits */
	if (!add_outbuf_append(&l->c->out, msg, len)) {
		if (l->drops++ % 1024 == 0)
			add_debug("link to rank %u is full: dropping", rank);
		return;
	}
	conn_queue_flush(d, l->c);
}

static void io_send_client(void *ctx, uint64_t id, const uint8_t *msg, size_t len)
{
	addd_state *d = ctx;
	conn *c = conn_by_id(d, id);

	add_optrack_done(&d->ops, id, msg, len, add_now_ns());
	if (c == NULL || c->close_pending || add_node_failed(d->node))
		return;
	if (c->cmds_unanswered > 0)
		c->cmds_unanswered--;
	if (!add_outbuf_append(&c->out, msg, len)) {
		add_warn("client connection %u does not read its replies: closing", c->slot);
		c->close_pending = true;
	}
	conn_queue_flush(d, c);
}

static void io_local_done(void *ctx, uint64_t token, const uint8_t *data)
{
	addd_state *d = ctx;
	add_nbd_server_local_done(d->nbd, token, data);
}

static void io_log(void *ctx, add_log_level level, const char *line)
{
	(void)ctx;
	add_log(level, "%s", line);
}

/* ---- loop hooks ------------------------------------------------------- */

static void flush_all(addd_state *d)
{
	while (d->flush_head != NULL) {
		conn *c = d->flush_head;
		d->flush_head = c->next_flush;
		c->next_flush = NULL;
		c->in_flush_list = false;
		if (c->kind == CONN_FREE)
			continue;
		if (c->close_pending) {
			conn_close(d, c, "output bound exceeded");
			continue;
		}
		if (c->connecting || c->want_write)
			continue; /* the writable event will send it */
		int rc = add_outbuf_flush(&c->out, c->fd);
		if (rc < 0) {
			conn_close(d, c, strerror(-rc));
			continue;
		}
		c->want_write = rc == 1;
		if (!conn_close_if_done(d, c))
			conn_update_mask(d, c);
	}
}

static void set_clients_paused(addd_state *d, bool paused)
{
	if (d->clients_paused == paused)
		return;
	d->clients_paused = paused;
	for (uint32_t i = 0; i < d->conns_max; i++) {
		conn *c = &d->conns[i];
		if (c->kind == CONN_CLIENT || c->kind == CONN_UNKNOWN)
			conn_update_mask(d, c);
	}
}

static int schedule_tick(addd_state *d);

static void before_sleep(add_loop *loop, void *arg)
{
	addd_state *d = arg;

	(void)loop;
	/* A failed node sends nothing: checked before any output is flushed. */
	exit_if_node_failed(d);
	if (d->nbd != NULL)
		add_nbd_server_before_sleep(d->nbd);
	/* Start the group commit of this iteration's stores first: the flush
	 * thread syncs while this thread sends. */
	add_sector_store_kick(d->store);
	observe_group_commits(d);
	flush_all(d);
	set_clients_paused(d, !add_node_accepting_clients(d->node));
	/* Sleep until the node's next deadline, not a fixed tick: a deadline
	 * that this iteration's work set before the scheduled tick moves it. */
	d->wakeups++;
	if (add_tick_needs_reschedule(d->tick_at_ns, add_node_next_tick_ns(d->node)) &&
	    schedule_tick(d) != 0) {
		add_err("cannot register the node's tick with the event loop: exiting");
		_exit(1);
	}
}

static uint64_t tick_timer(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = arg;
	uint64_t now, delay;

	(void)loop;
	assert(id == d->tick_timer);
	add_node_tick(d->node);
	now = add_now_ns();
	delay = add_tick_delay_ns(now, add_node_next_tick_ns(d->node));
	d->tick_at_ns = now + delay;
	return delay;
}

static int schedule_tick(addd_state *d)
{
	uint64_t now = add_now_ns();
	uint64_t delay = add_tick_delay_ns(now, add_node_next_tick_ns(d->node));

	if (d->tick_timer != 0)
		add_loop_del_timer(d->loop, d->tick_timer);
	d->tick_timer = add_loop_add_timer(d->loop, delay, tick_timer, d);
	d->tick_at_ns = now + delay;
	return d->tick_timer != 0 ? 0 : -1;
}

static uint64_t idle_timer(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = arg;
	add_sector_store_stats st;
	uint64_t now = add_now_ns();

	(void)loop;
	(void)id;
	add_sector_store_get_stats(d->store, &st);
	if (add_log_get_level() >= ADD_LOG_DEBUG && now - d->last_stats_ns >= 1000000000ull) {
		add_node_stats ns;
		add_node_get_stats(d->node, &ns);
		add_debug("stats: ops %llu, registers %llu, pending cmds %llu, retransmissions "
			  "%llu, bad hmac peer/client %llu/%llu; store: flushes %llu, durable "
			  "%llu, checkpoints %llu, journal %llu B; conns %u, clients %u; wake-ups %llu",
			  (unsigned long long)ns.ops_completed,
			  (unsigned long long)ns.registers_active,
			  (unsigned long long)ns.client_cmds_pending,
			  (unsigned long long)ns.retransmissions,
			  (unsigned long long)ns.bad_hmac_peer, (unsigned long long)ns.bad_hmac_client,
			  (unsigned long long)st.journal_flushes, (unsigned long long)st.stores_durable,
			  (unsigned long long)st.checkpoints, (unsigned long long)st.journal_bytes,
			  d->conns_open, d->client_slots_used, (unsigned long long)d->wakeups);
		add_debug("stats: damage: store checksum mismatches %llu, read errors %llu, "
			  "corrupt records %llu, suspect sectors %llu, repairs %llu, damaged now "
			  "%llu%s; node damaged found %llu, repairs done %llu, pending %llu, reads "
			  "refused %llu, scrubbed %llu, scrub passes %llu",
			  (unsigned long long)st.checksum_mismatches,
			  (unsigned long long)st.read_errors, (unsigned long long)st.corrupt_records,
			  (unsigned long long)st.suspect_sectors, (unsigned long long)st.repairs,
			  (unsigned long long)st.damaged_now, st.torn_tail ? ", torn tail at open" : "",
			  (unsigned long long)ns.damaged_found, (unsigned long long)ns.repairs_done,
			  (unsigned long long)add_node_repairs_pending(d->node),
			  (unsigned long long)ns.reads_refused_damaged,
			  (unsigned long long)ns.scrubbed,
			  (unsigned long long)add_node_scrub_passes(d->node));
		d->last_stats_ns = now;
	}
	add_node_stats nst;
	add_node_get_stats(d->node, &nst);
	uint64_t seen = st.checksum_mismatches + st.read_errors + st.suspect_sectors +
			nst.damaged_found;
	if (seen != d->damage_seen || st.damaged_now > 0) {
		/* found by recovery, a read or the scrub (each said when found) */
		d->damage_seen = seen;
		d->repairs_owed = true;
	} else if (d->repairs_owed && add_node_repairs_pending(d->node) == 0) {
		add_info("storage in '%s': every damaged sector is repaired (%llu repairs so far)",
			 d->cfg->storage_dir, (unsigned long long)st.repairs);
		d->repairs_owed = false;
	}
	if (st.stores_durable != d->last_stores || !add_sector_store_idle(d->store)) {
		d->last_stores = st.stores_durable;
		d->last_activity_ns = now;
	} else if (now - d->last_activity_ns >= IDLE_CHECKPOINT_NS) {
		if (add_sector_store_checkpoint(d->store))
			add_debug("idle: checkpoint started (journal %llu bytes)",
				  (unsigned long long)st.journal_bytes);
		d->last_activity_ns = now;
	}
	return IDLE_CHECK_NS;
}

/* Scrub at its pace (--scrub-interval): verified sectors found damaged are
 * repaired by the node from the other processes. */
static uint64_t scrub_timer(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = arg;
	uint64_t now = add_now_ns();
	size_t due;

	(void)loop;
	(void)id;
	due = add_scrub_pacer_due(&d->scrub, add_sector_store_written(d->store),
				  now - d->last_scrub_ns);
	d->last_scrub_ns = now;
	if (due > 0 && !ADD_MUTANT_ON(ADD_MUTANT_ADDD_NO_SCRUB)) {
		uint64_t passes = add_node_scrub_passes(d->node);
		size_t done = add_node_scrub_step(d->node, due);
		assert(done <= due);
		if (add_node_scrub_passes(d->node) != passes)
			add_debug("scrub: pass %llu over the written sectors done",
				  (unsigned long long)add_node_scrub_passes(d->node));
	}
	return due > 0 ? SCRUB_TICK_NS : SCRUB_IDLE_TICK_NS;
}

static uint64_t listen_resume(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = arg;
	(void)id;
	(void)add_loop_set_mask(loop, d->listen_fd, ADD_LOOP_READABLE);
	return ADD_TIMER_STOP;
}

static void listen_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	addd_state *d = arg;

	(void)events;
	for (int i = 0; i < 64; i++) {
		int cfd = add_net_accept(fd);
		if (cfd < 0) {
			if (cfd == -EMFILE || cfd == -ENFILE || cfd == -ENOBUFS || cfd == -ENOMEM) {
				/* Level-triggered: stop listening a while rather than
				 * spin on a pending connection we cannot take. */
				add_warn("accept: %s: pausing accepts for 100 ms", strerror(-cfd));
				(void)add_loop_set_mask(loop, fd, 0);
				if (add_loop_add_timer(loop, 100000000ull, listen_resume, d) == 0)
					(void)add_loop_set_mask(loop, fd, ADD_LOOP_READABLE);
			} else if (cfd != -EAGAIN && cfd != -EWOULDBLOCK && cfd != -EINTR &&
				   cfd != -ECONNABORTED) {
				add_warn("accept: %s", strerror(-cfd));
			}
			return;
		}
		bool full = d->client_slots_used >= ADD_CLIENTS_MAX;
		conn *c = d->conns_open < d->conns_max
				  ? conn_open(d, cfd, full ? CONN_PROBATION : CONN_UNKNOWN)
				  : NULL;
		if (c == NULL) {
			add_warn("refused a connection: %u connections open", d->conns_open);
			close(cfd);
			continue;
		}
		if (full) {
			c->probation_timer =
				add_loop_add_timer(d->loop, PROBATION_NS, probation_expired, c);
			if (c->probation_timer == 0)
				conn_close(d, c, "timer table full");
		} else {
			d->client_slots_used++;
			conn_update_mask(d, c);
		}
	}
}

static void signal_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	addd_state *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		add_info("signal %u: stopping", si.ssi_signo);
	d->exit_code = 0;
	add_loop_stop(loop);
}

static void disk_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	addd_state *d = arg;
	(void)loop;
	(void)fd;
	(void)events;
	(void)add_posix_disk_dispatch(d->pdisk);
}

/* ---- sector store callbacks ------------------------------------------- */

static void store_durable(void *arg, uint64_t cookie)
{
	addd_state *d = arg;
	add_node_on_store_done(d->node, cookie);
}

/* One error line for a store that failed (at open or later): its one-line
 * reason as it is, with the directory; the disk's last error (the system
 * call, the file's path and strerror) when the reason does not already hold
 * it; and "disk full" said plainly when the reason does not say it. */
static void log_store_error(const addd_state *d, const char *what, const char *why)
{
	const char *last = d->pdisk ? add_posix_disk_last_error(d->pdisk) : "";
	bool add_last = last[0] != '\0' && strstr(why, last) == NULL;
	bool full = add_storage_error_is_disk_full(why) || add_storage_error_is_disk_full(last) ||
		    add_dir_nearly_full(d->cfg->storage_dir);
	bool say_full = full && strcasestr(why, "disk full") == NULL;

	assert(why != NULL && d->cfg != NULL);

	if (ADD_MUTANT_ON(ADD_MUTANT_ADDD_STORE_ERROR_WITHOUT_PATH))
		add_last = false;
	add_err("%s in '%s': %s%s%s%s%s%s", what, d->cfg->storage_dir, say_full ? "disk full: " : "",
		why, add_last ? " (" : "", add_last ? last : "", add_last ? ")" : "",
		say_full ? "; free space there, then restart" : "");
}

static void store_fatal(void *arg, const char *why)
{
	/* Nothing acknowledged depends on what failed: stop before anything
	 * else can be answered. */
	log_store_error(arg, "storage failure", why);
	_exit(1);
}

/* ---- observation: metrics, status, link transitions -------------------- */

static bool link_up(const addd_state *d, uint8_t rank)
{
	const peer_link *l = &d->links[rank];
	return l->c != NULL && !l->c->connecting;
}

/* The link's transitions, told once each (link_log.h); not while this
 * process is stopping. */
static void link_log_up(addd_state *d, uint8_t rank)
{
	char line[512];
	int level = add_link_log_up(&d->links[rank].log, add_now_ns(), line, sizeof(line));

	if (level >= 0 && d->exit_code < 0)
		add_log((add_log_level)level, "%s", line);
}

static void link_log_down(addd_state *d, uint8_t rank, const char *why)
{
	char line[512];
	int level = add_link_log_down(&d->links[rank].log, add_now_ns(), why, line, sizeof(line));

	if (level >= 0 && d->exit_code < 0)
		add_log((add_log_level)level, "%s", line);
}

/* Batches made durable since the last call: their sizes, into the
 * histogram (several batches in one iteration share the average); and the
 * checkpoints' durations (ckpt_timer.h). */
static void observe_group_commits(addd_state *d)
{
	add_sector_store_stats st;

	add_sector_store_get_stats(d->store, &st);
	uint64_t now = add_now_ns();
	if (d->ckpt.last_ns == 0)
		add_ckpt_timer_init(&d->ckpt, st.checkpoints_started, st.checkpoints, now);
	add_ckpt_timer_update(&d->ckpt, st.checkpoints_started, st.checkpoints,
			      st.checkpoint_running, now, &d->checkpoint);
	if (st.journal_flushes == d->seen_flushes)
		return;
	assert(st.journal_flushes > d->seen_flushes && st.stores_durable >= d->seen_durable);
	uint64_t k = st.journal_flushes - d->seen_flushes;
	uint64_t stores = st.stores_durable - d->seen_durable;
	for (uint64_t i = 0; i < k && i < 64; i++)
		add_hist_observe_count(&d->batch_size, stores / k + (i < stores % k ? 1 : 0));
	d->seen_flushes = st.journal_flushes;
	d->seen_durable = st.stores_durable;
}

static void daemon_snapshot(addd_state *d, add_metrics_snapshot *s)
{
	uint64_t now = add_now_ns();
	add_node_stats ns;

	memset(s, 0, sizeof(*s));
	s->version = ADD_VERSION;
	s->rank = d->cfg->rank;
	s->n_procs = d->cfg->n_procs;
	s->recovering = add_rejoin_get_state(d->rejoin) != ADD_REJOIN_MEMBER;
	s->rejoin_state = (uint8_t)add_rejoin_get_state(d->rejoin);
	s->rejoin_known = add_rejoin_known(d->rejoin);
	s->scrub_passes = add_node_scrub_passes(d->node);
	s->repairs_pending = add_node_repairs_pending(d->node);
	add_hist_snapshot(&d->checkpoint, &s->checkpoint);
	add_node_get_stats(d->node, &ns);
	s->uptime_seconds = (double)(now - d->start_ns) / 1e9;
	for (uint8_t r = 1; r <= d->cfg->n_procs; r++)
		if (r != d->cfg->rank)
			s->peers[s->n_peers++] = (add_metrics_peer){
				.rank = r, .up = link_up(d, r), .send_drops = d->links[r].drops,
				.retransmissions = ns.retransmissions_to[r]};
	add_hist_snapshot(&d->ops.read, &s->op_read);
	add_hist_snapshot(&d->ops.write, &s->op_write);
	add_posix_disk_sync_latency(d->pdisk, &s->fdatasync);
	add_hist_snapshot_count(&d->batch_size, &s->batch_size);
	s->node = ns;
	add_sector_store_get_stats(d->store, &s->store);
	s->ops_in_flight = ns.client_cmds_pending;
	s->oldest_op_age_seconds = (double)add_optrack_oldest_age_ns(&d->ops, now) / 1e9;
	for (uint32_t i = 0; i < d->conns_max; i++)
		s->client_connections += d->conns[i].kind == CONN_CLIENT ? 1u : 0u;
	s->client_slots_used = d->client_slots_used;
	s->client_slots_max = ADD_CLIENTS_MAX;
	s->n_sectors = d->cfg->n_sectors;
	s->sectors_written = add_sector_store_written(d->store);
	int64_t du = add_dir_disk_bytes(d->cfg->storage_dir);
	if (du < 0)
		add_debug("metrics: reading storage directory '%s': %s", d->cfg->storage_dir,
			  strerror((int)-du));
	s->disk_bytes = du > 0 ? (uint64_t)du : 0;
	s->disk_bound_bytes = add_disk_bound_bytes(s->sectors_written, journal_max_bytes());
	assert(s->n_peers + 1u == d->cfg->n_procs);
}

static size_t metrics_body(void *arg, char *buf, size_t cap)
{
	static add_metrics_snapshot snap; /* large: not on the stack */

	daemon_snapshot(arg, &snap);
	size_t len = add_metrics_format(&snap, buf, cap);
	if (len == 0)
		add_warn("metrics: the page does not fit in %zu bytes", cap);
	return len;
}

static int start_metrics(addd_state *d)
{
	char err[512];
	const add_hostport *hp = &d->cfg->metrics_listen;

	d->metrics = add_http_start(d->loop, hp, d->cfg->metrics_allow_remote,
				    ADD_METRICS_CONTENT_TYPE, metrics_body, d, err, sizeof(err));
	if (d->metrics == NULL) {
		add_err("--metrics-listen %s:%u: %s", hp->host, hp->port, err);
		return -1;
	}
	add_info("metrics at http://%s:%u%s", hp->host, hp->port, ADD_HTTP_PATH);
	return 0;
}

/* A STATUS command (docs/PROTOCOL.md): answered here, from the same
 * snapshot as the metrics, on the connection it came from. */
static void answer_status(addd_state *d, conn *c, const add_client_cmd *cmd, bool hmac_ok)
{
	static add_metrics_snapshot snap;
	uint8_t body[ADD_STATUS_BODY_SIZE], msg[ADD_RSP_STATUS_SIZE];
	add_client_rsp rsp = {.type = ADD_TYPE_STATUS_RESPONSE, .request = cmd->request};

	if (hmac_ok) {
		add_status_info info;
		daemon_snapshot(d, &snap);
		add_status_from_metrics(&snap, &info);
		add_status_encode(&info, body);
		rsp.status = ADD_STATUS_OK;
		rsp.data = body;
	} else {
		rsp.status = ADD_STATUS_AUTH_FAILURE;
	}
	size_t len = add_wire_encode_rsp(&rsp, add_node_client_key(d->node), msg);
	assert(len == (hmac_ok ? ADD_RSP_STATUS_SIZE : ADD_RSP_EMPTY_SIZE));
	if (!add_outbuf_append(&c->out, msg, len)) {
		add_warn("client connection %u does not read its replies: closing", c->slot);
		c->close_pending = true;
	}
	conn_queue_flush(d, c);
}

static void store_log(void *arg, add_log_level level, const char *line)
{
	(void)arg;
	add_log(level, "%s", line);
}

/* ---- startup / shutdown ----------------------------------------------- */

/* Before the store opens: whether this storage is new (no superblock) is
 * decided first, so that a crash right after the store's creation still
 * restarts as new storage (core/rejoin.h). */
static int open_rejoin(addd_state *d)
{
	char err[512];
	add_superblock sb;
	const add_disk *disk = add_posix_disk_ops(d->pdisk);
	int rc = add_superblock_read(disk, &sb, err, sizeof(err));

	if (rc < 0 && rc != -ENOENT) {
		log_store_error(d, "cannot read the superblock", err);
		return -1;
	}
	add_rejoin_config rcfg = {
		.rank = d->cfg->rank,
		.n_procs = d->cfg->n_procs,
		.n_sectors = d->cfg->n_sectors,
		.store_created = rc == -ENOENT,
		.force = d->cfg->force_rejoin,
		.disk = disk,
		.log = store_log,
		.log_arg = d,
	};
	d->rejoin = add_rejoin_open(&rcfg, err, sizeof(err));
	if (d->rejoin == NULL) {
		add_err("storage in '%s': %s", d->cfg->storage_dir, err);
		return -1;
	}
	return 0;
}

/* ADD_JOURNAL_MAX_MB (environment, for experiments): checkpoint threshold. */
static uint64_t journal_max_bytes(void)
{
	const char *s = getenv("ADD_JOURNAL_MAX_MB");
	uint64_t mb;

	if (s == NULL || add_parse_u64(s, 1, 4096, &mb) != 0)
		return 0; /* the store's default */
	return mb << 20;
}

/* At start: a warning when the file system holding the storage has less
 * free space than --sectors could need (storage_policy.h's bound, beyond
 * what the store's files already take). */
static void warn_if_space_short(const addd_state *d, uint64_t journal_max)
{
	char err[ADD_PATH_MAX + 128];
	uint64_t free_b = 0, need, used = 0;
	int rc = add_dir_free_bytes(d->cfg->storage_dir, &free_b, err, sizeof(err));

	if (rc != 0) {
		add_warn("cannot tell the free space for the storage: %s", err);
		return;
	}
	/* A batch holds at most the stores of the operations in flight: each
	 * process's CLIENT_CMDS_MAX, one store each at this one. */
	need = add_store_space_bound(d->cfg->n_sectors, journal_max,
				     (uint64_t)d->cfg->n_procs * CLIENT_CMDS_MAX);
	assert(need >= d->cfg->n_sectors * ADD_SECTOR_SIZE);
	/* Space the files already hold counts as available to them. */
	static const char *const files[] = {"data", "meta", "journal-a", "journal-b"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[ADD_PATH_MAX + 16];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", d->cfg->storage_dir, files[i]);
		if (stat(path, &st) == 0)
			used += (uint64_t)st.st_blocks * 512;
	}
	if (free_b + used < need)
		add_warn("storage directory '%s': %llu MiB free, but --sectors %llu may need up "
			 "to %llu MiB (data, meta and journals): the disk may fill up",
			 d->cfg->storage_dir, (unsigned long long)((free_b + used) >> 20),
			 (unsigned long long)d->cfg->n_sectors,
			 (unsigned long long)(need >> 20));
}

static int make_signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static uint32_t conns_bound(void)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	if (n <= FDS_RESERVED + ADD_CLIENTS_MAX)
		return ADD_CLIENTS_MAX;
	n -= FDS_RESERVED;
	return n > CONNS_MAX ? CONNS_MAX : (uint32_t)n;
}

/* Lets the flushes in flight finish (their completions reach the node,
 * whose replies are dropped: the connections are closed), so that no file is
 * closed under the flush thread. Bounded: 5 s. */
static void drain_flushes(addd_state *d)
{
	uint64_t end = add_now_ns() + 5000000000ull;

	while (add_posix_disk_pending(d->pdisk) > 0 && add_now_ns() < end) {
		struct pollfd p = {.fd = d->disk_fd, .events = POLLIN};
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		(void)add_posix_disk_dispatch(d->pdisk);
	}
}

static void shutdown_daemon(addd_state *d)
{
	for (uint32_t i = 0; d->conns && i < d->conns_max; i++)
		if (d->conns[i].kind != CONN_FREE)
			conn_close(d, &d->conns[i], "shutting down");
	if (d->pdisk && d->store && d->node && d->disk_fd >= 0)
		drain_flushes(d);
	if (d->node)
		add_node_destroy(d->node);
	add_nbd_server_destroy(d->nbd); /* after the node: nothing completes now */
	if (d->store)
		add_sector_store_close(d->store);
	add_rejoin_close(d->rejoin);
	if (d->pdisk)
		add_posix_disk_close(d->pdisk);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	add_http_stop(d->metrics);
	add_loop_destroy(d->loop);
	free(d->conns);
}

/*
 * The storage directory is for the exclusive use of one process (the
 * assignment's words): a second addd given the same directory would corrupt
 * the first one's files, so it stops with a clear error instead. The lock
 * goes with the process (SIGKILL included), so a restart is never blocked.
 */
static int lock_storage_dir(addd_state *d)
{
	char path[ADD_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/.addd.lock", d->cfg->storage_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		add_err("storage directory '%s': cannot create its lock file: %s",
			d->cfg->storage_dir, strerror(errno));
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			add_err("storage directory '%s' is in use by another addd process (each "
				"process needs its own)", d->cfg->storage_dir);
			return -1;
		}
		/* A file system without locks: go on unprotected. */
		add_warn("storage directory '%s': cannot lock it: %s", d->cfg->storage_dir,
			 strerror(errno));
	}
	return 0;
}

/* What opening the store found and did, in one line. */
static void log_recovery(addd_state *d)
{
	add_sector_store_stats st;
	char damage[160] = "";

	add_sector_store_get_stats(d->store, &st);
	if (st.suspect_sectors > 0 || st.corrupt_records > 0)
		snprintf(damage, sizeof(damage),
			 "; %llu sectors marked damaged (%llu corrupt journal records): they are "
			 "repaired from the other processes",
			 (unsigned long long)st.suspect_sectors, (unsigned long long)st.corrupt_records);
	add_info("storage in '%s' recovered: %llu sectors written, %llu journal records "
		 "replayed%s%s", d->cfg->storage_dir,
		 (unsigned long long)add_sector_store_written(d->store),
		 (unsigned long long)st.recovered_records,
		 st.torn_tail ? ", a torn journal tail (a write cut by a crash) dropped" : "", damage);
}

static int fail(const char *what, const char *why)
{
	add_err("%s: %s", what, why);
	return 1;
}

int add_daemon_run(add_addd_config *cfg)
{
	static addd_state d_storage; /* large (read buffer): not on the stack */
	addd_state *d = &d_storage;
	const add_hostport *me = &cfg->peers[cfg->rank - 1];
	char err[512];
	int rc = 1;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->start_ns = add_now_ns();
	add_optrack_init(&d->ops);
	d->listen_fd = d->signal_fd = d->disk_fd = d->lock_fd = -1;
	d->exit_code = -1;
	d->random_used = sizeof(d->random_pool);
	the_daemon = d;
	signal(SIGPIPE, SIG_IGN);

	/* Listen first: the port is bound within milliseconds of start, and
	 * connections wait in the backlog while the store recovers. */
	d->listen_fd = add_net_listen(me, 511, err, sizeof(err));
	if (d->listen_fd < 0)
		return fail("listen", err);
	d->signal_fd = make_signal_fd();
	if (d->signal_fd < 0)
		return fail("signalfd", strerror(errno));
	if (add_prepare_dir(cfg->storage_dir, err, sizeof(err)) != 0) {
		add_err("%s", err);
		goto out;
	}
	if (lock_storage_dir(d) != 0)
		goto out;
	d->pdisk = add_posix_disk_open(cfg->storage_dir, err, sizeof(err));
	if (d->pdisk == NULL) {
		add_err("storage directory '%s': %s", cfg->storage_dir, err);
		goto out;
	}
	add_sector_store_config scfg = {
		.disk = add_posix_disk_ops(d->pdisk),
		.n_sectors = cfg->n_sectors,
		.on_durable = store_durable,
		.on_fatal = store_fatal,
		.arg = d,
		.rank = cfg->rank,
		.log = store_log,
		.journal_max_bytes = journal_max_bytes(),
		/* Every process may have CLIENT_CMDS_MAX operations in flight, each
		 * asking this one for at most one store at a time: room for all of
		 * them twice over (store() refusing would be fatal). */
		.batch_max = (uint32_t)(2u * cfg->n_procs * CLIENT_CMDS_MAX < 16384u
						? 16384u
						: 2u * cfg->n_procs * CLIENT_CMDS_MAX < 65536u
						? 2u * cfg->n_procs * CLIENT_CMDS_MAX
						: 65536u),
	};
	if (ADD_MUTANT_ON(ADD_MUTANT_ADDD_STORE_RANK_UNCHECKED))
		scfg.rank = 0;
	io_random_bytes(d, scfg.new_identity, sizeof(scfg.new_identity));
	warn_if_space_short(d, scfg.journal_max_bytes);
	if (open_rejoin(d) != 0)
		goto out;
	d->store = add_sector_store_open(&scfg, err, sizeof(err));
	if (d->store == NULL) {
		log_store_error(d, "cannot open the storage", err);
		goto out;
	}
	log_recovery(d);
	add_superblock sb;
	add_sector_store_identity(d->store, &sb);
	add_rejoin_attach(d->rejoin, add_sector_store_ops(), d->store, sb.incarnation);

	d->io = (add_io){
		.ctx = d,
		.now_ns = io_now_ns,
		.random_bytes = io_random_bytes,
		.send_peer = io_send_peer,
		.send_client = io_send_client,
		.log = io_log,
		.local_done = cfg->nbd_enabled ? io_local_done : NULL,
	};
	add_node_config ncfg = {
		.rank = cfg->rank,
		.n_procs = cfg->n_procs,
		.n_sectors = cfg->n_sectors,
		.client_cmds_max = CLIENT_CMDS_MAX,
		.rejoin = d->rejoin,
	};
	memcpy(ncfg.client_key, cfg->client_key, sizeof(ncfg.client_key));
	memcpy(ncfg.system_key, cfg->system_key, sizeof(ncfg.system_key));
	d->node = add_node_create(&ncfg, &d->io, add_rejoin_store_ops(), d->rejoin);
	if (d->node == NULL) {
		add_err("cannot create the node (out of memory or bad keys)");
		goto out;
	}
	/* The hello: a signed transport ack of the null operation. */
	add_peer_msg hello = {.type = ADD_TYPE_READ_PROC_TACK, .rank = cfg->rank};
	if (add_wire_encode_peer(&hello, add_node_system_key(d->node), d->hello) !=
	    sizeof(d->hello)) {
		add_err("cannot encode the peer hello");
		goto out;
	}

	d->conns_max = conns_bound();
	d->conns = calloc(d->conns_max, sizeof(*d->conns));
	d->loop = add_loop_create((int)(d->conns_max + FDS_RESERVED + 64));
	if (d->conns == NULL || d->loop == NULL) {
		add_err("out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < d->conns_max; i++) {
		d->conns[i].slot = i;
		d->conns[i].fd = -1;
	}
	d->disk_fd = add_posix_disk_event_fd(d->pdisk);
	if (add_loop_add_fd(d->loop, d->listen_fd, ADD_LOOP_READABLE, listen_event, d) != 0 ||
	    add_loop_add_fd(d->loop, d->signal_fd, ADD_LOOP_READABLE, signal_event, d) != 0 ||
	    add_loop_add_fd(d->loop, d->disk_fd, ADD_LOOP_READABLE, disk_event, d) != 0 ||
	    schedule_tick(d) != 0 ||
	    add_loop_add_timer(d->loop, IDLE_CHECK_NS, idle_timer, d) == 0 ||
	    (cfg->scrub_interval_s > 0 &&
	     add_loop_add_timer(d->loop, SCRUB_TICK_NS, scrub_timer, d) == 0)) {
		add_err("cannot register with the event loop");
		goto out;
	}
	add_loop_set_before_sleep(d->loop, before_sleep, d);
	if (cfg->metrics_enabled && start_metrics(d) != 0)
		goto out;
	if (cfg->nbd_enabled) {
		d->nbd = add_nbd_server_create(&cfg->nbd_listen, cfg->nbd_allow_remote,
					       cfg->n_sectors, d->loop, d->node, err, sizeof(err));
		if (d->nbd == NULL) {
			add_err("nbd: %s", err);
			goto out;
		}
		add_info("serving NBD export \"add\" (%llu bytes) on %s:%u",
			 (unsigned long long)cfg->n_sectors * 4096, cfg->nbd_listen.host,
			 cfg->nbd_listen.port);
	}
	add_scrub_pacer_init(&d->scrub, cfg->scrub_interval_s);
	d->last_scrub_ns = add_now_ns();
	for (uint8_t r = 1; r <= cfg->n_procs; r++) {
		if (r == cfg->rank)
			continue;
		d->links[r].hp = cfg->peers[r - 1];
		add_link_log_init(&d->links[r].log, r, d->links[r].hp.host, d->links[r].hp.port,
				  d->start_ns);
		d->links[r].backoff_ns = BACKOFF_MIN_NS;
		link_try(d, r);
	}
	add_sector_store_stats sst;
	add_sector_store_get_stats(d->store, &sst);
	if (sst.damaged_now > 0) {
		add_warn("storage in '%s': %llu sectors damaged here; repairing them from the other "
			 "processes (never served from this copy)", cfg->storage_dir,
			 (unsigned long long)sst.damaged_now);
		d->repairs_owed = true;
	}
	add_info("rank %u of %u listening on %s:%u; %llu sectors, %llu written, in %s",
		 cfg->rank, cfg->n_procs, me->host, me->port,
		 (unsigned long long)cfg->n_sectors,
		 (unsigned long long)add_sector_store_written(d->store), cfg->storage_dir);
	int lrc = add_loop_run(d->loop);
	if (lrc < 0) {
		add_err("epoll_wait: %s", strerror(-lrc));
		goto out;
	}
	rc = d->exit_code < 0 ? 1 : d->exit_code;
	d->exit_code = rc; /* no reconnects scheduled while shutting down */
out:
	if (d->exit_code < 0)
		d->exit_code = rc;
	shutdown_daemon(d);
	return rc;
}
