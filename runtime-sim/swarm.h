/*
 * runtime-sim/swarm: swarm testing (`addsim --swarm`). Each seed draws a
 * whole scenario: the cluster (N in 1..7), the workload (clients, sectors hot
 * or spread, read/write ratio, bursty or steady, one run in six wide: 12..24
 * clients with 4 ops in flight each), and a fault mix in which
 * every kind of fault is on or off for the run and, when on, gets a random
 * rate (network loss, duplication, reordering, corruption, split reads,
 * broken links, symmetric and one-way partitions, optionally overlapping
 * crashes, pauses and failed flushes; crash modes; rot, read errors, full
 * disks, crashes inside recovery).
 *
 * The draw stays inside what a correct cluster must survive: at most a
 * minority down at once (max_down), damage on one replica at a time, and
 * storage damage only with N >= 3. One seed in eight is a "must stall" run: a
 * majority crashes at once for a while (expect no_completions), so the
 * checker requires that nothing invoked then completes before a quorum is
 * back. Every run ends with the simulator's heal, scrub and final-read
 * phases, which require the healed cluster to complete and converge.
 */
#ifndef ADD_SIM_SWARM_H
#define ADD_SIM_SWARM_H

#include <stdint.h>

#include "scenario.h"

/* Fills *s with the scenario of swarm seed `seed` (a pure function of it). */
void add_swarm_draw(uint64_t seed, add_scenario *s);

#endif /* ADD_SIM_SWARM_H */
