/*
 * core/node: one ADD process. Routes decoded messages to per-sector atomic
 * registers (core/register.h), creates a register when a sector becomes
 * active and frees it when idle, queues client commands per sector, answers
 * clients, and keeps the stubborn links (retransmission with bounded backoff
 * of READ_PROC / WRITE_PROC until answered or no longer needed).
 *
 * Pure: everything goes through add_io (io.h) and add_store_ops
 * (store_ops.h). Single-threaded; a runtime calls these from its loop.
 *
 * What a runtime must honour:
 *  - Reentrancy: never call into the node from inside an add_io or
 *    add_store_ops callback (queue the event instead); in particular a
 *    store's completion is reported later, never from inside store().
 *    The node's messages to itself never reach the runtime: they are
 *    delivered (no bytes, no HMAC) before the entry point returns.
 *  - Time: call add_node_tick about every ADD_NODE_TICK_NS (or at
 *    add_node_next_tick_ns()); it only resends what is due.
 *  - Links: call add_node_on_peer_connected(rank) whenever the outbound
 *    connection to `rank` is (re)established (first connect included);
 *    send_peer may drop anything, the node retransmits.
 *  - Connections: `conn` is an opaque id the node only echoes in
 *    send_client. Ids of live connections must be distinct; an id may be
 *    reused only after add_node_on_connection_closed(id).
 *  - Stores: report each completion once, in submission order, with its
 *    cookie. After add_node_destroy (a crash), completions of stores that
 *    node submitted must not reach a new node: recreate the store over
 *    what is durable (the node never asks about them again).
 *  - Failure: after add_node_failed() is true, exit (or, in the simulator,
 *    treat the process as crashed).
 */
#ifndef ADD_NODE_H
#define ADD_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"
#include "store_ops.h"
#include "wire.h"

/* How often a runtime must call add_node_tick (retransmission clock). */
#define ADD_NODE_TICK_NS (5ull * 1000 * 1000)

typedef struct add_node add_node;

typedef struct add_node_config {
	uint8_t rank;    /* 1..n_procs */
	uint8_t n_procs; /* N */
	uint64_t n_sectors;
	uint8_t client_key[ADD_CLIENT_KEY_SIZE];
	uint8_t system_key[ADD_SYSTEM_KEY_SIZE];
	/* Stubborn-link backoff; 0 means the default. */
	uint64_t retransmit_initial_ns; /* default 100 ms */
	uint64_t retransmit_max_ns;     /* default 2 s */
	/* Bound on client commands accepted but not yet answered (all
	 * connections); 0 means the default (4096). */
	uint32_t client_cmds_max;
	/* Optional (NULL: always a member, as before issue 11): the process's
	 * rejoin state (core/rejoin.h). The node then carries its identity
	 * handshake with peers known to speak META, and must be given
	 * add_rejoin_store_ops() (ctx: the rejoin) as its store. */
	struct add_rejoin *rejoin;
} add_node_config;

/* Returns NULL on bad config (a store with damaged() must offer repair()) or
 * allocation failure. `store_ctx` is passed to every store op. The node
 * reads no sector at creation (it only asks next_damaged whether recovery
 * found damage, to repair it from add_node_tick): the store has already
 * recovered, and interrupted operations are not resumed. */
add_node *add_node_create(const add_node_config *cfg, const add_io *io,
			  const add_store_ops *store, void *store_ctx);
void add_node_destroy(add_node *node);

/* Keys prepared by the node, for the runtime's stream decoders. */
const add_hmac_key *add_node_client_key(const add_node *node);
const add_hmac_key *add_node_system_key(const add_node *node);

/*
 * Bytes received on connection `conn` (client or peer: one port serves
 * both), decoded with that connection's decoder (mode PROCESS, keys from
 * above; the runtime owns its memory, one per connection) and dispatched.
 */
void add_node_on_bytes(add_node *node, uint64_t conn, add_wire_decoder *dec,
		       const uint8_t *bytes, size_t len);

/* Already-decoded entry points (add_node_on_bytes calls these). */
void add_node_on_client_command(add_node *node, uint64_t conn, const add_client_cmd *cmd,
				bool hmac_ok);
void add_node_on_peer_message(add_node *node, const add_peer_msg *msg, bool hmac_ok);

/*
 * Local submission: an operation of the process's own front end (the NBD
 * server), with no bytes, no HMAC and no connection. A read if `data` is
 * NULL, else a write of `data` (ADD_SECTOR_SIZE bytes, copied). It runs
 * like a client command, counts in the client command bound (see
 * add_node_accepting_clients), and completes once through
 * io->local_done(token) (it is not tied to any connection; only a failed
 * node, after which the runtime exits, completes nothing). Returns false,
 * and nothing is submitted, when io->local_done is NULL, the sector is out
 * of range, the node failed, or memory ran out.
 */
bool add_node_submit_local(add_node *node, uint64_t sector, const uint8_t *data,
			   uint64_t token);
/* The connection id local operations use internally; a runtime never gives
 * it to the node. */
#define ADD_NODE_CONN_LOCAL UINT64_MAX

/* A connection closed: answers still owed on it are dropped. Its operations
 * that have not chosen their tag yet (queued, or in their read phase) are
 * abandoned: they write nothing (register.h, add_op.abandoned), so a client
 * that gave up on this process and retried elsewhere is not overwritten by
 * its own earlier attempt. Operations past the tag decision complete. */
void add_node_on_connection_closed(add_node *node, uint64_t conn);
/* The outbound link to `rank` was (re)established: retransmit what it owes,
 * and, if `rank` is not yet known to speak the project's READ_PROC_META /
 * VALUE_META, ask it (a transport ack with a marker UUID: standard bytes).
 * Until every peer is known to speak them, the node uses only PROTOCOL.md's
 * standard messages, so that a process written from PROTOCOL.md alone can be
 * its peer; it asks unknown peers again every second (add_node_tick). */
void add_node_on_peer_connected(add_node *node, uint8_t rank);
/* A store submitted with `cookie` is durable. */
void add_node_on_store_done(add_node *node, uint64_t cookie);
/* Called about every ADD_NODE_TICK_NS: retransmissions that are due (and
 * the META question to peers not known to speak it, once a second). */
void add_node_tick(add_node *node);
/* The earliest time (now_ns clock) at which add_node_tick has something to
 * do, UINT64_MAX when nothing is owed. A runtime may sleep until then
 * instead of ticking periodically; it must ask again after every call into
 * the node (new operations arm new deadlines). Ticking more often is
 * harmless. O(operations in flight). */
uint64_t add_node_next_tick_ns(const add_node *node);

/* True once the node hit a fatal error (a store failed, read_data failed
 * other than with damage (store_ops.h), or
 * memory ran out where work cannot be dropped): it has stopped like a crashed
 * process, ignores every further event, and the runtime must exit (or, in
 * the simulator, treat it as a crash). */
bool add_node_failed(const add_node *node);

/* False when the bound on pending client commands is reached: the runtime
 * stops reading client connections until it is true again (backpressure).
 * The bound is soft: commands already read are still accepted. */
bool add_node_accepting_clients(const add_node *node);

/*
 * Damage (core/store_ops.h): a sector whose local copy is damaged is never
 * served from it. The node does not answer READ_PROC / READ_PROC_META for it,
 * and repairs it before any operation of its own on that sector runs: it asks
 * the other processes (READ_PROC, retransmitted) and stores, with repair(),
 * the highest value they answered, as soon as one answer's tag is >= its own
 * (damaged) tag, or else once every other process answered (register.c,
 * repair_may_decide, says why, and why "any N - floor(N / 2) others" is not
 * enough for N >= 4). Until then, operations on the sector wait. A
 * WRITE_PROC not newer than a damaged copy is not ACKed until it is
 * repaired (the coordinator retransmits). Damaged
 * sectors the store reports (recovery) are repaired in the background, a
 * bounded number at a time, from add_node_tick.
 *
 * Scrub: verifies up to `max` written sectors with read_data, continuing
 * from where the last call stopped and wrapping; each damaged one found is
 * repaired as above. Returns how many were verified. The runtime calls it
 * at its scrub rate; the simulator until a whole pass is done.
 */
size_t add_node_scrub_step(add_node *node, size_t max);
/* Whole passes over the written sectors completed by add_node_scrub_step. */
uint64_t add_node_scrub_passes(const add_node *node);
/* Damaged sectors known to the node and not yet repaired (running or
 * waiting); 0 once every one of them holds a repaired value. */
uint64_t add_node_repairs_pending(const add_node *node);

typedef struct add_node_stats {
	uint64_t registers_active; /* registers currently allocated */
	uint64_t client_cmds_pending;
	uint64_t ops_completed;
	/* client ops whose connection closed before they chose a tag: ended
	 * unanswered, nothing written (not in ops_completed) */
	uint64_t ops_abandoned;
	uint64_t retransmissions; /* all peers: the sum of retransmissions_to */
	/* per destination rank (index 0 and this process's own rank stay 0) */
	uint64_t retransmissions_to[ADD_PROCS_MAX + 1];
	uint64_t bad_hmac_peer;   /* internal messages dropped for a bad tag */
	uint64_t bad_hmac_client; /* commands answered with status 1 */
	uint64_t peer_msgs_dropped; /* unknown rank, own rank, bad sector */
	uint64_t damaged_found;	    /* read_data reported damage */
	uint64_t repairs_done;	    /* damaged sectors repaired from peers */
	uint64_t reads_refused_damaged; /* READ_PROC(_META) not answered: damaged */
	uint64_t scrubbed;	    /* sectors verified by scrub */
} add_node_stats;
void add_node_get_stats(const add_node *node, add_node_stats *out);

#endif /* ADD_NODE_H */
