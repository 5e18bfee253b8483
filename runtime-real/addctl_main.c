/*
 * addctl: a client of an ADD cluster. One sector read or written, or a
 * benchmark (runtime-real/loadgen.h). See `addctl --help`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "loadgen.h"
#include "log.h"
#include "net.h"
#include "status.h"
#include "status_client.h"
#include "wire.h"

static const char usage[] =
	"usage: addctl read  --peer HOST:PORT[,...] --client-key-file F --sector S\n"
	"                    [--out FILE | FILE] [--timeout 30]\n"
	"       addctl write --peer HOST:PORT[,...] --client-key-file F --sector S\n"
	"                    [--in FILE | FILE] [--timeout 30]\n"
	"       addctl bench --peers HOST:PORT,... --client-key-file F [--connections 16]\n"
	"                    [--depth 8] [--read-ratio 0.5] [--sectors 65536]\n"
	"                    [--first-sector 0] [--duration 10] [--verify] [--quiet]\n"
	"                    [--fresh] [--seed N]\n"
	"       addctl status --peers HOST:PORT,... --client-key-file F [--json]\n"
	"                    [--timeout-ms 2000]\n"
	"\n"
	"read    prints sector S (4096 bytes) to stdout or FILE\n"
	"        (--peer or --peers: several processes are tried in turn until one\n"
	"        takes the connection)\n"
	"write   writes sector S from stdin or FILE (shorter data is zero-padded;\n"
	"        more than 4096 bytes is an error); both give up after --timeout seconds\n"
	"        (an operation completes only while a majority of the processes is up)\n"
	"bench   many connections spread over the processes, --depth commands in flight\n"
	"        on each; checks every reply's HMAC and request number and every READ's\n"
	"        data against the writes of that sector; prints a progress line each\n"
	"        second (stderr) and at the end sectors/s and latency percentiles.\n"
	"        --verify then reads back every written sector through every process.\n"
	"        A sector not yet written by this run may hold anything (earlier runs,\n"
	"        other clients); --fresh: the range was never written, such a READ must\n"
	"        return zeros.\n"
	"status  asks every process of --peers (all of them, in rank order) for its\n"
	"        state over a signed STATUS message: one line per process (reachable,\n"
	"        rank, role, peers it sees up, sectors written, disk use against its\n"
	"        bound, uptime, version, damage counters), then the cluster verdict:\n"
	"        healthy (exit 0), degraded: ... (exit 1), unavailable (exit 2).\n"
	"        Exit 3: usage or key file error. --json: one JSON document.\n"
	"Exit status: 0 ok, 1 the operation failed (status, connection, data), 2 usage.\n";

/* Usage errors: one line, exit status 2. */
#define die_usage(...)                                                                     \
	(fprintf(stderr, "addctl: error: "), fprintf(stderr, __VA_ARGS__),                 \
	 fprintf(stderr, " (see --help)\n"), 2)

static int load_key(const char *path, uint8_t key[ADD_CLIENT_KEY_SIZE])
{
	char err[512];
	bool loose;

	if (path == NULL) {
		fprintf(stderr, "addctl: error: missing --client-key-file (see --help)\n");
		return -1;
	}
	if (add_read_key_file(path, key, ADD_CLIENT_KEY_SIZE, &loose, err, sizeof(err)) != 0) {
		fprintf(stderr, "addctl: error: %s\n", err);
		return -1;
	}
	if (loose)
		fprintf(stderr, "addctl: warning: key file '%s' is accessible by group or others\n",
			path);
	return 0;
}

static const char *status_name(uint8_t st)
{
	switch (st) {
	case ADD_STATUS_AUTH_FAILURE:
		return "AuthFailure (the client key does not match the cluster's)";
	case ADD_STATUS_INVALID_SECTOR_INDEX:
		return "InvalidSectorIndex (sector out of range)";
	default:
		return "unknown status";
	}
}

/* One command, one reply. data: 4096 bytes for WRITE (in), READ (out).
 * 0 ok, 1 failed, CONNECT_FAILED nothing was sent (another process may do). */
#define CONNECT_FAILED 3
static int one_command(const add_hostport *peer, const uint8_t key[ADD_CLIENT_KEY_SIZE],
		       uint8_t type, uint64_t sector, uint8_t *data, int timeout_s)
{
	static uint8_t msg[ADD_CMD_WRITE_SIZE], rbuf[16384];
	add_hmac_key hk;
	add_wire_decoder dec;
	char err[512];
	uint64_t req;
	int fd, rc = 1;

	if (getrandom(&req, sizeof(req), 0) != (ssize_t)sizeof(req))
		req = (uint64_t)getpid();
	if (add_hmac_key_init(&hk, key, ADD_CLIENT_KEY_SIZE) != 0) {
		fprintf(stderr, "addctl: error: cannot prepare the HMAC key\n");
		return 1;
	}
	fd = add_net_connect_blocking(peer, timeout_s * 1000, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "addctl: error: %s\n", err);
		add_hmac_key_free(&hk);
		return CONNECT_FAILED;
	}
	add_client_cmd cmd = {.type = type, .request = req, .sector = sector,
			      .data = type == ADD_TYPE_WRITE ? data : NULL};
	size_t n = add_wire_encode_cmd(&cmd, &hk, msg);
	if (add_write_all(fd, msg, n) != 0) {
		fprintf(stderr, "addctl: error: sending to %s:%u: %s\n", peer->host, peer->port,
			strerror(errno));
		goto out;
	}
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_CLIENT, &hk, NULL);
	for (;;) {
		ssize_t r = read(fd, rbuf, sizeof(rbuf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr, "addctl: error: no reply from %s:%u within %d s (is a majority "
					"of the processes up?)\n", peer->host, peer->port, timeout_s);
			goto out;
		}
		if (r <= 0) {
			fprintf(stderr, "addctl: error: connection to %s:%u closed before the reply\n",
				peer->host, peer->port);
			goto out;
		}
		const uint8_t *p = rbuf;
		size_t len = (size_t)r;
		add_wire_msg m;
		for (;;) {
			size_t used = add_wire_decoder_feed(&dec, p, len, &m);
			p += used;
			len -= used;
			if (m.kind == ADD_WIRE_NONE)
				break;
			if (m.kind != ADD_WIRE_RSP || m.rsp.request != req)
				continue; /* not ours: ignore */
			if (!m.hmac_ok) {
				fprintf(stderr, "addctl: error: the reply's HMAC does not verify "
						"(wrong client key?)\n");
				goto out;
			}
			if (m.rsp.type != (type | ADD_TYPE_RESPONSE_BIT)) {
				fprintf(stderr, "addctl: error: reply of the wrong type 0x%02x\n",
					m.rsp.type);
				goto out;
			}
			if (m.rsp.status != ADD_STATUS_OK) {
				fprintf(stderr, "addctl: error: status %u: %s\n", m.rsp.status,
					status_name(m.rsp.status));
				goto out;
			}
			if (type == ADD_TYPE_READ)
				memcpy(data, m.rsp.data, ADD_SECTOR_SIZE);
			rc = 0;
			goto out;
		}
	}
out:
	close(fd);
	add_hmac_key_free(&hk);
	return rc;
}

static int cmd_rw_run(const add_hostport *peers, size_t n_peers, const char *key_s,
		      const char *file, bool is_write, uint64_t sector, int timeout_s);

static int cmd_rw(int argc, char **argv, bool is_write)
{
	enum { O_PEER = 1, O_KEY, O_SECTOR, O_FILE, O_TIMEOUT, O_HELP };
	static const struct option opts[] = {
		{"peer", required_argument, NULL, O_PEER},
		/* As bench and addd spell it: the processes are tried in turn
		 * until one takes the connection. */
		{"peers", required_argument, NULL, O_PEER},
		{"client-key-file", required_argument, NULL, O_KEY},
		{"sector", required_argument, NULL, O_SECTOR},
		{"out", required_argument, NULL, O_FILE},
		{"in", required_argument, NULL, O_FILE},
		{"file", required_argument, NULL, O_FILE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *peer_s = NULL, *key_s = NULL, *sector_s = NULL, *file = NULL;
	add_hostport *peers = NULL;
	size_t n_peers = 0;
	uint64_t sector, timeout_s = 30;
	char err[512];
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_PEER: peer_s = optarg; break;
		case O_TIMEOUT:
			if (add_parse_u64(optarg, 1, 86400, &timeout_s) != 0)
				return die_usage("bad --timeout '%s' (seconds)", optarg);
			break;
		case O_KEY: key_s = optarg; break;
		case O_SECTOR: sector_s = optarg; break;
		case O_FILE: file = optarg; break;
		case 'h':
		case O_HELP: fputs(usage, stdout); return 0;
		case ':': return die_usage("option '%s' needs a value", argv[optind - 1]);
		default: return die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	/* One positional argument: the file (as --in / --out). */
	if (optind < argc && file == NULL)
		file = argv[optind++];
	if (optind < argc)
		return die_usage("unexpected argument '%s'", argv[optind]);
	if (file != NULL && strcmp(file, "-") == 0)
		file = NULL; /* stdin / stdout */
	if (peer_s == NULL)
		return die_usage("missing %s", "--peer");
	if (sector_s == NULL)
		return die_usage("missing %s", "--sector");
	if (add_parse_u64(sector_s, 0, UINT64_MAX, &sector) != 0)
		return die_usage("bad --sector '%s'", sector_s);
	if (add_parse_peer_list(peer_s, &peers, &n_peers, err, sizeof(err)) != 0)
		return die_usage("%s", err);
	int rc = cmd_rw_run(peers, n_peers, key_s, file, is_write, sector, (int)timeout_s);
	free(peers);
	return rc;
}

static int cmd_rw_run(const add_hostport *peers, size_t n_peers, const char *key_s,
		      const char *file, bool is_write, uint64_t sector, int timeout_s)
{
	static uint8_t data[ADD_SECTOR_SIZE + 1];
	uint8_t key[ADD_CLIENT_KEY_SIZE];
	int rc = CONNECT_FAILED;

	if (load_key(key_s, key) != 0)
		return 2;
	if (is_write) {
		int fd = file ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
		size_t got = 0;
		if (fd < 0) {
			fprintf(stderr, "addctl: error: cannot open '%s': %s\n", file, strerror(errno));
			return 1;
		}
		while (got < sizeof(data)) {
			ssize_t r = read(fd, data + got, sizeof(data) - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				fprintf(stderr, "addctl: error: reading the data: %s\n",
					strerror(errno));
				return 1;
			}
			if (r == 0)
				break;
			got += (size_t)r;
		}
		if (file)
			close(fd);
		if (got > ADD_SECTOR_SIZE) {
			fprintf(stderr, "addctl: error: data longer than one sector (%d bytes)\n",
				ADD_SECTOR_SIZE);
			return 1;
		}
		memset(data + got, 0, sizeof(data) - got);
		for (size_t i = 0; i < n_peers && rc == CONNECT_FAILED; i++)
			rc = one_command(&peers[i], key, ADD_TYPE_WRITE, sector, data, timeout_s);
		return rc == 0 ? 0 : 1;
	}
	for (size_t i = 0; i < n_peers && rc == CONNECT_FAILED; i++)
		rc = one_command(&peers[i], key, ADD_TYPE_READ, sector, data, timeout_s);
	if (rc != 0)
		return 1;
	int fd = file ? open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : STDOUT_FILENO;
	if (fd < 0 || add_write_all(fd, data, ADD_SECTOR_SIZE) != 0) {
		fprintf(stderr, "addctl: error: writing the data: %s\n", strerror(errno));
		return 1;
	}
	if (file)
		close(fd);
	return 0;
}

static int parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int cmd_bench(int argc, char **argv)
{
	enum { O_PEERS = 1, O_KEY, O_CONNS, O_DEPTH, O_RATIO, O_SECTORS, O_FIRST, O_DUR,
	       O_VERIFY, O_QUIET, O_SEED, O_PRIOR, O_FRESH, O_HELP };
	static const struct option opts[] = {
		{"peers", required_argument, NULL, O_PEERS},
		{"peer", required_argument, NULL, O_PEERS},
		{"client-key-file", required_argument, NULL, O_KEY},
		{"connections", required_argument, NULL, O_CONNS},
		{"depth", required_argument, NULL, O_DEPTH},
		{"read-ratio", required_argument, NULL, O_RATIO},
		{"sectors", required_argument, NULL, O_SECTORS},
		{"first-sector", required_argument, NULL, O_FIRST},
		{"duration", required_argument, NULL, O_DUR},
		{"verify", no_argument, NULL, O_VERIFY},
		{"quiet", no_argument, NULL, O_QUIET},
		{"seed", required_argument, NULL, O_SEED},
		{"prior-writes", no_argument, NULL, O_PRIOR}, /* the default now */
		{"fresh", no_argument, NULL, O_FRESH},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	add_loadgen_config cfg = {.connections = 16, .depth = 8, .read_ratio = 0.5,
				  .sectors = 65536, .duration_s = 10, .prior_writes = true};
	const char *peers_s = NULL, *key_s = NULL;
	add_hostport *peers = NULL;
	uint64_t v;
	char err[512];
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_PEERS: peers_s = optarg; break;
		case O_KEY: key_s = optarg; break;
		case O_CONNS:
			if (add_parse_u64(optarg, 1, 1000, &v) != 0)
				return die_usage("bad --connections '%s' (1..1000)", optarg);
			cfg.connections = (uint32_t)v;
			break;
		case O_DEPTH:
			if (add_parse_u64(optarg, 1, 1024, &v) != 0)
				return die_usage("bad --depth '%s' (1..1024)", optarg);
			cfg.depth = (uint32_t)v;
			break;
		case O_RATIO:
			if (parse_double(optarg, 0, 1, &cfg.read_ratio) != 0)
				return die_usage("bad --read-ratio '%s' (0..1)", optarg);
			break;
		case O_SECTORS:
			if (add_parse_u64(optarg, 1, ADD_N_SECTORS_MAX, &cfg.sectors) != 0)
				return die_usage("bad --sectors '%s'", optarg);
			break;
		case O_FIRST:
			if (add_parse_u64(optarg, 0, ADD_N_SECTORS_MAX, &cfg.first_sector) != 0)
				return die_usage("bad --first-sector '%s'", optarg);
			break;
		case O_DUR:
			if (parse_double(optarg, 0.1, 86400, &cfg.duration_s) != 0)
				return die_usage("bad --duration '%s' (seconds)", optarg);
			break;
		case O_VERIFY: cfg.verify = true; break;
		case O_QUIET: cfg.quiet = true; break;
		case O_PRIOR: cfg.prior_writes = true; break;
		case O_FRESH: cfg.prior_writes = false; break;
		case O_SEED:
			if (add_parse_u64(optarg, 0, UINT64_MAX, &cfg.seed) != 0)
				return die_usage("bad --seed '%s'", optarg);
			break;
		case 'h':
		case O_HELP: fputs(usage, stdout); return 0;
		case ':': return die_usage("option '%s' needs a value", argv[optind - 1]);
		default: return die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return die_usage("unexpected argument '%s'", argv[optind]);
	if (peers_s == NULL)
		return die_usage("missing %s", "--peers");
	if (add_parse_peer_list(peers_s, &peers, &cfg.n_peers, err, sizeof(err)) != 0)
		return die_usage("%s", err);
	cfg.peers = peers;
	if (load_key(key_s, cfg.client_key) != 0) {
		free(peers);
		return 2;
	}
	add_loadgen_result r;
	int rc = add_loadgen_run(&cfg, &r);
	free(peers);
	if (rc != 0)
		return 1;
	double t = r.elapsed_s > 0 ? r.elapsed_s : 1;
	printf("writes: %llu in %.1f s = %.0f sectors/s\n", (unsigned long long)r.writes, t,
	       (double)r.writes / t);
	printf("reads: %llu in %.1f s = %.0f sectors/s\n", (unsigned long long)r.reads, t,
	       (double)r.reads / t);
	printf("latency_us: p50 %.0f p99 %.0f p99.9 %.0f max %.0f\n", r.lat_p50_us, r.lat_p99_us,
	       r.lat_p999_us, r.lat_max_us);
	printf("errors: %llu  mismatches: %llu  broken connections: %llu  unknown-outcome "
	       "writes: %llu\n",
	       (unsigned long long)r.errors, (unsigned long long)r.mismatches,
	       (unsigned long long)r.broken, (unsigned long long)r.unknown_writes);
	if (cfg.verify)
		printf("verify: %llu sector reads through %zu processes, %llu failures\n",
		       (unsigned long long)r.verified_sectors, cfg.n_peers,
		       (unsigned long long)r.verify_failures);
	bool ok = r.errors == 0 && r.mismatches == 0 && r.verify_failures == 0 &&
		  r.writes + r.reads > 0;
	return ok ? 0 : 1;
}

/* Usage errors of addctl status: exit 3 (0..2 are verdicts). */
#define die_status_usage(...) (die_usage(__VA_ARGS__) ? 3 : 3)

/* addctl status: exit 0 healthy, 1 degraded, 2 unavailable, 3 usage. */
static int cmd_status(int argc, char **argv)
{
	enum { O_PEERS = 1, O_KEY, O_JSON, O_TIMEOUT, O_HELP };
	static const struct option opts[] = {
		{"peers", required_argument, NULL, O_PEERS},
		{"peer", required_argument, NULL, O_PEERS},
		{"client-key-file", required_argument, NULL, O_KEY},
		{"json", no_argument, NULL, O_JSON},
		{"timeout-ms", required_argument, NULL, O_TIMEOUT},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	static add_status_probe probes[ADD_PROCS_MAX];
	static char addrs[ADD_PROCS_MAX][ADD_HOST_MAX + 16];
	const char *peers_s = NULL, *key_s = NULL;
	add_hostport *peers = NULL;
	size_t n = 0;
	uint64_t timeout_ms = 2000;
	bool json = false;
	uint8_t key[ADD_CLIENT_KEY_SIZE];
	add_hmac_key hk;
	char err[512], line[1024], why[1024];
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_PEERS: peers_s = optarg; break;
		case O_KEY: key_s = optarg; break;
		case O_JSON: json = true; break;
		case O_TIMEOUT:
			if (add_parse_u64(optarg, 1, 600000, &timeout_ms) != 0)
				return die_status_usage("bad --timeout-ms '%s'", optarg);
			break;
		case 'h':
		case O_HELP: fputs(usage, stdout); return 0;
		case ':': return die_status_usage("option '%s' needs a value", argv[optind - 1]);
		default: return die_status_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return die_status_usage("unexpected argument '%s'", argv[optind]);
	if (peers_s == NULL)
		return die_status_usage("missing %s", "--peers");
	if (add_parse_peer_list(peers_s, &peers, &n, err, sizeof(err)) != 0)
		return die_status_usage("%s", err);
	if (load_key(key_s, key) != 0 || add_hmac_key_init(&hk, key, sizeof(key)) != 0) {
		free(peers);
		return 3;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), strchr(peers[i].host, ':') ? "[%s]:%u" : "%s:%u",
			 peers[i].host, peers[i].port);
		probes[i].address = addrs[i];
		add_status_ask(&peers[i], &hk, (int)timeout_ms, &probes[i]);
	}
	add_verdict v = add_status_verdict(probes, n, why, sizeof(why));
	if (json) {
		printf("{\"processes\": [");
		for (size_t i = 0; i < n; i++) {
			add_status_json(&probes[i], (unsigned)(i + 1), line, sizeof(line));
			printf("%s\n  %s", i ? "," : "", line);
		}
		printf("\n], \"verdict\": \"%s\", \"summary\": \"",
		       v == ADD_VERDICT_HEALTHY ? "healthy" : v == ADD_VERDICT_DEGRADED ? "degraded"
											 : "unavailable");
		for (const char *q = why; *q; q++)
			printf(*q == '"' || *q == '\\' ? "\\%c" : "%c", *q);
		printf("\", \"exit\": %d}\n", (int)v);
	} else {
		for (size_t i = 0; i < n; i++) {
			add_status_line(&probes[i], (unsigned)(i + 1), line, sizeof(line));
			printf("%s\n", line);
		}
		printf("cluster: %s\n", why);
	}
	add_hmac_key_free(&hk);
	free(peers);
	return (int)v;
}

int main(int argc, char **argv)
{
	add_log_set_name("addctl");
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "read") == 0)
		return cmd_rw(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "write") == 0)
		return cmd_rw(argc - 1, argv + 1, true);
	if (strcmp(argv[1], "bench") == 0)
		return cmd_bench(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	return die_usage("unknown command '%s'", argv[1]);
}
