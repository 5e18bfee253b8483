/*
 * runtime-real/daemon_io: the add_io table the node calls, and the sector store callbacks.
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

/* ---- the io table the node calls -------------------------------------- */

uint64_t addd_io_now_ns(void *ctx)
{
	(void)ctx;
	return add_now_ns();
}

void addd_io_random_bytes(void *ctx, uint8_t *out, size_t len)
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
void addd_exit_if_node_failed(addd_state *d)
{
	if (d->node == NULL || !add_node_failed(d->node))
		return;
	add_err("the node stopped on a fatal error: exiting without sending anything more");
	_exit(1);
}

void addd_io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
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
	addd_conn_queue_flush(d, l->c);
}

void addd_io_send_client(void *ctx, uint64_t id, const uint8_t *msg, size_t len)
{
	addd_state *d = ctx;
	conn *c = addd_conn_by_id(d, id);

	add_optrack_done(&d->ops, id, msg, len, add_now_ns());
	if (c == NULL || c->close_pending || add_node_failed(d->node))
		return;
	add_cp_cmd_answered(&c->cp, add_now_ns());
	if (!add_outbuf_append(&c->out, msg, len)) {
		add_warn("client connection %u does not read its replies: closing", c->slot);
		c->close_pending = true;
	}
	addd_conn_queue_flush(d, c);
}

void addd_io_local_done(void *ctx, uint64_t token, const uint8_t *data)
{
	addd_state *d = ctx;
	add_nbd_server_local_done(d->nbd, token, data);
}

void addd_io_log(void *ctx, add_log_level level, const char *line)
{
	(void)ctx;
	add_log(level, "%s", line);
}

/* ---- sector store callbacks ------------------------------------------- */

void addd_store_durable(void *arg, uint64_t cookie)
{
	addd_state *d = arg;
	add_node_on_store_done(d->node, cookie);
}

/* One error line for a store that failed (at open or later): its one-line
 * reason as it is, with the directory; the disk's last error (the system
 * call, the file's path and strerror) when the reason does not already hold
 * it; and "disk full" said plainly when the reason does not say it. */
void addd_log_store_error(const addd_state *d, const char *what, const char *why)
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

void addd_store_fatal(void *arg, const char *why)
{
	/* Nothing acknowledged depends on what failed: stop before anything
	 * else can be answered. */
	addd_log_store_error(arg, "storage failure", why);
	_exit(1);
}

void addd_store_log(void *arg, add_log_level level, const char *line)
{
	(void)arg;
	add_log(level, "%s", line);
}
