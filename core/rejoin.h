/*
 * core/rejoin: amnesia-safe membership of one process (issue 11).
 *
 * A process whose storage was created anew (a replaced disk, a wiped or
 * unmounted directory) must not count in quorums as if it still held what
 * its earlier incarnation acknowledged. This module decides, durably, which
 * of three states the process is in, and hides the sectors it has not
 * re-learned from the node by presenting them as DAMAGED (core/store_ops.h):
 * the node's damage machinery then does the rest. It refuses READ_PROC /
 * READ_PROC_META for them, repairs each one from the OTHER processes (REPAIR
 * ops, a quorum that does not count this process: every other one, since an
 * unknown sector shows the highest tag, see w_get_meta in rejoin.c), and
 * does not ACK a WRITE_PROC of them to others (node.c, env_send_ack).
 *
 * States (kept in the store's directory, kv key "rejoin", files "rj.*"):
 *  - MEMBER: storage continues its own past. Every sector is known.
 *  - FRESH: storage created by this start; nothing known yet. It stores
 *    WRITE_PROCs but answers nothing and ACKs nothing to others. It leaves
 *    FRESH from what its peers say in the identity handshake:
 *      * every other process says FRESH too: a fresh cluster, nobody ever
 *        held data; it becomes a MEMBER at once and remembers each
 *        founder's incarnation (its "genesis");
 *      * a MEMBER peer names this process's current incarnation as a
 *        founder: it was one of a fresh cluster's founders that had not
 *        heard from everybody yet; MEMBER at once;
 *      * any other MEMBER peer: the cluster holds data, and this is a new
 *        incarnation of a rank that may have acknowledged writes:
 *        RECOVERING. (A RECOVERING peer tells nothing about this process:
 *        it waits for a member's word, or for every peer to say FRESH.)
 *  - RECOVERING: re-learns sectors 0..n_sectors-1 (the cursor walks them in
 *    order, in the background, with client and WRITE_PROC traffic pulling
 *    the sectors they touch first). A sector is known once its repair is
 *    durable, or at once when every other process answered (0, 0): nobody
 *    ever wrote it, nothing is stored (repair_unwritten). Every sector costs
 *    one READ_PROC round with 4 KiB VALUEs (no listing of written sectors
 *    yet). The cursor (every sector below it known) is recorded every
 *    ADD_REJOIN_PERSIST_EVERY sectors, so a crash resumes from there. When
 *    every sector is known it becomes a MEMBER (logged).
 * Why a known sector may be served and ACKed before promotion: its value was
 * the highest among every other process, which includes the coordinator of
 * any write this rank's earlier incarnation ACKed (a coordinator holds its
 * value before any WRITE_PROC leaves) and meets the quorum of every write
 * completed before the repair read; later WRITE_PROCs are stored and ACKed as
 * by any member. So for that sector the process holds everything a member
 * holds (this is the "weaker rule" the issue allows: per sector instead of
 * per process; unknown sectors never count).
 *
 * Refusal: when some other process cannot answer for a sector (down, or it
 * lost its storage too: with a majority lost, forever), the repairs wait and the process says so in its log
 * (add_rejoin_tick). `force` makes a FRESH or RECOVERING process a MEMBER at
 * once: writes acknowledged before may be lost, and it says so.
 *
 * Everything here is pure; persistence goes through core/kv_store over the
 * store's add_disk. A failed write of the record makes add_rejoin_failed()
 * true: the runtime must stop (it would otherwise forget its state).
 */
#ifndef ADD_REJOIN_H
#define ADD_REJOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"
#include "io.h"
#include "store_ops.h"

#define ADD_REJOIN_PERSIST_EVERY 1024u

typedef enum add_rejoin_state {
	ADD_REJOIN_MEMBER = 1,
	ADD_REJOIN_FRESH = 2,
	ADD_REJOIN_RECOVERING = 3,
} add_rejoin_state;

typedef struct add_rejoin add_rejoin;

typedef struct add_rejoin_config {
	uint8_t rank;
	uint8_t n_procs;
	uint64_t n_sectors;
	/* The store's directory was empty (no superblock) at this start: the
	 * store is about to be created. Must be decided before the store is
	 * opened (a crash between creation and the first record must not look
	 * like a continuing store). */
	bool store_created;
	/* Operator's --force-rejoin: a member at once, writes may be lost. */
	bool force;
	const add_disk *disk; /* the store's directory */
	void (*log)(void *arg, add_log_level level, const char *line);
	void *log_arg;
} add_rejoin_config;

/* Reads (or, for a created store, writes FRESH) the record. NULL and a
 * one-line reason on failure. */
add_rejoin *add_rejoin_open(const add_rejoin_config *cfg, char *err, size_t err_len);
void add_rejoin_close(add_rejoin *rj);

/* After the store is open: its ops (the rejoin wraps them) and the
 * superblock's incarnation (told to peers). */
void add_rejoin_attach(add_rejoin *rj, const add_store_ops *inner, void *inner_ctx,
		       uint64_t incarnation);
/* The wrapped ops to give the node (ctx: the add_rejoin): damaged() is the
 * store's damage or "not known yet"; next_damaged() lists both; repair()
 * passes through; repair_durable() makes the sector known. */
const add_store_ops *add_rejoin_store_ops(void);

add_rejoin_state add_rejoin_get_state(const add_rejoin *rj);
const char *add_rejoin_state_name(add_rejoin_state s);
/* True if this process may serve / ACK the sector (a member, or known). */
bool add_rejoin_sector_known(const add_rejoin *rj, uint64_t sector);
/* Sectors known while RECOVERING (n_sectors once a member). */
uint64_t add_rejoin_known(const add_rejoin *rj);
uint64_t add_rejoin_cursor(const add_rejoin *rj);
bool add_rejoin_failed(const add_rejoin *rj);

/* The identity handshake (carried by node.c, see add_rejoin_encode_id). */
#define ADD_REJOIN_ID_MARKER "ADD-ID1"
#define ADD_REJOIN_ID_MARKER_LEN 7
/* What to tell `to`: this process's state and incarnation, and the
 * incarnation `to` had when this process's genesis recorded it (0: none). */
void add_rejoin_identity_for(const add_rejoin *rj, uint8_t to, uint8_t *state,
			     uint64_t *incarnation, uint64_t *your_genesis);
/* `from` told its identity. Returns true if the state changed. */
bool add_rejoin_on_identity(add_rejoin *rj, uint8_t from, uint8_t state, uint64_t incarnation,
			    uint64_t your_genesis);

/* Peers written from PROTOCOL.md alone never tell an identity. The node
 * calls this on every tick with, per rank, whether a valid internal message
 * came from it (heard) and whether it speaks the project's messages (meta).
 * While every other process either said FRESH or is heard but does not speak
 * META (at least one of those), for ADD_REJOIN_LEGACY_GRACE_NS without a
 * break, a FRESH process founds a new cluster with the FRESH ones (logged as
 * a warning: the legacy peers cannot tell whether this storage missed
 * writes, as before issue 11). A process of this project answers the META
 * probe within a round trip, so it ends the condition long before that. */
#define ADD_REJOIN_LEGACY_GRACE_NS (3ull * 1000 * 1000 * 1000)
void add_rejoin_legacy_check(add_rejoin *rj, uint64_t now_ns, const bool *heard,
			     const bool *meta);

/* The founders a member knows, told along with its identity (marker
 * ADD_REJOIN_GN_MARKER), so that a founder that did not hear from everybody
 * learns the others' founding incarnations and can confirm them. */
#define ADD_REJOIN_GN_MARKER "ADD-GN1"
/* rank's founding incarnation as this process knows it: 0 none or unknown */
uint64_t add_rejoin_genesis_of(const add_rejoin *rj, uint8_t rank);
void add_rejoin_on_genesis(add_rejoin *rj, uint8_t from, uint8_t rank, uint64_t incarnation);

/* Periodic (the node's tick): logs progress, or why it waits, at most every
 * `every_ns`. */
void add_rejoin_tick(add_rejoin *rj, uint64_t now_ns, uint64_t every_ns);

#endif /* ADD_REJOIN_H */
