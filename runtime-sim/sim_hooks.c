/* runtime-sim/sim_hooks: the simulator's side of core/sim_hooks.h
 * (coverage points and BUGGIFY fault points), plus its own "sim.*" points.
 *
 * BUGGIFY as in FoundationDB: with the scenario's `buggify on`, each fault
 * point is enabled for the whole run with probability 1/4 (drawn at its
 * first visit), and an enabled point fires with probability 1/4 per visit.
 * Every draw comes from the run's own "BUGG" stream, so turning BUGGIFY on
 * or off leaves every other stream of the run as it was. */
#include <string.h>

#include "world_internal.h"

#define BUGGIFY_STREAM 0x42554747u /* "BUGG" */

void add_sim_coverage_add(add_sim_coverage *c, const char *name, uint64_t count)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->p[i].name == name || strcmp(c->p[i].name, name) == 0) {
			c->p[i].count += count;
			return;
		}
	if (c->n == ADD_SIM_COVERAGE_MAX)
		return;
	c->p[c->n].name = name;
	c->p[c->n].count = count;
	c->n++;
	assert(c->n <= ADD_SIM_COVERAGE_MAX);
}

void sim_hooks_init(world *w)
{
	add_prng_seed2(&w->bug_rng, w->o->seed, BUGGIFY_STREAM);
	w->n_bug = 0;
}

void sim_sometimes(world *w, const char *point)
{
	add_sim_coverage_add(&w->r->coverage, point, 1);
}

bool sim_buggify(world *w, const char *point)
{
	if (!w->s->buggify || w->phase != PH_WORKLOAD)
		return false; /* never during the heal and the final checks */
	size_t i = 0;
	while (i < w->n_bug && w->bug[i].name != point && strcmp(w->bug[i].name, point) != 0)
		i++;
	if (i == w->n_bug) {
		if (w->n_bug == sizeof(w->bug) / sizeof(w->bug[0]))
			return false;
		w->bug[i].name = point;
		w->bug[i].enabled = add_prng_chance(&w->bug_rng, 0.25);
		w->n_bug++;
	}
	assert(i < w->n_bug);
	if (!w->bug[i].enabled || !add_prng_chance(&w->bug_rng, 0.25))
		return false;
	/* "buggify.<point>" counts the firings (a static name per point) */
	static const char *const fired[] = {
		"buggify.node.skip_resend_on_reconnect", "buggify.node.retransmit_early",
		"buggify.sim.delay_store_completion"};
	const char *name = "buggify.other";
	for (size_t k = 0; k < sizeof(fired) / sizeof(fired[0]); k++)
		if (strcmp(fired[k] + strlen("buggify."), point) == 0)
			name = fired[k];
	sim_sometimes(w, name);
	return true;
}

void sim_io_sometimes(void *ctx, const char *point)
{
	snode *sn = ctx;
	sim_sometimes(sn->w, point);
}

int sim_io_buggify(void *ctx, const char *point)
{
	snode *sn = ctx;
	return sim_buggify(sn->w, point);
}
