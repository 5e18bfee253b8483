/*
 * runtime-real/daemon_links: outbound peer links: connect, backoff, transitions logged.
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

static void link_log_up(addd_state *d, uint8_t rank);

/* ---- peer links ------------------------------------------------------- */

void addd_link_try(addd_state *d, uint8_t rank)
{
	peer_link *l = &d->links[rank];
	char err[256];
	int fd;
	conn *c;

	assert(l->c == NULL);
	if (!l->resolved) {
		if (add_net_resolve(&l->hp, &l->addr, err, sizeof(err)) != 0) {
			add_warn("rank %u: %s", rank, err);
			addd_link_schedule(d, rank);
			return;
		}
		l->resolved = true;
	}
	fd = add_net_connect_start(&l->addr);
	if (fd < 0) {
		add_debug("connect to rank %u: %s", rank, strerror(-fd));
		addd_link_log_down(d, rank, strerror(-fd));
		addd_link_schedule(d, rank);
		return;
	}
	c = addd_conn_open(d, fd, CONN_PEER_OUT);
	if (c == NULL) {
		close(fd);
		addd_link_schedule(d, rank);
		return;
	}
	c->rank = rank;
	c->connecting = true;
	c->connect_start_ns = add_now_ns(); /* the sweep times it out */
	l->c = c;
	addd_conn_update_mask(d, c);
}

static uint64_t link_timer(add_loop *loop, uint64_t id, void *arg)
{
	addd_state *d = addd_the_daemon;
	uintptr_t rank = (uintptr_t)arg;

	(void)loop;
	if (d->links[rank].timer == id) {
		d->links[rank].timer = 0;
		addd_link_try(d, (uint8_t)rank);
	}
	return ADD_TIMER_STOP;
}

void addd_link_schedule(addd_state *d, uint8_t rank)
{
	peer_link *l = &d->links[rank];

	if (l->timer != 0 || d->exit_code >= 0)
		return;
	l->timer = add_loop_add_timer(d->loop, l->backoff_ns, link_timer, (void *)(uintptr_t)rank);
	/* timer table full: the sweep retries the link (no timer, no link) */
	l->backoff_ns *= 2;
	if (l->backoff_ns > BACKOFF_MAX_NS)
		l->backoff_ns = BACKOFF_MAX_NS;
}

void addd_link_connected(addd_state *d, conn *c)
{
	peer_link *l = &d->links[c->rank];
	int rc = add_net_connect_result(c->fd);

	if (rc != 0) {
		add_debug("connect to rank %u (%s:%u): %s", c->rank, l->hp.host, l->hp.port,
			  strerror(-rc));
		addd_conn_close(d, c, strerror(-rc));
		return;
	}
	c->connecting = false;
	l->up_since_ns = add_now_ns();
	link_log_up(d, c->rank);
	/* Hello first, so that the far side counts us as a peer, not a client. */
	bool ok = add_outbuf_append(&c->out, d->hello, sizeof(d->hello));
	assert(ok);
	(void)ok;
	addd_conn_queue_flush(d, c);
	addd_conn_update_mask(d, c);
	add_node_on_peer_connected(d->node, c->rank);
}

bool addd_link_up(const addd_state *d, uint8_t rank)
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

void addd_link_log_down(addd_state *d, uint8_t rank, const char *why)
{
	char line[512];
	int level = add_link_log_down(&d->links[rank].log, add_now_ns(), why, line, sizeof(line));

	if (level >= 0 && d->exit_code < 0)
		add_log((add_log_level)level, "%s", line);
}
