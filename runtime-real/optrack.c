/* runtime-real/optrack: see optrack.h. Linear probing with backward-shift
 * deletion (no tombstones): a key is always found before the first free
 * slot after its home. */
#include "optrack.h"

#include <assert.h>
#include <string.h>

#include "mutants.h"
#include "wire.h"

static uint32_t home(uint64_t conn, uint64_t request, uint8_t type)
{
	uint64_t h = conn * 0x9e3779b97f4a7c15ull ^ request * 0xc2b2ae3d27d4eb4full ^ type;
	h ^= h >> 29;
	return (uint32_t)(h % ADD_OPTRACK_SLOTS);
}

void add_optrack_init(add_optrack *t)
{
	memset(t, 0, sizeof(*t));
}

void add_optrack_start(add_optrack *t, uint64_t conn, uint8_t type, uint64_t request,
		       uint64_t now_ns)
{
	assert(type == ADD_TYPE_READ || type == ADD_TYPE_WRITE);
	if (t->n >= ADD_OPTRACK_MAX) {
		t->untracked++;
		return;
	}
	uint32_t i = home(conn, request, type);
	while (t->slot[i].type != 0)
		i = (i + 1) % ADD_OPTRACK_SLOTS; /* a duplicate key is stored twice */
	t->slot[i] = (add_optrack_entry){.conn = conn, .request = request, .start_ns = now_ns,
					 .type = type};
	t->n++;
	assert(t->n <= ADD_OPTRACK_MAX);
}

/* Frees slot i and shifts the entries after it that may move back. */
static void remove_at(add_optrack *t, uint32_t i)
{
	uint32_t j = i;

	assert(t->slot[i].type != 0 && t->n > 0);
	t->n--;
	if (ADD_MUTANT_ON(ADD_MUTANT_OPTRACK_NO_SHIFT)) {
		t->slot[i].type = 0;
		return;
	}
	for (;;) {
		t->slot[i].type = 0;
		for (;;) {
			j = (j + 1) % ADD_OPTRACK_SLOTS;
			if (t->slot[j].type == 0)
				return;
			uint32_t k = home(t->slot[j].conn, t->slot[j].request, t->slot[j].type);
			/* j's entry may fill the hole at i unless its home lies
			 * cyclically in (i, j] */
			bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
			if (!stays)
				break;
		}
		t->slot[i] = t->slot[j];
		i = j;
	}
}

void add_optrack_done(add_optrack *t, uint64_t conn, const uint8_t *rsp, size_t len,
		      uint64_t now_ns)
{
	if (len < ADD_RSP_HEADER_SIZE)
		return;
	uint8_t type = (uint8_t)(rsp[ADD_RSP_OFF_TYPE] & ~ADD_TYPE_RESPONSE_BIT);
	if (type != ADD_TYPE_READ && type != ADD_TYPE_WRITE)
		return;
	uint64_t request = add_get_be64(rsp + ADD_RSP_OFF_REQUEST);
	for (uint32_t i = home(conn, request, type); t->slot[i].type != 0;
	     i = (i + 1) % ADD_OPTRACK_SLOTS) {
		add_optrack_entry *e = &t->slot[i];
		if (e->conn == conn && e->request == request && e->type == type) {
			uint64_t ns = now_ns >= e->start_ns ? now_ns - e->start_ns : 0;
			add_hist_observe(type == ADD_TYPE_READ ? &t->read : &t->write, ns);
			remove_at(t, i);
			return;
		}
	}
}

void add_optrack_conn_closed(add_optrack *t, uint64_t conn)
{
	if (t->n == 0)
		return;
	for (uint32_t i = 0; i < ADD_OPTRACK_SLOTS;) {
		if (t->slot[i].type != 0 && t->slot[i].conn == conn)
			remove_at(t, i); /* slot i may now hold another entry: look again */
		else
			i++;
	}
}

uint64_t add_optrack_oldest_age_ns(const add_optrack *t, uint64_t now_ns)
{
	uint64_t oldest = UINT64_MAX;
	uint32_t seen = 0;

	for (uint32_t i = 0; i < ADD_OPTRACK_SLOTS && seen < t->n; i++) {
		if (t->slot[i].type == 0)
			continue;
		seen++;
		if (t->slot[i].start_ns < oldest)
			oldest = t->slot[i].start_ns;
	}
	assert(seen == t->n);
	return oldest == UINT64_MAX || oldest > now_ns ? 0 : now_ns - oldest;
}
