/*
 * core/register: the (N,N)-AtomicRegister of the seed, one sector, crash-
 * recovery version. Read next to the pseudocode: each handler names the
 * "upon event" it implements, and the seed's line numbers are given
 * (the pseudocode's events and lines: docs/ARCHITECTURE.md, "register").
 * See register.h for what differs from the pseudocode and why.
 */
#include <assert.h>
#include <string.h>

#include "mutants.h"
#include "register.h"

/* A waiter list longer than this only holds stale duplicates: the oldest is
 * dropped (its coordinator retransmits WRITE_PROC if it still matters). */
#define WAITERS_PER_PROC_MAX 4

static bool answered(const add_op *op, uint8_t rank)
{
	return (op->answered[rank / 64] >> (rank % 64)) & 1u;
}

static void mark_answered(add_op *op, uint8_t rank)
{
	assert(!answered(op, rank));
	op->answered[rank / 64] |= 1ull << (rank % 64);
	op->n_answered++;
}

/* readlist := [ _ ] of length N; acklist := [ _ ] of length N */
static void clear_lists(add_op *op)
{
	memset(op->answered, 0, sizeof(op->answered));
	op->n_answered = 0;
}

/* #(list) > N / 2 */
static bool is_majority(const add_reg_env *env, uint32_t count)
{
	if (ADD_MUTANT_ON(ADD_MUTANT_MAJORITY_GE_HALF))
		return count >= env->n_procs / 2u;
	return count > env->n_procs / 2u;
}

static bool same_op(const add_op *op, const uint8_t uuid[ADD_UUID_SIZE])
{
	if (ADD_MUTANT_ON(ADD_MUTANT_ACCEPT_STALE_REPLY))
		return true;
	return memcmp(op->uuid, uuid, ADD_UUID_SIZE) == 0;
}

int add_reg_tag_cmp(uint64_t ts_a, uint8_t wr_a, uint64_t ts_b, uint8_t wr_b)
{
	if (ts_a != ts_b)
		return ts_a > ts_b ? 1 : -1;
	if (ADD_MUTANT_ON(ADD_MUTANT_TS_WITHOUT_RANK))
		return 0;
	if (wr_a != wr_b)
		return wr_a > wr_b ? 1 : -1;
	return 0;
}

void add_reg_init(add_register *r, uint64_t sector)
{
	memset(r, 0, sizeof(*r));
	r->sector = sector;
}

add_op *add_reg_running(const add_register *r)
{
	add_op *op = r->op_head;

	if (op == NULL || op->phase == ADD_PHASE_QUEUED)
		return NULL;
	assert(op->phase != ADD_PHASE_DONE);
	return op;
}

bool add_reg_idle(const add_register *r)
{
	assert(r->stores_done <= r->stores_submitted);
	return r->op_head == NULL && r->stores_done == r->stores_submitted &&
	       r->waiters == NULL;
}

/* store(ts, wr, val): (ts, wr, val) := ... is the store itself, since the
 * store reflects every submitted store at once (store_ops.h). */
static void store(add_register *r, const add_reg_env *env, uint64_t ts, uint8_t wr,
		  const uint8_t *data)
{
	r->stores_submitted++;
	env->store(env->ctx, r, ts, wr, data);
}

static void start(add_register *r, const add_reg_env *env, add_op *op);
static void finish(add_register *r, const add_reg_env *env, add_op *op);

/* A client op is about to start on a damaged sector: the sector's REPAIR
 * (queued behind it, or a new one) goes in front of it and starts; op stays
 * QUEUED and starts when the repair is done. */
static void repair_first(add_register *r, const add_reg_env *env, add_op *op)
{
	add_op *rep = r->repair;

	assert(r->op_head == op && op->kind != ADD_OP_REPAIR);
	if (rep == NULL) {
		rep = env->new_repair(env->ctx, r);
		if (rep == NULL)
			return; /* out of memory: the node has failed */
		assert(rep->kind == ADD_OP_REPAIR && rep->sector == r->sector);
		rep->phase = ADD_PHASE_QUEUED;
		r->repair = rep;
	} else {
		add_op *prev = op;

		assert(rep->phase == ADD_PHASE_QUEUED);
		while (prev->next_in_sector != rep)
			prev = prev->next_in_sector;
		prev->next_in_sector = rep->next_in_sector;
		if (r->op_tail == rep)
			r->op_tail = prev;
	}
	rep->next_in_sector = op;
	r->op_head = rep;
	start(r, env, rep);
}

/* upon event < nnar, Read > / < nnar, Write | v >  (lines 29-34, 54-60);
 * a REPAIR's read phase asks the others for full values. */
static void start(add_register *r, const add_reg_env *env, add_op *op)
{
	assert(r->op_head == op);
	assert(op->phase == ADD_PHASE_QUEUED);
	if (op->abandoned && !ADD_MUTANT_ON(ADD_MUTANT_RUN_ABANDONED_PRE_TAG)) {
		assert(op->kind != ADD_OP_REPAIR);
		finish(r, env, op); /* its client is gone: never started */
		return;
	}
	if (op->kind != ADD_OP_REPAIR && env->damaged(env->ctx, r->sector)) {
		repair_first(r, env, op);
		return;
	}
	if (op->kind == ADD_OP_REPAIR && !env->damaged(env->ctx, r->sector)) {
		finish(r, env, op); /* a newer value was stored meanwhile */
		return;
	}
	clear_lists(op);
	op->have_max = false;
	op->have_min = false;
	op->max_data = false;
	op->repaired = false;
	/* ask for (ts, wr) only if every peer understands READ_PROC_META;
	 * else the seed's read phase with READ_PROC and VALUEs */
	op->read_full = op->kind == ADD_OP_REPAIR || !env->peers_speak_meta;
	if (op->kind == ADD_OP_REPAIR)
		env->get_meta(env->ctx, r->sector, &op->rep_ts, &op->rep_wr);
	op->phase = ADD_PHASE_READ; /* reading := TRUE / writing := TRUE */
	env->broadcast_read_proc(env->ctx, r, op);
}

/* A read whose majority shows a (ts, wr) higher than the own one needs that
 * value: its read phase starts over with READ_PROC, whose VALUEs carry data
 * (the full read phase of the seed). The first, tags-only round is then
 * merely an extra round trip; its late replies are ignored (no data). */
static void restart_read_with_values(add_register *r, const add_reg_env *env, add_op *op)
{
	assert(op->kind == ADD_OP_READ && !op->read_full);
	env->phase_over(env->ctx, r, op);
	clear_lists(op);
	op->have_max = false;
	op->have_min = false;
	op->max_data = false;
	op->read_full = true;
	env->broadcast_read_proc(env->ctx, r, op);
}

void add_reg_submit(add_register *r, const add_reg_env *env, add_op *op)
{
	assert(op->sector == r->sector);
	assert(op->kind == ADD_OP_READ || op->kind == ADD_OP_WRITE ||
	       (op->kind == ADD_OP_REPAIR && r->repair == op));
	op->phase = ADD_PHASE_QUEUED;
	op->next_in_sector = NULL;
	if (r->op_tail != NULL)
		r->op_tail->next_in_sector = op;
	else
		r->op_head = op;
	r->op_tail = op;
	if (r->op_head == op)
		start(r, env, op);
}

/* trigger < nnar, ReadReturn | readval > / < nnar, WriteReturn >, then the
 * next operation queued on this sector. */
static void finish(add_register *r, const add_reg_env *env, add_op *op)
{
	add_op *next;

	assert(r->op_head == op);
	assert(!op->in_flight);
	op->phase = ADD_PHASE_DONE;
	if (r->repair == op)
		r->repair = NULL;
	next = op->next_in_sector;
	r->op_head = next;
	if (next == NULL)
		r->op_tail = NULL;
	op->next_in_sector = NULL;
	env->op_done(env->ctx, op); /* op is gone */
	if (next != NULL)
		start(r, env, next);
}

/* The write phase of a read: write back the highest value (line 48). */
static void write_back(add_register *r, const add_reg_env *env, add_op *op)
{
	op->w_ts = op->max_ts;
	op->w_wr = op->max_wr;
	op->phase = ADD_PHASE_WRITE;
	env->broadcast_write_proc(env->ctx, r, op);
}

/* The write phase of a write (lines 50-52): the new value is stored, and
 * WRITE_PROC leaves only once that store is durable (add_reg_on_store_done):
 * otherwise a crash could lose it after peers adopted it, and the restarted
 * writer could reuse (maxts + 1, rank(self)) for another value. */
static void store_then_broadcast(add_register *r, const add_reg_env *env, add_op *op)
{
	/* never above the floor a repair left (store_ops.h): a reader may still
	 * hold the value this process once wrote under (floor, self) */
	uint64_t floor = ADD_MUTANT_ON(ADD_MUTANT_REPAIR_NO_FLOOR) ? 0 : env->ts_floor(env->ctx);
	uint64_t base = op->max_ts > floor ? op->max_ts : floor;

	assert(base < UINT64_MAX); /* the node refuses absurd timestamps */
	op->w_ts = base + 1;
	op->w_wr = env->self;
	store(r, env, op->w_ts, op->w_wr, op->buf + ADD_PEER_OFF_DATA);
	op->store_wait = r->stores_submitted;
	if (ADD_MUTANT_ON(ADD_MUTANT_WRITER_NO_STORE_FIRST)) {
		op->phase = ADD_PHASE_WRITE;
		env->broadcast_write_proc(env->ctx, r, op);
		return;
	}
	op->phase = ADD_PHASE_STORING;
}

/* A read may return without its write-back when the write-back could not
 * change anything: every reply of its read majority (the peers' VALUEs and
 * the own value taken now) carries the same (ts, wr), and each is durable at
 * its process. Peers answer VALUE only from durable state (a replica defers
 * VALUE while any store of the sector is in flight: add_reg_on_read_proc),
 * and the own value is durable when no own store of the sector is in flight.
 *
 * Why it stays linearizable: the write-back's only effect is that a majority
 * holds >= (ts, wr) durably when the read returns (its ACKs say exactly that).
 * Here a majority already does: durable states only grow (a replica stores
 * only newer tags, and a restart recovers the durable state), so it still
 * does when the read returns. Any later operation's read majority intersects
 * it and sees >= (ts, wr), as after a write-back; and one (ts, wr) names one
 * value (the writer stores it durably before anyone sees it). A reply whose
 * value is only in flight at its replica could be lost in a crash, hence the
 * durability condition; a quorum that disagrees needs the write-back to make
 * the highest value reach a majority (mutant SKIP_WRITE_BACK skips it anyway,
 * and the simulator catches it). */
static bool quorum_holds_max_durably(const add_register *r, const add_op *op, uint64_t own_ts,
				     uint8_t own_wr)
{
	assert(op->kind == ADD_OP_READ && op->have_max);
	if (r->stores_done != r->stores_submitted)
		return false; /* the own value may not be durable */
	if (add_reg_tag_cmp(own_ts, own_wr, op->max_ts, op->max_wr) != 0)
		return false;
	/* every peer's reply is between min and max */
	return !op->have_min || add_reg_tag_cmp(op->min_ts, op->min_wr, op->max_ts, op->max_wr) == 0;
}

/* Whether a REPAIR may store the highest value it has heard of: when that
 * value's tag is >= the own (damaged) tag, or once every other process
 * answered.
 *
 * Why that loses nothing. An operation may have relied on this process p's
 * copy with a tag t only through an ACK or a VALUE that p gave while its
 * copy was still good (a damaged copy answers no READ_PROC and ACKs no
 * WRITE_PROC that is not newer: add_reg_on_write_proc); p's tag only grows
 * until a repair, so t <= T, p's tag now (get_meta: never lower than what
 * was durable).
 *  - Highest m >= T: p ends at >= T >= t, with a value some other process
 *    holds durably under tag m (VALUEs come only from durable state; one tag
 *    names one value): exactly as if p had received that WRITE_PROC. One
 *    answer suffices for this; it is the usual case (damage of a value a
 *    majority holds: any answer from that majority is >= T).
 *  - Every other answered: the coordinator of each write phase p ACKed
 *    held its value before any WRITE_PROC left (a writer stores it durably
 *    first, a write-back delivers it to itself in the same step), and p's
 *    READ_PROC left only after that ACK, so the coordinator's answer is
 *    >= t, and so is m. (p's own operations are queued behind the repair,
 *    and an operation of a previous incarnation of p never completes.) If
 *    m < T, T named a value no other process holds; p lowers its tag, and
 *    when T was its own write the store remembers T's ts as the floor of
 *    p's next writes (store_ops.h), so no tag ever names two values.
 * Stopping at K = N - floor(N/2) others whatever their tags (the rule first
 * specified, mutant REPAIR_BELOW_TAG_WITH_K) is not enough for N >= 4:
 * with a write phase still collecting ACKs when p's copy goes bad, the K
 * others may all answer before they store it, while p's earlier ACK and
 * theirs complete the write; p then holds less than that completed write
 * and a read from p and older processes returns the older value
 * (tests/unit/test_node_damage.c, n5_...). Settling for fewer than K, or
 * counting p's own copy, fails even for N = 3 (mutant REPAIR_COUNTS_SELF).
 * Liveness: a repair whose tag some other process holds completes with the
 * first such answer; one whose tag nobody else holds waits for all others
 * (in particular when N = 1, never: the op waits). */
static bool repair_may_decide(const add_register *r, const add_reg_env *env, const add_op *op)
{
	uint32_t others = env->n_procs - 1u, k = env->n_procs - env->n_procs / 2u;
	uint64_t own_ts;
	uint8_t own_wr;

	assert(op->kind == ADD_OP_REPAIR && op->n_answered <= others);
	if (op->n_answered == 0)
		return false;
	if (ADD_MUTANT_ON(ADD_MUTANT_REPAIR_COUNTS_SELF))
		return op->n_answered + 1 >= k; /* its own copy counted as one of K */
	if (ADD_MUTANT_ON(ADD_MUTANT_REPAIR_BELOW_TAG_WITH_K))
		return op->n_answered >= k;
	if (op->n_answered == others)
		return true;
	if (!env->damaged(env->ctx, r->sector))
		return true; /* a newer value was stored meanwhile (or, core/rejoin.h,
			      * the sector became known): repair_decide finishes */
	env->get_meta(env->ctx, r->sector, &own_ts, &own_wr);
	return add_reg_tag_cmp(op->max_ts, op->max_wr, own_ts, own_wr) >= 0;
}

/* The repair may decide (repair_may_decide): store the highest value heard
 * of with repair(), unless a newer WRITE_PROC was stored meanwhile (then
 * nothing is left to repair, or, if that value went bad too, a new repair
 * asks again: repair_may_decide's argument needs answers given after every
 * ACK of this process). */
static void repair_decide(add_register *r, const add_reg_env *env, add_op *op)
{
	uint64_t own_ts;
	uint8_t own_wr;

	assert(op->kind == ADD_OP_REPAIR && op->have_max && op->max_data);
	assert(op->n_answered > 0);
	env->phase_over(env->ctx, r, op);
	clear_lists(op);
	if (!env->damaged(env->ctx, r->sector)) {
		finish(r, env, op); /* a newer WRITE_PROC was stored meanwhile */
		return;
	}
	env->get_meta(env->ctx, r->sector, &own_ts, &own_wr);
	if (add_reg_tag_cmp(own_ts, own_wr, op->rep_ts, op->rep_wr) != 0 &&
	    !ADD_MUTANT_ON(ADD_MUTANT_REPAIR_STALE_ANSWERS)) {
		/* a newer value was stored and went bad again: the answers may
		 * predate this process's ACK of it, so they prove nothing. A new
		 * repair (a new uuid: no late answer of this one counts) asks
		 * again; a client op queued here starts one at once. */
		env->want_repair(env->ctx, r->sector);
		finish(r, env, op);
		return;
	}
	if (op->max_ts == 0 && op->max_wr == 0 && env->repair_unwritten != NULL &&
	    env->repair_unwritten(env->ctx, r->sector)) {
		finish(r, env, op); /* nobody ever wrote it: nothing to store */
		return;
	}
	op->w_ts = op->max_ts;
	op->w_wr = op->max_wr;
	op->repaired = true;
	r->stores_submitted++;
	env->repair(env->ctx, r, op->w_ts, op->w_wr, op->buf + ADD_PEER_OFF_DATA);
	op->store_wait = r->stores_submitted;
	op->phase = ADD_PHASE_STORING; /* the queue moves on once it is durable */
}

/* A VALUE for a REPAIR: only full values from others count. */
static void repair_on_value(add_register *r, const add_reg_env *env, add_op *op, uint8_t from,
			    uint64_t ts, uint8_t wr, const uint8_t *data)
{
	assert(op->kind == ADD_OP_REPAIR && op->phase == ADD_PHASE_READ);
	if (from == env->self || data == NULL)
		return; /* the own copy is the unknown one; a VALUE_META has no value */
	mark_answered(op, from);
	if (!op->have_max || add_reg_tag_cmp(ts, wr, op->max_ts, op->max_wr) > 0) {
		op->have_max = true;
		op->max_ts = ts;
		op->max_wr = wr;
		op->max_data = true;
		memcpy(op->buf + ADD_PEER_OFF_DATA, data, ADD_SECTOR_SIZE);
	}
	if (repair_may_decide(r, env, op))
		repair_decide(r, env, op);
}

bool add_reg_want_repair(add_register *r, const add_reg_env *env)
{
	add_op *rep;

	if (r->repair != NULL)
		return true;
	rep = env->new_repair(env->ctx, r);
	if (rep == NULL)
		return false;
	assert(rep->kind == ADD_OP_REPAIR && rep->sector == r->sector);
	r->repair = rep;
	add_reg_submit(r, env, rep);
	return true;
}

/* upon event < sl, Deliver | q, [VALUE, id, ts', wr', v'] > such that
 * id == op_id and !write_phase  (lines 39-52) */
void add_reg_on_value(add_register *r, const add_reg_env *env, uint8_t from,
		      const uint8_t uuid[ADD_UUID_SIZE], uint64_t ts, uint8_t wr,
		      const uint8_t *data)
{
	add_op *op = add_reg_running(r);
	uint64_t own_ts;
	uint8_t own_wr;

	assert(from >= 1 && from <= env->n_procs);
	if (op == NULL || op->phase != ADD_PHASE_READ || !same_op(op, uuid))
		return;
	if (answered(op, from)) {
		/* a duplicate: each process counts once; but a repair whose sector
		 * stopped being damaged meanwhile (core/rejoin.h: became known)
		 * may decide now (node.c asks again for that) */
		if (op->kind == ADD_OP_REPAIR && op->have_max && op->max_data &&
		    repair_may_decide(r, env, op))
			repair_decide(r, env, op);
		return;
	}
	if (op->kind == ADD_OP_REPAIR) {
		repair_on_value(r, env, op, from, ts, wr, data);
		return;
	}
	if (from != env->self && data == NULL && op->read_full)
		return; /* a VALUE_META (late, of a read's tags-only round): no value */
	/* readlist[q] := (ts', wr', v'): only the highest matters */
	mark_answered(op, from);
	if (from != env->self &&
	    (!op->have_min || add_reg_tag_cmp(ts, wr, op->min_ts, op->min_wr) < 0)) {
		op->have_min = true;
		op->min_ts = ts;
		op->min_wr = wr;
	}
	if (from != env->self &&
	    (!op->have_max || add_reg_tag_cmp(ts, wr, op->max_ts, op->max_wr) > 0)) {
		op->have_max = true;
		op->max_ts = ts;
		op->max_wr = wr;
		op->max_data = op->kind == ADD_OP_READ && data != NULL;
		if (op->max_data)
			memcpy(op->buf + ADD_PEER_OFF_DATA, data, ADD_SECTOR_SIZE);
	}
	if (!is_majority(env, op->n_answered))
		return;

	/* readlist[self] := (ts, wr, val); (maxts, rr, readval) := highest */
	env->get_meta(env->ctx, r->sector, &own_ts, &own_wr);
	int own_cmp = op->have_max ? add_reg_tag_cmp(own_ts, own_wr, op->max_ts, op->max_wr) : 1;

	/* On a tie without the peer's data, the own copy is that value: one
	 * (ts, wr) names one value (the writer stores it durably first). */
	if (own_cmp > 0 || (own_cmp == 0 && op->kind == ADD_OP_READ && !op->max_data)) {
		op->have_max = true;
		op->max_ts = own_ts;
		op->max_wr = own_wr;
		if (op->kind == ADD_OP_READ) {
			if (!env->read_data(env->ctx, r->sector, op->buf + ADD_PEER_OFF_DATA)) {
				/* the own copy is damaged: none of its bytes leave;
				 * the sector is repaired, then this read starts over */
				env->phase_over(env->ctx, r, op);
				op->phase = ADD_PHASE_QUEUED;
				start(r, env, op);
				return;
			}
			op->max_data = true;
		}
	}
	if (op->kind == ADD_OP_READ && !op->max_data) {
		restart_read_with_values(r, env, op); /* a peer holds a newer value */
		return;
	}
	/* readlist := [ _ ]; acklist := [ _ ]; write_phase := TRUE */
	env->phase_over(env->ctx, r, op);
	clear_lists(op);
	if (op->abandoned && !ADD_MUTANT_ON(ADD_MUTANT_RUN_ABANDONED_PRE_TAG)) {
		finish(r, env, op); /* the tag decision: its client is gone */
		return;
	}
	if (op->kind == ADD_OP_WRITE) {
		store_then_broadcast(r, env, op);
	} else if (ADD_MUTANT_ON(ADD_MUTANT_SKIP_WRITE_BACK)) {
		finish(r, env, op);
	} else if (quorum_holds_max_durably(r, op, own_ts, own_wr)) {
		finish(r, env, op); /* the write-back would change nothing */
	} else {
		write_back(r, env, op);
	}
}

/* upon event < sl, Deliver | q, [ACK, id] > such that id == op_id and
 * write_phase  (lines 68-78) */
void add_reg_on_ack(add_register *r, const add_reg_env *env, uint8_t from,
		    const uint8_t uuid[ADD_UUID_SIZE])
{
	add_op *op = add_reg_running(r);

	assert(from >= 1 && from <= env->n_procs);
	if (op == NULL || op->phase != ADD_PHASE_WRITE || !same_op(op, uuid))
		return;
	if (answered(op, from))
		return;
	mark_answered(op, from); /* acklist[q] := Ack */
	if (!is_majority(env, op->n_answered))
		return;
	/* acklist := [ _ ]; write_phase := FALSE; reading/writing := FALSE */
	env->phase_over(env->ctx, r, op);
	clear_lists(op);
	finish(r, env, op);
}

/* Queues a reply until it may leave (see add_reply_waiter). A duplicate
 * request (a retransmission) is already waiting and is not queued twice. */
static void add_waiter(add_register *r, const add_reg_env *env, uint8_t type, uint8_t from,
		       const uint8_t uuid[ADD_UUID_SIZE])
{
	add_reply_waiter *w, *tail = NULL, *oldest = NULL, *oldest_prev = NULL, *prev = NULL;
	unsigned n_from = 0;

	for (w = r->waiters; w != NULL; prev = w, w = w->next) {
		tail = w;
		if (w->rank != from)
			continue;
		if (w->type == type && memcmp(w->uuid, uuid, ADD_UUID_SIZE) == 0)
			return;
		if (n_from++ == 0) {
			oldest = w;
			oldest_prev = prev;
		}
	}
	if (n_from >= WAITERS_PER_PROC_MAX) {
		/* stale requests of older operations of `from`: drop the oldest */
		if (oldest_prev != NULL)
			oldest_prev->next = oldest->next;
		else
			r->waiters = oldest->next;
		if (tail == oldest)
			tail = oldest_prev;
		env->free_waiter(env->ctx, oldest);
	}
	w = env->new_waiter(env->ctx);
	if (w == NULL)
		return; /* out of memory: the coordinator will retransmit */
	w->next = NULL;
	w->type = type;
	w->rank = from;
	memcpy(w->uuid, uuid, ADD_UUID_SIZE);
	w->wait_until = r->stores_submitted;
	/* appended: replies leave in delivery order */
	if (tail != NULL)
		tail->next = w;
	else
		r->waiters = w;
}

/* Some store of the sector is not durable yet: the state get_meta shows
 * (which reflects every submitted store) might not survive a crash. This
 * includes the own write's new value while it is STORING. */
static bool storing(const add_register *r)
{
	const add_op *op = add_reg_running(r);

	assert(r->stores_done <= r->stores_submitted);
	assert(op == NULL || op->phase != ADD_PHASE_STORING ||
	       r->stores_done < r->stores_submitted);
	(void)op;
	return r->stores_done != r->stores_submitted;
}

/* upon event < sbeb, Deliver | p, [READ_PROC, id] >  (lines 36-37);
 * reply_type is VALUE, or VALUE_META for a READ_PROC_META.
 * VALUE reveals only durable state: it waits while any store of the sector
 * is in flight. That covers the own write (a value becomes visible only once
 * its writer cannot lose it) and lets a reader skip its write-back when its
 * whole majority agrees (quorum_holds_max_durably). Delaying a reply is
 * always allowed (links may delay). The wait ends at the first moment the
 * sector has no store in flight: stores complete by the batch (group
 * commit), and a new one needs a new, newer WRITE_PROC, i.e. another write
 * of this sector that passed its own read phase meanwhile. Only writes to
 * one sector arriving back to back at every flush could keep it waiting
 * (not seen in the contention scenarios; the coordinator retransmits). */
void add_reg_on_read_proc(add_register *r, const add_reg_env *env, uint8_t from,
			  const uint8_t uuid[ADD_UUID_SIZE], uint8_t reply_type)
{
	assert(from >= 1 && from <= env->n_procs);
	assert(reply_type == ADD_TYPE_VALUE || reply_type == ADD_TYPE_VALUE_META);
	if (storing(r))
		add_waiter(r, env, reply_type, from, uuid);
	else
		env->send_value(env->ctx, r->sector, from, uuid, reply_type);
}

/* upon event < sbeb, Deliver | p, [WRITE_PROC, id, ts', wr', v'] >
 * (lines 62-66). The ACK is sent whether or not the value was newer (else
 * the write-back of an equal value never completes), once the replica's
 * durable state is >= (ts', wr').
 *
 * A damaged copy: a newer (ts', wr') is stored as always, which clears the
 * mark (store_ops.h), and ACKed once durable: this process then holds that
 * value durably like any replica, so the ACK means what it always means,
 * and a repair still running finds the sector no longer damaged and stores
 * nothing. One that is not newer is NOT ACKed while the copy is damaged:
 * the copy that would justify the ACK is unknown, and the repair may store
 * a lower value. E.g. N = 3, the repair at p already has the older answers
 * of q and r; then q, writing (ts', wr'), stores it and sends WRITE_PROC;
 * p's ACK would complete q's write with the majority {q, p} while p ends
 * below it, and a read from {p, r} would return the older value. The
 * coordinator retransmits; once the repair is done it gets its ACK. */
void add_reg_on_write_proc(add_register *r, const add_reg_env *env, uint8_t from,
			   const uint8_t uuid[ADD_UUID_SIZE], uint64_t ts, uint8_t wr,
			   const uint8_t *data)
{
	uint64_t cur_ts;
	uint8_t cur_wr;

	assert(from >= 1 && from <= env->n_procs);
	assert(data != NULL);
	env->get_meta(env->ctx, r->sector, &cur_ts, &cur_wr);
	if (add_reg_tag_cmp(ts, wr, cur_ts, cur_wr) > 0) {
		store(r, env, ts, wr, data); /* (ts, wr, val) := (ts', wr', v') */
	} else if (env->damaged(env->ctx, r->sector)) {
		env->want_repair(env->ctx, r->sector); /* no ACK until repaired */
		return;
	}
	/* trigger < sl, Send | p, [ACK, id] >, once durable */
	if (ADD_MUTANT_ON(ADD_MUTANT_ACK_BEFORE_STORE) || r->stores_done == r->stores_submitted)
		env->send_ack(env->ctx, r->sector, from, uuid);
	else
		add_waiter(r, env, ADD_TYPE_ACK, from, uuid);
}

void add_reg_on_store_done(add_register *r, const add_reg_env *env)
{
	add_reply_waiter *w, **link;
	add_op *op;

	assert(r->stores_done < r->stores_submitted);
	r->stores_done++;
	/* the writer's own store is durable: now WRITE_PROC may leave */
	op = add_reg_running(r);
	if (op != NULL && op->phase == ADD_PHASE_STORING && r->stores_done >= op->store_wait) {
		if (op->kind == ADD_OP_REPAIR) {
			finish(r, env, op); /* the repaired value is durable */
		} else {
			op->phase = ADD_PHASE_WRITE;
			env->broadcast_write_proc(env->ctx, r, op);
		}
	}
	/* the replies that may leave now */
	link = &r->waiters;
	while ((w = *link) != NULL) {
		bool go = w->type == ADD_TYPE_ACK ? w->wait_until <= r->stores_done
						  : !storing(r);

		if (!go) {
			link = &w->next;
			continue;
		}
		*link = w->next;
		if (w->type == ADD_TYPE_ACK)
			env->send_ack(env->ctx, r->sector, w->rank, w->uuid);
		else
			env->send_value(env->ctx, r->sector, w->rank, w->uuid, w->type);
		env->free_waiter(env->ctx, w);
	}
}
