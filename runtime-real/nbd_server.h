/*
 * runtime-real/nbd_server: addd's Network Block Device front end
 * (--nbd-listen). A consumer of the node like any client: each NBD request
 * is split into its 4 KiB sectors, submitted concurrently through the node's
 * local path (add_node_submit_local: no HMAC, no TCP), and answered with one
 * reply (simple, or one structured chunk if the client asked for structured
 * replies) once every sector completed. The bytes are nbd_proto's.
 *
 * What is advertised is true:
 *  - SEND_FUA / SEND_FLUSH: an ADD write is durable on a majority when it
 *    completes, so FUA costs nothing and a FLUSH is answered once every
 *    write received before it on its connection has its reply;
 *  - CAN_MULTI_CONN: every sector is a linearizable register, so a write
 *    answered on one connection is seen by a read on any other, through
 *    any process of the cluster;
 *  - SEND_WRITE_ZEROES / SEND_TRIM: both write zeros (a later read returns
 *    zeros; NO_HOLE is thus always honoured); FAST_ZERO gets NBD_ENOTSUP.
 * A request not in whole sectors, or past the end, gets NBD_EINVAL and
 * changes nothing (no read-modify-write: it would not be atomic).
 *
 * Bounds: NBD connections (ADD_NBD_CONNS_MAX), requests and bytes held per
 * connection and in total, sector operations in flight in total; beyond
 * them a connection is not read (backpressure). Sectors go to the node
 * round-robin, a few dozen per request's turn, so one huge request does not
 * hold the others back. Malformed input closes that connection only.
 *
 * NBD has no authentication: a listening address that is not loopback is
 * refused unless allow_remote.
 */
#ifndef ADD_REAL_NBD_SERVER_H
#define ADD_REAL_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "node.h"

#define ADD_NBD_CONNS_MAX 16u
/* Requests read and not yet answered, per connection. */
#define ADD_NBD_CONN_REQS_MAX 128u
/* Payload bytes (READ buffers, WRITE data) held, per connection and in
 * total; a connection holding nothing may always take one request. */
#define ADD_NBD_CONN_BYTES_MAX (32u * 1024 * 1024)
#define ADD_NBD_TOTAL_BYTES_MAX (128u * 1024 * 1024)
/* Sector operations submitted to the node and not completed, in total. */
#define ADD_NBD_SECTORS_INFLIGHT_MAX 1024u

typedef struct add_nbd_server add_nbd_server;

/* Listens on hp (refusing a non-loopback address unless allow_remote). The
 * export is n_sectors x 4096 bytes. NULL with err filled on failure. */
add_nbd_server *add_nbd_server_create(const add_hostport *hp, bool allow_remote,
				      uint64_t n_sectors, add_loop *loop, add_node *node,
				      char *err, size_t err_len);
/* Closes every connection. Operations still in the node complete into
 * nothing only if the node is destroyed first: call it after the node. */
void add_nbd_server_destroy(add_nbd_server *s);

/* The target of the node's io->local_done (called from inside the node:
 * only records the completion and queues the reply). */
void add_nbd_server_local_done(add_nbd_server *s, uint64_t token, const uint8_t *data);
/* Run first in the daemon's before-sleep hook: reads what backpressure held
 * back, submits sectors to the node, sends replies. */
void add_nbd_server_before_sleep(add_nbd_server *s);

/* Counters of the NBD front end (GET /metrics: add_nbd_*). */
enum { ADD_NBD_STAT_READ, ADD_NBD_STAT_WRITE, ADD_NBD_STAT_FLUSH, ADD_NBD_STAT_WRITE_ZEROES,
       ADD_NBD_STAT_TRIM, ADD_NBD_STAT_DISC, ADD_NBD_STAT_CMDS };
typedef struct add_nbd_stats {
	uint32_t connections_open;
	uint64_t connections_accepted;
	uint64_t connections_refused;	/* ADD_NBD_CONNS_MAX already open */
	uint64_t connections_bad_input; /* closed: malformed transmission input */
	uint64_t requests[ADD_NBD_STAT_CMDS]; /* admitted, by command */
	uint64_t requests_einval;	/* admitted, their answer NBD_EINVAL */
	uint64_t bytes_read;		/* READ data sent in successful replies */
	uint64_t bytes_written;		/* WRITE data acknowledged as written */
	uint64_t requests_in_flight;	/* admitted, not answered (all connections) */
} add_nbd_stats;

void add_nbd_server_stats(const add_nbd_server *s, add_nbd_stats *out);

/* True if the address is loopback (127.0.0.0/8, ::1, ::ffff:127.x). */
bool add_nbd_addr_is_loopback(const void *sockaddr_storage);

#endif /* ADD_REAL_NBD_SERVER_H */
