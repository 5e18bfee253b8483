/* runtime-sim/history: the record of client operations. See history.h. */
#include "history.h"

#include <assert.h>
#include <stdlib.h>

void add_history_init(add_history *h)
{
	h->ops = NULL;
	h->len = h->cap = 0;
}

void add_history_free(add_history *h)
{
	free(h->ops);
	add_history_init(h);
}

void add_history_clear(add_history *h)
{
	h->len = 0;
}

size_t add_history_invoke(add_history *h, uint32_t client, uint8_t node, uint64_t sector,
			  uint8_t kind, uint64_t value, uint64_t now_ns)
{
	assert(kind == ADD_OP_READ || kind == ADD_OP_WRITE);
	assert(now_ns != ADD_TIME_NEVER);
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 4096;
		add_hist_op *ops = realloc(h->ops, cap * sizeof(*ops));
		if (!ops)
			return SIZE_MAX;
		h->ops = ops;
		h->cap = cap;
	}
	add_hist_op *op = &h->ops[h->len];
	op->invoke_ns = now_ns;
	op->response_ns = ADD_TIME_NEVER;
	op->sector = sector;
	op->value = kind == ADD_OP_WRITE ? value : ADD_VALUE_INITIAL;
	op->client = client;
	op->kind = kind;
	op->flags = 0;
	op->node = node;
	return h->len++;
}

void add_history_complete(add_history *h, size_t idx, uint64_t value_read, uint64_t now_ns)
{
	assert(idx < h->len);
	add_hist_op *op = &h->ops[idx];
	assert(!add_hist_op_done(op));
	assert(now_ns >= op->invoke_ns && now_ns != ADD_TIME_NEVER);
	op->response_ns = now_ns;
	if (op->kind == ADD_OP_READ)
		op->value = value_read;
}

void add_history_abandon(add_history *h, size_t idx, uint8_t flag)
{
	assert(idx < h->len);
	assert(!add_hist_op_done(&h->ops[idx]));
	h->ops[idx].flags |= flag;
}
