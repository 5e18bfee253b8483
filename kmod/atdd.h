/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atdd: a blk-mq block device backed by the Atomic Disk Drive (ADD).
 *
 * One disk, /dev/atdd, 4096-byte logical and physical blocks. Every 4 KiB
 * sector of a block request becomes one client command of PROTOCOL.md (READ
 * or WRITE), signed with hmac(sha256) under the client key and sent over one
 * of several kernel TCP connections to the ADD processes. Replies come back
 * in any order and are matched by request number:
 *
 *   bits 63..40  generation of the blk-mq request (24 bits)
 *   bits 39..8   blk_mq_unique_tag() of the request (hw queue, tag)
 *   bits  7..0   index of the sector command inside the request
 *
 * The generation changes every time a request is (re)issued, so a late reply
 * to an earlier attempt (after a reconnect, a timeout, a tag reuse) can never
 * complete the wrong request.
 *
 * Locking: one spinlock per device (dev->lock) guards the state of every
 * command (struct atdd_cmd), the per-connection lists and connection states.
 * It is never held across a socket call or an HMAC computation; it is held
 * while copying one 4 KiB sector between a request's pages and a connection
 * buffer, so that a request can never complete (and its pages go away) in the
 * middle of the copy. conn->tx_mutex serialises senders on one socket and
 * guards conn->sock against release.
 */
#ifndef ATDD_H
#define ATDD_H

#include <linux/blk-mq.h>
#include <linux/in.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <crypto/hash.h>

#include "wire_constants.h"

#define ATDD_NAME "atdd"
#define ATDD_SERVERS_MAX 16
#define ATDD_CONNS_MAX 16
#define ATDD_QUEUE_DEPTH_MAX 1024
#define ATDD_TIMEOUT_S_MAX 3600
/*
 * Sector commands sent and not yet answered, per connection. It bounds the
 * work queued at a server, hence how long a healthy but busy server can stay
 * silent (the stall detection below relies on that).
 */
#define ATDD_CONN_OUTSTANDING_MAX 32
/* Sector commands per block request: one bit each in a u64 mask. */
#define ATDD_SUBS_PER_RQ_MAX 64
#define ATDD_KERNEL_SECTORS_PER_ADD (ADD_SECTOR_SIZE >> SECTOR_SHIFT)

#define ATDD_REQNUM_GEN_SHIFT 40
#define ATDD_REQNUM_GEN_MASK 0xffffffu
#define ATDD_REQNUM_TAG_SHIFT 8
#define ATDD_REQNUM_SUB_MASK 0xffu

/* Receive buffer: room for two of the largest responses and change. */
#define ATDD_RX_BUF_SIZE (4 * ADD_RSP_READ_SIZE)

enum atdd_conn_state {
	ATDD_CONN_DOWN = 0,	/* no socket, or being torn down */
	ATDD_CONN_UP,		/* connected: commands may be sent */
};

struct atdd_dev;

struct atdd_conn {
	struct atdd_dev *dev;
	unsigned int index;
	unsigned int server;		/* index into dev->servers */
	enum atdd_conn_state state;	/* dev->lock */
	struct list_head inflight;	/* atdd_cmd.node, dev->lock */
	struct list_head txq;		/* atdd_cmd.tx_node, dev->lock */
	unsigned int n_inflight;	/* requests, dev->lock */
	unsigned int n_outstanding;	/* sector commands sent, unanswered; dev->lock */
	unsigned long last_rx;		/* jiffies of the last valid reply */

	struct mutex tx_mutex;		/* serialises sends, guards sock */
	struct socket *sock;		/* tx_mutex (written), owner thread */
	struct work_struct tx_work;
	u8 *tx_buf;			/* ADD_CMD_WRITE_SIZE, tx_mutex */

	struct task_struct *thread;	/* connect + receive loop */
	u8 *rx_buf;			/* ATDD_RX_BUF_SIZE, thread only */
	unsigned int rx_len;
};

/* The per-request driver data (blk-mq pdu). */
struct atdd_cmd {
	struct atdd_conn *conn;		/* the connection carrying it */
	struct list_head node;		/* on conn->inflight */
	struct list_head tx_node;	/* on conn->txq while subs remain unsent */
	unsigned long sent_at;		/* jiffies of the last (re)assignment */
	u64 first;			/* first ADD sector */
	u64 sent_mask;			/* sub commands sent in this generation */
	u64 done_mask;			/* sub commands answered */
	u64 full_mask;			/* all sub commands */
	u32 gen;			/* generation, ATDD_REQNUM_GEN_MASK */
	u32 unique_tag;
	u8 nr;				/* number of sub commands */
	u8 type;			/* ADD_TYPE_READ or ADD_TYPE_WRITE */
	bool active;			/* between issue and completion */
	blk_status_t status;
};

struct atdd_dev {
	spinlock_t lock;		/* commands, conn lists and states */
	bool dying;			/* dev->lock */

	struct sockaddr_in servers[ATDD_SERVERS_MAX];
	unsigned long server_last_rx[ATDD_SERVERS_MAX];	/* dev->lock */
	unsigned int n_servers;
	u8 client_key[ADD_CLIENT_KEY_SIZE];
	struct crypto_shash *hmac;	/* keyed once at load, then read-only */

	u64 n_sectors;
	unsigned int n_conns;
	unsigned int queue_depth;
	unsigned int timeout_s;
	unsigned long stall_jiffies;	/* silence that declares a conn dead */

	struct atdd_conn conns[ATDD_CONNS_MAX];
	unsigned int next_conn;		/* round-robin start, dev->lock */
	struct workqueue_struct *tx_wq;

	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
};

/* atdd_conn.c */
int atdd_conns_start(struct atdd_dev *dev);
void atdd_conns_stop(struct atdd_dev *dev);
void atdd_conn_kick(struct atdd_conn *conn);
int atdd_hmac(struct atdd_dev *dev, const u8 *data, unsigned int len, u8 *out);

/* atdd_main.c; copy_sector, pick_conn and cmd_reissue need dev->lock held */
void atdd_copy_sector(struct atdd_cmd *cmd, unsigned int sub, u8 *buf, bool to_rq);
struct atdd_conn *atdd_pick_conn(struct atdd_dev *dev, struct atdd_conn *except,
				 u64 first, unsigned int nr, bool up_only);
void atdd_cmd_reissue(struct atdd_cmd *cmd, struct atdd_conn *to);
void atdd_handle_response(struct atdd_conn *conn, const u8 *msg, unsigned int len);
void atdd_fail_all(struct atdd_dev *dev);

#endif /* ATDD_H */
