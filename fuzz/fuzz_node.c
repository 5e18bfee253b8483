/*
 * fuzz_node: one node (rank 1 of N = 1..5) driven by an event script read
 * from the input: client commands, authenticated peer messages whose UUIDs
 * are often those the node really sent (so replies match live operations),
 * with odd ranks, tags and sectors, store completions, clock ticks,
 * connection closes and reconnections. Checked on every effect:
 *  - sends go to a valid peer rank, with a whole message of a valid size;
 *  - responses have a valid size;
 *  - per sector, stores are submitted in strictly increasing (ts, wr)
 *    (repairs excepted: they may lower a tag, store_ops.h);
 *  - the node never fails, and (at exit, under ASan) leaks nothing.
 * Half of the inputs give the node a store with the damage ops (the first
 * byte's top bit), where the script damages sectors (known, or latent until
 * a read_data finds it) and runs scrub steps;
 * then also: a damaged sector's bytes (GARBAGE, what its failed read_data
 * hands back) never leave in a VALUE, a WRITE_PROC or a client response, and
 * a damaged sector gets no VALUE or VALUE_META at all.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "register.h"
#include "wire.h"

#define N_SECTORS 6
#define PENDING_MAX 256

static const uint8_t *in;
static size_t in_len;
static uint8_t n_procs;
static uint64_t now;
static uint8_t uuids[8][ADD_UUID_SIZE];
static unsigned n_uuids;
static uint64_t cur_ts[N_SECTORS];
static uint8_t cur_wr[N_SECTORS];
static uint64_t pending[PENDING_MAX];
static size_t n_pending;
static add_node *node;
static bool damaged[N_SECTORS];
static bool latent[N_SECTORS]; /* damaged, not found yet: read_data finds it */
static uint64_t floor_ts;
#define GARBAGE 0xee /* the bytes a damaged sector's read_data hands back */

/* Aborts if the whole data block is the garbage of a failed read. */
static void check_not_garbage(const uint8_t *d)
{
	for (size_t i = 0; i < ADD_SECTOR_SIZE; i++)
		if (d[i] != GARBAGE)
			return;
	abort();
}

static uint8_t next(void)
{
	if (in_len == 0)
		return 0;
	in_len--;
	return *in++;
}

static uint64_t io_now(void *ctx)
{
	(void)ctx;
	return now;
}

static void io_random(void *ctx, uint8_t *out, size_t len)
{
	(void)ctx;
	memset(out, 0x5a, len);
}

static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
{
	(void)ctx;
	if (rank < 1 || rank > n_procs || rank == 1)
		abort();
	if (len != ADD_PEER_SMALL_SIZE && len != ADD_PEER_VALUE_SIZE && len != ADD_PEER_META_SIZE &&
	    len != ADD_TACK_SIZE) /* the META probe or its answer */
		abort();
	if (msg[ADD_PEER_OFF_RANK] != 1)
		abort();
	if (len == ADD_PEER_VALUE_SIZE)
		check_not_garbage(msg + ADD_PEER_OFF_DATA); /* VALUE or WRITE_PROC */
	if (msg[ADD_PEER_OFF_TYPE] == ADD_TYPE_VALUE || msg[ADD_PEER_OFF_TYPE] == ADD_TYPE_VALUE_META) {
		uint64_t s = add_get_be64(msg + ADD_PEER_OFF_SECTOR);

		if (s < N_SECTORS && damaged[s])
			abort(); /* a damaged copy answers nothing */
	}
	memcpy(uuids[n_uuids++ % 8], msg + ADD_PEER_OFF_UUID, ADD_UUID_SIZE);
}

static void io_send_client(void *ctx, uint64_t conn, const uint8_t *msg, size_t len)
{
	(void)ctx;
	(void)conn;
	(void)msg;
	if (len != ADD_RSP_EMPTY_SIZE && len != ADD_RSP_READ_SIZE)
		abort();
	if (len == ADD_RSP_READ_SIZE)
		check_not_garbage(msg + ADD_RSP_OFF_DATA);
}

static void st_get_meta(void *ctx, uint64_t s, uint64_t *ts, uint8_t *wr)
{
	(void)ctx;
	if (s >= N_SECTORS)
		abort();
	*ts = cur_ts[s];
	*wr = cur_wr[s];
}

static int st_read(void *ctx, uint64_t s, uint8_t out[ADD_SECTOR_SIZE])
{
	(void)ctx;
	if (s >= N_SECTORS)
		abort();
	if (damaged[s] || latent[s]) {
		damaged[s] = true;
		latent[s] = false;
		memset(out, GARBAGE, ADD_SECTOR_SIZE);
		return (cur_ts[s] & 1) ? -EIO : -EBADMSG;
	}
	memset(out, (int)(cur_ts[s] % 0xee), ADD_SECTOR_SIZE); /* never GARBAGE */
	return 0;
}

static void complete_one(void)
{
	uint64_t c = pending[0];

	memmove(pending, pending + 1, (n_pending - 1) * sizeof(*pending));
	n_pending--;
	add_node_on_store_done(node, c);
}

static int st_store(void *ctx, uint64_t s, uint64_t ts, uint8_t wr,
		    const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	(void)ctx;
	(void)data;
	if (s >= N_SECTORS || add_reg_tag_cmp(ts, wr, cur_ts[s], cur_wr[s]) <= 0)
		abort(); /* stores of a sector only ever go up */
	if (n_pending == PENDING_MAX)
		abort(); /* bounded by the script's length */
	cur_ts[s] = ts;
	cur_wr[s] = wr;
	damaged[s] = latent[s] = false;
	pending[n_pending++] = cookie;
	return 0;
}

static bool st_damaged(void *ctx, uint64_t s)
{
	(void)ctx;
	if (s >= N_SECTORS)
		abort();
	return damaged[s];
}

static int st_repair(void *ctx, uint64_t s, uint64_t ts, uint8_t wr,
		     const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	(void)ctx;
	if (s >= N_SECTORS || !damaged[s])
		abort(); /* the node repairs only what is damaged */
	check_not_garbage(data);
	if (n_pending == PENDING_MAX)
		abort();
	if (cur_wr[s] == 1 && add_reg_tag_cmp(ts, wr, cur_ts[s], cur_wr[s]) < 0 &&
	    cur_ts[s] > floor_ts)
		floor_ts = cur_ts[s];
	cur_ts[s] = ts;
	cur_wr[s] = wr;
	damaged[s] = latent[s] = false;
	pending[n_pending++] = cookie;
	return 0;
}

static uint64_t next_where(uint64_t from, bool only_damaged)
{
	for (uint64_t s = from; s < N_SECTORS; s++)
		if (only_damaged ? damaged[s] : (cur_ts[s] != 0 || damaged[s] || latent[s]))
			return s;
	return UINT64_MAX;
}

static uint64_t st_next_damaged(void *ctx, uint64_t from)
{
	(void)ctx;
	return next_where(from, true);
}

static uint64_t st_next_written(void *ctx, uint64_t from)
{
	(void)ctx;
	return next_where(from, false);
}

static uint64_t st_ts_floor(void *ctx)
{
	(void)ctx;
	return floor_ts;
}

/* only the first three ops: no damage (store_ops.h) */
static const add_store_ops store_ops = {
	.get_meta = st_get_meta,
	.read_data = st_read,
	.store = st_store,
};

static const add_store_ops damage_store_ops = {
	.get_meta = st_get_meta,
	.read_data = st_read,
	.store = st_store,
	.damaged = st_damaged,
	.repair = st_repair,
	.next_damaged = st_next_damaged,
	.next_written = st_next_written,
	.ts_floor = st_ts_floor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	add_io io = {.now_ns = io_now, .random_bytes = io_random, .send_peer = io_send_peer,
		      .send_client = io_send_client};
	add_node_config cfg = { .rank = 1, .n_sectors = N_SECTORS };
	uint8_t sector_data[ADD_SECTOR_SIZE];
	int events = 0;
	bool with_damage;
	uint8_t first;

	if (size < 1 || size > 4096)
		return 0;
	in = data;
	in_len = size;
	first = next();
	with_damage = (first & 0x80) != 0;
	n_procs = (uint8_t)(1 + first % 5);
	cfg.n_procs = n_procs;
	now = 1;
	n_uuids = 0;
	n_pending = 0;
	memset(uuids, 0, sizeof(uuids));
	memset(cur_ts, 0, sizeof(cur_ts));
	memset(cur_wr, 0, sizeof(cur_wr));
	memset(damaged, 0, sizeof(damaged));
	memset(latent, 0, sizeof(latent));
	floor_ts = 0;
	memset(sector_data, 0xab, sizeof(sector_data));
	node = add_node_create(&cfg, &io, with_damage ? &damage_store_ops : &store_ops, NULL);
	if (node == NULL)
		abort();
	while (in_len > 0 && events++ < 200) {
		uint8_t op = next();

		switch (op % 8) {
		case 0: {
			add_client_cmd c = {
				.type = (op & 0x10) ? ADD_TYPE_WRITE : ADD_TYPE_READ,
				.request = next(),
				.sector = next() % (N_SECTORS + 2),
			};
			c.data = c.type == ADD_TYPE_WRITE ? sector_data : NULL;
			add_node_on_client_command(node, next() % 4, &c, next() % 8 != 0);
			break;
		}
		case 1:
		case 2: {
			uint8_t t = next();
			add_peer_msg m = {
				.type = (uint8_t)((t & 0x80 ? ADD_TYPE_READ_PROC_TACK
							   : ADD_TYPE_READ_PROC) + t % 4),
				.rank = (uint8_t)(next() % (n_procs + 2)),
				.sector = next() % (N_SECTORS + 1),
				.ts = next() % 4,
				.wr = (uint8_t)(next() % (n_procs + 2)),
			};
			uint8_t u = next();

			if ((t & 0x70) == 0x70) /* the project's READ_PROC_META, VALUE_META */
				m.type = (uint8_t)(ADD_TYPE_READ_PROC_META + (t & 1));
			if (u & 0x80)
				m.ts = UINT64_MAX - (u & 3);
			if (u & 0x40)
				memset(m.uuid, u, ADD_UUID_SIZE);
			else
				memcpy(m.uuid, uuids[u % 8], ADD_UUID_SIZE);
			if (m.type == ADD_TYPE_VALUE || m.type == ADD_TYPE_WRITE_PROC)
				m.data = sector_data;
			add_node_on_peer_message(node, &m, next() % 16 != 0);
			break;
		}
		case 3:
			if (n_pending > 0)
				complete_one();
			break;
		case 4:
			now += (uint64_t)next() * 10 * 1000 * 1000;
			add_node_tick(node);
			break;
		case 5:
			if (with_damage && (op & 0x80)) {
				uint8_t s = (uint8_t)(next() % N_SECTORS);

				if (op & 0x40)
					latent[s] = true; /* rot, found by a read */
				else
					damaged[s] = true; /* found by recovery */
			}
			else
				add_node_on_connection_closed(node, next() % 4);
			break;
		case 6:
			if (with_damage && (op & 0x80))
				(void)add_node_scrub_step(node, next() % 8);
			else
				add_node_on_peer_connected(node, (uint8_t)(next() % (n_procs + 2)));
			break;
		default:
			while (n_pending > 0)
				complete_one();
			break;
		}
		if (add_node_failed(node))
			abort();
	}
	while (n_pending > 0)
		complete_one();
	add_node_destroy(node);
	node = NULL;
	return 0;
}
