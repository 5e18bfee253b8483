/*
 * runtime-real/daemon_conn: the connection table: open, close, read, dispatch through conn_policy.
 * Shared state and the other files: daemon_internal.h.
 */
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
#include <unistd.h>

#include "daemon_internal.h"

/* ---- connections ------------------------------------------------------ */

static uint64_t conn_id(const conn *c)
{
	return ((uint64_t)c->gen << 32) | c->slot;
}

conn *addd_conn_by_id(addd_state *d, uint64_t id)
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
	if (c->connecting || c->close_pending || c->read_eof || c->stash_len > 0)
		return false;
	if (c->kind == CONN_PEER_OUT)
		return true;
	return add_cp_reads(&d->policy, &c->cp, !d->clients_paused, add_outbuf_pending(&c->out));
}

void addd_conn_update_mask(addd_state *d, conn *c)
{
	uint32_t mask = (conn_reads(d, c) ? ADD_LOOP_READABLE : 0u) |
			(c->want_write || c->connecting ? ADD_LOOP_WRITABLE : 0u);
	int rc = add_loop_set_mask(d->loop, c->fd, mask);
	assert(rc == 0);
	(void)rc;
}

void addd_conn_queue_flush(addd_state *d, conn *c)
{
	if (c->in_flush_list)
		return;
	c->in_flush_list = true;
	c->next_flush = d->flush_head;
	d->flush_head = c;
}

static void conn_event(add_loop *loop, int fd, void *arg, uint32_t events);

conn *addd_conn_open(addd_state *d, int fd, conn_kind kind)
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
	c->stash_len = 0;
	c->connect_start_ns = 0;
	/* in_flush_list / next_flush are left alone: a slot closed and reused
	 * within one iteration may still be on the flush list, and must stay
	 * linked exactly once (flush_all then sends the new connection's). */
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

void addd_conn_close(addd_state *d, conn *c, const char *why)
{
	conn_kind kind = c->kind;

	assert(kind != CONN_FREE);
	add_debug("closing %s connection %u (fd %d): %s",
		  kind == CONN_CLIENT ? "client" : kind == CONN_PEER_IN ? "peer-in"
		  : kind == CONN_PEER_OUT ? "peer-out" : "new", c->slot, c->fd, why);
	add_loop_del_fd(d->loop, c->fd);
	close(c->fd);
	if (kind != CONN_PEER_OUT)
		add_cp_on_close(&d->policy, &c->cp, conn_id(c));
	if (c->stash != NULL) {
		if (c->stash_len > 0)
			d->stashed--;
		free(c->stash);
		c->stash = NULL;
		c->stash_len = 0;
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
		addd_link_log_down(d, c->rank, why);
		/* Backoff starts over only after a link that held a while: a
		 * peer that accepts and drops at once is not hammered. */
		if (l->up_since_ns != 0 && add_now_ns() - l->up_since_ns >= BACKOFF_MAX_NS)
			l->backoff_ns = BACKOFF_MIN_NS;
		l->up_since_ns = 0;
		l->c = NULL;
		addd_link_schedule(d, c->rank);
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
	add_info("refused a client connection: %d signed clients already connected (%llu more "
		 "refused since the last line)", ADD_CLIENTS_MAX, (unsigned long long)suppressed);
	last_ns = now;
	suppressed = 0;
}

/*
 * A client that hangs up and at once connects again can be accepted before
 * its old connection's end of file is read (both in one epoll batch): the
 * new one would be refused for a slot that is in fact free. Before refusing,
 * treat the end of file of the client connections whose far side has
 * already hung up (a half-close keeps them for their answers, without a
 * slot). `self` (being admitted) is left alone.
 */
static void reap_hung_up_clients(addd_state *d, const conn *self)
{
	for (uint32_t i = 0; i < d->conns_max; i++) {
		conn *c = &d->conns[i];
		char b;

		if (c == self || c->kind != CONN_CLIENT || c->close_pending || c->read_eof ||
		    c->stash_len > 0)
			continue;
		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
			continue;
		if (add_cp_on_eof(&d->policy, &c->cp, add_now_ns())) {
			c->read_eof = true;
			addd_conn_update_mask(d, c);
		} else {
			addd_conn_close(d, c, "closed by the other side");
		}
	}
}

/* The policy's view of an inbound connection, in conn_kind. */
static void sync_kind(conn *c)
{
	assert(c->kind != CONN_PEER_OUT && c->kind != CONN_FREE);
	c->kind = c->cp.kind == ADD_CP_CLIENT ? CONN_CLIENT
		  : c->cp.kind == ADD_CP_PEER ? CONN_PEER_IN : CONN_UNKNOWN;
}

/* A validly signed peer message classified c as rank's inbound link. */
static void peer_in_classified(addd_state *d, conn *c, uint64_t replaced)
{
	conn *old = replaced != 0 ? addd_conn_by_id(d, replaced) : NULL;

	if (old != NULL && old != c)
		addd_conn_close(d, old, "replaced by a newer link from the same rank");
	/* That peer is up: if our link to it waits in backoff, try now
	 * (after a restart, the link is back in a round trip, not a
	 * backoff period). */
	uint8_t r = c->cp.rank;
	if (r >= 1 && r <= d->cfg->n_procs && r != d->cfg->rank && d->links[r].c == NULL &&
	    d->links[r].timer != 0) {
		add_loop_del_timer(d->loop, d->links[r].timer);
		d->links[r].timer = 0;
		d->links[r].backoff_ns = BACKOFF_MIN_NS;
		addd_link_try(d, r);
	}
}

/* The policy's verdict on one decoded message of an inbound connection.
 * Returns false when c was closed. */
static bool admit_message(addd_state *d, conn *c, const add_wire_msg *m)
{
	bool peer = m->kind == ADD_WIRE_PEER;
	uint8_t rank = peer ? m->peer.rank : 0;
	add_cp_kind before = c->cp.kind;
	uint64_t replaced = 0, now = add_now_ns();
	add_cp_verdict v = add_cp_on_message(&d->policy, &c->cp, conn_id(c), peer, m->hmac_ok,
					     rank, now, &replaced);

	if (v == ADD_CP_CLOSE_FULL) {
		reap_hung_up_clients(d, c); /* a slot may be free in fact */
		v = add_cp_on_message(&d->policy, &c->cp, conn_id(c), peer, m->hmac_ok, rank, now,
				      &replaced);
	}
	if (v == ADD_CP_CLOSE_FULL) {
		log_refusal();
		addd_conn_close(d, c, "client limit");
		return false;
	}
	sync_kind(c);
	if (before == ADD_CP_NEW && c->cp.kind == ADD_CP_PEER)
		peer_in_classified(d, c, replaced);
	return true;
}

/* Decodes and hands on messages from p; returns the bytes used. Stops
 * (returning less than len) after a client command that leaves the node
 * not accepting, or when c was closed (c->kind then FREE or its gen moved). */
static size_t conn_dispatch(addd_state *d, conn *c, const uint8_t *p, size_t len)
{
	add_wire_msg m;
	size_t done = 0;
	uint32_t gen = c->gen;

	while (done < len) {
		/* The bounds hold per command: while the node does not accept,
		 * or this client's replies back up beyond CLIENT_OUT_PAUSE,
		 * client bytes wait undecoded (the rest goes to the stash). */
		if (c->kind != CONN_PEER_OUT && c->kind != CONN_PEER_IN &&
		    !add_cp_reads(&d->policy, &c->cp, add_node_accepting_clients(d->node),
				  add_outbuf_pending(&c->out)))
			return done;
		size_t used = add_wire_decoder_feed(c->dec, p + done, len - done, &m);
		assert(used <= len - done);
		done += used;
		if (m.kind == ADD_WIRE_NONE) {
			if (used == 0)
				break; /* never loop forever */
			continue;
		}
		/* Classified connections skip the policy per message (the hot
		 * path): a client's activity is counted by its commands. */
		if (c->kind == CONN_UNKNOWN && !admit_message(d, c, &m))
			return done;
		if (m.kind == ADD_WIRE_CMD && m.cmd.type == ADD_TYPE_STATUS) {
			uint64_t now = add_now_ns();
			add_cp_cmd_started(&c->cp, now);
			addd_answer_status(d, c, &m.cmd, m.hmac_ok); /* the runtime's, not the node's */
			add_cp_cmd_answered(&c->cp, now);
		} else if (m.kind == ADD_WIRE_CMD) {
			uint64_t now = add_now_ns();
			if (m.hmac_ok)
				add_optrack_start(&d->ops, conn_id(c), m.cmd.type, m.cmd.request, now);
			add_cp_cmd_started(&c->cp, now); /* first: the node may answer at once */
			add_node_on_client_command(d->node, conn_id(c), &m.cmd, m.hmac_ok);
		} else if (m.kind == ADD_WIRE_PEER) {
			add_node_on_peer_message(d->node, &m.peer, m.hmac_ok);
		}
		/* ADD_WIRE_RSP cannot come out of a PROCESS-mode decoder. */
		if (c->kind == CONN_FREE || c->gen != gen)
			return done;
	}
	return done;
}

/* Keeps what conn_dispatch did not use (c is open). Returns false when the
 * stash cannot be allocated (c is then closed). */
static bool stash_rest(addd_state *d, conn *c, const uint8_t *p, size_t len)
{
	assert(len <= READ_CHUNK && c->stash_len == 0);
	if (len == 0)
		return true;
	if (c->stash == NULL)
		c->stash = malloc(READ_CHUNK);
	if (c->stash == NULL) {
		addd_conn_close(d, c, "out of memory (command backlog)");
		return false;
	}
	if (p != c->stash)
		memmove(c->stash, p, len);
	c->stash_len = len;
	d->stashed++;
	addd_conn_update_mask(d, c);
	return true;
}

/* Decodes the stashed bytes of every connection that has some, while the
 * node accepts commands (before sleeping). */
void addd_drain_stashes(addd_state *d)
{
	for (uint32_t i = 0; i < d->conns_max && d->stashed > 0; i++) {
		conn *c = &d->conns[i];
		if (!add_node_accepting_clients(d->node))
			return;
		if (c->kind == CONN_FREE || c->stash_len == 0 || c->close_pending)
			continue;
		size_t len = c->stash_len;
		uint32_t gen = c->gen;
		c->stash_len = 0;
		d->stashed--;
		size_t used = conn_dispatch(d, c, c->stash, len);
		if (c->kind == CONN_FREE || c->gen != gen)
			continue;
		if (stash_rest(d, c, c->stash + used, len - used))
			addd_conn_update_mask(d, c);
	}
}

static void conn_readable(addd_state *d, conn *c)
{
	/* A few chunks per event at most, so one busy connection cannot
	 * starve the others (level-triggered epoll comes back). */
	for (int i = 0; i < 4; i++) {
		ssize_t n = read(c->fd, d->rbuf, sizeof(d->rbuf));
		if (n == 0) {
			if (c->kind != CONN_PEER_OUT && add_cp_on_eof(&d->policy, &c->cp, add_now_ns())) {
				c->read_eof = true; /* a half-close: the answers still go */
				addd_conn_update_mask(d, c);
				return;
			}
			addd_conn_close(d, c, "closed by the other side");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				addd_conn_close(d, c, strerror(errno));
			return;
		}
		uint32_t gen = c->gen;
		size_t used = conn_dispatch(d, c, d->rbuf, (size_t)n);
		if (c->kind == CONN_FREE || c->gen != gen)
			return;
		if (!stash_rest(d, c, d->rbuf + used, (size_t)n - used) || !conn_reads(d, c))
			return;
		if ((size_t)n < sizeof(d->rbuf))
			return;
	}
}

/* A half-closed client whose every command is answered and sent: closed. */
bool addd_conn_close_if_done(addd_state *d, conn *c)
{
	if (!c->read_eof || c->cp.pending > 0 || c->want_write ||
	    add_outbuf_pending(&c->out) > 0)
		return false;
	addd_conn_close(d, c, "half-closed by the client, every command answered");
	return true;
}

static void conn_writable(addd_state *d, conn *c)
{
	addd_exit_if_node_failed(d);
	int rc = add_outbuf_flush(&c->out, c->fd);
	if (rc < 0) {
		addd_conn_close(d, c, strerror(-rc));
		return;
	}
	c->want_write = rc == 1;
	if (!addd_conn_close_if_done(d, c))
		addd_conn_update_mask(d, c);
}

static void conn_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	conn *c = arg;
	addd_state *d = addd_the_daemon;

	(void)loop;
	(void)fd;
	if (c->connecting) {
		if (events & (ADD_LOOP_WRITABLE | ADD_LOOP_ERROR))
			addd_link_connected(d, c);
		return;
	}
	if ((events & ADD_LOOP_ERROR) && !(events & ADD_LOOP_READABLE)) {
		addd_conn_close(d, c, "socket error");
		return;
	}
	if ((events & ADD_LOOP_ERROR) && (c->kind == CONN_CLIENT || c->kind == CONN_UNKNOWN)) {
		/* Reset (or broken) by the client: it is gone, so what it sent
		 * and is still unread is not started, and its operations that
		 * have no tag yet are abandoned (node.h), e.g. a client that
		 * gave up on this paused process and retried elsewhere. */
		addd_conn_close(d, c, "reset by the other side");
		return;
	}
	uint32_t gen = c->gen;
	if (events & ADD_LOOP_READABLE)
		conn_readable(d, c);
	if (c->kind != CONN_FREE && c->gen == gen && (events & ADD_LOOP_WRITABLE))
		conn_writable(d, c);
}
