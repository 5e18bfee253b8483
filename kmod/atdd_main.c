// SPDX-License-Identifier: GPL-2.0
/*
 * atdd: module parameters, the blk-mq side of the device, and the matching
 * of responses to requests. The sockets live in atdd_conn.c.
 *
 * Flush: a WRITE is answered by ADD only once it is durable on a majority of
 * the processes, and the driver completes a block request only when every
 * one of its sector commands has been answered. So a completed write is
 * already on stable storage: the device has no volatile write cache. It
 * declares none (the block layer then sends no flushes and strips FUA), and
 * should a REQ_OP_FLUSH arrive anyway it completes at once, which is honest:
 * a flush only promises durability for writes that completed before it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#include "atdd.h"

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "atdd needs Linux 6.1 or newer"
#endif

static char *servers;
module_param(servers, charp, 0444);
MODULE_PARM_DESC(servers, "ADD processes to connect to: IP:PORT,IP:PORT,... (IPv4, at most 16)");

static char *client_key;
module_param(client_key, charp, 0);	/* not shown in sysfs */
MODULE_PARM_DESC(client_key, "client HMAC-SHA256 key: 64 hex digits (32 bytes)");

static unsigned long sectors;
module_param(sectors, ulong, 0444);
MODULE_PARM_DESC(sectors, "device size in 4096-byte sectors, 1 to 2097152 (must match the ADD processes)");

static unsigned int connections = 4;
module_param(connections, uint, 0444);
MODULE_PARM_DESC(connections, "number of TCP connections, spread over the servers (1 to 16, default 4)");

static unsigned int queue_depth = 64;
module_param(queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "block requests in flight at most (1 to 1024, default 64)");

static unsigned int timeout_s = 30;
module_param(timeout_s, uint, 0444);
MODULE_PARM_DESC(timeout_s, "seconds before a request fails with an I/O error (1 to 3600, default 30)");

static struct atdd_dev *atdd;

/* ---- parameters ---------------------------------------------------------- */

static int atdd_parse_server(struct sockaddr_in *sin, char *tok)
{
	char *colon = strrchr(tok, ':');
	__be32 addr;
	u16 port;

	if (!colon || colon == tok)
		return -EINVAL;
	*colon = '\0';
	if (in4_pton(tok, strlen(tok), (u8 *)&addr, -1, NULL) != 1)
		return -EINVAL;
	if (kstrtou16(colon + 1, 10, &port) || port == 0)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr;
	sin->sin_port = htons(port);
	return 0;
}

static int atdd_parse_servers(struct atdd_dev *dev, const char *list)
{
	char *copy, *cur, *tok;
	int err = 0;

	if (!list || !*list) {
		pr_err("servers= is required: IP:PORT,IP:PORT,...\n");
		return -EINVAL;
	}
	copy = kstrdup(list, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	cur = copy;
	while ((tok = strsep(&cur, ",")) != NULL) {
		if (dev->n_servers == ATDD_SERVERS_MAX) {
			pr_err("servers=: more than %d servers\n", ATDD_SERVERS_MAX);
			err = -EINVAL;
			break;
		}
		if (atdd_parse_server(&dev->servers[dev->n_servers], tok)) {
			pr_err("servers=: '%s' is not IPv4:PORT\n", tok);
			err = -EINVAL;
			break;
		}
		dev->server_last_rx[dev->n_servers] = jiffies;
		dev->n_servers++;
	}
	kfree(copy);
	return err;
}

static int atdd_parse_params(struct atdd_dev *dev)
{
	int err;

	err = atdd_parse_servers(dev, servers);
	if (err)
		return err;
	if (!client_key || strlen(client_key) != 2 * ADD_CLIENT_KEY_SIZE ||
	    hex2bin(dev->client_key, client_key, ADD_CLIENT_KEY_SIZE)) {
		pr_err("client_key= must be %d hex digits\n", 2 * ADD_CLIENT_KEY_SIZE);
		return -EINVAL;
	}
	if (sectors == 0 || sectors > ADD_N_SECTORS_MAX) {
		pr_err("sectors=%lu: must be 1 to %llu\n", sectors, ADD_N_SECTORS_MAX);
		return -EINVAL;
	}
	if (connections == 0 || connections > ATDD_CONNS_MAX) {
		pr_err("connections=%u: must be 1 to %d\n", connections, ATDD_CONNS_MAX);
		return -EINVAL;
	}
	if (queue_depth == 0 || queue_depth > ATDD_QUEUE_DEPTH_MAX) {
		pr_err("queue_depth=%u: must be 1 to %d\n", queue_depth, ATDD_QUEUE_DEPTH_MAX);
		return -EINVAL;
	}
	if (timeout_s == 0 || timeout_s > ATDD_TIMEOUT_S_MAX) {
		pr_err("timeout_s=%u: must be 1 to %d\n", timeout_s, ATDD_TIMEOUT_S_MAX);
		return -EINVAL;
	}
	dev->n_sectors = sectors;
	dev->n_conns = connections;
	dev->queue_depth = queue_depth;
	dev->timeout_s = timeout_s;
	/*
	 * A server that has work and answers nothing valid for a third of the
	 * timeout is dead: its requests fail over while they still have two
	 * thirds of their time to complete elsewhere.
	 */
	dev->stall_jiffies = max_t(unsigned long, (unsigned long)timeout_s * HZ / 3, HZ);
	return 0;
}

/* ---- commands -------------------------------------------------------------- */

/*
 * Copy sector @sub of the request to (@to_rq) or from its pages. Called with
 * dev->lock held and the command active, so the pages stay with the request.
 */
void atdd_copy_sector(struct atdd_cmd *cmd, unsigned int sub, u8 *buf, bool to_rq)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	unsigned int start = sub * ADD_SECTOR_SIZE;
	unsigned int end = start + ADD_SECTOR_SIZE;
	unsigned int pos = 0, copied = 0;
	struct req_iterator iter;
	struct bio_vec bv;

	rq_for_each_segment(bv, rq, iter) {
		unsigned int seg_end = pos + bv.bv_len;

		if (seg_end > start && pos < end) {
			unsigned int from = max(pos, start);
			unsigned int len = min(seg_end, end) - from;
			unsigned int off = bv.bv_offset + (from - pos);

			char *mem = (char *)buf + (from - start);

			if (to_rq)
				memcpy_to_page(bv.bv_page, off, mem, len);
			else
				memcpy_from_page(mem, bv.bv_page, off, len);
			copied += len;
		}
		pos = seg_end;
	}
	WARN_ON_ONCE(copied != ADD_SECTOR_SIZE);
}

static bool atdd_conn_overlaps(struct atdd_conn *conn, u64 first, unsigned int nr)
{
	struct atdd_cmd *cmd;

	list_for_each_entry(cmd, &conn->inflight, node)
		if (cmd->first < first + nr && first < cmd->first + cmd->nr)
			return true;
	return false;
}

/*
 * The least loaded connection that is up, else the least loaded one that is
 * down (it will carry the request once it reconnects). PROTOCOL.md: a client
 * never has two commands for one sector in flight on one connection, so a
 * connection already carrying one of these sectors is skipped. NULL: every
 * connection carries one of them; the request waits for a completion.
 * Called with dev->lock held.
 */
struct atdd_conn *atdd_pick_conn(struct atdd_dev *dev, struct atdd_conn *except,
				 u64 first, unsigned int nr, bool up_only)
{
	struct atdd_conn *best = NULL;
	unsigned int i;

	/* Ties go round-robin, so that even one request at a time uses them all. */
	dev->next_conn = (dev->next_conn + 1) % dev->n_conns;
	for (i = 0; i < dev->n_conns; i++) {
		struct atdd_conn *c = &dev->conns[(dev->next_conn + i) % dev->n_conns];

		if (c == except || atdd_conn_overlaps(c, first, nr))
			continue;
		if (up_only && c->state != ATDD_CONN_UP)
			continue;
		if (!best || (c->state == ATDD_CONN_UP && best->state != ATDD_CONN_UP) ||
		    (c->state == best->state && c->n_inflight < best->n_inflight))
			best = c;
	}
	return best;
}

/* Sector commands of @cmd sent on its connection and not yet answered. */
static unsigned int atdd_cmd_outstanding(struct atdd_cmd *cmd)
{
	return hweight64(cmd->sent_mask & ~cmd->done_mask);
}

/* Take the command off its connection for good. dev->lock held. */
static void atdd_cmd_detach(struct atdd_cmd *cmd)
{
	cmd->conn->n_outstanding -= atdd_cmd_outstanding(cmd);
	cmd->active = false;
	list_del_init(&cmd->node);
	list_del_init(&cmd->tx_node);
	cmd->conn->n_inflight--;
	/* Any reply still on its way now names a dead generation. */
	cmd->gen = (cmd->gen + 1) & ATDD_REQNUM_GEN_MASK;
}

/*
 * (Re)send the unanswered sector commands of @cmd on @to, under a new
 * generation so that answers to the earlier attempt are ignored.
 * dev->lock held.
 */
void atdd_cmd_reissue(struct atdd_cmd *cmd, struct atdd_conn *to)
{
	cmd->conn->n_outstanding -= atdd_cmd_outstanding(cmd);
	if (cmd->conn != to) {
		cmd->conn->n_inflight--;
		list_move_tail(&cmd->node, &to->inflight);
		to->n_inflight++;
		cmd->conn = to;
	}
	cmd->gen = (cmd->gen + 1) & ATDD_REQNUM_GEN_MASK;
	cmd->sent_mask = 0;
	cmd->sent_at = jiffies;
	list_del_init(&cmd->tx_node);
	if (cmd->done_mask != cmd->full_mask)
		list_add_tail(&cmd->tx_node, &to->txq);
}

/* A response whose HMAC is valid: match it to a request, or ignore it. */
void atdd_handle_response(struct atdd_conn *conn, const u8 *msg, unsigned int len)
{
	struct atdd_dev *dev = conn->dev;
	u64 reqnum = get_unaligned_be64(msg + ADD_RSP_OFF_REQUEST);
	u32 gen = (reqnum >> ATDD_REQNUM_GEN_SHIFT) & ATDD_REQNUM_GEN_MASK;
	u32 unique = (u32)(reqnum >> ATDD_REQNUM_TAG_SHIFT);
	unsigned int sub = reqnum & ATDD_REQNUM_SUB_MASK;
	u16 hwq = blk_mq_unique_tag_to_hwq(unique);
	u16 tag = blk_mq_unique_tag_to_tag(unique);
	u8 status = msg[ADD_RSP_OFF_STATUS];
	u8 type = msg[ADD_RSP_OFF_TYPE];
	struct atdd_cmd *cmd;
	struct request *rq;
	bool complete, kick;

	if (hwq >= dev->tag_set.nr_hw_queues || tag >= dev->tag_set.queue_depth)
		goto stale;
	rq = blk_mq_tag_to_rq(dev->tag_set.tags[hwq], tag);
	if (!rq)
		goto stale;
	cmd = blk_mq_rq_to_pdu(rq);

	spin_lock(&dev->lock);
	if (!cmd->active || cmd->conn != conn || cmd->gen != gen ||
	    cmd->unique_tag != unique || sub >= cmd->nr ||
	    type != (cmd->type | ADD_TYPE_RESPONSE_BIT) ||
	    !(cmd->sent_mask & BIT_ULL(sub)) || (cmd->done_mask & BIT_ULL(sub))) {
		spin_unlock(&dev->lock);
		goto stale;
	}
	conn->last_rx = jiffies;
	dev->server_last_rx[conn->server] = conn->last_rx;
	if (status == ADD_STATUS_OK) {
		if (type == ADD_TYPE_READ_RESPONSE && len == ADD_RSP_READ_SIZE)
			atdd_copy_sector(cmd, sub, (u8 *)msg + ADD_RSP_OFF_DATA, true);
	} else {
		pr_err_ratelimited("sector %llu: ADD answered status %u%s\n",
				   cmd->first + sub, status,
				   status == ADD_STATUS_AUTH_FAILURE ? " (wrong client_key?)" : "");
		cmd->status = BLK_STS_IOERR;
	}
	cmd->done_mask |= BIT_ULL(sub);
	if (!WARN_ON_ONCE(conn->n_outstanding == 0))
		conn->n_outstanding--;
	complete = cmd->done_mask == cmd->full_mask;
	if (complete)
		atdd_cmd_detach(cmd);
	/* Room for one more command on the wire. */
	kick = !list_empty(&conn->txq);
	spin_unlock(&dev->lock);
	if (complete)
		blk_mq_complete_request(rq);
	if (kick)
		atdd_conn_kick(conn);
	return;
stale:
	pr_info_ratelimited("conn %u: ignoring a response to request %#llx (not in flight here)\n",
			    conn->index, reqnum);
}

/* Fail every request still held by the connections (unload, failed load). */
void atdd_fail_all(struct atdd_dev *dev)
{
	struct atdd_cmd *cmd, *tmp;
	LIST_HEAD(failed);
	unsigned int i;

	spin_lock(&dev->lock);
	for (i = 0; i < dev->n_conns; i++) {
		list_for_each_entry_safe(cmd, tmp, &dev->conns[i].inflight, node) {
			cmd->status = BLK_STS_IOERR;
			atdd_cmd_detach(cmd);
			list_add_tail(&cmd->node, &failed);
		}
	}
	spin_unlock(&dev->lock);
	list_for_each_entry_safe(cmd, tmp, &failed, node) {
		list_del_init(&cmd->node);
		blk_mq_complete_request(blk_mq_rq_from_pdu(cmd));
	}
}

/* ---- blk-mq ---------------------------------------------------------------- */

static blk_status_t atdd_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	struct atdd_dev *dev = hctx->queue->queuedata;
	struct request *rq = bd->rq;
	struct atdd_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct atdd_conn *conn;
	unsigned int nr;
	bool kick;
	u64 first;
	u8 type;

	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		/* Completed writes are durable already: see the top of this file. */
		blk_mq_start_request(rq);
		blk_mq_end_request(rq, BLK_STS_OK);
		return BLK_STS_OK;
	case REQ_OP_READ:
		type = ADD_TYPE_READ;
		break;
	case REQ_OP_WRITE:
		type = ADD_TYPE_WRITE;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}

	first = blk_rq_pos(rq) / ATDD_KERNEL_SECTORS_PER_ADD;
	nr = blk_rq_bytes(rq) / ADD_SECTOR_SIZE;
	if (blk_rq_pos(rq) % ATDD_KERNEL_SECTORS_PER_ADD || blk_rq_bytes(rq) % ADD_SECTOR_SIZE ||
	    nr == 0 || nr > ATDD_SUBS_PER_RQ_MAX || first + nr > dev->n_sectors) {
		pr_err_ratelimited("rejecting request at %llu, %u bytes\n",
				   (u64)blk_rq_pos(rq), blk_rq_bytes(rq));
		return BLK_STS_IOERR;
	}

	spin_lock(&dev->lock);
	if (dev->dying) {
		spin_unlock(&dev->lock);
		return BLK_STS_IOERR;
	}
	conn = atdd_pick_conn(dev, NULL, first, nr, false);
	if (!conn) {
		spin_unlock(&dev->lock);
		return BLK_STS_RESOURCE;
	}
	/* Started before anyone can send it, hence complete it. */
	blk_mq_start_request(rq);
	cmd->conn = conn;
	cmd->first = first;
	cmd->nr = nr;
	cmd->type = type;
	cmd->unique_tag = blk_mq_unique_tag(rq);
	cmd->full_mask = nr == 64 ? ~0ULL : BIT_ULL(nr) - 1;
	cmd->sent_mask = 0;
	cmd->done_mask = 0;
	cmd->status = BLK_STS_OK;
	cmd->active = true;
	cmd->gen = (cmd->gen + 1) & ATDD_REQNUM_GEN_MASK;
	cmd->sent_at = jiffies;
	list_add_tail(&cmd->node, &conn->inflight);
	list_add_tail(&cmd->tx_node, &conn->txq);
	conn->n_inflight++;
	kick = conn->state == ATDD_CONN_UP;
	spin_unlock(&dev->lock);

	if (kick)
		atdd_conn_kick(conn);
	return BLK_STS_OK;
}

static void atdd_complete_rq(struct request *rq)
{
	struct atdd_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, cmd->status);
}

static enum blk_eh_timer_return atdd_timeout_rq(struct request *rq)
{
	struct atdd_dev *dev = rq->q->queuedata;
	struct atdd_cmd *cmd = blk_mq_rq_to_pdu(rq);

	spin_lock(&dev->lock);
	if (!cmd->active) {
		/* Completing right now on another path. */
		spin_unlock(&dev->lock);
		return BLK_EH_DONE;
	}
	pr_err_ratelimited("%s of sectors %llu..%llu timed out after %u s: I/O error\n",
			   cmd->type == ADD_TYPE_READ ? "read" : "write", cmd->first,
			   cmd->first + cmd->nr - 1, dev->timeout_s);
	cmd->status = BLK_STS_IOERR;
	atdd_cmd_detach(cmd);
	spin_unlock(&dev->lock);
	blk_mq_complete_request(rq);
	return BLK_EH_DONE;
}

static int atdd_init_request(struct blk_mq_tag_set *set, struct request *rq,
			     unsigned int hctx_idx, unsigned int numa_node)
{
	struct atdd_cmd *cmd = blk_mq_rq_to_pdu(rq);

	memset(cmd, 0, sizeof(*cmd));
	INIT_LIST_HEAD(&cmd->node);
	INIT_LIST_HEAD(&cmd->tx_node);
	return 0;
}

static const struct blk_mq_ops atdd_mq_ops = {
	.queue_rq = atdd_queue_rq,
	.complete = atdd_complete_rq,
	.timeout = atdd_timeout_rq,
	.init_request = atdd_init_request,
};

/* The CPU copies every byte (no DMA): any 4-byte aligned buffer will do. */
#define ATDD_DMA_ALIGNMENT 3

static const struct block_device_operations atdd_fops = {
	.owner = THIS_MODULE,
};

static int atdd_alloc_disk(struct atdd_dev *dev)
{
	struct gendisk *disk;
	int err;

	dev->tag_set.ops = &atdd_mq_ops;
	dev->tag_set.nr_hw_queues = 1;
	dev->tag_set.queue_depth = dev->queue_depth;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	dev->tag_set.cmd_size = sizeof(struct atdd_cmd);
	dev->tag_set.timeout = dev->timeout_s * HZ;
	/*
	 * No I/O scheduler by default: the ADD processes order nothing across
	 * sectors, and the requests behind blk_mq_tag_to_rq() are then the tag
	 * set's own, which live as long as the device.
	 */
	dev->tag_set.flags = BLK_MQ_F_NO_SCHED_BY_DEFAULT;
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 14, 0)
	dev->tag_set.flags |= BLK_MQ_F_SHOULD_MERGE;	/* the default from 6.14 on */
#endif
	dev->tag_set.driver_data = dev;
	err = blk_mq_alloc_tag_set(&dev->tag_set);
	if (err)
		return err;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	{
		struct queue_limits lim = {
			.logical_block_size = ADD_SECTOR_SIZE,
			.physical_block_size = ADD_SECTOR_SIZE,
			.io_min = ADD_SECTOR_SIZE,
			.max_hw_sectors = ATDD_SUBS_PER_RQ_MAX * ATDD_KERNEL_SECTORS_PER_ADD,
			.dma_alignment = ATDD_DMA_ALIGNMENT,
		};

		disk = blk_mq_alloc_disk(&dev->tag_set, &lim, dev);
	}
#else
	disk = blk_mq_alloc_disk(&dev->tag_set, dev);
#endif
	if (IS_ERR(disk)) {
		blk_mq_free_tag_set(&dev->tag_set);
		return PTR_ERR(disk);
	}
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 9, 0)
	blk_queue_logical_block_size(disk->queue, ADD_SECTOR_SIZE);
	blk_queue_physical_block_size(disk->queue, ADD_SECTOR_SIZE);
	blk_queue_io_min(disk->queue, ADD_SECTOR_SIZE);
	blk_queue_max_hw_sectors(disk->queue, ATDD_SUBS_PER_RQ_MAX * ATDD_KERNEL_SECTORS_PER_ADD);
	blk_queue_dma_alignment(disk->queue, ATDD_DMA_ALIGNMENT);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	blk_queue_flag_clear(QUEUE_FLAG_ADD_RANDOM, disk->queue);
#endif
	/* No volatile write cache (the default): see the top of this file. */
	disk->fops = &atdd_fops;
	disk->private_data = dev;
	/* One whole-disk device: no partition scan, so no I/O at add_disk(). */
	disk->flags |= GENHD_FL_NO_PART;
	strscpy(disk->disk_name, ATDD_NAME, sizeof(disk->disk_name));
	set_capacity(disk, dev->n_sectors * ATDD_KERNEL_SECTORS_PER_ADD);
	dev->disk = disk;
	return 0;
}

static void atdd_free_disk(struct atdd_dev *dev)
{
	put_disk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
}

static int __init atdd_init(void)
{
	struct atdd_dev *dev;
	int err;

	BUILD_BUG_ON(ATDD_SUBS_PER_RQ_MAX > ATDD_REQNUM_SUB_MASK + 1);
	BUILD_BUG_ON(ADD_RSP_READ_SIZE > ATDD_RX_BUF_SIZE / 2);

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	spin_lock_init(&dev->lock);
	err = atdd_parse_params(dev);
	if (err)
		goto out_free;

	dev->hmac = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(dev->hmac)) {
		err = PTR_ERR(dev->hmac);
		pr_err("cannot allocate hmac(sha256): %d\n", err);
		goto out_free;
	}
	err = crypto_shash_setkey(dev->hmac, dev->client_key, ADD_CLIENT_KEY_SIZE);
	if (err) {
		pr_err("cannot set the hmac key: %d\n", err);
		goto out_hmac;
	}

	dev->tx_wq = alloc_workqueue("atdd_tx", WQ_MEM_RECLAIM | WQ_HIGHPRI | WQ_UNBOUND, 0);
	if (!dev->tx_wq) {
		err = -ENOMEM;
		goto out_hmac;
	}
	err = atdd_alloc_disk(dev);
	if (err) {
		pr_err("cannot allocate the disk: %d\n", err);
		goto out_wq;
	}
	err = atdd_conns_start(dev);
	if (err)
		goto out_disk;
	err = add_disk(dev->disk);
	if (err) {
		pr_err("add_disk failed: %d\n", err);
		goto out_conns;
	}
	atdd = dev;
	pr_info("/dev/%s: %llu sectors of %d bytes, %u servers, %u connections, queue depth %u, timeout %u s\n",
		ATDD_NAME, dev->n_sectors, ADD_SECTOR_SIZE, dev->n_servers, dev->n_conns,
		dev->queue_depth, dev->timeout_s);
	return 0;

out_conns:
	atdd_conns_stop(dev);
out_disk:
	atdd_free_disk(dev);
out_wq:
	destroy_workqueue(dev->tx_wq);
out_hmac:
	crypto_free_shash(dev->hmac);
out_free:
	memzero_explicit(dev->client_key, sizeof(dev->client_key));
	kfree(dev);
	return err;
}

static void __exit atdd_exit(void)
{
	struct atdd_dev *dev = atdd;

	/*
	 * The module cannot be unloaded while the disk is open, so whatever is
	 * still in flight here is bounded by the request timeout; del_gendisk()
	 * waits for it with the connections still serving it.
	 */
	del_gendisk(dev->disk);
	atdd_conns_stop(dev);
	atdd_free_disk(dev);
	destroy_workqueue(dev->tx_wq);
	crypto_free_shash(dev->hmac);
	memzero_explicit(dev->client_key, sizeof(dev->client_key));
	kfree(dev);
	pr_info("unloaded\n");
}

module_init(atdd_init);
module_exit(atdd_exit);

MODULE_AUTHOR("ADD project");
MODULE_DESCRIPTION("Atomic Disk Drive block device (blk-mq, TCP, hmac(sha256))");
MODULE_LICENSE("GPL");
