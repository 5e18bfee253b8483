/* runtime-real/conn_policy: see conn_policy.h. Pure: no syscalls, no clock. */
#include "conn_policy.h"

#include <assert.h>
#include <string.h>

#include "mutants.h"

void add_cp_init(add_conn_policy *p, const add_cp_config *cfg)
{
	assert(cfg->client_slots >= 1 && cfg->probation_max >= 1);
	assert(cfg->probation_ns > 0 && cfg->half_close_ns > 0);
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
}

bool add_cp_accept(add_conn_policy *p, add_cp_conn *c, uint64_t now_ns)
{
	bool evict = p->on_probation >= p->cfg.probation_max;

	memset(c, 0, sizeof(*c));
	c->kind = ADD_CP_NEW;
	c->opened_ns = now_ns;
	c->active_ns = now_ns;
	p->on_probation++;
	assert(p->on_probation <= p->cfg.probation_max + 1u);
	return evict;
}

bool add_cp_older(const add_cp_conn *a, const add_cp_conn *b)
{
	return a->opened_ns < b->opened_ns;
}

static void leave_probation(add_conn_policy *p, add_cp_conn *c)
{
	assert(c->kind == ADD_CP_NEW && p->on_probation > 0);
	p->on_probation--;
}

add_cp_verdict add_cp_on_message(add_conn_policy *p, add_cp_conn *c, uint64_t id, bool peer,
				 bool hmac_ok, uint8_t rank, uint64_t now_ns, uint64_t *replaced)
{
	assert(id != 0 && !c->read_eof);
	*replaced = 0;
	if (c->kind == ADD_CP_CLIENT)
		c->active_ns = now_ns;
	if (c->kind != ADD_CP_NEW ||
	    (!hmac_ok && !(ADD_MUTANT_ON(ADD_MUTANT_CP_SLOT_WITHOUT_SIGNATURE) && !peer)))
		return ADD_CP_DISPATCH; /* classified already, or proves nothing */
	if (peer) {
		leave_probation(p, c);
		c->kind = ADD_CP_PEER;
		c->rank = rank;
		if (rank >= 1 && rank <= ADD_PROCS_MAX) {
			if (p->peer_in[rank] != 0 && p->peer_in[rank] != id &&
			    !ADD_MUTANT_ON(ADD_MUTANT_CP_PEER_NOT_REPLACED))
				*replaced = p->peer_in[rank];
			p->peer_in[rank] = id;
		}
		return ADD_CP_DISPATCH;
	}
	if (p->slots_used >= p->cfg.client_slots)
		return ADD_CP_CLOSE_FULL; /* stays NEW: add_cp_on_close counts it */
	leave_probation(p, c);
	c->kind = ADD_CP_CLIENT;
	c->holds_slot = true;
	c->active_ns = now_ns;
	p->slots_used++;
	assert(p->slots_used <= p->cfg.client_slots);
	return ADD_CP_DISPATCH;
}

void add_cp_cmd_started(add_cp_conn *c, uint64_t now_ns)
{
	c->pending++;
	c->active_ns = now_ns;
	assert(c->pending != 0);
}

void add_cp_cmd_answered(add_cp_conn *c, uint64_t now_ns)
{
	if (c->pending > 0)
		c->pending--;
	c->active_ns = now_ns;
}

static void give_slot_back(add_conn_policy *p, add_cp_conn *c)
{
	if (!c->holds_slot)
		return;
	assert(p->slots_used > 0);
	p->slots_used--;
	c->holds_slot = false;
}

bool add_cp_on_eof(add_conn_policy *p, add_cp_conn *c, uint64_t now_ns)
{
	assert(!c->read_eof);
	if (c->kind != ADD_CP_CLIENT || c->pending == 0)
		return false;
	c->read_eof = true;
	c->eof_ns = now_ns;
	give_slot_back(p, c);
	assert(!c->holds_slot);
	return true;
}

bool add_cp_reads(const add_conn_policy *p, const add_cp_conn *c, bool node_accepting,
		  size_t out_pending)
{
	if (c->read_eof)
		return false;
	if (c->kind == ADD_CP_PEER)
		return true; /* backpressure is for client commands only */
	return node_accepting && out_pending <= p->cfg.out_pause;
}

const char *add_cp_expired(const add_conn_policy *p, const add_cp_conn *c, uint64_t now_ns)
{
	switch (c->kind) {
	case ADD_CP_NEW:
		if (now_ns - c->opened_ns >= p->cfg.probation_ns)
			return "no validly signed message in the probation time";
		return NULL;
	case ADD_CP_CLIENT:
		if (c->read_eof)
			return now_ns - c->eof_ns >= p->cfg.half_close_ns
				       ? "half-closed and not answered in time"
				       : NULL;
		if (p->cfg.idle_ns != 0 && c->pending == 0 &&
		    now_ns - c->active_ns >= p->cfg.idle_ns)
			return "idle client (nothing pending)";
		return NULL;
	case ADD_CP_PEER:
	case ADD_CP_CLOSED:
		return NULL; /* TCP keepalive and replacement reap dead links */
	}
	return NULL;
}

void add_cp_on_close(add_conn_policy *p, add_cp_conn *c, uint64_t id)
{
	assert(c->kind != ADD_CP_CLOSED);
	if (c->kind == ADD_CP_NEW)
		leave_probation(p, c);
	give_slot_back(p, c);
	if (c->kind == ADD_CP_PEER && c->rank >= 1 && c->rank <= ADD_PROCS_MAX &&
	    p->peer_in[c->rank] == id)
		p->peer_in[c->rank] = 0;
	c->kind = ADD_CP_CLOSED;
	c->pending = 0;
	assert(!c->holds_slot);
}
