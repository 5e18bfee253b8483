/* SPDX-License-Identifier: MIT */
/*
 * atdd_testsrv: test peers for the atdd kernel driver, run inside the QEMU
 * guest (linked statically). It speaks the client side of PROTOCOL.md.
 *
 *   --mode serve    a stand-in for one ADD process: sectors live in a shared
 *                   mmap'd file (--store), so several servers on different
 *                   ports see one disk and a client can fail over between
 *                   them; within one read batch, replies go out in reverse
 *                   order (replies in any order are part of the protocol).
 *   --mode garbage  for every command: stray bytes, a magic with an invalid
 *                   type, a reply with a bad HMAC, a signed reply to a request
 *                   that does not exist, a signed reply of the wrong type, and
 *                   then only sometimes the valid reply; now and then it drops
 *                   the connection.
 *   --mode silent   accepts and reads, never answers.
 *
 * usage: atdd_testsrv --mode M --port P --sectors N --client-key-file F
 *                     [--store FILE] [--seed S]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire_constants.h"

enum mode { MODE_SERVE, MODE_GARBAGE, MODE_SILENT };

static enum mode g_mode;
static uint64_t g_sectors;
static uint8_t g_key[ADD_CLIENT_KEY_SIZE];
static uint8_t *g_store; /* g_sectors * ADD_SECTOR_SIZE, shared mapping */
static unsigned int g_seed = 1;

#define BATCH_MAX 64
#define RX_BUF_SIZE (16 * ADD_CMD_WRITE_SIZE)

struct conn {
	int fd;
	unsigned int rand_state;
	uint8_t rx[RX_BUF_SIZE];
	size_t rx_len;
};

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void hmac(const uint8_t *data, size_t len, uint8_t *out)
{
	unsigned int out_len = 0;

	if (!HMAC(EVP_sha256(), g_key, sizeof(g_key), data, len, out, &out_len) ||
	    out_len != ADD_HMAC_TAG_SIZE) {
		fprintf(stderr, "atdd_testsrv: HMAC failed\n");
		exit(2);
	}
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_magic(uint8_t *p)
{
	p[0] = ADD_MAGIC_0;
	p[1] = ADD_MAGIC_1;
	p[2] = ADD_MAGIC_2;
	p[3] = ADD_MAGIC_3;
}

/* A signed response; @data is NULL for an empty one. Returns its size. */
static size_t build_response(uint8_t *out, uint8_t status, uint8_t type, uint64_t reqnum,
			     const uint8_t *data)
{
	size_t len = ADD_RSP_HEADER_SIZE;

	put_magic(out);
	memset(out + ADD_RSP_OFF_PADDING, 0, ADD_RSP_PADDING_SIZE);
	out[ADD_RSP_OFF_STATUS] = status;
	out[ADD_RSP_OFF_TYPE] = type;
	put_be64(out + ADD_RSP_OFF_REQUEST, reqnum);
	if (data) {
		memcpy(out + ADD_RSP_OFF_DATA, data, ADD_SECTOR_SIZE);
		len += ADD_SECTOR_SIZE;
	}
	hmac(out, len, out + len);
	return len + ADD_HMAC_TAG_SIZE;
}

struct command {
	uint8_t type;
	uint8_t status;
	uint64_t reqnum;
	uint64_t sector;
	const uint8_t *data; /* WRITE: inside the rx buffer */
};

/*
 * Parse one command at the start of @p (resync rules of PROTOCOL.md).
 * Returns bytes consumed (0: need more); *got is 1 when @cmd is filled.
 */
static size_t parse_command(const uint8_t *p, size_t avail, struct command *cmd, int *got)
{
	uint8_t tag[ADD_HMAC_TAG_SIZE];
	size_t size;

	*got = 0;
	if (avail < ADD_MAGIC_SIZE)
		return 0;
	if (p[0] != ADD_MAGIC_0 || p[1] != ADD_MAGIC_1 || p[2] != ADD_MAGIC_2 ||
	    p[3] != ADD_MAGIC_3)
		return 1;
	if (avail < ADD_CMD_OFF_TYPE + 1)
		return 0;
	if (p[ADD_CMD_OFF_TYPE] == ADD_TYPE_READ)
		size = ADD_CMD_READ_SIZE;
	else if (p[ADD_CMD_OFF_TYPE] == ADD_TYPE_WRITE)
		size = ADD_CMD_WRITE_SIZE;
	else
		return ADD_INVALID_TYPE_SKIP;
	if (avail < size)
		return 0;
	cmd->type = p[ADD_CMD_OFF_TYPE];
	cmd->reqnum = get_be64(p + ADD_CMD_OFF_REQUEST);
	cmd->sector = get_be64(p + ADD_CMD_OFF_SECTOR);
	cmd->data = p + ADD_CMD_OFF_DATA;
	hmac(p, size - ADD_HMAC_TAG_SIZE, tag);
	if (memcmp(tag, p + size - ADD_HMAC_TAG_SIZE, ADD_HMAC_TAG_SIZE))
		cmd->status = ADD_STATUS_AUTH_FAILURE;
	else if (cmd->sector >= g_sectors)
		cmd->status = ADD_STATUS_INVALID_SECTOR_INDEX;
	else
		cmd->status = ADD_STATUS_OK;
	*got = 1;
	return size;
}

/* Execute @cmd against the store and send its reply. */
static int serve_one(struct conn *c, const struct command *cmd)
{
	static __thread uint8_t out[ADD_RSP_READ_SIZE];
	uint8_t rtype = cmd->type | ADD_TYPE_RESPONSE_BIT;
	const uint8_t *data = NULL;
	size_t len;

	if (cmd->status == ADD_STATUS_OK) {
		uint8_t *sector = g_store + cmd->sector * ADD_SECTOR_SIZE;

		if (cmd->type == ADD_TYPE_WRITE)
			memcpy(sector, cmd->data, ADD_SECTOR_SIZE);
		else
			data = sector;
	}
	len = build_response(out, cmd->status, rtype, cmd->reqnum, data);
	return write_all(c->fd, out, len);
}

static unsigned int next_rand(struct conn *c)
{
	return (unsigned int)rand_r(&c->rand_state);
}

/* The garbage server's answer to one command. Returns -1 to hang up. */
static int garbage_one(struct conn *c, const struct command *cmd)
{
	static __thread uint8_t out[2 * ADD_RSP_READ_SIZE];
	static __thread uint8_t junk_sector[ADD_SECTOR_SIZE];
	uint8_t rtype = cmd->type | ADD_TYPE_RESPONSE_BIT;
	uint8_t *data = cmd->type == ADD_TYPE_READ ? junk_sector : NULL;
	size_t len, n, i;

	memset(junk_sector, 0x5a, sizeof(junk_sector));
	/* stray bytes, and a magic cut short */
	n = 1 + next_rand(c) % 100;
	for (i = 0; i < n; i++)
		out[i] = (uint8_t)next_rand(c);
	memcpy(out + n, "atd", 3);
	if (write_all(c->fd, out, n + 3))
		return -1;
	/* a magic with an invalid type */
	put_magic(out);
	out[4] = out[5] = out[6] = 0;
	out[7] = (uint8_t)(0x07 + next_rand(c) % 0x30);
	if (write_all(c->fd, out, 8))
		return -1;
	/* the right reply with a bad HMAC */
	len = build_response(out, ADD_STATUS_OK, rtype, cmd->reqnum, data);
	out[len - 1 - next_rand(c) % ADD_HMAC_TAG_SIZE] ^= 0x01;
	if (write_all(c->fd, out, len))
		return -1;
	/* signed replies to a request that is not in flight, and of the wrong type */
	len = build_response(out, ADD_STATUS_OK, rtype, cmd->reqnum ^ (1ull << (next_rand(c) % 64)),
			     data);
	if (write_all(c->fd, out, len))
		return -1;
	len = build_response(out, ADD_STATUS_OK, (uint8_t)(rtype ^ 0x03), cmd->reqnum,
			     rtype == ADD_TYPE_WRITE_RESPONSE ? junk_sector : NULL);
	if (write_all(c->fd, out, len))
		return -1;
	switch (next_rand(c) % 8) {
	case 0:
		return -1; /* hang up */
	case 1:
	case 2:
	case 3:
		break; /* no valid reply at all */
	case 4:
		len = build_response(out, ADD_STATUS_INVALID_SECTOR_INDEX, rtype, cmd->reqnum, NULL);
		return write_all(c->fd, out, len);
	default:
		len = build_response(out, ADD_STATUS_OK, rtype, cmd->reqnum, data);
		return write_all(c->fd, out, len);
	}
	return 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct command batch[BATCH_MAX];

	for (;;) {
		size_t pos = 0;
		int n_batch = 0, i, hangup = 0;
		ssize_t n = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->rx_len += (size_t)n;
		if (g_mode == MODE_SILENT) {
			c->rx_len = 0;
			continue;
		}
		while (n_batch < BATCH_MAX) {
			int got;
			size_t used = parse_command(c->rx + pos, c->rx_len - pos, &batch[n_batch], &got);

			if (!used)
				break;
			pos += used;
			n_batch += got;
		}
		/* Reverse order: the client must match replies by request number. */
		for (i = n_batch - 1; i >= 0 && !hangup; i--) {
			int err = g_mode == MODE_SERVE ? serve_one(c, &batch[i])
						       : garbage_one(c, &batch[i]);
			if (err)
				hangup = 1;
		}
		if (hangup)
			break;
		memmove(c->rx, c->rx + pos, c->rx_len - pos);
		c->rx_len -= pos;
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void read_key(const char *path)
{
	char hex[2 * ADD_CLIENT_KEY_SIZE + 2];
	FILE *f = fopen(path, "r");
	size_t i;

	if (!f)
		die(path);
	if (!fgets(hex, sizeof(hex), f) || strlen(hex) < 2 * ADD_CLIENT_KEY_SIZE) {
		fprintf(stderr, "atdd_testsrv: %s: expected %d hex digits\n", path,
			2 * ADD_CLIENT_KEY_SIZE);
		exit(2);
	}
	fclose(f);
	for (i = 0; i < ADD_CLIENT_KEY_SIZE; i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			fprintf(stderr, "atdd_testsrv: %s: not hex\n", path);
			exit(2);
		}
		g_key[i] = (uint8_t)byte;
	}
}

static void open_store(const char *path)
{
	size_t size = (size_t)g_sectors * ADD_SECTOR_SIZE;
	int fd;

	if (!path) {
		g_store = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} else {
		fd = open(path, O_RDWR | O_CREAT, 0600);
		if (fd < 0)
			die(path);
		if (ftruncate(fd, (off_t)size))
			die("ftruncate");
		g_store = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	if (g_store == MAP_FAILED)
		die("mmap");
}

static void usage(void)
{
	fprintf(stderr, "usage: atdd_testsrv --mode serve|garbage|silent --port P --sectors N\n"
			"                    --client-key-file F [--store FILE] [--seed S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *store = NULL, *key_file = NULL;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int port = 0, lfd, one = 1, i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mode")) {
			if (!strcmp(argv[i + 1], "serve"))
				g_mode = MODE_SERVE;
			else if (!strcmp(argv[i + 1], "garbage"))
				g_mode = MODE_GARBAGE;
			else if (!strcmp(argv[i + 1], "silent"))
				g_mode = MODE_SILENT;
			else
				usage();
		} else if (!strcmp(argv[i], "--port")) {
			port = atoi(argv[i + 1]);
		} else if (!strcmp(argv[i], "--sectors")) {
			g_sectors = strtoull(argv[i + 1], NULL, 10);
		} else if (!strcmp(argv[i], "--client-key-file")) {
			key_file = argv[i + 1];
		} else if (!strcmp(argv[i], "--store")) {
			store = argv[i + 1];
		} else if (!strcmp(argv[i], "--seed")) {
			g_seed = (unsigned int)strtoul(argv[i + 1], NULL, 10);
		} else {
			usage();
		}
	}
	if (i != argc || port <= 0 || port > 65535 || !g_sectors || g_sectors > ADD_N_SECTORS_MAX ||
	    !key_file)
		usage();
	read_key(key_file);
	open_store(store);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 16))
		die("bind/listen");
	for (;;) {
		struct conn *c;
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c)
			die("calloc");
		c->fd = fd;
		c->rand_state = g_seed++;
		if (pthread_create(&t, NULL, conn_main, c))
			die("pthread_create");
		pthread_detach(t);
	}
}
