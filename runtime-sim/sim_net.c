/* runtime-sim/sim_net: simulated TCP connections between clients and nodes
 * and between nodes (delay, FIFO per connection, loss, duplication,
 * reordering, corruption, breaks and reconnections), partitions, and the
 * quorum and health bookkeeping the checks rely on. See world.h. */
#include "world_internal.h"

/* ---- connections ---------------------------------------------------------- */
uint64_t sim_conn_new(world *w, uint8_t kind, uint32_t node, uint32_t from)
{
	if (w->n_conns == w->cap_conns) {
		size_t cap = w->cap_conns * 2;
		conn *c = realloc(w->conns, cap * sizeof(*c));
		if (!c)
			abort();
		w->conns = c;
		w->cap_conns = cap;
	}
	uint64_t id = w->n_conns++;
	conn *c = &w->conns[id];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->open = true;
	c->node = node;
	c->from = from;
	snode *sn = &w->nodes[node];
	assert(sn->up);
	c->dec_node = malloc(sizeof(*c->dec_node));
	if (!c->dec_node)
		abort();
	add_wire_decoder_init(c->dec_node, ADD_WIRE_MODE_PROCESS, add_node_client_key(sn->node),
			      add_node_system_key(sn->node));
	if (kind == CONN_CLIENT) {
		c->dec_client = malloc(sizeof(*c->dec_client));
		if (!c->dec_client)
			abort();
		add_wire_decoder_init(c->dec_client, ADD_WIRE_MODE_CLIENT, &w->client_key, NULL);
	}
	return id;
}


/* Closes a connection; tells the node side (if it still lives) and the
 * client side (after the time a reset takes to arrive). */
void sim_conn_close(world *w, uint64_t id, bool tell_node)
{
	conn *c = &w->conns[id];
	if (!c->open)
		return;
	c->open = false;
	free(c->dec_node);
	c->dec_node = NULL;
	snode *sn = &w->nodes[c->node];
	if (tell_node && sn->up) {
		add_node_on_connection_closed(sn->node, id);
		sim_after_node(w, sn);
	}
	if (c->kind == CONN_CLIENT) {
		free(c->dec_client);
		c->dec_client = NULL;
		sim_push(w, w->now + RST_DELAY_NS, EV_CLIENT_CONN_LOST, c->from, id, 0, NULL);
	} else {
		w->nodes[c->from].links_out[c->node] = 0;
	}
}

/* ---- network ---------------------------------------------------------------- */
void sim_send_peer_msg(world *w, snode *from, uint32_t to, const uint8_t *msg, size_t len)
{
	w->r->stats.msgs_sent++;
	sim_observe_peer_msg(w, (uint8_t)(from->idx + 1), msg, len);
	uint64_t id = from->links_out[to];
	if (id == 0 || !w->conns[id].open) {
		w->r->stats.msgs_dropped++;
		return;
	}
	conn *c = &w->conns[id];
	add_prng *p = &w->net_rng;
	if (add_prng_chance(p, w->drop)) {
		w->r->stats.msgs_dropped++;
		return;
	}
	int copies = add_prng_chance(p, w->duplicate) ? 2 : 1;
	for (int k = 0; k < copies; k++) {
		uint64_t t = w->now + sim_rand_between(p, w->s->latency_min_ns, w->s->latency_max_ns);
		if (k > 0 || add_prng_chance(p, w->reorder)) {
			/* Out of order: a late copy, or a message overtaken by
			 * later ones (stubborn links resend, so the protocol
			 * must take either). */
			t += add_prng_range(p, 0, w->s->reorder_max_ns);
			if (k > 0)
				w->r->stats.msgs_duplicated++;
			else
				w->r->stats.msgs_reordered++;
		} else {
			if (t < c->to_node_last_ns)
				t = c->to_node_last_ns;
			c->to_node_last_ns = t;
		}
		const uint8_t *bytes = msg;
		if (add_prng_chance(p, w->corrupt)) {
			/* A flipped bit in the tag: the HMAC must reject it. */
			assert(len <= sizeof(w->buf));
			memcpy(w->buf, msg, len);
			w->buf[len - 1 - add_prng_below(p, ADD_HMAC_TAG_SIZE)] ^=
				(uint8_t)(1u << add_prng_below(p, 8));
			w->r->stats.msgs_corrupted++;
			bytes = w->buf;
		}
		sim_deliver_at(w, EV_DELIVER_NODE, to, id, t, bytes, len);
	}
}

void sim_link_break(world *w, uint32_t i, uint32_t j)
{
	uint64_t id = w->nodes[i].links_out[j];
	if (id)
		sim_conn_close(w, id, true);
}

/* Schedules the (re)connection of every link that may exist but does not. */
void sim_links_refresh(world *w)
{
	for (uint32_t i = 0; i < w->n; i++) {
		for (uint32_t j = 0; j < w->n; j++) {
			if (i == j)
				continue;
			snode *a = &w->nodes[i], *b = &w->nodes[j];
			uint64_t id = a->links_out[j];
			bool possible = a->up && b->up && w->reach[i][j];
			if (id && !possible)
				sim_link_break(w, i, j);
			else if (!id && possible)
				sim_push(w,
				     w->now + sim_rand_between(&w->net_rng, w->s->reconnect_min_ns,
							   w->s->reconnect_max_ns),
				     EV_LINK_CONNECT, 0, i, j, NULL);
		}
	}
}

void sim_on_link_connect(world *w, uint32_t i, uint32_t j)
{
	snode *a = &w->nodes[i], *b = &w->nodes[j];
	if (a->links_out[j] || !a->up || !b->up || !w->reach[i][j])
		return;
	a->links_out[j] = sim_conn_new(w, CONN_PEER, j, i);
	add_node_on_peer_connected(a->node, (uint8_t)(j + 1));
	sim_after_node(w, a);
}

/* ---- quorum and health ---------------------------------------------------- */
bool sim_node_live(const world *w, uint32_t i)
{
	return w->nodes[i].up && !w->nodes[i].paused;
}

void sim_update_health(world *w)
{
	/* A quorum exists if some live node reaches a majority of live nodes
	 * (itself included), both ways (a one-way cut lets a request through
	 * but not its answer). */
	bool quorum = false, healthy = !w->partitioned;
	for (uint32_t i = 0; i < w->n; i++) {
		if (!sim_node_live(w, i)) {
			healthy = false;
			continue;
		}
		uint32_t reach = 0;
		for (uint32_t j = 0; j < w->n; j++)
			reach += sim_node_live(w, j) && (i == j || (w->reach[i][j] && w->reach[j][i]));
		if (reach > w->n / 2)
			quorum = true;
	}
	/* Per node: since when it has been live and reaching a live majority
	 * without interruption (its operations must then make progress). */
	for (uint32_t i = 0; i < w->n; i++) {
		uint32_t reach = 0;
		for (uint32_t j = 0; j < w->n && sim_node_live(w, i); j++)
			reach += sim_node_live(w, j) && (i == j || (w->reach[i][j] && w->reach[j][i]));
		snode *sn = &w->nodes[i];
		if (reach <= w->n / 2)
			sn->quorum_since = UINT64_MAX;
		else if (sn->quorum_since == UINT64_MAX)
			sn->quorum_since = w->now;
	}
	if (quorum != w->quorum) {
		if (!quorum) {
			w->no_quorum_since = w->now;
			w->r->stats.no_quorum_periods++;
			sim_wlog(w, "no quorum from here");
		} else {
			if (w->n_no_quorum == w->cap_no_quorum) {
				size_t cap = w->cap_no_quorum ? w->cap_no_quorum * 2 : 16;
				uint64_t(*p)[2] = realloc(w->no_quorum, cap * sizeof(*p));
				if (!p)
					abort();
				w->no_quorum = p;
				w->cap_no_quorum = cap;
			}
			w->no_quorum[w->n_no_quorum][0] = w->no_quorum_since;
			w->no_quorum[w->n_no_quorum][1] = w->now;
			w->n_no_quorum++;
			sim_wlog(w, "quorum is back");
		}
		w->quorum = quorum;
	}
	if (healthy && !w->healthy)
		w->healthy_since = w->now;
	w->healthy = healthy;
}

uint32_t sim_down_count(const world *w)
{
	uint32_t d = 0;
	for (uint32_t i = 0; i < w->n; i++)
		d += !w->nodes[i].up || w->nodes[i].paused || w->nodes[i].flush_armed ||
		     w->nodes[i].disk_full;
	return d;
}
