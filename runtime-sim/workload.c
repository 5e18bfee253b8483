/* runtime-sim/workload: the clients (real client protocol, one op per sector
 * per connection, timeouts, reconnections) and the phases of a run
 * (workload, drain, heal and settle, final reads through every node). */
#include "world_internal.h"

/* A client's pause before its next op: drawn in every phase (the client's
 * stream stays the same), but none during the final reads, whose time
 * bound is the hard stop's (a bursty scenario's long think times would
 * otherwise use it up). */
static uint64_t think_ns(world *w, client *c)
{
	uint64_t t = add_prng_range(&c->rng, 0, w->s->think_ns_max);
	return w->phase == PH_FINAL ? 0 : t;
}

/* A sector index beyond n_sectors from a draw in [0, 1000): half the time
 * the first invalid index (n_sectors itself: the boundary), else up to 499
 * beyond it. */
static uint64_t invalid_offset(uint64_t draw)
{
	assert(draw < 1000);
	return draw >= 500 ? 0 : draw;
}

/* ---- clients ---------------------------------------------------------------- */
void sim_client_schedule_issue(world *w, client *c, uint64_t delay)
{
	if (c->issue_scheduled)
		return;
	c->issue_scheduled = true;
	sim_push(w, w->now + delay, EV_CLIENT_ISSUE, c->idx, 0, 0, NULL);
}

void sim_client_connect(world *w, client *c)
{
	c->connect_scheduled = false;
	if (c->conn)
		return;
	if (w->phase == PH_DONE)
		return;
	snode *sn = &w->nodes[c->node];
	if (!sn->up) {
		/* Refused: try another node a little later. */
		c->node = (uint32_t)add_prng_below(&c->rng, w->n);
		c->connect_scheduled = true;
		sim_push(w, w->now + CLIENT_RECONNECT_NS, EV_CLIENT_CONNECT, c->idx, 0, 0, NULL);
		return;
	}
	c->conn = sim_conn_new(w, CONN_CLIENT, c->node, c->idx);
	sim_client_schedule_issue(w, c, 0);
}

/* Every op pending on the client's connection becomes indeterminate. */
void sim_client_abandon_all(world *w, client *c, uint8_t flag, uint64_t timed_out_request)
{
	for (uint32_t k = 0; k < w->s->concurrency; k++) {
		pend *pd = &c->pend[k];
		if (!pd->used)
			continue;
		uint8_t f = pd->request == timed_out_request ? ADD_OPF_TIMED_OUT : flag;
		if (pd->bad) {
			pd->used = false;
			continue;
		}
		add_history_abandon(&w->r->history, pd->hidx, f);
		w->r->stats.ops_indeterminate++;
		if (pd->kind == ADD_OP_READ && w->r->history.ops[pd->hidx].flags & ADD_OPF_FINAL) {
			/* A final read must be answered: try again elsewhere. */
			c->next_final--;
			c->final_sectors[c->next_final] = pd->sector;
		}
		pd->used = false;
	}
	c->n_pend = 0;
}

void sim_client_reconnect_elsewhere(world *w, client *c)
{
	c->conn = 0;
	if (w->n > 1)
		c->node = (c->node + 1 + (uint32_t)add_prng_below(&c->rng, w->n - 1)) % w->n;
	if (!c->connect_scheduled) {
		c->connect_scheduled = true;
		sim_push(w, w->now + CLIENT_RECONNECT_NS, EV_CLIENT_CONNECT, c->idx, 0, 0, NULL);
	}
}

bool sim_sector_pending(const world *w, const client *c, uint64_t sector)
{
	for (uint32_t k = 0; k < w->s->concurrency; k++)
		if (c->pend[k].used && c->pend[k].sector == sector)
			return true;
	return false;
}

void sim_send_cmd(world *w, client *c, pend *pd)
{
	conn *cn = &w->conns[c->conn];
	add_client_cmd cmd = {.type = pd->kind == ADD_OP_WRITE ? ADD_TYPE_WRITE : ADD_TYPE_READ,
			      .request = pd->request,
			      .sector = pd->sector,
			      .data = NULL};
	/* Padding is not guaranteed zero (a known kernel client): sometimes
	 * send garbage there. */
	if (add_prng_chance(&c->rng, 0.25))
		add_prng_bytes(&c->rng, cmd.padding, sizeof(cmd.padding));
	if (pd->kind == ADD_OP_WRITE) {
		add_sim_value_fill(w->data, pd->sector, pd->value);
		cmd.data = w->data;
	}
	size_t len = add_wire_encode_cmd(&cmd, &w->client_key, w->buf);
	assert(len > 0);
	if (pd->bad == BAD_HMAC) /* one flipped bit of the tag: status 1 expected */
		w->buf[len - 1 - add_prng_below(&c->rng, ADD_HMAC_TAG_SIZE)] ^=
			(uint8_t)(1u << add_prng_below(&c->rng, 8));
	uint64_t t = w->now + sim_rand_between(&w->net_rng, w->s->latency_min_ns, w->s->latency_max_ns);
	if (t < cn->to_node_last_ns)
		t = cn->to_node_last_ns;
	cn->to_node_last_ns = t;
	w->r->stats.msgs_sent++;
	sim_deliver_at(w, EV_DELIVER_NODE, cn->node, c->conn, t, w->buf, len);
	/* A final read (the cluster is healed) has the liveness bound. */
	bool final = !pd->bad && w->r->history.ops[pd->hidx].flags & ADD_OPF_FINAL;
	sim_push(w, w->now + (final ? w->s->liveness_ns : w->s->client_timeout_ns), EV_CLIENT_TIMEOUT,
	     c->idx, c->conn, pd->request, NULL);
}

bool sim_workload_wants_more(const world *w)
{
	if (w->phase != PH_WORKLOAD)
		return false;
	return w->ops_issued < w->s->ops || w->now < w->last_timeline_ns ||
	       w->now < w->s->min_duration_ns;
}

void sim_client_issue(world *w, client *c)
{
	c->issue_scheduled = false;
	if (!c->conn || c->n_pend >= w->s->concurrency)
		return;
	uint32_t k = 0;
	while (c->pend[k].used)
		k++;
	pend *pd = &c->pend[k];
	if (w->phase == PH_FINAL) {
		if (c->next_final >= c->n_final)
			return;
		uint64_t sector = c->final_sectors[c->next_final];
		if (sim_sector_pending(w, c, sector))
			return; /* retried when the pending one answers */
		c->next_final++;
		*pd = (pend){.used = true, .kind = ADD_OP_READ, .sector = sector};
	} else {
		if (!sim_workload_wants_more(w))
			return;
		uint64_t sector;
		int tries = 0;
		do {
			sector = add_prng_below(&c->rng, w->s->sectors);
		} while (sim_sector_pending(w, c, sector) && ++tries < 16);
		if (sim_sector_pending(w, c, sector))
			return;
		bool read = add_prng_chance(&c->rng, w->s->read_ratio);
		if (add_prng_chance(&c->rng, w->s->bad_cmd)) {
			/* A command the node must refuse: a bad tag, or a sector
			 * beyond n_sectors. Not a register op: no history. */
			bool tag = add_prng_chance(&c->rng, 0.5);
			*pd = (pend){.used = true,
				     .kind = read ? ADD_OP_READ : ADD_OP_WRITE,
				     .bad = tag ? BAD_HMAC : BAD_SECTOR,
				     .sector = tag ? sector
						   : w->s->sectors + invalid_offset(add_prng_below(&c->rng, 1000)),
				     .value = read ? 0 : UINT64_MAX - 1,
				     .hidx = SIZE_MAX};
			pd->request = c->next_request++;
			w->r->stats.bad_cmds++;
			c->n_pend++;
			sim_send_cmd(w, c, pd);
			sim_client_schedule_issue(w, c, think_ns(w, c));
			return;
		}
		*pd = (pend){.used = true,
			     .kind = read ? ADD_OP_READ : ADD_OP_WRITE,
			     .sector = sector,
			     .value = read ? 0 : w->ops_issued + 1};
		w->ops_issued++;
	}
	pd->request = c->next_request++;
	pd->hidx = add_history_invoke(&w->r->history, c->idx, (uint8_t)(c->node + 1), pd->sector,
				      pd->kind, pd->value, w->now);
	if (pd->hidx == SIZE_MAX)
		abort();
	if (w->phase == PH_FINAL)
		w->r->history.ops[pd->hidx].flags |= ADD_OPF_FINAL;
	w->r->stats.ops_invoked++;
	sim_mix(w, pd->hidx);
	c->n_pend++;
	sim_send_cmd(w, c, pd);
	if (c->n_pend < w->s->concurrency)
		sim_client_schedule_issue(w, c, think_ns(w, c));
}


static void client_on_response(world *w, client *c, uint64_t conn_id, const add_client_rsp *rsp,
			       bool hmac_ok)
{
	pend *pd = NULL;
	for (uint32_t k = 0; k < w->s->concurrency; k++)
		if (c->pend[k].used && c->pend[k].request == rsp->request)
			pd = &c->pend[k];
	uint8_t want_status = !pd || !pd->bad	      ? ADD_STATUS_OK
			      : pd->bad == BAD_HMAC ? ADD_STATUS_AUTH_FAILURE
						    : ADD_STATUS_INVALID_SECTOR_INDEX;
	if (!pd || !hmac_ok || rsp->status != want_status ||
	    (want_status != ADD_STATUS_OK && rsp->data != NULL) ||
	    rsp->type != ((pd->kind == ADD_OP_WRITE ? ADD_TYPE_WRITE : ADD_TYPE_READ) |
			  ADD_TYPE_RESPONSE_BIT)) {
		/* A response a correct server never sends: make it visible as a
		 * failure of the run rather than guess. */
		if (w->r->verdict == ADD_SIM_PASS) {
			w->r->verdict = ADD_SIM_PROTOCOL;
			snprintf(w->r->why, sizeof(w->r->why),
				 "client %u got a wrong response on conn %" PRIu64
				 " (request %" PRIu64 ", status %u (expected %u), type 0x%02x, hmac %s%s)",
				 c->idx, conn_id, rsp->request, rsp->status, want_status, rsp->type,
				 hmac_ok ? "ok" : "BAD", pd ? "" : ", unknown request");
			w->stop = true;
		}
		return;
	}
	if (pd->bad) {
		w->r->stats.bad_cmds_refused++;
		sim_mix(w, pd->request);
		pd->used = false;
		c->n_pend--;
		sim_client_schedule_issue(w, c, think_ns(w, c));
		return;
	}
	uint64_t value = 0;
	if (pd->kind == ADD_OP_READ)
		value = add_sim_value_decode(rsp->data, pd->sector);
	add_history_complete(&w->r->history, pd->hidx, value, w->now);
	uint64_t latency = w->now - w->r->history.ops[pd->hidx].invoke_ns;
	if (latency > w->r->stats.op_latency_max_ns)
		w->r->stats.op_latency_max_ns = latency;
	sim_mix(w, pd->hidx ^ (value << 20));
	w->r->stats.ops_ok++;
	if (w->r->history.ops[pd->hidx].flags & ADD_OPF_FINAL) {
		w->r->stats.final_reads++;
		assert(w->final_left > 0);
		w->final_left--;
	}
	pd->used = false;
	c->n_pend--;
	sim_client_schedule_issue(w, c, think_ns(w, c));
	if (w->final_left == 0 && w->phase == PH_FINAL)
		sim_phase_step(w);
}

void sim_liveness_violation(world *w, const add_hist_op *op, size_t hidx, const char *what)
{
	if (w->r->verdict != ADD_SIM_PASS)
		return;
	w->r->verdict = ADD_SIM_LIVENESS;
	w->r->culprit = hidx;
	snprintf(w->r->why, sizeof(w->r->why),
		 "%s: %s of sector %" PRIu64 " by client %u via node %u, invoked at %.3f ms, "
		 "no answer after %.3f ms",
		 what, op->kind == ADD_OP_READ ? "read" : "write", op->sector, op->client, op->node,
		 op->invoke_ns / 1e6, (w->now - op->invoke_ns) / 1e6);
	w->stop = true;
}

void sim_client_on_timeout(world *w, client *c, uint64_t conn_id, uint64_t request)
{
	if (c->conn != conn_id)
		return;
	pend *pd = NULL;
	for (uint32_t k = 0; k < w->s->concurrency; k++)
		if (c->pend[k].used && c->pend[k].request == request)
			pd = &c->pend[k];
	if (!pd)
		return;
	sim_wlog(w, "client %u: timeout on request %" PRIu64 " (sector %" PRIu64 ")", c->idx, request,
	     pd->sector);
	if (pd->bad) {
		/* A refused command left unanswered (its node paused or cut
		 * off): give up on the connection like for any other. */
		sim_client_abandon_all(w, c, ADD_OPF_CONN_LOST, request);
		sim_client_close_conn(w, c);
		sim_client_reconnect_elsewhere(w, c);
		return;
	}
	const add_hist_op *op = &w->r->history.ops[pd->hidx];
	/* Its node was live and reached a live majority for the op's whole
	 * life (message loss aside): the op must complete. */
	bool healthy_all_along = w->nodes[op->node - 1].quorum_since <= op->invoke_ns;
	if (op->flags & ADD_OPF_FINAL) {
		sim_liveness_violation(w, op, pd->hidx, "final read not answered");
	} else if (w->s->expect_liveness && healthy_all_along) {
		/* Healthy all along (message loss aside): wait up to the liveness
		 * bound (the scenario's, plus what its loss rate needs: the
		 * stubborn links' timer alone must get the messages through)
		 * before calling it stuck. */
		uint64_t bound = op->invoke_ns + w->op_liveness_ns;
		if (w->now < bound) {
			sim_push(w, bound, EV_CLIENT_TIMEOUT, c->idx, conn_id, request, NULL);
			return;
		}
		char what[160];
		snprintf(what, sizeof(what),
			 "stuck while its node had a live majority all along (bound %.0f ms: "
			 "liveness %.0f ms + what %.0f%% message loss needs)",
			 w->op_liveness_ns / 1e6, w->s->liveness_ns / 1e6,
			 (w->s->drop + w->s->corrupt) * 100);
		sim_liveness_violation(w, op, pd->hidx, what);
	}
	/* Give up on this connection: close it and go elsewhere. */
	sim_client_abandon_all(w, c, ADD_OPF_CONN_LOST, request);
	sim_client_close_conn(w, c);
	sim_client_reconnect_elsewhere(w, c);
}

void sim_client_on_conn_lost(world *w, client *c, uint64_t conn_id)
{
	if (c->conn != conn_id)
		return;
	sim_client_abandon_all(w, c, ADD_OPF_CONN_LOST, UINT64_MAX);
	sim_client_reconnect_elsewhere(w, c);
}

void sim_on_deliver_client(world *w, client *c, uint64_t conn_id, uint8_t *bytes, size_t len)
{
	conn *cn = &w->conns[conn_id];
	if (!cn->open || c->conn != conn_id)
		return;
	add_wire_msg m;
	for (;;) {
		size_t used = add_wire_decoder_feed(cn->dec_client, bytes, len, &m);
		bytes += used;
		len -= used;
		if (m.kind == ADD_WIRE_NONE)
			break;
		if (m.kind == ADD_WIRE_RSP)
			client_on_response(w, c, conn_id, &m.rsp, m.hmac_ok);
		if (!cn->open || c->conn != conn_id)
			break;
	}
}

/* ---- phases --------------------------------------------------------------- */
bool sim_clients_idle(const world *w)
{
	for (uint32_t i = 0; i < w->s->clients; i++)
		if (w->clients[i].n_pend)
			return false;
	return true;
}

int sim_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The client side closes its connection (the node is told). */
void sim_client_close_conn(world *w, client *c)
{
	if (!c->conn)
		return;
	conn *cn = &w->conns[c->conn];
	if (cn->open) {
		cn->open = false;
		free(cn->dec_client);
		cn->dec_client = NULL;
		free(cn->dec_node);
		cn->dec_node = NULL;
		snode *sn = &w->nodes[cn->node];
		if (sn->up) {
			add_node_on_connection_closed(sn->node, c->conn);
			sim_after_node(w, sn);
		}
	}
	c->conn = 0;
}

/* Round r of the final reads: every written sector is read once, through
 * node (client + r) mod N; N rounds, one after the other, so every sector is
 * read through every node, in sequence. */
void sim_start_final_round(world *w)
{
	uint32_t r = w->final_round;
	for (uint32_t k = 0; k < w->s->clients; k++) {
		client *c = &w->clients[k];
		uint32_t target = (k + r) % w->n;
		c->n_final = c->next_final = 0;
		if (c->conn && c->node == target)
			continue;
		sim_client_close_conn(w, c);
		c->node = target;
		if (!c->connect_scheduled) {
			c->connect_scheduled = true;
			sim_push(w, w->now, EV_CLIENT_CONNECT, c->idx, 0, 0, NULL);
		}
	}
	for (size_t i = 0; i < w->n_final_secs; i++) {
		client *c = &w->clients[i % w->s->clients];
		c->final_sectors[c->n_final++] = w->final_secs[i];
	}
	w->final_left = w->n_final_secs;
	sim_wlog(w, "FINAL reads, round %u: %zu sectors", r + 1, w->n_final_secs);
	for (uint32_t k = 0; k < w->s->clients; k++)
		sim_client_schedule_issue(w, &w->clients[k], 0);
}

void sim_start_final_reads(world *w)
{
	/* Every sector any write touched. */
	const add_history *h = &w->r->history;
	uint64_t *secs = malloc((h->len + 1) * sizeof(*secs));
	if (!secs)
		abort();
	size_t n = 0;
	for (size_t i = 0; i < h->len; i++)
		if (h->ops[i].kind == ADD_OP_WRITE)
			secs[n++] = h->ops[i].sector;
	qsort(secs, n, sizeof(*secs), sim_cmp_u64);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || secs[u - 1] != secs[i])
			secs[u++] = secs[i];
	w->final_secs = secs;
	w->n_final_secs = u;
	for (uint32_t k = 0; k < w->s->clients; k++) {
		client *c = &w->clients[k];
		c->final_sectors = malloc((u / w->s->clients + 2) * sizeof(uint64_t));
		if (!c->final_sectors)
			abort();
	}
	w->final_round = 0;
	sim_start_final_round(w);
}

void sim_phase_step(world *w)
{
	switch (w->phase) {
	case PH_WORKLOAD:
		if (sim_workload_wants_more(w) && w->now < w->s->duration_ns)
			return;
		w->phase = PH_DRAIN;
		sim_wlog(w, "workload over: %" PRIu64 " ops issued", w->ops_issued);
		/* fall through */
	case PH_DRAIN:
		if (!sim_clients_idle(w))
			return;
		/* Heal everything, then let it settle. */
		w->phase = PH_SETTLE;
		w->heal_ns = w->now;
		sim_wlog(w, "HEAL all: chaos off, partitions healed, disks have room, nodes restarted");
		sim_chaos_off(w);
		sim_storage_faults_off(w);
		for (uint32_t i = 0; i < w->n; i++) {
			snode *sn = &w->nodes[i];
			sn->paused = false;
			sim_node_restart(w, sn); /* a store that cannot open is retried */
		}
		sim_heal(w);
		sim_push(w, w->now + w->s->settle_ns, EV_PHASE, 0, PH_SETTLE, 0, NULL);
		return;
	case PH_SETTLE: {
		/* Every node must be up: a store that could not open is being
		 * retried (its faults are over); give it the liveness bound. */
		for (uint32_t i = 0; i < w->n; i++) {
			snode *sn = &w->nodes[i];
			if (sn->up)
				continue;
			if (w->now < w->heal_ns + w->s->settle_ns + w->s->liveness_ns) {
				sim_push(w, w->now + 50 * MS, EV_PHASE, 0, PH_SETTLE, 0, NULL);
				return;
			}
			w->r->verdict = ADD_SIM_LIVENESS;
			snprintf(w->r->why, sizeof(w->r->why),
				 "node %u is still down %.0f ms after the heal, with every fault "
				 "over: %s",
				 i + 1, (w->now - w->heal_ns) / 1e6,
				 sn->open_err[0] ? sn->open_err : "it never restarted");
			w->stop = true;
			return;
		}
		w->phase = PH_SCRUB;
		sim_wlog(w, "SCRUB every node, repair what it finds");
		sim_scrub_begin(w);
	}
		/* fall through */
	case PH_SCRUB: {
		char why[300];
		if (!sim_scrub_step_all(w, why, sizeof(why))) {
			if (why[0]) {
				w->r->verdict = ADD_SIM_LIVENESS;
				snprintf(w->r->why, sizeof(w->r->why),
					 "the end-of-run scrub and repairs did not finish within %.0f "
					 "ms: %s",
					 w->s->repair_time_ns / 1e6, why);
				w->stop = true;
				return;
			}
			sim_push(w, w->now + ADD_NODE_TICK_NS, EV_PHASE, 0, PH_SCRUB, 0, NULL);
			return;
		}
		sim_wlog(w, "SCRUB done");
		w->phase = PH_FINAL;
		sim_start_final_reads(w);
		if (w->final_left)
			return;
	}
		/* fall through */
	case PH_FINAL:
		if (w->final_left)
			return;
		if (++w->final_round < w->n && w->n_final_secs) {
			sim_start_final_round(w);
			return;
		}
		/* Let every node go idle (checkpoints), then check resources. */
		w->phase = PH_QUIESCE;
		sim_push(w, w->now + w->s->quiesce_ns, EV_PHASE, 0, PH_QUIESCE, 0, NULL);
		return;
	case PH_QUIESCE:
		sim_check_repaired(w);
		sim_check_resources(w);
		w->phase = PH_DONE;
		w->stop = true;
		return;
	case PH_DONE:
		return;
	}
}
