/*
 * runtime-sim/liveness_bound: how long an operation may honestly take on a
 * healthy cluster that loses messages.
 *
 * A node's stubborn links resend an unanswered READ_PROC / WRITE_PROC on
 * their timer (first after `retx_initial_ns`, doubling up to `retx_max_ns`)
 * to every peer that has not answered yet. With a drop probability `loss`
 * per message, one round trip to a given peer fails with probability
 * q = 1 - (1 - loss)^2, independently per attempt. A phase needs
 * floor(N/2) peers to answer (the node itself is the rest of the majority);
 * in the worst healthy case exactly that many are live, so after k attempts
 * the phase is still open with probability at most floor(N/2) * q^k. An
 * operation has at most three phases (a read's META round, its full round,
 * its write-back; a write's read and write phases). The bound gives each
 * phase enough attempts that it stays open with probability below
 * `ADD_SIM_LIVENESS_EPS`, plus the scenario's `liveness` for everything
 * that is not loss (queueing behind other operations on the sector,
 * flushes, latency).
 *
 * With no loss the bound is the scenario's `liveness`.
 */
#ifndef ADD_SIM_LIVENESS_BOUND_H
#define ADD_SIM_LIVENESS_BOUND_H

#include <stdint.h>

/* Probability, per phase, that an operation of a correct cluster is still
 * waiting once the bound is over (a false LIVENESS verdict). A suite runs
 * about 10^6 phases: 10^-9 keeps false alarms below one in a thousand
 * suite runs. */
#define ADD_SIM_LIVENESS_EPS 1e-9
/* Phases of one operation, at most. */
#define ADD_SIM_LIVENESS_PHASES 3u

typedef struct add_sim_liveness_params {
	uint64_t base_ns;	  /* the scenario's liveness: everything but loss */
	double loss;		  /* probability that one node-to-node message is lost */
	uint32_t nodes;		  /* N */
	uint64_t retx_initial_ns; /* the node's stubborn-link timer */
	uint64_t retx_max_ns;
	uint64_t tick_ns;	  /* the timer's granularity: each resend may be
				   * this much late */
	uint64_t round_trip_ns;	  /* longest round trip of one attempt (latency,
				   * reordering, a flush) */
} add_sim_liveness_params;

/* Attempts a phase needs so that it stays open with probability below
 * ADD_SIM_LIVENESS_EPS (1 when there is no loss). */
uint32_t add_sim_liveness_attempts(double loss, uint32_t nodes);
/* The bound on one operation (see above). */
uint64_t add_sim_liveness_bound_ns(const add_sim_liveness_params *p);

#endif /* ADD_SIM_LIVENESS_BOUND_H */
