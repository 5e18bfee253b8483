/*
 * The node over the real sector store (core/sector_store.h) on the simulated
 * disk, three processes in one thread: a bit flipped in one process's data
 * file is found when its read decides, never served, repaired from the
 * others, and the repair survives a restart of that store.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "../../runtime-sim/sim_disk.h"
#include "node.h"
#include "sector_store.h"
#include "wire.h"

#define N 3
#define N_SECTORS 64
#define MSGS_MAX 256
#define COOKIES_MAX 256

typedef struct proc {
	uint8_t rank;
	add_sim_disk *disk;
	add_sector_store *store;
	add_node *node;
	add_io io;
	uint64_t cookies[COOKIES_MAX]; /* durable, not yet told to the node */
	size_t n_cookies;
	bool fatal;
} proc;

typedef struct msg {
	uint8_t to;
	size_t len;
	uint8_t bytes[ADD_WIRE_MSG_SIZE_MAX];
} msg;

static proc procs[N + 1];
static msg *msgs;
static size_t n_msgs;
static uint8_t client_key[ADD_CLIENT_KEY_SIZE], system_key[ADD_SYSTEM_KEY_SIZE];
static bool have_reply;
static uint8_t reply_status;
static uint8_t reply_data[ADD_SECTOR_SIZE];

static uint64_t io_now(void *ctx)
{
	(void)ctx;
	return 1000;
}

static void io_random(void *ctx, uint8_t *out, size_t len)
{
	proc *p = ctx;

	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(p->rank * 41 + i * 3 + 1);
}

static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	cr_assert_lt(n_msgs, MSGS_MAX);
	cr_assert_leq(len, ADD_WIRE_MSG_SIZE_MAX);
	msgs[n_msgs].to = rank;
	msgs[n_msgs].len = len;
	memcpy(msgs[n_msgs].bytes, bytes, len);
	n_msgs++;
}

static void io_send_client(void *ctx, uint64_t conn, const uint8_t *bytes, size_t len)
{
	add_hmac_key key;
	add_wire_decoder dec;
	add_wire_msg m;

	(void)ctx;
	(void)conn;
	cr_assert_eq(add_hmac_key_init(&key, client_key, sizeof(client_key)), 0);
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_CLIENT, &key, NULL);
	cr_assert_eq(add_wire_decoder_feed(&dec, bytes, len, &m), len);
	cr_assert_eq(m.kind, ADD_WIRE_RSP);
	cr_assert(m.hmac_ok);
	have_reply = true;
	reply_status = m.rsp.status;
	if (m.rsp.data != NULL)
		memcpy(reply_data, m.rsp.data, ADD_SECTOR_SIZE);
	add_hmac_key_free(&key);
}

static void on_durable(void *arg, uint64_t cookie)
{
	proc *p = arg;

	cr_assert_lt(p->n_cookies, COOKIES_MAX);
	p->cookies[p->n_cookies++] = cookie; /* told to the node after the event */
}

static void on_fatal(void *arg, const char *why)
{
	proc *p = arg;

	p->fatal = true;
	cr_log_error("process %u: store fatal: %s", p->rank, why);
}

static void open_store(proc *p)
{
	add_sector_store_config cfg = {
		.disk = add_sim_disk_ops(p->disk),
		.n_sectors = N_SECTORS,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = p,
		.rank = p->rank,
	};
	char err[256] = "";

	for (int i = 0; i < ADD_CLUSTER_ID_SIZE; i++)
		cfg.new_identity[i] = (uint8_t)(p->rank + i);
	p->store = add_sector_store_open(&cfg, err, sizeof(err));
	cr_assert_not_null(p->store, "process %u: open: %s", p->rank, err);
}

static void start_node(proc *p)
{
	add_node_config cfg = { .rank = p->rank, .n_procs = N, .n_sectors = N_SECTORS };

	memcpy(cfg.client_key, client_key, sizeof(client_key));
	memcpy(cfg.system_key, system_key, sizeof(system_key));
	p->io = (add_io){ p, io_now, io_random, io_send_peer, io_send_client, NULL };
	p->node = add_node_create(&cfg, &p->io, add_sector_store_ops(), p->store);
	cr_assert_not_null(p->node);
}

static void setup(void)
{
	msgs = calloc(MSGS_MAX, sizeof(*msgs));
	cr_assert_not_null(msgs);
	for (int i = 0; i < ADD_CLIENT_KEY_SIZE; i++)
		client_key[i] = (uint8_t)(0x11 + i);
	for (int i = 0; i < ADD_SYSTEM_KEY_SIZE; i++)
		system_key[i] = (uint8_t)(0x77 + i);
	for (uint8_t r = 1; r <= N; r++) {
		proc *p = &procs[r];

		memset(p, 0, sizeof(*p));
		p->rank = r;
		p->disk = add_sim_disk_create(r);
		open_store(p);
		start_node(p);
	}
	for (uint8_t r = 1; r <= N; r++) /* links up: the META probes */
		for (uint8_t q = 1; q <= N; q++)
			if (q != r)
				add_node_on_peer_connected(procs[r].node, q);
}

static void teardown(void)
{
	for (uint8_t r = 1; r <= N; r++) {
		add_node_destroy(procs[r].node);
		add_sector_store_close(procs[r].store);
		add_sim_disk_destroy(procs[r].disk);
	}
	free(msgs);
	msgs = NULL;
	n_msgs = 0;
}

TestSuite(node_real_store, .init = setup, .fini = teardown);

static void feed(proc *p, const uint8_t *bytes, size_t len)
{
	add_wire_decoder dec;

	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, add_node_client_key(p->node),
			      add_node_system_key(p->node));
	add_node_on_bytes(p->node, 7, &dec, bytes, len);
}

/* Messages delivered in order, stores flushed and their completions told
 * to the nodes, until nothing moves. */
static void pump(void)
{
	for (int steps = 0; steps < 100000; steps++) {
		bool moved = false;

		for (uint8_t r = 1; r <= N; r++) {
			proc *p = &procs[r];

			add_sector_store_kick(p->store);
			moved |= add_sim_disk_complete_flushes(p->disk) > 0;
			for (size_t i = 0; i < p->n_cookies; i++)
				add_node_on_store_done(p->node, p->cookies[i]);
			moved |= p->n_cookies > 0;
			p->n_cookies = 0;
			cr_assert_not(p->fatal);
			cr_assert_not(add_node_failed(p->node), "process %u failed", r);
		}
		if (n_msgs > 0) {
			msg m = msgs[0];

			memmove(msgs, msgs + 1, (n_msgs - 1) * sizeof(*msgs));
			n_msgs--;
			feed(&procs[m.to], m.bytes, m.len);
			moved = true;
		}
		if (!moved)
			return;
	}
	cr_assert_fail("the cluster never settled");
}

static void client(uint8_t rank, uint8_t type, uint64_t sector, const uint8_t *data)
{
	add_hmac_key key;
	add_client_cmd cmd = { .type = type, .request = 1, .sector = sector, .data = data };
	uint8_t buf[ADD_CMD_WRITE_SIZE];
	size_t len;

	cr_assert_eq(add_hmac_key_init(&key, client_key, sizeof(client_key)), 0);
	len = add_wire_encode_cmd(&cmd, &key, buf);
	add_hmac_key_free(&key);
	have_reply = false;
	feed(&procs[rank], buf, len);
	pump();
	cr_assert(have_reply, "answered");
	cr_assert_eq(reply_status, ADD_STATUS_OK);
}

Test(node_real_store, a_flipped_bit_is_found_never_served_and_repaired_durably)
{
	uint8_t v[ADD_SECTOR_SIZE], got[ADD_SECTOR_SIZE];
	add_node_stats st;
	uint64_t ts;
	uint8_t wr;
	const add_store_ops *ops = add_sector_store_ops();

	for (int i = 0; i < ADD_SECTOR_SIZE; i++)
		v[i] = (uint8_t)(i * 13 + 5);
	pump(); /* the META probes */
	client(1, ADD_TYPE_WRITE, 7, v);
	/* the value reaches 3's data file (a checkpoint), then one bit rots */
	cr_assert(add_sector_store_checkpoint(procs[3].store));
	pump();
	cr_assert_eq(add_sim_disk_flip_bit(procs[3].disk, "data", 7 * 4096 + 100, 3), 0);
	client(3, ADD_TYPE_READ, 7, NULL);
	cr_assert_arr_eq(reply_data, v, ADD_SECTOR_SIZE, "the written value, not the rotten copy");
	add_node_get_stats(procs[3].node, &st);
	cr_assert_eq(st.damaged_found, 1);
	cr_assert_eq(st.repairs_done, 1);
	cr_assert_eq(add_node_repairs_pending(procs[3].node), 0);
	/* the repair is durable: 3's store restarted holds the value again */
	add_node_destroy(procs[3].node);
	add_sector_store_close(procs[3].store);
	add_sim_disk_crash(procs[3].disk);
	open_store(&procs[3]);
	start_node(&procs[3]);
	cr_assert_not(ops->damaged(procs[3].store, 7));
	cr_assert_eq(ops->read_data(procs[3].store, 7, got), 0);
	cr_assert_arr_eq(got, v, ADD_SECTOR_SIZE);
	ops->get_meta(procs[3].store, 7, &ts, &wr);
	cr_assert_eq(ts, 1);
	cr_assert_eq(wr, 1);
}
