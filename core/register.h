/*
 * core/register: one sector's (N,N)-atomic register, crash-recovery version
 * (the assignment's pseudocode, outlined in docs/ARCHITECTURE.md, "register").
 *
 * An event-driven state machine: operations and messages in, effects out
 * through add_reg_env (broadcast, send, store, complete). The node owns the
 * registers, the pools, the wire and the clocks; this file owns the
 * algorithm. Differences from the pseudocode, all deliberate:
 *  - (ts, wr, val) live in the store, not in memory: get_meta/read_data
 *    reflect every store submitted so far, exactly like the pseudocode's
 *    variables, so an idle register needs no memory at all;
 *  - readlist is kept as "who answered" (a bitmap) plus the highest value
 *    seen so far: that is all highest() needs;
 *  - the writer's store(maxts+1, self, v) must be DURABLE before WRITE_PROC
 *    leaves (phase STORING), else a crash could let one (ts, rank) carry two
 *    values;
 *  - a replica ACKs every WRITE_PROC (newer or not), but only once all the
 *    stores it submitted up to that delivery are durable (hence its durable
 *    state is >= (ts', wr'));
 *  - while any store of a sector is in flight (its own write STORING, or a
 *    WRITE_PROC's value), a process defers its VALUE replies for that sector
 *    until the stores are durable: a value becomes visible only once its
 *    holder cannot lose it (the seed's store() blocks, so there, too, no
 *    READ_PROC is answered in between);
 *  - hence a read whose majority all answered the same (ts, wr), durably,
 *    returns without its write-back: the write-back would change nothing
 *    (register.c, quorum_holds_max_durably, says why that is linearizable).
 * Messages to self carry no data: the coordinator's own value is read from
 * the store when it decides (readlist[self] := (ts, wr, val)).
 *
 * Damage (store_ops.h): a local copy whose bytes are unknown is never
 * served. The node refuses READ_PROC(_META) for it; before a client op of
 * this process runs on a damaged sector, a REPAIR op runs first in the
 * sector's queue: READ_PROC to the other processes only, and once one
 * answer's tag is >= the own (damaged) tag, or every other process
 * answered, the highest (ts, wr, value) among the answers is stored with
 * repair(); the queue moves on once it is durable. A read whose own value
 * turns out unreadable when it decides goes back to QUEUED behind a REPAIR
 * and starts again after it. Writers pick ts = max(maxts, ts_floor) + 1.
 * Why that rule (and not "any K = N - floor(N/2) others") loses nothing,
 * and why a WRITE_PROC that is not newer than a damaged copy is not ACKed,
 * is argued in register.c (repair_may_decide, add_reg_on_write_proc).
 */
#ifndef ADD_REGISTER_H
#define ADD_REGISTER_H

#include <stdbool.h>
#include <stdint.h>

#include "wire_constants.h"

#define ADD_REG_BITMAP_WORDS ((ADD_PROCS_MAX + 1 + 63) / 64)

typedef enum add_op_kind {
	ADD_OP_READ = 1,
	ADD_OP_WRITE = 2,
	/* no client: refetch a damaged local copy from the others (below) */
	ADD_OP_REPAIR = 3,
} add_op_kind;

typedef enum add_op_phase {
	ADD_PHASE_QUEUED = 0, /* waiting behind another op of the sector */
	ADD_PHASE_READ,       /* READ_PROC sent, collecting VALUEs */
	ADD_PHASE_STORING,    /* writer / repair: waiting for its own store to be durable */
	ADD_PHASE_WRITE,      /* WRITE_PROC sent, collecting ACKs */
	ADD_PHASE_DONE,
} add_op_phase;

/* One client operation on one sector. Its buffer is the WRITE_PROC message
 * itself: the client's data (writeval) or the value read (readval) sits at
 * the data offset from the start, and the header and tag are filled in when
 * the write phase starts, so the bytes are built once and retransmitted as
 * they are. */
typedef struct add_op {
	add_op_kind kind;
	add_op_phase phase;
	uint8_t uuid[ADD_UUID_SIZE];
	uint64_t sector;
	/* readlist / acklist of the current phase: who answered (bit = rank) */
	uint64_t answered[ADD_REG_BITMAP_WORDS];
	uint32_t n_answered;
	/* highest (ts, wr) seen in the read phase; for a read, its value is
	 * in buf at ADD_PEER_OFF_DATA */
	bool have_max;
	uint64_t max_ts;
	uint8_t max_wr;
	/* a read: buf holds the value of (max_ts, max_wr) */
	bool max_data;
	/* the read phase asks for values (READ_PROC, answered by VALUE); else
	 * for (ts, wr) only (READ_PROC_META, answered by VALUE_META), which
	 * suffices for a write, and for a read whose own value is the highest.
	 * Chosen when the phase starts (env->peers_speak_meta) and kept, so
	 * that its replies are read consistently. */
	bool read_full;
	/* lowest (ts, wr) among the peers' VALUEs of the read phase */
	bool have_min;
	uint64_t min_ts;
	uint8_t min_wr;
	/* the (ts, wr) of the write phase */
	uint64_t w_ts;
	uint8_t w_wr;
	/* STORING: the register's store count that makes our store durable */
	uint64_t store_wait;
	/* a repair that stored a value with repair() (w_ts, w_wr): the node
	 * counts it and logs it when the op is done */
	bool repaired;
	/* a repair: the own (damaged) tag when its read phase started */
	uint64_t rep_ts;
	uint8_t rep_wr;

	/* --- owned by the node --- */
	struct add_op *next_in_sector;         /* FIFO of the sector's ops */
	struct add_op *prev_all, *next_all;    /* every live op (conn close) */
	struct add_op *prev_fly, *next_fly;    /* ops in READ or WRITE phase */
	bool in_flight;
	bool by_node; /* a REPAIR the node started (no client op waits on it) */
	uint64_t conn;
	uint64_t request;
	bool conn_open;
	/* The client's connection is gone before this op chose its tag: it is
	 * not started, or ends at its read phase's majority, unanswered and
	 * without writing anything (no ghost write after a client's retry
	 * elsewhere). Set by the node; an op past its tag decision finishes. */
	bool abandoned;
	uint64_t retx_at_ns;
	uint64_t retx_interval_ns;
	uint8_t read_proc_msg[ADD_PEER_SMALL_SIZE];
	uint8_t buf[ADD_PEER_VALUE_SIZE];
} add_op;

/* A replica's reply that waits for durability:
 *  - ACK: until every store submitted up to the WRITE_PROC's delivery is
 *    durable (then the durable state is >= (ts', wr'));
 *  - VALUE: while any store of the sector is in flight. E.g. while this
 *    process's own write is STORING, its store already shows (maxts + 1,
 *    self, v), which is not durable yet: revealing it could let a crash lose
 *    it while others hold it, and the restarted writer reuse (maxts + 1,
 *    self) for another value. And a reader that skips its write-back relies
 *    on every VALUE being durable. The seed's store() blocks, so there no
 *    READ_PROC is answered in between either. */
typedef struct add_reply_waiter {
	struct add_reply_waiter *next;
	uint8_t type; /* ADD_TYPE_ACK, ADD_TYPE_VALUE or ADD_TYPE_VALUE_META */
	uint8_t rank;
	uint8_t uuid[ADD_UUID_SIZE];
	uint64_t wait_until; /* ACK: stores_done must reach this */
} add_reply_waiter;

typedef struct add_register {
	uint64_t sector;
	add_op *op_head, *op_tail; /* FIFO; the head runs, the rest are QUEUED */
	add_op *repair; /* the REPAIR op in the queue, or NULL (at most one) */
	uint64_t stores_submitted;
	uint64_t stores_done;
	add_reply_waiter *waiters;
	struct add_register *next_free; /* node's pool */
} add_register;

/* Effects of the register, implemented by the node. */
typedef struct add_reg_env {
	void *ctx;
	uint8_t self;    /* rank(self) */
	uint8_t n_procs; /* N */
	/* Every other process has shown it understands READ_PROC_META /
	 * VALUE_META (the project's own types, PROTOCOL.md reserves >= 0x80):
	 * only then may a read phase use them. Otherwise it speaks only the
	 * standard READ_PROC / VALUE, which any PROTOCOL.md peer answers. Kept
	 * up to date by the node; read when a read phase starts. */
	bool peers_speak_meta;
	void (*get_meta)(void *ctx, uint64_t sector, uint64_t *ts, uint8_t *wr);
	/* true: `out` holds the sector's value; false: the local copy is
	 * damaged (store_ops.h) and `out` must not be used (damaged() is true
	 * from then on, until a newer store or a repair). */
	bool (*read_data)(void *ctx, uint64_t sector, uint8_t out[ADD_SECTOR_SIZE]);
	/* The local copy of the sector is known to be damaged (store_ops.h). */
	bool (*damaged)(void *ctx, uint64_t sector);
	/* store(ts, wr, data) of r's sector; counted in r->stores_submitted by
	 * the caller (the register). */
	void (*store)(void *ctx, add_register *r, uint64_t ts, uint8_t wr, const uint8_t *data);
	/* The same with the store's repair() (unconditional, clears damage). */
	void (*repair)(void *ctx, add_register *r, uint64_t ts, uint8_t wr, const uint8_t *data);
	/* Optional: every answer of a repair was (0, 0) (never written): true
	 * if nothing needs storing (store_ops.h, repair_unwritten). */
	bool (*repair_unwritten)(void *ctx, uint64_t sector);
	/* store_ops.h's ts_floor: a writer picks ts = max(maxts, floor) + 1. */
	uint64_t (*ts_floor)(void *ctx);
	/* A REPAIR op for r's sector from the node's pool (kind, sector and
	 * uuid set), or NULL when memory is exhausted (the node then fails). */
	add_op *(*new_repair)(void *ctx, add_register *r);
	/* The sector is damaged and something here needs it repaired (a
	 * WRITE_PROC not ACKed): the node queues a repair after the current
	 * event, as add_reg_want_repair, within its bound. */
	void (*want_repair)(void *ctx, uint64_t sector);
	/* sbeb Broadcast of op's READ_PROC / WRITE_PROC (w_ts, w_wr, buf data),
	 * including to self (a REPAIR's READ_PROC: to the others only); the
	 * node arms its retransmission. */
	void (*broadcast_read_proc)(void *ctx, add_register *r, add_op *op);
	void (*broadcast_write_proc)(void *ctx, add_register *r, add_op *op);
	/* The phase ended: no more retransmission of op's message. */
	void (*phase_over)(void *ctx, add_register *r, add_op *op);
	/* sl Send [ACK, uuid] to `rank` (maybe self). */
	void (*send_ack)(void *ctx, uint64_t sector, uint8_t rank,
			 const uint8_t uuid[ADD_UUID_SIZE]);
	/* sl Send [VALUE, uuid, ts, wr, val] (current state) to `rank`; with
	 * type ADD_TYPE_VALUE_META, only (ts, wr) (a write's read phase). */
	void (*send_value)(void *ctx, uint64_t sector, uint8_t rank,
			   const uint8_t uuid[ADD_UUID_SIZE], uint8_t type);
	/* ReadReturn / WriteReturn: op is already off the register's queue;
	 * the node answers the client (a REPAIR has none) and releases op. */
	void (*op_done)(void *ctx, add_op *op);
	/* Waiters come from the node's pool; NULL when memory is exhausted
	 * (the reply is then dropped: the coordinator retransmits). */
	add_reply_waiter *(*new_waiter)(void *ctx);
	void (*free_waiter)(void *ctx, add_reply_waiter *w);
} add_reg_env;

void add_reg_init(add_register *r, uint64_t sector);

/* Lexicographic (ts, wr) order: > 0 when a is newer than b. */
int add_reg_tag_cmp(uint64_t ts_a, uint8_t wr_a, uint64_t ts_b, uint8_t wr_b);

/* Read / Write: append op (kind, uuid, and for a write the data at
 * buf + ADD_PEER_OFF_DATA, already set) to the sector's queue; it starts at
 * once if the register is not busy. */
void add_reg_submit(add_register *r, const add_reg_env *env, add_op *op);

/* sl Deliver [VALUE, uuid, ts, wr, data] from `from` (data NULL from self:
 * the coordinator's own value is taken at decision time; data NULL from a
 * peer: a VALUE_META, which only a write's read phase accepts). */
void add_reg_on_value(add_register *r, const add_reg_env *env, uint8_t from,
		      const uint8_t uuid[ADD_UUID_SIZE], uint64_t ts, uint8_t wr,
		      const uint8_t *data);
/* sl Deliver [ACK, uuid] from `from`. */
void add_reg_on_ack(add_register *r, const add_reg_env *env, uint8_t from,
		    const uint8_t uuid[ADD_UUID_SIZE]);
/* sbeb Deliver [READ_PROC, uuid] from `from`: reply_type (VALUE, or
 * VALUE_META for a READ_PROC_META) now, or once no store of the sector is in
 * flight. (Without a register, a node answers at once.) */
void add_reg_on_read_proc(add_register *r, const add_reg_env *env, uint8_t from,
			  const uint8_t uuid[ADD_UUID_SIZE], uint8_t reply_type);
/* sbeb Deliver [WRITE_PROC, uuid, ts, wr, data] from `from`. */
void add_reg_on_write_proc(add_register *r, const add_reg_env *env, uint8_t from,
			   const uint8_t uuid[ADD_UUID_SIZE], uint64_t ts, uint8_t wr,
			   const uint8_t *data);
/* The oldest store still in flight for this sector is durable. */
void add_reg_on_store_done(add_register *r, const add_reg_env *env);

/* Queue a REPAIR of the (damaged) sector, unless one is queued already; it
 * starts at once if the register is not busy, else when its turn comes (a
 * client op that starts on a damaged sector moves it in front of itself).
 * A REPAIR that starts while the sector is no longer damaged does nothing.
 * False only when memory is exhausted. */
bool add_reg_want_repair(add_register *r, const add_reg_env *env);

/* Nothing in flight: the register may be freed. */
bool add_reg_idle(const add_register *r);
/* The running op (head of the queue, not QUEUED), or NULL. */
add_op *add_reg_running(const add_register *r);

#endif /* ADD_REGISTER_H */
