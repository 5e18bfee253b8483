/* DURABLE TAG WENT BACK: see durable_floor.h for the rule and its
 * exceptions. */
#include "durable_floor.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world_internal.h"

static bool tag_lt(uint64_t ts_a, uint8_t wr_a, uint64_t ts_b, uint8_t wr_b)
{
	return ts_a < ts_b || (ts_a == ts_b && wr_a < wr_b);
}

/* The node's floors, allocated at the first note (zeros: the initial tag). */
static bool floors(snode *sn)
{
	if (sn->floor_ts)
		return true;
	uint64_t n = sn->w->s->sectors;
	sn->floor_ts = calloc(n, sizeof(*sn->floor_ts));
	sn->floor_wr = calloc(n, sizeof(*sn->floor_wr));
	if (!sn->floor_ts || !sn->floor_wr) {
		fprintf(stderr, "addsim: durable floors of node %u (%" PRIu64 " sectors): out of memory\n",
			sn->idx + 1, n);
		abort();
	}
	return true;
}

void sim_floor_durable(snode *sn, uint64_t sector, uint64_t ts, uint8_t wr, bool repair)
{
	assert(sector < sn->w->s->sectors);
	floors(sn);
	if (repair || tag_lt(sn->floor_ts[sector], sn->floor_wr[sector], ts, wr)) {
		sn->floor_ts[sector] = ts;
		sn->floor_wr[sector] = wr;
	}
	assert(repair || !tag_lt(sn->floor_ts[sector], sn->floor_wr[sector], ts, wr));
}

void sim_floor_repair_submitted(snode *sn, uint64_t sector, uint64_t ts, uint8_t wr)
{
	assert(sector < sn->w->s->sectors);
	floors(sn);
	if (tag_lt(ts, wr, sn->floor_ts[sector], sn->floor_wr[sector])) {
		sn->floor_ts[sector] = ts;
		sn->floor_wr[sector] = wr;
	}
	assert(!tag_lt(ts, wr, sn->floor_ts[sector], sn->floor_wr[sector]));
}

void sim_floor_wipe(snode *sn)
{
	if (sn->floor_ts) {
		memset(sn->floor_ts, 0, sn->w->s->sectors * sizeof(*sn->floor_ts));
		memset(sn->floor_wr, 0, sn->w->s->sectors * sizeof(*sn->floor_wr));
	}
	sn->floor_journal_fault = false;
}

void sim_floor_fault(snode *sn, const char *file)
{
	if (file && strncmp(file, "journal", 7) == 0)
		sn->floor_journal_fault = true;
}

void sim_floor_check(snode *sn)
{
	world *w = sn->w;
	if (!sn->floor_ts || !sn->store || w->r->verdict != ADD_SIM_PASS)
		return;
	assert(sn->base_ops && sn->base_ops->get_meta && sn->base_ops->damaged);
	add_sector_store_stats st;
	add_sector_store_get_stats(sn->store, &st);
	bool rebase = st.meta_pages_lost > 0 || (sn->floor_journal_fault && st.torn_tail);
	for (uint64_t sector = 0; sector < w->s->sectors; sector++) {
		uint64_t ts;
		uint8_t wr;
		sn->base_ops->get_meta(sn->base_ctx, sector, &ts, &wr);
		if (rebase) { /* the store lost sectors it cannot name */
			sn->floor_ts[sector] = ts;
			sn->floor_wr[sector] = wr;
			continue;
		}
		if (!tag_lt(ts, wr, sn->floor_ts[sector], sn->floor_wr[sector]) ||
		    sn->base_ops->damaged(sn->base_ctx, sector))
			continue;
		w->r->verdict = ADD_SIM_DURABLE_WENT_BACK;
		snprintf(w->r->why, sizeof(w->r->why),
			 "node %u, sector %" PRIu64 ": its store reported (ts %" PRIu64
			 ", wr %u) durable, but after its restart at %.3f ms it shows (ts %" PRIu64
			 ", wr %u), not marked damaged",
			 sn->idx + 1, sector, sn->floor_ts[sector], sn->floor_wr[sector], w->now / 1e6,
			 ts, wr);
		w->stop = true;
		return;
	}
}

void sim_floor_free(snode *sn)
{
	free(sn->floor_ts);
	free(sn->floor_wr);
	sn->floor_ts = NULL;
	sn->floor_wr = NULL;
}
