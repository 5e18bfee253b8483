/* runtime-sim/storage_faults: the nemesis of the disks beyond power cuts:
 * bit flips at rest and latent sector errors (damage), a full disk, crashes
 * at a random disk operation inside recovery, and the crash mode of each
 * power cut. See scenarios/README.md.
 *
 * Damage is bounded by what a correct system must survive: random damage
 * hits one node at a time, and moves to another node only once the damaged
 * one is clean again: restarted since it was last damaged (recovery has
 * read its meta and journals), a whole scrub pass done since, no repair
 * pending, no sector marked damaged. So no sector is ever damaged on more
 * than one replica at once (timeline faults apply as written). */
#include "durable_floor.h"
#include "world_internal.h"

/* The files of the sector store (core/sector_store.h) that random damage
 * may hit, data first. The superblock is not among them: it is the store's
 * identity, and a store that cannot read it must refuse to open. */
static const char *const store_files[] = ADD_SCN_STORE_FILES;
#define N_STORE_FILES ((size_t)ADD_SCN_N_STORE_FILES)
#define FILES_DATA_META 3u /* the bits of "data" and "meta" */

void sim_power_cut(world *w, snode *sn)
{
	if (w->s->crash_mode == ADD_SCN_CRASH_MODE_ANY) {
		add_sim_crash_mode m = (add_sim_crash_mode)add_prng_below(&w->nem_rng,
									    ADD_SIM_CRASH_GARBAGE + 1);
		sim_wlog(w, "node %u: power cut, crash mode %d", sn->idx + 1, (int)m);
		add_sim_disk_crash_mode(sn->disk, m);
	} else {
		add_sim_disk_crash(sn->disk);
	}
}

static void mark_dirty(world *w, snode *sn)
{
	sn->dirty = true;
	/* Damage on a running node is found by the recovery after its next
	 * start; on a down one, by the start it is waiting for. */
	sn->dirty_starts = sn->starts;
	sim_mix(w, 0xd1a7u + sn->idx);
}

static bool is_clean(const world *w, const snode *sn)
{
	if (!sn->dirty)
		return true;
	if (!sn->up || sn->starts <= sn->dirty_starts || w->o->store != ADD_SIM_STORE_REAL)
		return false;
	if (add_node_scrub_passes(sn->node) < 1 || add_node_repairs_pending(sn->node) != 0)
		return false;
	add_sector_store_stats st;
	add_sector_store_get_stats(sn->store, &st);
	return st.damaged_now == 0;
}

/* A random byte of the sector store's files in `files` (bit i:
 * store_files[i]), weighted by their sizes; false when they hold nothing. */
static bool random_place(world *w, snode *sn, uint32_t files, const char **file, uint64_t *off)
{
	int64_t size[N_STORE_FILES];
	uint64_t total = 0;
	assert(files != 0);
	for (size_t i = 0; i < N_STORE_FILES; i++) {
		size[i] = files & (1u << i) ? add_sim_disk_file_size(sn->disk, store_files[i]) : 0;
		if (size[i] > 0)
			total += (uint64_t)size[i];
	}
	if (total == 0)
		return false;
	uint64_t x = add_prng_below(&w->nem_rng, total);
	for (size_t i = 0; i < N_STORE_FILES; i++) {
		if (size[i] <= 0)
			continue;
		if (x < (uint64_t)size[i]) {
			*file = store_files[i];
			*off = x;
			return true;
		}
		x -= (uint64_t)size[i];
	}
	assert(0 && "unreachable");
	return false;
}

void sim_storage_flip(world *w, snode *sn, const char *file, uint64_t off, unsigned bit)
{
	if (!sn->disk)
		return; /* --store mem: nothing at rest to damage */
	if (!file) {
		/* Latent errors in data and meta (of rot_files). Not in the
		 * journals: an unreadable header of a journal that holds
		 * records makes the store refuse to open for good (it cannot
		 * tell the journal's generation), a node only a rejoin from
		 * the others could rebuild. */
		uint32_t files = w->s->rot_files & FILES_DATA_META;
		if (!files || !random_place(w, sn, files, &file, &off))
			return;
		bit = (unsigned)add_prng_below(&w->nem_rng, 8);
	}
	int rc = add_sim_disk_flip_bit(sn->disk, file, off, bit);
	sim_floor_fault(sn, file);
	sim_wlog(w, "node %u: FLIP %s@%" PRIu64 " bit %u%s%s", sn->idx + 1, file, off, bit,
		 rc ? ": " : "", rc ? strerror(-rc) : "");
	if (rc == 0) {
		w->r->stats.bit_flips++;
		mark_dirty(w, sn);
	}
}

void sim_storage_read_error(world *w, snode *sn, const char *file, uint64_t off, uint64_t len)
{
	if (!sn->disk)
		return;
	if (!file) {
		/* Latent errors in data and meta (of rot_files). Not in the
		 * journals: an unreadable header of a journal that holds
		 * records makes the store refuse to open for good (it cannot
		 * tell the journal's generation), a node only a rejoin from
		 * the others could rebuild. */
		uint32_t files = w->s->rot_files & FILES_DATA_META;
		if (!files || !random_place(w, sn, files, &file, &off))
			return;
		off -= off % ADD_SCN_READ_ERROR_LEN; /* a latent error takes a whole block */
		len = ADD_SCN_READ_ERROR_LEN;
	}
	int64_t size = add_sim_disk_file_size(sn->disk, file);
	if (size > 0 && off < (uint64_t)size && off + len > (uint64_t)size)
		len = (uint64_t)size - off;
	int rc = add_sim_disk_inject_read_error(sn->disk, file, off, len);
	sim_floor_fault(sn, file);
	sim_wlog(w, "node %u: READ ERROR %s@%" PRIu64 "+%" PRIu64 "%s%s", sn->idx + 1, file, off,
		 len, rc ? ": " : "", rc ? strerror(-rc) : "");
	if (rc == 0) {
		w->r->stats.read_errors++;
		mark_dirty(w, sn);
	}
}

void sim_storage_disk_full(world *w, snode *sn, uint64_t dur)
{
	if (!sn->disk || sn->disk_full)
		return;
	uint64_t cap = add_sim_disk_bytes_used(sn->disk) + 4096;
	sim_wlog(w, "node %u: DISK FULL for %.1f ms (capacity %" PRIu64 " bytes)", sn->idx + 1,
		 dur / 1e6, cap);
	add_sim_disk_set_capacity(sn->disk, cap);
	w->r->stats.disk_full_periods++;
	sn->disk_full = true;
	sn->full_gen++;
	sim_push(w, w->now + dur, EV_DISK_SPACE, sn->idx, sn->full_gen, 0, NULL);
	sim_update_health(w);
}

void sim_storage_on_space(world *w, snode *sn, uint64_t gen)
{
	if (!sn->disk_full || sn->full_gen != gen)
		return;
	sim_wlog(w, "node %u: disk has room again", sn->idx + 1);
	add_sim_disk_set_capacity(sn->disk, 0);
	sn->disk_full = false;
}

/* Heal: every disk gets its room back and no recovery crashes any more.
 * Damage already done stays: the end-of-run scrub must find and repair it. */
void sim_storage_faults_off(world *w)
{
	w->rot_per_s = w->read_error_per_s = w->disk_full_per_s = w->recovery_crash = 0;
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		sn->recovery_crashes = 0;
		if (sn->disk_full)
			sim_storage_on_space(w, sn, sn->full_gen);
	}
}

/* Whether this start of the node's store gets a crash point inside
 * recovery: armed by the timeline, or drawn with the scenario's
 * recovery_crash probability (at most RECOVERY_CRASH_STREAK_MAX in a row). */
bool sim_storage_recovery_crash_due(world *w, snode *sn)
{
	if (!sn->disk || w->phase > PH_DRAIN)
		return false;
	if (sn->recovery_crashes > 0) {
		sn->recovery_crashes--;
		return true;
	}
	if (w->recovery_crash <= 0 || sn->recovery_crash_streak >= RECOVERY_CRASH_STREAK_MAX ||
	    sn->starts == 0)
		return false;
	return add_prng_chance(&w->nem_rng, w->recovery_crash);
}

/* The node that random damage may hit now, or NULL: the one dirty node if
 * there is one, else any node. */
static snode *damage_target(world *w)
{
	snode *dirty = NULL;
	for (uint32_t i = 0; i < w->n; i++) {
		snode *sn = &w->nodes[i];
		if (sn->dirty && is_clean(w, sn)) {
			sn->dirty = false;
			sim_wlog(w, "node %u: scrubbed clean", i + 1);
		}
		if (sn->dirty) {
			if (dirty)
				return NULL; /* two dirty (the timeline did it): wait */
			dirty = sn;
		}
	}
	return dirty ? dirty : &w->nodes[add_prng_below(&w->nem_rng, w->n)];
}

/* Random storage faults, every NEMESIS_PERIOD_NS of the workload. A rate of
 * zero draws nothing, so scenarios without storage faults keep their runs. */
void sim_storage_nemesis(world *w)
{
	if (w->o->store != ADD_SIM_STORE_REAL)
		return;
	add_prng *p = &w->nem_rng;
	const double dt = (double)NEMESIS_PERIOD_NS / 1e9;
	if (w->rot_per_s > 0 && add_prng_chance(p, w->rot_per_s * dt)) {
		snode *sn = damage_target(w);
		if (sn)
			sim_storage_flip(w, sn, NULL, 0, 0);
	}
	if (w->read_error_per_s > 0 && add_prng_chance(p, w->read_error_per_s * dt)) {
		snode *sn = damage_target(w);
		if (sn)
			sim_storage_read_error(w, sn, NULL, 0, 0);
	}
	if (w->disk_full_per_s > 0 && add_prng_chance(p, w->disk_full_per_s * dt) &&
	    (int)sim_down_count(w) < w->max_down && !w->partitioned) {
		snode *sn = &w->nodes[add_prng_below(p, w->n)];
		if (sn->up && !sn->paused && !sn->flush_armed)
			sim_storage_disk_full(
				w, sn, sim_rand_between(p, w->s->disk_full_min_ns, w->s->disk_full_max_ns));
	}
}

/* During the run, at scrub_per_s sectors per second (from EV_TICK). */
void sim_node_scrub_tick(world *w, snode *sn)
{
	if (w->s->scrub_per_s == 0 || !sn->up)
		return;
	sn->scrub_credit += w->s->scrub_per_s * ADD_NODE_TICK_NS;
	size_t n = (size_t)(sn->scrub_credit / 1000000000ull);
	sn->scrub_credit %= 1000000000ull;
	if (n)
		add_node_scrub_step(sn->node, n);
}
