/* runtime-real/config: see config.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

const char add_addd_usage[] =
	"usage: addd --rank R --peers HOST:PORT,HOST:PORT,... --storage-dir DIR\n"
	"            --sectors N --client-key-file F --system-key-file F [--log-level LEVEL]\n"
	"            [--nbd-listen HOST:PORT [--nbd-allow-remote]]\n"
	"            [--scrub-interval SECONDS]\n"
	"\n"
	"One process of an ADD (Atomic Disk Drive) cluster.\n"
	"  --rank R              this process's rank, 1..N (index into --peers)\n"
	"  --peers LIST          every process of the cluster, this one included, in rank\n"
	"                        order; this process listens on entry R (clients and\n"
	"                        processes share that one port)\n"
	"  --storage-dir DIR     where sectors are kept (created if missing)\n"
	"  --sectors N           number of 4096-byte sectors, 1..2097152\n"
	"  --client-key-file F   32-byte client HMAC key as 64 hex digits\n"
	"  --system-key-file F   64-byte system HMAC key as 128 hex digits\n"
	"  --log-level LEVEL     error, warning, info (default), debug, trace\n"
	"  --metrics-listen HOST:PORT  serve Prometheus metrics at GET /metrics (off by\n"
	"                        default; a loopback address unless --metrics-allow-remote)\n"
	"  --metrics-allow-remote  let --metrics-listen bind a non-loopback address\n"
	"  --nbd-listen H:P      also serve the Network Block Device protocol there (no\n"
	"                        default: no NBD without it); export \"add\", also the\n"
	"                        default export, of --sectors x 4096 bytes\n"
	"  --nbd-allow-remote    NBD has no authentication: a --nbd-listen address that\n"
	"                        is not loopback is refused unless this is given too\n"
	"  --client-idle-timeout S  close a client connection that has nothing pending\n"
	"                        and sent no command for S seconds (default 300; 0:\n"
	"                        never). Connections that send no validly signed\n"
	"                        message within 3 s are closed and never hold one of\n"
	"                        the 16 client slots\n"
	"  --scrub-interval S    verify every written sector's checksum once every S\n"
	"                        seconds, paced evenly (default 86400, one day; 0 = off);\n"
	"                        a damaged copy found is repaired from the other processes\n"
	"  --force-rejoin        DANGEROUS: let new (empty) storage count as a full member\n"
	"                        at once instead of re-learning every sector from the\n"
	"                        others; writes acknowledged before may be LOST. Only when\n"
	"                        a majority lost its storage and you accept the loss\n"
	"                        (deploy/README.md, 'Replace a disk')\n"
	"  --help                this text\n"
	"Key files should be readable by their owner only (chmod 600).\n"
	"SIGTERM or SIGINT stop the process cleanly.\n"
	"Environment: ADD_JOURNAL_MAX_MB=N sets the journal size that triggers a\n"
	"checkpoint of the sector store (default 64).\n";

static void set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

int add_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int add_parse_hostport(const char *s, add_hostport *out, char *err, size_t err_len)
{
	const char *colon;
	size_t host_len;
	uint64_t port;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			set_err(err, err_len, "bad address '%s' (want [V6ADDR]:PORT)", s);
			return -1;
		}
		host_len = (size_t)(close - s - 1);
		memcpy(out->host, s + 1, host_len < ADD_HOST_MAX ? host_len : 0);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL) {
			set_err(err, err_len, "bad address '%s' (want HOST:PORT)", s);
			return -1;
		}
		host_len = (size_t)(colon - s);
		if (host_len < ADD_HOST_MAX)
			memcpy(out->host, s, host_len);
	}
	if (host_len == 0 || host_len >= ADD_HOST_MAX) {
		set_err(err, err_len, "bad host in address '%s'", s);
		return -1;
	}
	out->host[host_len] = '\0';
	if (add_parse_u64(colon + 1, 1, 65535, &port) != 0) {
		set_err(err, err_len, "bad port in address '%s' (want 1..65535)", s);
		return -1;
	}
	out->port = (uint16_t)port;
	return 0;
}

int add_parse_peer_list(const char *s, add_hostport **out, size_t *n, char *err, size_t err_len)
{
	size_t count = 1, i = 0;
	char *copy, *tok, *save = NULL;
	add_hostport *list;

	for (const char *p = s; *p; p++)
		count += *p == ',';
	if (*s == '\0' || count > ADD_PROCS_MAX) {
		set_err(err, err_len, "--peers must list 1..%d HOST:PORT entries", ADD_PROCS_MAX);
		return -1;
	}
	copy = strdup(s);
	list = calloc(count, sizeof(*list));
	if (copy == NULL || list == NULL) {
		free(copy);
		free(list);
		set_err(err, err_len, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		/* "A:1, B:2" (a space after the comma) is meant as "A:1,B:2". */
		while (*tok == ' ' || *tok == '\t')
			tok++;
		for (size_t k = strlen(tok); k > 0 && (tok[k - 1] == ' ' || tok[k - 1] == '\t');)
			tok[--k] = '\0';
		if (*tok == '\0')
			break; /* an empty entry: reported below */
		if (add_parse_hostport(tok, &list[i], err, err_len) != 0)
			goto fail;
		i++;
	}
	if (i != count) {
		set_err(err, err_len, "--peers has an empty entry");
		goto fail;
	}
	free(copy);
	*out = list;
	*n = count;
	return 0;
fail:
	free(copy);
	free(list);
	return -1;
}

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int add_read_key_file(const char *path, uint8_t *key, size_t len, bool *loose_perms,
		      char *err, size_t err_len)
{
	char buf[1024];
	struct stat st;
	size_t got = 0, digits = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		set_err(err, err_len, "cannot open key file '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, err_len, "key file '%s' is not a regular file", path);
		close(fd);
		return -1;
	}
	*loose_perms = (st.st_mode & 077) != 0;
	while (got < sizeof(buf)) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_err(err, err_len, "cannot read key file '%s': %s", path,
				strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	for (size_t i = 0; i < got; i++) {
		int v = hex_val((unsigned char)buf[i]);
		if (v < 0) {
			/* Only trailing whitespace may follow the digits. */
			for (size_t j = i; j < got; j++) {
				if (buf[j] != '\n' && buf[j] != '\r' && buf[j] != ' ' &&
				    buf[j] != '\t') {
					set_err(err, err_len,
						"malformed key file '%s': want %zu hex digits",
						path, 2 * len);
					return -1;
				}
			}
			break;
		}
		if (digits >= 2 * len) {
			digits++;
			break;
		}
		if (digits % 2 == 0)
			key[digits / 2] = (uint8_t)(v << 4);
		else
			key[digits / 2] |= (uint8_t)v;
		digits++;
	}
	if (digits != 2 * len) {
		set_err(err, err_len, "malformed key file '%s': want %zu hex digits (%zu-byte key)",
			path, 2 * len, len);
		return -1;
	}
	return 0;
}

int add_prepare_dir(const char *path, char *err, size_t err_len)
{
	char tmp[ADD_PATH_MAX];
	struct stat st;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		set_err(err, err_len, "bad storage directory path");
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
			set_err(err, err_len, "cannot create storage directory '%s': %s", tmp,
				strerror(errno));
			return -1;
		}
		tmp[i] = c;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		set_err(err, err_len, "storage directory '%s' is not a directory", path);
		return -1;
	}
	if (access(path, R_OK | W_OK | X_OK) != 0) {
		set_err(err, err_len, "storage directory '%s' is not writable: %s", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int copy_path(char *dst, const char *src, const char *what, char *err, size_t err_len)
{
	size_t n = strlen(src);
	if (n == 0 || n >= ADD_PATH_MAX) {
		set_err(err, err_len, "%s: bad path", what);
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

/* As ssh does for a private key. */
static void warn_loose_key(const char *path)
{
	struct stat st;
	unsigned mode = stat(path, &st) == 0 ? (unsigned)(st.st_mode & 0777) : 0;

	add_warn("key file '%s' is accessible by group or others: permissions %04o are too "
		 "open (chmod 600 '%s')", path, mode, path);
}

void add_addd_config_free(add_addd_config *cfg)
{
	free(cfg->peers);
	cfg->peers = NULL;
}

int add_addd_parse_args(int argc, char **argv, add_addd_config *cfg, char *err, size_t err_len)
{
	enum { O_RANK = 1, O_PEERS, O_DIR, O_SECTORS, O_CKEY, O_SKEY, O_LOG, O_HELP,
	       O_METRICS, O_METRICS_REMOTE, O_NBD, O_NBD_REMOTE, O_IDLE, O_SCRUB,
	       O_FORCE_REJOIN };
	static const struct option opts[] = {
		{"rank", required_argument, NULL, O_RANK},
		{"peers", required_argument, NULL, O_PEERS},
		{"storage-dir", required_argument, NULL, O_DIR},
		{"sectors", required_argument, NULL, O_SECTORS},
		{"client-key-file", required_argument, NULL, O_CKEY},
		{"system-key-file", required_argument, NULL, O_SKEY},
		{"log-level", required_argument, NULL, O_LOG},
		{"metrics-listen", required_argument, NULL, O_METRICS},
		{"metrics-allow-remote", no_argument, NULL, O_METRICS_REMOTE},
		{"scrub-interval", required_argument, NULL, O_SCRUB},
		{"force-rejoin", no_argument, NULL, O_FORCE_REJOIN},
		{"help", no_argument, NULL, O_HELP},
		{"nbd-listen", required_argument, NULL, O_NBD},
		{"nbd-allow-remote", no_argument, NULL, O_NBD_REMOTE},
		{"client-idle-timeout", required_argument, NULL, O_IDLE},
		{NULL, 0, NULL, 0},
	};
	const char *rank_s = NULL, *peers_s = NULL, *sectors_s = NULL;
	size_t n_peers = 0;
	uint64_t v;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = ADD_LOG_INFO;
	cfg->client_idle_timeout_s = ADD_CLIENT_IDLE_TIMEOUT_DEFAULT_S;
	cfg->scrub_interval_s = ADD_SCRUB_INTERVAL_DEFAULT;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_RANK:
			rank_s = optarg;
			break;
		case O_PEERS:
			peers_s = optarg;
			break;
		case O_DIR:
			if (copy_path(cfg->storage_dir, optarg, "--storage-dir", err, err_len))
				return ADD_ARGS_ERROR;
			break;
		case O_SECTORS:
			sectors_s = optarg;
			break;
		case O_CKEY:
			if (copy_path(cfg->client_key_file, optarg, "--client-key-file", err,
				      err_len))
				return ADD_ARGS_ERROR;
			break;
		case O_SKEY:
			if (copy_path(cfg->system_key_file, optarg, "--system-key-file", err,
				      err_len))
				return ADD_ARGS_ERROR;
			break;
		case O_LOG:
			cfg->log_level = add_log_parse_level(optarg);
			if (cfg->log_level < 0) {
				set_err(err, err_len,
					"bad --log-level '%s' (want error, warn, info, debug, "
					"trace)", optarg);
				return ADD_ARGS_ERROR;
			}
			break;
		case O_METRICS:
			if (add_parse_hostport(optarg, &cfg->metrics_listen, err, err_len) != 0)
				return ADD_ARGS_ERROR;
			cfg->metrics_enabled = true;
			break;
		case O_METRICS_REMOTE:
			cfg->metrics_allow_remote = true;
			break;
		case O_NBD:
			if (add_parse_hostport(optarg, &cfg->nbd_listen, err, err_len) != 0)
				return ADD_ARGS_ERROR;
			cfg->nbd_enabled = true;
			break;
		case O_NBD_REMOTE:
			cfg->nbd_allow_remote = true;
			break;
		case O_IDLE:
			if (add_parse_u64(optarg, 0, 86400 * 365, &cfg->client_idle_timeout_s) != 0) {
				set_err(err, err_len,
					"bad --client-idle-timeout '%s' (seconds, 0 to 31536000)",
					optarg);
				return ADD_ARGS_ERROR;
			}
			break;
		case O_FORCE_REJOIN:
			cfg->force_rejoin = true;
			break;
		case O_SCRUB:
			if (add_parse_u64(optarg, 0, ADD_SCRUB_INTERVAL_MAX,
					  &cfg->scrub_interval_s) != 0) {
				set_err(err, err_len,
					"bad --scrub-interval '%s' (want seconds, 0..%llu; 0 = "
					"off)", optarg, (unsigned long long)ADD_SCRUB_INTERVAL_MAX);
				return ADD_ARGS_ERROR;
			}
			break;
		case 'h':
		case O_HELP:
			return ADD_ARGS_HELP;
		case ':':
			set_err(err, err_len, "option '%s' needs a value (see --help)",
				argv[optind - 1]);
			return ADD_ARGS_ERROR;
		default:
			set_err(err, err_len, "unknown option '%s' (see --help)",
				argv[optind - 1]);
			return ADD_ARGS_ERROR;
		}
	}
	if (optind < argc) {
		set_err(err, err_len, "unexpected argument '%s' (see --help)", argv[optind]);
		return ADD_ARGS_ERROR;
	}
	if (!rank_s || !peers_s || !cfg->storage_dir[0] || !sectors_s ||
	    !cfg->client_key_file[0] || !cfg->system_key_file[0]) {
		set_err(err, err_len, "missing --%s (see --help)",
			!rank_s ? "rank" : !peers_s ? "peers" : !cfg->storage_dir[0] ? "storage-dir"
			: !sectors_s ? "sectors" : !cfg->client_key_file[0] ? "client-key-file"
			: "system-key-file");
		return ADD_ARGS_ERROR;
	}
	if (add_parse_peer_list(peers_s, &cfg->peers, &n_peers, err, err_len) != 0)
		return ADD_ARGS_ERROR;
	cfg->n_procs = (uint8_t)n_peers;
	if (add_parse_u64(rank_s, 1, n_peers, &v) != 0) {
		set_err(err, err_len, "bad --rank '%s' (want 1..%zu, the number of --peers)",
			rank_s, n_peers);
		goto fail;
	}
	cfg->rank = (uint8_t)v;
	if (add_parse_u64(sectors_s, 1, ADD_N_SECTORS_MAX, &cfg->n_sectors) != 0) {
		set_err(err, err_len, "bad --sectors '%s' (want 1..%llu)", sectors_s,
			(unsigned long long)ADD_N_SECTORS_MAX);
		goto fail;
	}
	bool loose;
	if (add_read_key_file(cfg->client_key_file, cfg->client_key, ADD_CLIENT_KEY_SIZE, &loose,
			      err, err_len) != 0)
		goto fail;
	if (loose)
		warn_loose_key(cfg->client_key_file);
	if (add_read_key_file(cfg->system_key_file, cfg->system_key, ADD_SYSTEM_KEY_SIZE, &loose,
			      err, err_len) != 0)
		goto fail;
	if (loose)
		warn_loose_key(cfg->system_key_file);
	return ADD_ARGS_OK;
fail:
	add_addd_config_free(cfg);
	return ADD_ARGS_ERROR;
}
