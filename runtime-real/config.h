/*
 * runtime-real/config: command-line and key-file parsing shared by addd and
 * addctl. Every failure fills `err` with one line naming the problem.
 */
#ifndef ADD_REAL_CONFIG_H
#define ADD_REAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_constants.h"

#define ADD_HOST_MAX 256
#define ADD_PATH_MAX 4096

typedef struct add_hostport {
	char host[ADD_HOST_MAX]; /* name or address, without IPv6 brackets */
	uint16_t port;
} add_hostport;

/* "HOST:PORT" or "[V6ADDR]:PORT". 0 or -1. */
int add_parse_hostport(const char *s, add_hostport *out, char *err, size_t err_len);
/* Comma-separated list; *out is malloc'd (caller frees). 0 or -1. */
int add_parse_peer_list(const char *s, add_hostport **out, size_t *n, char *err,
			size_t err_len);
/* Decimal unsigned integer in [min, max]. 0 or -1. */
int add_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Reads a key file holding exactly 2*len hex digits (either case), optionally
 * followed by whitespace/newline. Sets *loose_perms when the file is readable
 * or writable by group or others (callers warn, as ssh does). 0 or -1.
 */
int add_read_key_file(const char *path, uint8_t *key, size_t len, bool *loose_perms,
		      char *err, size_t err_len);

/* Everything addd needs to start. */
typedef struct add_addd_config {
	uint8_t rank;
	uint8_t n_procs;
	add_hostport *peers; /* n_procs entries; owned */
	char storage_dir[ADD_PATH_MAX];
	uint64_t n_sectors;
	char client_key_file[ADD_PATH_MAX];
	char system_key_file[ADD_PATH_MAX];
	uint8_t client_key[ADD_CLIENT_KEY_SIZE];
	uint8_t system_key[ADD_SYSTEM_KEY_SIZE];
	int log_level;
	bool metrics_enabled;	   /* --metrics-listen given */
	add_hostport metrics_listen;
	bool metrics_allow_remote; /* --metrics-allow-remote */
	/* --nbd-listen (runtime-real/nbd_server.h): off unless given. */
	bool nbd_enabled;
	add_hostport nbd_listen;
	bool nbd_allow_remote;
	/* --client-idle-timeout SECONDS: a signed client with nothing pending
	 * is closed after that long without a command (0: never). */
	uint64_t client_idle_timeout_s;
	/* --force-rejoin: new storage becomes a member without re-learning
	 * what the cluster holds (core/rejoin.h): writes may be lost */
	bool force_rejoin;
	/* Seconds for one whole scrub pass over the written sectors (every
	 * sector's checksum verified, damage repaired from the others); 0 = no
	 * scrub. Default ADD_SCRUB_INTERVAL_DEFAULT. */
	uint64_t scrub_interval_s;
} add_addd_config;
#define ADD_CLIENT_IDLE_TIMEOUT_DEFAULT_S 300

#define ADD_SCRUB_INTERVAL_DEFAULT 86400u
#define ADD_SCRUB_INTERVAL_MAX (10ull * 365 * 86400)

enum { ADD_ARGS_OK = 0, ADD_ARGS_HELP = 1, ADD_ARGS_ERROR = -1 };

/* Parses addd's argv (reads the key files, does not touch the storage dir). */
int add_addd_parse_args(int argc, char **argv, add_addd_config *cfg, char *err, size_t err_len);
void add_addd_config_free(add_addd_config *cfg);
extern const char add_addd_usage[];

/* mkdir -p, then checks it is a writable directory. 0 or -1. */
int add_prepare_dir(const char *path, char *err, size_t err_len);

#endif /* ADD_REAL_CONFIG_H */
