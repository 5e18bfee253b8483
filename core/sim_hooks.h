/*
 * core/sim_hooks: coverage points ("sometimes") and BUGGIFY fault points in
 * the core, reported to and decided by the simulator through core/io.h
 * (the core stays pure: no randomness of its own).
 *
 *   ADD_SOMETIMES(&n->io, "node.resend_on_reconnect");
 *   if (ADD_BUGGIFY(&n->io, "node.skip_resend_on_reconnect")) return;
 *
 * Built with -DADD_RELEASE both compile to nothing (a constant 0 for
 * BUGGIFY). Otherwise they cost one NULL test: the real runtime leaves the
 * hooks NULL, so no fault point ever fires outside the simulator. A fault
 * point must only take a path a correct system must already survive (a lost
 * message, a resend skipped that a timer covers, an early retransmission).
 */
#ifndef ADD_SIM_HOOKS_H
#define ADD_SIM_HOOKS_H

#include "io.h"

#ifdef ADD_RELEASE
#define ADD_SOMETIMES(io, point) ((void)(io))
#define ADD_BUGGIFY(io, point) ((void)(io), 0)
#else
#define ADD_SOMETIMES(io, point) \
	((io)->sometimes != NULL ? (io)->sometimes((io)->ctx, (point)) : (void)0)
#define ADD_BUGGIFY(io, point) ((io)->buggify != NULL && (io)->buggify((io)->ctx, (point)))
#endif

#endif /* ADD_SIM_HOOKS_H */
