/*
 * tests/unit/script_runtime: a scripted, deterministic runtime for the node
 * tests. N processes of the real core (add_node), a network that is a plain
 * list of messages the test delivers, drops, duplicates or reorders by hand,
 * a fake clock, and per process an in-memory store (store_ops) whose
 * completions the test releases (or lets run automatically). A crash
 * destroys a node and keeps only the durable part of its store; a restart
 * creates a new node over it.
 *
 * Linked into every unit test binary: every name starts with srt_.
 */
#ifndef SRT_SCRIPT_RUNTIME_H
#define SRT_SCRIPT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node.h"

#define SRT_PROCS_MAX 8

typedef struct srt_msg {
	uint8_t from, to;
	uint8_t type; /* byte 7 of the message */
	size_t len;
	uint8_t *bytes;
} srt_msg;

typedef struct srt_reply {
	uint8_t proc; /* rank of the process that answered */
	uint64_t conn;
	uint8_t type, status;
	uint64_t request;
	size_t len;
	bool hmac_ok;
	uint8_t data[ADD_SECTOR_SIZE]; /* READ ok */
} srt_reply;

typedef struct srt_sector {
	uint64_t sector, ts;
	uint8_t wr;
	/* damage (store_ops.h): `damaged` is known (damaged() is true);
	 * `latent` is not found yet: damaged() is false until read_data finds
	 * it. Either way data holds the wrong bytes a bad disk would give. */
	bool damaged, latent;
	uint8_t data[ADD_SECTOR_SIZE];
} srt_sector;

typedef struct srt_store {
	srt_sector *cur, *dur; /* submitted / durable (sparse, unsorted) */
	size_t n_cur, n_dur, cap_cur, cap_dur;
	struct srt_pending {
		srt_sector s;
		uint64_t cookie;
	} *pending; /* FIFO of stores not yet durable */
	size_t n_pending, cap_pending;
	bool auto_complete; /* stores durable right after the event that made them */
	bool fail_stores;   /* store() returns -EIO */
	uint64_t stores_total;
	/* damage ops (store_ops.h) */
	uint8_t rank;       /* the owner's rank: repair() of its own tag sets the floor */
	uint64_t ts_floor;  /* durable (survives a crash) */
	int read_error_rc;  /* what read_data of a damaged copy returns; 0: -EBADMSG */
	uint64_t repairs_total;
	uint64_t read_data_calls;
} srt_store;

typedef struct srt_world srt_world;

typedef struct srt_proc {
	srt_world *w;
	uint8_t rank;
	add_node *node; /* NULL while crashed */
	srt_store store;
	add_io io;
	uint64_t incarnations;
	uint64_t peer_sends; /* send_peer calls */
	/* rejoin (srt_new_rejoin): its record on a simulated disk; wipes
	 * counts the storage's incarnations */
	struct add_sim_disk *rj_disk;
	struct add_rejoin *rj;
	bool rj_created; /* the next start finds empty storage */
	uint64_t wipes;
} srt_proc;

struct srt_world {
	uint8_t n;
	add_node_config cfg; /* rank filled per process */
	srt_proc procs[SRT_PROCS_MAX + 1]; /* by rank */
	srt_msg *msgs;
	size_t n_msgs, cap_msgs;
	srt_reply *replies;
	size_t n_replies, cap_replies;
	uint64_t now_ns;
	bool link_down[SRT_PROCS_MAX + 1][SRT_PROCS_MAX + 1]; /* [from][to]: dropped at send */
	uint64_t log_warnings; /* WARN or ERROR lines */
	/* the nodes get a store table with only get_meta, read_data and store
	 * (no damage ops), like fuzz_node's; applies from the next (re)start */
	bool store_minimal_ops;
	bool rejoin; /* the nodes run with core/rejoin.h (srt_new_rejoin) */
	bool rejoin_force;
};

/* n processes, all up, auto-completing stores, whose links came up once
 * (add_node_on_peer_connected, and the READ_PROC_META probes answered): they
 * know every peer speaks READ_PROC_META / VALUE_META. srt_restart does the
 * same for the restarted process. */
srt_world *srt_new(uint8_t n, uint64_t n_sectors);
/* The same without any link event: the nodes have not learnt that their
 * peers speak META, so they use only PROTOCOL.md's standard messages. */
srt_world *srt_new_bare(uint8_t n, uint64_t n_sectors);
void srt_free(srt_world *w);
/* Like srt_new, every process with core/rejoin.h over new storage (a fresh
 * cluster: the handshake makes them members). */
srt_world *srt_new_rejoin(uint8_t n, uint64_t n_sectors);
/* Crash `rank` and lose its whole storage (store, rejoin record): the next
 * srt_restart finds an empty directory (the amnesia fault). */
void srt_wipe(srt_world *w, uint8_t rank);
add_node *srt_node(srt_world *w, uint8_t rank);
srt_store *srt_store_of(srt_world *w, uint8_t rank);

void srt_crash(srt_world *w, uint8_t rank);
void srt_restart(srt_world *w, uint8_t rank);

/* Client commands (signed with the client key, through add_node_on_bytes). */
void srt_client_read(srt_world *w, uint8_t rank, uint64_t conn, uint64_t request,
		     uint64_t sector);
void srt_client_write(srt_world *w, uint8_t rank, uint64_t conn, uint64_t request,
		      uint64_t sector, const uint8_t data[ADD_SECTOR_SIZE]);
/* The same with a corrupted tag. */
void srt_client_bad_hmac(srt_world *w, uint8_t rank, uint64_t conn, uint64_t request,
			 uint8_t type, uint64_t sector);
/* The reply to (rank, request), or NULL. */
const srt_reply *srt_reply_for(const srt_world *w, uint8_t rank, uint64_t request);

/* Network. Index-based; messages keep send order. */
const srt_msg *srt_msg_at(const srt_world *w, size_t i);
/* First message matching (type, from, to); 0 = any. -1 if none. */
long srt_find(const srt_world *w, uint8_t type, uint8_t from, uint8_t to);
size_t srt_count(const srt_world *w, uint8_t type, uint8_t from, uint8_t to);
void srt_deliver(srt_world *w, size_t i); /* to a crashed process: lost */
void srt_drop(srt_world *w, size_t i);
void srt_dup(srt_world *w, size_t i); /* appends a copy */
/* Delivers messages in order and (for auto stores) completes stores until
 * nothing is left; returns the number of steps. */
size_t srt_run(srt_world *w);
/* Delivers everything currently queued, in reverse order, once. */
void srt_deliver_all_reversed(srt_world *w);

/* Store. */
size_t srt_store_pending(const srt_world *w, uint8_t rank);
/* Completes the oldest pending store of `rank`; false if none. */
bool srt_store_complete(srt_world *w, uint8_t rank);
/* Durable / current (submitted) (ts, wr, data) of a sector; data may be NULL. */
void srt_durable(const srt_world *w, uint8_t rank, uint64_t sector, uint64_t *ts, uint8_t *wr,
		 uint8_t *data);
void srt_current(const srt_world *w, uint8_t rank, uint64_t sector, uint64_t *ts, uint8_t *wr,
		 uint8_t *data);

/* Puts a durable (ts, wr, data) in a process's store (test setup). */
void srt_seed(srt_world *w, uint8_t rank, uint64_t sector, uint64_t ts, uint8_t wr,
	      const uint8_t data[ADD_SECTOR_SIZE]);
/* Damages a process's copy of a sector, current and durable (the mark is
 * durable): its bytes become wrong, and read_data fails with
 * -EBADMSG (or store.read_error_rc). latent: damaged() stays false until a
 * read_data finds it (bit rot); else it is known at once (recovery). */
void srt_damage(srt_world *w, uint8_t rank, uint64_t sector, bool latent);
/* The process's current or durable copy of the sector is damaged (known or
 * latent). */
bool srt_is_damaged(const srt_world *w, uint8_t rank, uint64_t sector);

/* Restarts every process with w->cfg (after a test changed it). */
void srt_reconfigure(srt_world *w);

/* Clock: advances and ticks every live node. */
void srt_advance(srt_world *w, uint64_t ns);

void srt_fill(uint8_t data[ADD_SECTOR_SIZE], uint8_t seed);
add_node_stats srt_stats(const srt_world *w, uint8_t rank);

#endif /* SRT_SCRIPT_RUNTIME_H */
