/*
 * runtime-real/daemon_hooks: event loop hooks: before-sleep, timers, listen, signal and disk events.
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
			addd_conn_close(d, c, "output bound exceeded");
			continue;
		}
		if (c->connecting || c->want_write)
			continue; /* the writable event will send it */
		int rc = add_outbuf_flush(&c->out, c->fd);
		if (rc < 0) {
			addd_conn_close(d, c, strerror(-rc));
			continue;
		}
		c->want_write = rc == 1;
		if (!addd_conn_close_if_done(d, c))
			addd_conn_update_mask(d, c);
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
			addd_conn_update_mask(d, c);
	}
}

void addd_before_sleep(add_loop *loop, void *arg)
{
	addd_state *d = arg;

	(void)loop;
	/* A failed node sends nothing: checked before any output is flushed. */
	addd_exit_if_node_failed(d);
	if (d->nbd != NULL)
		add_nbd_server_before_sleep(d->nbd);
	/* Start the group commit of this iteration's stores first: the flush
	 * thread syncs while this thread sends. */
	add_sector_store_kick(d->store);
	addd_observe_group_commits(d);
	if (d->stashed > 0)
		addd_drain_stashes(d);
	flush_all(d);
	set_clients_paused(d, !add_node_accepting_clients(d->node));
	/* Sleep until the node's next deadline, not a fixed tick: a deadline
	 * that this iteration's work set before the scheduled tick moves it. */
	d->wakeups++;
	if (add_tick_needs_reschedule(d->tick_at_ns, add_node_next_tick_ns(d->node)) &&
	    addd_schedule_tick(d) != 0) {
		add_err("cannot register the node's tick with the event loop: exiting");
		_exit(1);
	}
}

uint64_t addd_tick_timer(add_loop *loop, uint64_t id, void *arg)
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

int addd_schedule_tick(addd_state *d)
{
	uint64_t now = add_now_ns();
	uint64_t delay = add_tick_delay_ns(now, add_node_next_tick_ns(d->node));

	if (d->tick_timer != 0)
		add_loop_del_timer(d->loop, d->tick_timer);
	d->tick_timer = add_loop_add_timer(d->loop, delay, addd_tick_timer, d);
	d->tick_at_ns = now + delay;
	return d->tick_timer != 0 ? 0 : -1;
}

static void sweep(addd_state *d, uint64_t now);

uint64_t addd_idle_timer(add_loop *loop, uint64_t id, void *arg)
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
			  d->conns_open, d->policy.slots_used, (unsigned long long)d->wakeups);
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
	sweep(d, now);
	return IDLE_CHECK_NS;
}

/* Probation full: the oldest connection on it (other than c) is closed. */
static void evict_oldest_on_probation(addd_state *d, conn *c)
{
	conn *oldest = NULL;

	for (uint32_t i = 0; i < d->conns_max; i++) {
		conn *o = &d->conns[i];
		if (o->kind == CONN_UNKNOWN && o != c &&
		    (oldest == NULL || add_cp_older(&o->cp, &oldest->cp)))
			oldest = o;
	}
	if (oldest != NULL)
		addd_conn_close(d, oldest, "too many connections on probation: the oldest goes");
}

/* The deadlines of every connection (conn_policy.h) and of connects; a
 * link whose retry timer could not be set is retried here. */
static void sweep(addd_state *d, uint64_t now)
{
	for (uint32_t i = 0; i < d->conns_max; i++) {
		conn *c = &d->conns[i];
		if (c->kind == CONN_FREE)
			continue;
		if (c->kind == CONN_PEER_OUT) {
			if (c->connecting && now - c->connect_start_ns >= CONNECT_TIMEOUT_NS)
				addd_conn_close(d, c, "connect timed out");
			continue;
		}
		const char *why = add_cp_expired(&d->policy, &c->cp, now);
		if (why != NULL)
			addd_conn_close(d, c, why);
	}
	for (uint8_t r = 1; r <= d->cfg->n_procs && d->exit_code < 0; r++)
		if (r != d->cfg->rank && d->links[r].c == NULL && d->links[r].timer == 0)
			addd_link_try(d, r);
}

/* Scrub at its pace (--scrub-interval): verified sectors found damaged are
 * repaired by the node from the other processes. */
uint64_t addd_scrub_timer(add_loop *loop, uint64_t id, void *arg)
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

void addd_listen_event(add_loop *loop, int fd, void *arg, uint32_t events)
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
		conn *c = d->conns_open < d->conns_max ? addd_conn_open(d, cfd, CONN_UNKNOWN) : NULL;
		if (c == NULL) {
			add_warn("refused a connection: %u connections open", d->conns_open);
			close(cfd);
			continue;
		}
		if (add_cp_accept(&d->policy, &c->cp, add_now_ns()))
			evict_oldest_on_probation(d, c);
		addd_conn_update_mask(d, c);
	}
}

void addd_signal_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	addd_state *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		add_info("signal %u: stopping", si.ssi_signo);
	d->exit_code = 0;
	add_loop_stop(loop);
}

void addd_disk_event(add_loop *loop, int fd, void *arg, uint32_t events)
{
	addd_state *d = arg;
	(void)loop;
	(void)fd;
	(void)events;
	(void)add_posix_disk_dispatch(d->pdisk);
}
