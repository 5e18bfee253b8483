// SPDX-License-Identifier: GPL-2.0
/*
 * atdd: the TCP connections to the ADD processes.
 *
 * Each connection has one kernel thread that connects, receives and parses
 * responses, and on any failure reconnects, moving to the next server of the
 * list, with an exponential backoff once every server has failed in a row.
 * Commands are sent by a work item per connection (so that a signal to the
 * task submitting I/O can never cut a message in half), serialised by
 * conn->tx_mutex.
 *
 * When a connection goes down, the requests it carried move to connections
 * that are up (fail-over) and their unanswered sector commands are sent
 * again under a new generation; with no connection up they wait for this one
 * to come back. A connection that has work while its server has sent no
 * valid response on any connection for dev->stall_jiffies (a third of the
 * timeout) is declared dead the same way, with every other connection to that
 * server (a process that is stopped, or a stream of garbage). At most
 * ATDD_CONN_OUTSTANDING_MAX sector commands are on the wire per connection,
 * so a server that is merely busy still answers within that time. Requests
 * that still cannot be answered are failed by the blk-mq timeout.
 *
 * A stream that does not parse resynchronises as PROTOCOL.md says: slide to
 * the next magic; an unknown type drops the magic and 4 more bytes; a bad
 * HMAC consumes the whole message. All of it is logged, rate-limited.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/version.h>
#include <net/sock.h>
#include <crypto/algapi.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#include "atdd.h"

#define ATDD_CONNECT_TIMEOUT (5 * HZ)
#define ATDD_SEND_TIMEOUT (5 * HZ)
#define ATDD_RX_TICK HZ
#define ATDD_BACKOFF_MIN_MS 100
#define ATDD_BACKOFF_MAX_MS 3000

int atdd_hmac(struct atdd_dev *dev, const u8 *data, unsigned int len, u8 *out)
{
	SHASH_DESC_ON_STACK(desc, dev->hmac);
	int err;

	desc->tfm = dev->hmac;
	err = crypto_shash_digest(desc, data, len, out);
	shash_desc_zero(desc);
	return err;
}

void atdd_conn_kick(struct atdd_conn *conn)
{
	queue_work(conn->dev->tx_wq, &conn->tx_work);
}

/* ---- sending ------------------------------------------------------------- */

static int atdd_send_all(struct socket *sock, const u8 *buf, size_t len)
{
	while (len) {
		struct kvec iov = { .iov_base = (void *)buf, .iov_len = len };
		struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
		int n = kernel_sendmsg(sock, &msg, &iov, 1, len);

		if (n <= 0)
			return n ? n : -EPIPE;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Build the next command queued on @conn into conn->tx_buf (HMAC excluded).
 * Returns its size, or 0 when there is nothing to send or the connection is
 * not up. Under dev->lock, so the request cannot complete during the copy.
 */
static unsigned int atdd_next_command(struct atdd_conn *conn)
{
	struct atdd_dev *dev = conn->dev;
	u8 *buf = conn->tx_buf;
	unsigned int len = 0;

	spin_lock(&dev->lock);
	while (conn->state == ATDD_CONN_UP && !list_empty(&conn->txq) &&
	       conn->n_outstanding < ATDD_CONN_OUTSTANDING_MAX) {
		struct atdd_cmd *cmd = list_first_entry(&conn->txq, struct atdd_cmd, tx_node);
		u64 pending = cmd->full_mask & ~(cmd->sent_mask | cmd->done_mask);
		unsigned int sub;
		u64 reqnum;

		if (!pending) {
			list_del_init(&cmd->tx_node);
			continue;
		}
		sub = __ffs64(pending);
		cmd->sent_mask |= BIT_ULL(sub);
		conn->n_outstanding++;
		if (!(pending & ~BIT_ULL(sub)))
			list_del_init(&cmd->tx_node);

		reqnum = (u64)cmd->gen << ATDD_REQNUM_GEN_SHIFT |
			 (u64)cmd->unique_tag << ATDD_REQNUM_TAG_SHIFT | sub;
		buf[ADD_CMD_OFF_MAGIC + 0] = ADD_MAGIC_0;
		buf[ADD_CMD_OFF_MAGIC + 1] = ADD_MAGIC_1;
		buf[ADD_CMD_OFF_MAGIC + 2] = ADD_MAGIC_2;
		buf[ADD_CMD_OFF_MAGIC + 3] = ADD_MAGIC_3;
		memset(buf + ADD_CMD_OFF_PADDING, 0, ADD_CMD_PADDING_SIZE);
		buf[ADD_CMD_OFF_TYPE] = cmd->type;
		put_unaligned_be64(reqnum, buf + ADD_CMD_OFF_REQUEST);
		put_unaligned_be64(cmd->first + sub, buf + ADD_CMD_OFF_SECTOR);
		if (cmd->type == ADD_TYPE_WRITE) {
			atdd_copy_sector(cmd, sub, buf + ADD_CMD_OFF_DATA, false);
			len = ADD_CMD_WRITE_SIZE;
		} else {
			len = ADD_CMD_READ_SIZE;
		}
		break;
	}
	spin_unlock(&dev->lock);
	return len;
}

static void atdd_tx_work(struct work_struct *work)
{
	struct atdd_conn *conn = container_of(work, struct atdd_conn, tx_work);
	unsigned int noio = memalloc_noio_save();
	unsigned int len;
	int err;

	mutex_lock(&conn->tx_mutex);
	while ((len = atdd_next_command(conn)) != 0) {
		u8 *tag = conn->tx_buf + len - ADD_HMAC_TAG_SIZE;

		/* state is UP, so conn->sock stays valid while we hold tx_mutex */
		err = atdd_hmac(conn->dev, conn->tx_buf, len - ADD_HMAC_TAG_SIZE, tag);
		if (!err)
			err = atdd_send_all(conn->sock, conn->tx_buf, len);
		if (err) {
			pr_warn_ratelimited("conn %u: send failed (%d), reconnecting\n",
					    conn->index, err);
			/* The receiving thread sees the shutdown and fails over. */
			kernel_sock_shutdown(conn->sock, SHUT_RDWR);
			break;
		}
	}
	mutex_unlock(&conn->tx_mutex);
	memalloc_noio_restore(noio);
}

/* ---- receiving ----------------------------------------------------------- */

static bool atdd_is_magic(const u8 *p)
{
	return p[0] == ADD_MAGIC_0 && p[1] == ADD_MAGIC_1 && p[2] == ADD_MAGIC_2 &&
	       p[3] == ADD_MAGIC_3;
}

/* Consume every complete message in conn->rx_buf, resynchronising as needed. */
static void atdd_rx_parse(struct atdd_conn *conn)
{
	struct atdd_dev *dev = conn->dev;
	u8 *buf = conn->rx_buf;
	unsigned int len = conn->rx_len, pos = 0, stray = 0;
	u8 tag[ADD_HMAC_TAG_SIZE];

	while (len - pos >= ADD_MAGIC_SIZE) {
		const u8 *p = buf + pos;
		unsigned int avail = len - pos, size;
		u8 type;

		if (!atdd_is_magic(p)) {
			pos++;
			stray++;
			continue;
		}
		if (avail < ADD_RSP_OFF_TYPE + 1)
			break;
		type = p[ADD_RSP_OFF_TYPE];
		if (type == ADD_TYPE_READ_RESPONSE && p[ADD_RSP_OFF_STATUS] == ADD_STATUS_OK) {
			size = ADD_RSP_READ_SIZE;
		} else if (type == ADD_TYPE_READ_RESPONSE || type == ADD_TYPE_WRITE_RESPONSE) {
			size = ADD_RSP_EMPTY_SIZE;
		} else {
			pr_warn_ratelimited("conn %u: invalid message type %#x, skipping %d bytes\n",
					    conn->index, type, ADD_INVALID_TYPE_SKIP);
			pos += ADD_INVALID_TYPE_SKIP;
			continue;
		}
		if (avail < size)
			break;
		if (atdd_hmac(dev, p, size - ADD_HMAC_TAG_SIZE, tag) ||
		    crypto_memneq(tag, p + size - ADD_HMAC_TAG_SIZE, ADD_HMAC_TAG_SIZE)) {
			pr_warn_ratelimited("conn %u: response with a bad HMAC (wrong client_key?), dropping %u bytes\n",
					    conn->index, size);
			pos += size;
			continue;
		}
		atdd_handle_response(conn, p, size);
		pos += size;
	}
	if (stray)
		pr_warn_ratelimited("conn %u: skipped %u stray bytes\n", conn->index, stray);
	memmove(buf, buf + pos, len - pos);
	conn->rx_len = len - pos;
}

/*
 * Work has waited on @conn for too long, and its server has answered nothing
 * valid on any connection meanwhile. A server that is only busy (its queue
 * deep, other connections served first) keeps answering, so is not stalled.
 */
static bool atdd_conn_stalled(struct atdd_conn *conn)
{
	struct atdd_dev *dev = conn->dev;
	unsigned long now = jiffies;
	bool stalled = false;

	spin_lock(&dev->lock);
	if (!list_empty(&conn->inflight)) {
		struct atdd_cmd *oldest = list_first_entry(&conn->inflight, struct atdd_cmd, node);

		stalled = time_after(now, oldest->sent_at + dev->stall_jiffies) &&
			  time_after(now, conn->last_rx + dev->stall_jiffies) &&
			  time_after(now, dev->server_last_rx[conn->server] + dev->stall_jiffies);
	}
	spin_unlock(&dev->lock);
	return stalled;
}

/* Returns why the connection ended (0: asked to stop). */
static int atdd_rx_loop(struct atdd_conn *conn)
{
	while (!kthread_should_stop()) {
		struct kvec iov = {
			.iov_base = conn->rx_buf + conn->rx_len,
			.iov_len = ATDD_RX_BUF_SIZE - conn->rx_len,
		};
		struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
		int n;

		n = kernel_recvmsg(conn->sock, &msg, &iov, 1, iov.iov_len, msg.msg_flags);
		if (n > 0) {
			conn->rx_len += n;
			atdd_rx_parse(conn);
			if (WARN_ON_ONCE(conn->rx_len >= ATDD_RX_BUF_SIZE))
				conn->rx_len = 0;
		} else if (READ_ONCE(conn->dev->dying)) {
			return 0;	/* atdd_conns_stop() shut the socket down */
		} else if (n == 0) {
			return -ECONNRESET;
		} else if (n != -EAGAIN && n != -EINTR && n != -ERESTARTSYS) {
			return n;
		}
		cond_resched();		/* a server may flood us with garbage */
		if (atdd_conn_stalled(conn)) {
			pr_warn("conn %u: no valid response from %pISpc for %u ms, reconnecting\n",
				conn->index, &conn->dev->servers[conn->server],
				jiffies_to_msecs(conn->dev->stall_jiffies));
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* ---- connection life cycle ---------------------------------------------- */

static struct socket *atdd_connect(struct atdd_conn *conn)
{
	struct sockaddr_in *sin = &conn->dev->servers[conn->server];
	struct socket *sock;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &sock);
	if (err)
		return ERR_PTR(err);
	/* Block I/O must not recurse into block I/O to make progress. */
	sock->sk->sk_allocation = GFP_NOIO;
	sock->sk->sk_sndtimeo = ATDD_CONNECT_TIMEOUT;
	sock->sk->sk_rcvtimeo = ATDD_RX_TICK;
	err = kernel_connect(sock, (struct sockaddr *)sin, sizeof(*sin), 0);
	if (err) {
		sock_release(sock);
		return ERR_PTR(err);
	}
	sock->sk->sk_sndtimeo = ATDD_SEND_TIMEOUT;
	tcp_sock_set_nodelay(sock->sk);
	return sock;
}

static void atdd_conn_up(struct atdd_conn *conn, struct socket *sock)
{
	struct atdd_dev *dev = conn->dev;
	struct atdd_cmd *cmd, *tmp;

	mutex_lock(&conn->tx_mutex);
	conn->sock = sock;
	mutex_unlock(&conn->tx_mutex);

	spin_lock(&dev->lock);
	conn->state = ATDD_CONN_UP;
	conn->rx_len = 0;
	conn->last_rx = jiffies;
	/* What waited for this connection is sent (again) now. */
	list_for_each_entry_safe(cmd, tmp, &conn->inflight, node)
		atdd_cmd_reissue(cmd, conn);
	spin_unlock(&dev->lock);
	pr_info("conn %u: connected to %pISpc\n", conn->index, &dev->servers[conn->server]);
	atdd_conn_kick(conn);
}

static void atdd_conn_down(struct atdd_conn *conn)
{
	struct atdd_dev *dev = conn->dev;
	unsigned long kick = 0;
	struct atdd_cmd *cmd, *tmp;
	struct socket *sock;
	unsigned int i;

	spin_lock(&dev->lock);
	conn->state = ATDD_CONN_DOWN;
	spin_unlock(&dev->lock);

	/* Unblock a sender, then wait for it to let go of the socket. */
	kernel_sock_shutdown(conn->sock, SHUT_RDWR);
	mutex_lock(&conn->tx_mutex);
	sock = conn->sock;
	conn->sock = NULL;
	mutex_unlock(&conn->tx_mutex);
	sock_release(sock);

	/* Fail over: requests in flight here go to connections that are up. */
	spin_lock(&dev->lock);
	list_for_each_entry_safe(cmd, tmp, &conn->inflight, node) {
		struct atdd_conn *to;

		if (dev->dying)
			break;
		to = atdd_pick_conn(dev, conn, cmd->first, cmd->nr, true);
		if (!to)
			continue;
		atdd_cmd_reissue(cmd, to);
		kick |= BIT(to->index);
	}
	spin_unlock(&dev->lock);
	for (i = 0; i < dev->n_conns; i++)
		if (kick & BIT(i))
			atdd_conn_kick(&dev->conns[i]);
}

/*
 * The server of @conn stopped answering: drop the other connections to it
 * too, idle ones included, before a request fails over onto one of them
 * only to wait for the same silence again.
 */
static void atdd_drop_server(struct atdd_conn *conn, unsigned int server)
{
	struct atdd_dev *dev = conn->dev;
	unsigned int i;

	for (i = 0; i < dev->n_conns; i++) {
		struct atdd_conn *c = &dev->conns[i];

		if (c == conn || READ_ONCE(c->server) != server)
			continue;
		spin_lock(&dev->lock);
		c->state = ATDD_CONN_DOWN;	/* no fail-over onto it meanwhile */
		spin_unlock(&dev->lock);
		mutex_lock(&c->tx_mutex);
		if (c->sock)
			kernel_sock_shutdown(c->sock, SHUT_RDWR);
		mutex_unlock(&c->tx_mutex);
	}
}

/* Sleep, but wake at once for kthread_stop(). */
static void atdd_sleep_ms(unsigned int ms)
{
	set_current_state(TASK_INTERRUPTIBLE);
	if (!kthread_should_stop())
		schedule_timeout(msecs_to_jiffies(ms));
	__set_current_state(TASK_RUNNING);
}

static int atdd_conn_thread(void *data)
{
	struct atdd_conn *conn = data;
	struct atdd_dev *dev = conn->dev;
	unsigned int failures = 0;

	/* Memory for sockets must not be reclaimed by writing to this disk. */
	memalloc_noio_save();

	/*
	 * Runs until kthread_stop(): a kthread that returned on its own could
	 * be gone by the time atdd_conns_stop() stops it.
	 */
	while (!kthread_should_stop()) {
		struct socket *sock;
		int err;

		if (READ_ONCE(dev->dying)) {
			atdd_sleep_ms(ATDD_BACKOFF_MAX_MS);
			continue;
		}
		sock = atdd_connect(conn);
		if (IS_ERR(sock)) {
			pr_warn_ratelimited("conn %u: cannot connect to %pISpc: %ld\n", conn->index,
					    &dev->servers[conn->server], PTR_ERR(sock));
		} else {
			unsigned long up_since = jiffies;

			atdd_conn_up(conn, sock);
			err = atdd_rx_loop(conn);
			if (err == -ETIMEDOUT)
				atdd_drop_server(conn, conn->server);
			atdd_conn_down(conn);
			if (!err)
				continue;
			pr_warn_ratelimited("conn %u: connection to %pISpc lost: %d\n", conn->index,
					    &dev->servers[conn->server], err);
			/* A connection that served a while is no failure in a row. */
			if (time_after(conn->last_rx, up_since))
				failures = 0;
		}
		/* Next server; back off once every server has failed in a row. */
		WRITE_ONCE(conn->server, (conn->server + 1) % dev->n_servers);
		failures++;
		if (failures % dev->n_servers == 0) {
			unsigned int round = min(failures / dev->n_servers, 6u);

			atdd_sleep_ms(min(ATDD_BACKOFF_MIN_MS << (round - 1), ATDD_BACKOFF_MAX_MS));
		}
	}
	return 0;
}

int atdd_conns_start(struct atdd_dev *dev)
{
	unsigned int i;

	/* All of them first: atdd_conns_stop() walks every one. */
	for (i = 0; i < dev->n_conns; i++) {
		struct atdd_conn *conn = &dev->conns[i];

		conn->dev = dev;
		conn->index = i;
		conn->server = i % dev->n_servers;
		conn->state = ATDD_CONN_DOWN;
		INIT_LIST_HEAD(&conn->inflight);
		INIT_LIST_HEAD(&conn->txq);
		mutex_init(&conn->tx_mutex);
		INIT_WORK(&conn->tx_work, atdd_tx_work);
	}
	for (i = 0; i < dev->n_conns; i++) {
		struct atdd_conn *conn = &dev->conns[i];

		conn->tx_buf = kmalloc(ADD_CMD_WRITE_SIZE, GFP_KERNEL);
		conn->rx_buf = kmalloc(ATDD_RX_BUF_SIZE, GFP_KERNEL);
		if (!conn->tx_buf || !conn->rx_buf)
			goto fail;
		conn->thread = kthread_run(atdd_conn_thread, conn, "atdd%u", i);
		if (IS_ERR(conn->thread)) {
			conn->thread = NULL;
			goto fail;
		}
	}
	return 0;
fail:
	pr_err("cannot start connection %u\n", i);
	atdd_conns_stop(dev);
	return -ENOMEM;
}

void atdd_conns_stop(struct atdd_dev *dev)
{
	unsigned int i;

	spin_lock(&dev->lock);
	dev->dying = true;
	spin_unlock(&dev->lock);

	for (i = 0; i < dev->n_conns; i++) {
		struct atdd_conn *conn = &dev->conns[i];

		if (conn->thread) {
			/* Wake a blocked receive; the thread releases the socket. */
			mutex_lock(&conn->tx_mutex);
			if (conn->sock)
				kernel_sock_shutdown(conn->sock, SHUT_RDWR);
			mutex_unlock(&conn->tx_mutex);
			kthread_stop(conn->thread);
			conn->thread = NULL;
		}
	}
	flush_workqueue(dev->tx_wq);
	atdd_fail_all(dev);
	for (i = 0; i < dev->n_conns; i++) {
		kfree(dev->conns[i].tx_buf);
		kfree(dev->conns[i].rx_buf);
		dev->conns[i].tx_buf = NULL;
		dev->conns[i].rx_buf = NULL;
	}
}
