/* runtime-sim/nemesis: faults, from the scenario's timeline and drawn from
 * its rates: crashes, restarts, partitions of any shape, pauses, failed
 * flushes, broken links. See world.h and scenarios/README.md. */
#include "world_internal.h"

#include "rejoin.h"

/* ---- nemesis --------------------------------------------------------------- */
void sim_set_partition(world *w, const uint8_t *group)
{
	/* group[rank]: nodes in the same group reach each other. */
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++)
			w->reach[i][j] = i == j || (group[i + 1] && group[i + 1] == group[j + 1]);
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	sim_links_refresh(w);
	sim_update_health(w);
}

void sim_set_ring(world *w)
{
	/* Node i reaches i +- k for k <= (N-1)/2 / 2...: each sees a majority
	 * (itself and its N/2 nearest on the ring), no two see the same one. */
	uint32_t half = w->n / 2; /* neighbours on each side: ceil((n/2)/2) */
	uint32_t side = (half + 1) / 2;
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++) {
			uint32_t d = i > j ? i - j : j - i;
			if (w->n - d < d)
				d = w->n - d;
			w->reach[i][j] = d <= side;
		}
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	sim_links_refresh(w);
	sim_update_health(w);
}

/* Only the pair a-b cannot talk (the others may bridge them). */
void sim_cut(world *w, uint32_t a, uint32_t b)
{
	w->reach[a][b] = w->reach[b][a] = false;
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	sim_links_refresh(w);
	sim_update_health(w);
}

/* Only the messages from a to b are lost (b's reach a). */
void sim_cut_oneway(world *w, uint32_t a, uint32_t b)
{
	assert(a != b && a < w->n && b < w->n);
	w->reach[a][b] = false;
	w->partitioned = true;
	w->partition_gen++;
	w->r->stats.partitions++;
	sim_links_refresh(w);
	sim_update_health(w);
	assert(!w->reach[a][b]);
}

void sim_heal(world *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		for (uint32_t j = 0; j < w->n; j++)
			w->reach[i][j] = true;
	w->partitioned = false;
	w->partition_gen++;
	sim_links_refresh(w);
	sim_update_health(w);
}

void sim_pause_node(world *w, snode *sn, uint64_t dur)
{
	if (!sn->up || sn->paused)
		return;
	sim_wlog(w, "node %u: PAUSE %.1f ms", sn->idx + 1, dur / 1e6);
	w->r->stats.pauses++;
	sn->paused = true;
	sn->paused_until = w->now + dur;
	sn->pause_gen++;
	sim_push(w, sn->paused_until, EV_UNPAUSE, sn->idx, sn->pause_gen, 0, NULL);
	sim_update_health(w);
}

void sim_arm_flush_failure(world *w, snode *sn)
{
	if (!sn->up || sn->flush_armed)
		return;
	sim_wlog(w, "node %u: next flush fails", sn->idx + 1);
	w->r->stats.flush_failures++;
	sn->flush_armed = true;
	if (w->o->store == ADD_SIM_STORE_MEM)
		add_memstore_fail_next_flush(sn->mem);
	else
		add_sim_disk_fail_next_flush(sn->disk);
}

void sim_chaos_off(world *w)
{
	w->drop = w->duplicate = w->reorder = w->corrupt = 0;
	w->conn_break_per_s = w->crash_per_s = w->partition_per_s = 0;
	w->wipe_per_s = 0;
	w->pause_per_s = w->flush_fail_per_s = 0;
	w->rot_per_s = w->read_error_per_s = w->disk_full_per_s = w->recovery_crash = 0;
}

void sim_on_timeline(world *w, const add_scn_event *e)
{
	if (w->phase >= PH_SETTLE)
		return; /* the run is being healed: the timeline is over */
	snode *sn = e->node ? &w->nodes[e->node - 1] : NULL;
	switch (e->action) {
	case ADD_SCN_CRASH:
		sim_node_crash(w, sn, "timeline");
		break;
	case ADD_SCN_RESTART:
		sim_node_restart(w, sn); /* a store that cannot open is retried */
		break;
	case ADD_SCN_WIPE:
		sim_node_wipe(w, sn);
		break;
	case ADD_SCN_LOSE_FILE:
		sim_node_lose_file(w, sn, e->file);
		break;
	case ADD_SCN_CRASH_ALL:
		for (uint32_t i = 0; i < w->n; i++)
			sim_node_crash(w, &w->nodes[i], "timeline: all");
		break;
	case ADD_SCN_RESTART_ALL:
		for (uint32_t i = 0; i < w->n; i++)
			sim_node_restart(w, &w->nodes[i]);
		break;
	case ADD_SCN_PARTITION:
		sim_wlog(w, "PARTITION");
		sim_set_partition(w, e->group);
		break;
	case ADD_SCN_RING:
		sim_wlog(w, "PARTITION ring");
		sim_set_ring(w);
		break;
	case ADD_SCN_ISOLATE: {
		uint8_t g[ADD_SCN_NODES_MAX + 1] = {0};
		for (uint32_t i = 1; i <= w->n; i++)
			g[i] = i == e->node ? 2 : 1;
		sim_wlog(w, "ISOLATE node %u", e->node);
		sim_set_partition(w, g);
		break;
	}
	case ADD_SCN_CUT:
		sim_wlog(w, "CUT %u-%u", e->node, e->node2);
		sim_cut(w, e->node - 1u, e->node2 - 1u);
		break;
	case ADD_SCN_HEAL:
		sim_wlog(w, "HEAL");
		sim_heal(w);
		break;
	case ADD_SCN_PAUSE:
		sim_pause_node(w, sn, e->duration_ns);
		break;
	case ADD_SCN_FAIL_FLUSH:
		sim_arm_flush_failure(w, sn);
		break;
	case ADD_SCN_BREAK_LINKS:
		for (uint32_t i = 0; i < w->n; i++)
			for (uint32_t j = 0; j < w->n; j++)
				if (i != j)
					sim_link_break(w, i, j);
		w->r->stats.link_breaks++;
		sim_links_refresh(w);
		break;
	case ADD_SCN_CHAOS_OFF:
		sim_chaos_off(w);
		break;
	case ADD_SCN_FLIP:
		sim_storage_flip(w, sn, e->file[0] ? e->file : NULL, e->offset, e->bit);
		break;
	case ADD_SCN_READ_ERROR:
		sim_storage_read_error(w, sn, e->file[0] ? e->file : NULL, e->offset, e->len);
		break;
	case ADD_SCN_DISK_FULL:
		sim_storage_disk_full(w, sn, e->duration_ns);
		break;
	case ADD_SCN_RECOVERY_CRASH:
		/* Crash now; the next `count` recoveries crash inside too. */
		sn->recovery_crashes = e->count;
		if (sn->up) {
			sim_node_crash(w, sn, "timeline: recovery_crash");
			sim_push(w, w->now + sim_rand_between(&w->nem_rng, w->s->down_min_ns,
							      w->s->down_max_ns),
				 EV_RESTART, sn->idx, 0, 0, NULL);
		}
		break;
	}
}

void sim_random_partition(world *w)
{
	add_prng *p = &w->nem_rng;
	uint8_t g[ADD_SCN_NODES_MAX + 1] = {0};
	/* One-way cut (drawn only when the scenario asks: the other scenarios
	 * keep their streams): a's messages to b are lost, b's reach a. */
	if (w->s->oneway > 0 && w->n >= 2 && add_prng_chance(p, w->s->oneway)) {
		uint32_t a = (uint32_t)add_prng_below(p, w->n);
		uint32_t b = (a + 1 + (uint32_t)add_prng_below(p, w->n - 1)) % w->n;
		assert(a != b);
		sim_wlog(w, "ONE-WAY CUT %u->%u (random)", a + 1, b + 1);
		sim_cut_oneway(w, a, b);
		sim_sometimes(w, "sim.oneway_cut");
		sim_push(w, w->now + sim_rand_between(p, w->s->down_min_ns, w->s->down_max_ns),
			 EV_HEAL, 0, w->partition_gen, 0, NULL);
		return;
	}
	uint64_t kind = add_prng_below(p, w->n >= 5 ? 4 : 3);
	if (kind == 3) {
		uint32_t a = (uint32_t)add_prng_below(p, w->n);
		uint32_t b = (a + 1 + (uint32_t)add_prng_below(p, w->n - 1)) % w->n;
		sim_wlog(w, "CUT %u-%u (random)", a + 1, b + 1);
		sim_cut(w, a, b);
	} else if (kind == 2) {
		sim_wlog(w, "PARTITION ring (random)");
		sim_set_ring(w);
	} else {
		/* A minority (one node, or a random minority) cut off. */
		uint32_t minority = kind == 0 ? 1 : 1 + (uint32_t)add_prng_below(p, (w->n - 1) / 2);
		for (uint32_t i = 1; i <= w->n; i++)
			g[i] = 1;
		for (uint32_t k = 0; k < minority;) {
			uint32_t r = 1 + (uint32_t)add_prng_below(p, w->n);
			if (g[r] == 1) {
				g[r] = 2;
				k++;
			}
		}
		sim_wlog(w, "PARTITION %u node(s) cut off (random)", minority);
		sim_set_partition(w, g);
	}
	sim_push(w, w->now + sim_rand_between(p, w->s->down_min_ns, w->s->down_max_ns), EV_HEAL, 0,
	     w->partition_gen, 0, NULL);
}

void sim_on_nemesis(world *w)
{
	if (w->phase != PH_WORKLOAD)
		return;
	add_prng *p = &w->nem_rng;
	const double dt = (double)NEMESIS_PERIOD_NS / 1e9;
	uint32_t down = sim_down_count(w);
	if (add_prng_chance(p, w->crash_per_s * dt) && (int)down < w->max_down &&
	    (!w->partitioned || w->s->overlap_faults)) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed) {
			if (w->partitioned)
				sim_sometimes(w, "sim.crash_during_partition");
			sim_node_crash(w, sn, "random");
			sim_push(w, w->now + sim_rand_between(p, w->s->down_min_ns, w->s->down_max_ns),
			     EV_RESTART, sn->idx, 0, 0, NULL);
			down++;
		}
	}
	if (add_prng_chance(p, w->wipe_per_s * dt) && down == 0 && !w->partitioned &&
	    w->max_down > 0) {
		/* amnesia, only while every other node is a full member: a second
		 * wipe before the first rebuilt would leave a majority that lost
		 * its storage, which must refuse (a scenario of its own) */
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		bool others_members = true;
		for (uint32_t i = 0; i < w->n; i++)
			if (w->nodes[i].rejoin == NULL ||
			    add_rejoin_get_state(w->nodes[i].rejoin) != ADD_REJOIN_MEMBER)
				others_members = false;
		if (others_members && sn->up && !sn->paused && !sn->flush_armed) {
			sim_node_wipe(w, sn);
			sim_push(w, w->now + sim_rand_between(p, w->s->down_min_ns, w->s->down_max_ns),
			     EV_RESTART, sn->idx, 0, 0, NULL);
			down++;
		}
	}
	if (add_prng_chance(p, w->pause_per_s * dt) && (int)down < w->max_down &&
	    (!w->partitioned || w->s->overlap_faults)) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed) {
			sim_pause_node(w, sn,
				   sim_rand_between(p, w->s->pause_min_ns, w->s->pause_max_ns));
			down++;
		}
	}
	if (add_prng_chance(p, w->flush_fail_per_s * dt) && (int)down < w->max_down &&
	    (!w->partitioned || w->s->overlap_faults)) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed) {
			sim_arm_flush_failure(w, sn);
			down++;
		}
	}
	if (add_prng_chance(p, w->partition_per_s * dt) && (down == 0 || w->s->overlap_faults) &&
	    !w->partitioned && w->max_down > 0)
		sim_random_partition(w);
	if (add_prng_chance(p, w->conn_break_per_s * dt)) {
		uint32_t i = (uint32_t)add_prng_below(p, w->n);
		uint32_t j = (uint32_t)add_prng_below(p, w->n);
		if (i != j && w->nodes[i].links_out[j]) {
			sim_wlog(w, "link %u->%u breaks", i + 1, j + 1);
			w->r->stats.link_breaks++;
			sim_link_break(w, i, j);
			sim_links_refresh(w);
		}
	}
	sim_storage_nemesis(w);
	sim_push(w, w->now + NEMESIS_PERIOD_NS, EV_NEMESIS, 0, 0, 0, NULL);
}
