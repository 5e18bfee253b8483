/*
 * bench_node: the cost of the core itself per client operation. N = 3 real
 * nodes (register + node + wire + HMAC) in one thread, over an in-memory
 * network (preallocated FIFO, no malloc per message) and an in-memory store
 * whose stores are durable at the end of each delivery round (an ideal
 * disk). What is left is the protocol's CPU work: per WRITE, across the
 * cluster, 8 HMACs over ~4 KiB (client command, 2 VALUEs signed + verified,
 * WRITE_PROC signed once + verified twice) plus small ones. The HMAC-4K
 * rate measured alongside gives the bound this single thread could reach.
 *
 *   build/bench_node [ops]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node.h"
#include "register.h"
#include "wire.h"

#define N 3
#define N_SECTORS 4096
#define WINDOW 64 /* client operations in flight */
#define NET_SLOTS 8192

typedef struct net_msg {
	uint8_t to;
	uint32_t len;
	uint8_t bytes[ADD_WIRE_MSG_SIZE_MAX];
} net_msg;

static net_msg *net;
static size_t net_head, net_len;
static uint64_t now_ns;

typedef struct proc {
	uint8_t rank;
	add_node *node;
	add_io io;
	uint64_t *ts;
	uint8_t *wr;
	uint8_t (*data)[ADD_SECTOR_SIZE];
	uint64_t cookies[NET_SLOTS];
	size_t n_cookies;
	add_wire_decoder dec;
} proc;

static proc procs[N + 1];
static uint64_t replies, pending_ops;

static uint64_t io_now(void *ctx)
{
	(void)ctx;
	return now_ns;
}

static void io_random(void *ctx, uint8_t *out, size_t len)
{
	proc *p = ctx;

	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(p->rank * 17 + i);
}

static void io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len)
{
	net_msg *m;

	(void)ctx;
	if (net_len == NET_SLOTS) {
		fprintf(stderr, "bench_node: network full\n");
		exit(1);
	}
	m = &net[(net_head + net_len++) % NET_SLOTS];
	m->to = rank;
	m->len = (uint32_t)len;
	memcpy(m->bytes, msg, len);
}

static void io_send_client(void *ctx, uint64_t conn, const uint8_t *msg, size_t len)
{
	(void)ctx;
	(void)conn;
	(void)msg;
	(void)len;
	replies++;
	pending_ops--;
}

static void st_get_meta(void *ctx, uint64_t s, uint64_t *ts, uint8_t *wr)
{
	proc *p = ctx;

	*ts = p->ts[s];
	*wr = p->wr[s];
}

static int st_read(void *ctx, uint64_t s, uint8_t out[ADD_SECTOR_SIZE])
{
	proc *p = ctx;

	memcpy(out, p->data[s], ADD_SECTOR_SIZE);
	return 0;
}

static int st_store(void *ctx, uint64_t s, uint64_t ts, uint8_t wr,
		    const uint8_t data[ADD_SECTOR_SIZE], uint64_t cookie)
{
	proc *p = ctx;

	p->ts[s] = ts;
	p->wr[s] = wr;
	memcpy(p->data[s], data, ADD_SECTOR_SIZE);
	p->cookies[p->n_cookies++] = cookie;
	return 0;
}

static const add_store_ops store_ops = {
	.get_meta = st_get_meta,
	.read_data = st_read,
	.store = st_store,
};

static double seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pump(void)
{
	while (net_len > 0) {
		net_msg *m = &net[net_head];

		net_head = (net_head + 1) % NET_SLOTS;
		net_len--;
		add_node_on_bytes(procs[m->to].node, 1000, &procs[m->to].dec, m->bytes, m->len);
		for (int r = 1; r <= N; r++) {
			proc *p = &procs[r];
			size_t k = p->n_cookies;

			p->n_cookies = 0;
			for (size_t i = 0; i < k; i++)
				add_node_on_store_done(p->node, p->cookies[i]);
		}
	}
}

static double run(bool writes, uint64_t ops, const add_hmac_key *ckey)
{
	uint8_t cmd[ADD_CMD_WRITE_SIZE], data[ADD_SECTOR_SIZE];
	uint64_t issued = 0;
	double t0 = seconds();

	memset(data, 0xab, sizeof(data));
	replies = 0;
	while (replies < ops) {
		while (issued < ops && pending_ops < WINDOW) {
			add_client_cmd c = {
				.type = writes ? ADD_TYPE_WRITE : ADD_TYPE_READ,
				.request = issued,
				.sector = (issued * 7919) % N_SECTORS,
				.data = writes ? data : NULL,
			};
			uint8_t r = (uint8_t)(1 + issued % N);
			size_t len = add_wire_encode_cmd(&c, ckey, cmd);

			add_node_on_bytes(procs[r].node, 1, &procs[r].dec, cmd, len);
			issued++;
			pending_ops++;
		}
		pump();
		now_ns += 1000;
	}
	return (double)ops / (seconds() - t0);
}

static double hmac4k_per_s(const add_hmac_key *k)
{
	uint8_t buf[ADD_PEER_VALUE_SIZE - ADD_HMAC_TAG_SIZE], tag[ADD_HMAC_TAG_SIZE];
	int n = 4000;
	double t0;

	memset(buf, 1, sizeof(buf));
	t0 = seconds();
	for (int i = 0; i < n; i++)
		add_hmac_sign(k, buf, sizeof(buf), tag);
	return n / (seconds() - t0);
}

int main(int argc, char **argv)
{
	uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
	add_node_config cfg = { .n_procs = N, .n_sectors = N_SECTORS };
	add_hmac_key ckey, skey;
	double w, r, h;
	add_node_stats st;

	net = calloc(NET_SLOTS, sizeof(*net));
	if (net == NULL)
		return 1;
	memset(cfg.client_key, 1, sizeof(cfg.client_key));
	memset(cfg.system_key, 2, sizeof(cfg.system_key));
	if (add_hmac_key_init(&ckey, cfg.client_key, sizeof(cfg.client_key)) != 0 ||
	    add_hmac_key_init(&skey, cfg.system_key, sizeof(cfg.system_key)) != 0)
		return 1;
	for (int i = 1; i <= N; i++) {
		proc *p = &procs[i];

		p->rank = (uint8_t)i;
		p->ts = calloc(N_SECTORS, sizeof(*p->ts));
		p->wr = calloc(N_SECTORS, 1);
		p->data = calloc(N_SECTORS, ADD_SECTOR_SIZE);
		if (p->ts == NULL || p->wr == NULL || p->data == NULL)
			return 1;
		p->io = (add_io){.ctx = p, .now_ns = io_now, .random_bytes = io_random,
				  .send_peer = io_send_peer, .send_client = io_send_client};
		cfg.rank = (uint8_t)i;
		p->node = add_node_create(&cfg, &p->io, &store_ops, p);
		if (p->node == NULL)
			return 1;
		add_wire_decoder_init(&p->dec, ADD_WIRE_MODE_PROCESS, add_node_client_key(p->node),
				      add_node_system_key(p->node));
	}
	/* links up, as a runtime reports them: the nodes learn that every peer
	 * speaks READ_PROC_META / VALUE_META before the measurement */
	for (int i = 1; i <= N; i++)
		for (int j = 1; j <= N; j++)
			if (i != j)
				add_node_on_peer_connected(procs[i].node, (uint8_t)j);
	pump();
	/* interleaved slices, so that the ratios hold on a loaded machine */
	w = r = h = 0;
	for (int round = 0; round < 10; round++) {
		w += 1 / run(true, ops / 10, &ckey);
		r += 1 / run(false, ops / 10, &ckey);
		h += 1 / hmac4k_per_s(&skey);
	}
	w = 10 / w;
	r = 10 / r;
	h = 10 / h;
	add_node_get_stats(procs[1].node, &st);
	printf("bench_node: N=%d, %d ops in flight, one thread for the whole cluster, ideal disk\n",
	       N, WINDOW);
	printf("  writes: %.0f ops/s   reads: %.0f ops/s   (%llu ops each)\n", w, r,
	       (unsigned long long)ops);
	/* A write's 4 KiB HMACs once every peer speaks META: the client command
	 * verified, WRITE_PROC signed once, verified by each of the N-1 peers. */
	printf("  limit:  HMAC-SHA256 over 4 KiB %.0f/s; %d per write -> %.0f writes/s\n", h,
	       N + 1, h / (N + 1));
	printf("  memory: %zu bytes per op in flight or queued, %zu per active register "
	       "(+ 32 in the map), nothing per idle sector\n", sizeof(add_op),
	       sizeof(add_register));
	printf("  node 1: %llu ops completed, %llu retransmissions, %llu registers left\n",
	       (unsigned long long)st.ops_completed, (unsigned long long)st.retransmissions,
	       (unsigned long long)st.registers_active);
	for (int i = 1; i <= N; i++) {
		add_node_destroy(procs[i].node);
		free(procs[i].ts);
		free(procs[i].wr);
		free(procs[i].data);
	}
	add_hmac_key_free(&ckey);
	add_hmac_key_free(&skey);
	free(net);
	return 0;
}
