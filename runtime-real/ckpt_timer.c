/* runtime-real/ckpt_timer: see ckpt_timer.h. */
#include "ckpt_timer.h"

#include <assert.h>

#include "mutants.h"

void add_ckpt_timer_init(add_ckpt_timer *t, uint64_t started, uint64_t done, uint64_t now_ns)
{
	assert(done <= started);
	*t = (add_ckpt_timer){.seen_started = started, .seen_done = done, .last_ns = now_ns};
	assert(!t->timing);
}

uint64_t add_ckpt_timer_update(add_ckpt_timer *t, uint64_t started, uint64_t done, bool running,
			       uint64_t now_ns, add_hist *h)
{
	assert(started >= t->seen_started && done >= t->seen_done && done <= started);
	assert(now_ns >= t->last_ns);
	uint64_t finished = done - t->seen_done;
	for (uint64_t i = 0; i < finished; i++) {
		/* the first one finished is the one seen starting, if any; the
		 * others started and ended since the last call */
		uint64_t from = (i == 0 && t->timing) ? t->start_ns : t->last_ns;
		uint64_t ns = ADD_MUTANT_ON(ADD_MUTANT_METRICS_CHECKPOINT_ZERO) ? 0 : now_ns - from;
		add_hist_observe(h, ns);
	}
	if (finished > 0)
		t->timing = false;
	if (running && !t->timing) {
		/* one is running now: it started at the latest since the last call */
		t->timing = true;
		t->start_ns = started > t->seen_started ? t->last_ns : now_ns;
	}
	t->seen_started = started;
	t->seen_done = done;
	t->last_ns = now_ns;
	return finished;
}
