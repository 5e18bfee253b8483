/*
 * runtime-sim/history: every client operation of a run, as the checker and
 * the report see it: who, which sector, read or write, the value, when it was
 * invoked and when (if ever) its response arrived.
 *
 * Values are write ids: every write of a run writes a distinct 64-bit id
 * (encoded into its 4096 bytes, see workload.h), so a read names the write it
 * saw. 0 is the initial content (zeros); ADD_VALUE_GARBAGE is a read whose
 * bytes match no write (torn or corrupted data).
 */
#ifndef ADD_SIM_HISTORY_H
#define ADD_SIM_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADD_TIME_NEVER UINT64_MAX
#define ADD_VALUE_INITIAL 0ull
#define ADD_VALUE_GARBAGE UINT64_MAX

enum { ADD_OP_READ = 1, ADD_OP_WRITE = 2 };

/* flags */
#define ADD_OPF_FINAL 0x01     /* a final read, after the cluster was healed */
#define ADD_OPF_TIMED_OUT 0x02 /* abandoned by its client after a timeout */
#define ADD_OPF_CONN_LOST 0x04 /* its connection broke before the response */

typedef struct add_hist_op {
	uint64_t invoke_ns;
	uint64_t response_ns; /* ADD_TIME_NEVER: indeterminate */
	uint64_t sector;
	uint64_t value; /* write: the id written; read: the id seen */
	uint32_t client;
	uint8_t kind;  /* ADD_OP_READ / ADD_OP_WRITE */
	uint8_t flags; /* ADD_OPF_* */
	uint8_t node;  /* rank of the node the client talked to */
} add_hist_op;

typedef struct add_history {
	add_hist_op *ops;
	size_t len, cap;
} add_history;

void add_history_init(add_history *h);
void add_history_free(add_history *h);
void add_history_clear(add_history *h);
/* Records an invocation; returns its index (SIZE_MAX on allocation failure).
 * For a read, `value` is ignored until completion. */
size_t add_history_invoke(add_history *h, uint32_t client, uint8_t node, uint64_t sector,
			  uint8_t kind, uint64_t value, uint64_t now_ns);
/* The response arrived: for a read, `value_read` is the id it saw. */
void add_history_complete(add_history *h, size_t idx, uint64_t value_read, uint64_t now_ns);
/* The client gave up on it (it stays indeterminate). */
void add_history_abandon(add_history *h, size_t idx, uint8_t flag);

static inline bool add_hist_op_done(const add_hist_op *op)
{
	return op->response_ns != ADD_TIME_NEVER;
}

#endif /* ADD_SIM_HISTORY_H */
