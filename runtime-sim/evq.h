/*
 * runtime-sim/evq: the simulator's agenda, a binary min-heap of events keyed
 * by (simulated time, sequence number). The sequence number is assigned at
 * push, so events due at the same nanosecond run in the order they were
 * scheduled: the run is a pure function of the seed.
 */
#ifndef ADD_SIM_EVQ_H
#define ADD_SIM_EVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct add_sim_event {
	uint64_t time_ns;
	uint64_t seq;
	uint32_t kind;   /* owner-defined */
	uint32_t target; /* owner-defined (node index, client index, ...) */
	uint64_t a, b;   /* owner-defined arguments */
	void *ptr;       /* owner-defined payload (owned by the owner) */
} add_sim_event;

typedef struct add_evq {
	add_sim_event *heap;
	size_t len, cap;
	uint64_t next_seq;
} add_evq;

void add_evq_init(add_evq *q);
void add_evq_free(add_evq *q);
/* Copies *ev (its seq is overwritten). Returns false only on allocation
 * failure. */
bool add_evq_push(add_evq *q, const add_sim_event *ev);
/* Removes the earliest event into *out; false when empty. */
bool add_evq_pop(add_evq *q, add_sim_event *out);
/* Earliest event without removing it, or NULL. */
const add_sim_event *add_evq_peek(const add_evq *q);
static inline size_t add_evq_len(const add_evq *q)
{
	return q->len;
}

#endif /* ADD_SIM_EVQ_H */
