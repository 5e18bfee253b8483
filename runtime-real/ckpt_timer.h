/*
 * runtime-real/ckpt_timer: the duration of the sector store's checkpoints,
 * timed by the daemon from the store's counters (core/sector_store.h:
 * checkpoints_started, checkpoints, checkpoint_running), into a histogram
 * (metrics: add_checkpoint_duration_seconds).
 *
 * The daemon calls add_ckpt_timer_update with the counters and the time
 * once per loop iteration. A checkpoint that started and ended between two
 * calls is observed with the time since the previous call as its duration
 * (an upper bound); one seen starting is timed from that call. Pure: the
 * caller passes the clock.
 */
#ifndef ADD_REAL_CKPT_TIMER_H
#define ADD_REAL_CKPT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"

typedef struct add_ckpt_timer {
	uint64_t seen_started; /* checkpoints_started at the last update */
	uint64_t seen_done;    /* checkpoints at the last update */
	uint64_t start_ns;     /* when the running one was seen starting */
	uint64_t last_ns;      /* the last update's time */
	bool timing;	       /* start_ns is valid */
} add_ckpt_timer;

/* Counters as they are at start-up (no duration is observed for those). */
void add_ckpt_timer_init(add_ckpt_timer *t, uint64_t started, uint64_t done, uint64_t now_ns);
/* Observes into h each checkpoint completed since the last call; returns
 * how many. */
uint64_t add_ckpt_timer_update(add_ckpt_timer *t, uint64_t started, uint64_t done, bool running,
			       uint64_t now_ns, add_hist *h);

#endif /* ADD_REAL_CKPT_TIMER_H */
