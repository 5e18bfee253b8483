/*
 * runtime-real/daemon_internal: the state addd's files share (not a public
 * face: daemon.h is). One concern per file:
 *   daemon_conn.c: the connection table: open, close, read, dispatch through conn_policy
 *   daemon_links.c: outbound peer links: connect, backoff, transitions logged
 *   daemon_io.c: the add_io table the node calls, and the sector store callbacks
 *   daemon_hooks.c: event loop hooks: before-sleep, timers, listen, signal and disk events
 *   daemon_observe.c: observation: the metrics page and the STATUS answer
 *   daemon.c: the process lifecycle: startup, the loop, shutdown
 */
#ifndef ADD_REAL_DAEMON_INTERNAL_H
#define ADD_REAL_DAEMON_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt_timer.h"
#include "config.h"
#include "conn.h"
#include "conn_policy.h"
#include "dir_usage.h"
#include "http.h"
#include "link_log.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "mutants.h"
#include "nbd_server.h"
#include "net.h"
#include "node.h"
#include "optrack.h"
#include "posix_disk.h"
#include "rejoin.h"
#include "sector_store.h"
#include "status.h"
#include "storage_policy.h"
#include "tick_policy.h"
#include "version.h"
#include "wire.h"

/* Bytes read per readable event (one syscall; several messages). */
#define READ_CHUNK (64u * 1024)
/* Output bounds: a client that does not read its replies is closed; a peer
 * link that is this far behind drops (the node retransmits). */
#define CLIENT_OUT_MAX (8u * 1024 * 1024)
/* A client whose replies back up beyond this is not read, and its bytes
 * already read are not decoded, until they drain. The bounds hold per
 * command (the decoder is checked before each message): past the pause
 * only the answers of commands the node already holds arrive, at most
 * CLIENT_CMDS_MAX + 1 of them (4,144 bytes each at most): 1 MiB + 1025 x
 * 4144 B < CLIENT_OUT_MAX, so a slow reader is slowed, never cut off. */
#define CLIENT_OUT_PAUSE (1u * 1024 * 1024)
#define PEER_OUT_MAX (16u * 1024 * 1024)
/* An inbound connection gets this long to send a validly signed message
 * (peers say hello at once; clients send a command); conn_policy.h. */
#define PROBATION_NS (3000ull * 1000 * 1000)
/* How long a half-closed client waits for its answers (a client that is in
 * fact gone must not keep commands queued in the node for long). */
#define HALF_CLOSE_GRACE_NS (5000ull * 1000 * 1000)
/* Connections on probation at once: the rest of the table stays for the
 * clients and peers (at the bound the oldest on probation is closed). */
#define PROBATION_RESERVE (ADD_CLIENTS_MAX + 2u * ADD_PROCS_MAX)
#define BACKOFF_MIN_NS (50ull * 1000 * 1000)
#define BACKOFF_MAX_NS (1000ull * 1000 * 1000)
/* A connect that neither succeeds nor fails by then (SYNs dropped by a dead
 * host) is abandoned and retried, so the link notices the peer's return. */
#define CONNECT_TIMEOUT_NS (2000ull * 1000 * 1000)
/* fds kept for the disk, epoll, signalfd, stdio, ... */
#define FDS_RESERVED 64
#define CONNS_MAX 1000
#define RANDOM_POOL 4096
/* Client commands accepted and not yet answered, all connections together;
 * beyond it clients are not read (backpressure). 16 clients x 64 deep. */
#define CLIENT_CMDS_MAX 1024u
/* Checkpoint the store (journal trimmed, disk use within the 1.1x bound)
 * once it has been idle this long; checked every IDLE_CHECK_NS, as are the
 * connections' probation, idle and half-close deadlines and connect timeouts
 * (one periodic timer: none per connection, no extra wake-ups). */
#define IDLE_CHECKPOINT_NS (1000ull * 1000 * 1000)
#define IDLE_CHECK_NS (250ull * 1000 * 1000)
/* The scrub's tick: fast while it has sectors due (each step is bounded,
 * ADD_SCRUB_STEP_MAX), slow when its pace gives none (the default pace, a
 * pass a day, is well under one sector per tick), so that an idle addd
 * wakes only a few times a second. The pacer counts elapsed time, so the
 * slow tick loses nothing (storage_policy.h). */
#define SCRUB_TICK_NS (100ull * 1000 * 1000)
#define SCRUB_IDLE_TICK_NS (1000ull * 1000 * 1000)

typedef enum conn_kind {
	CONN_FREE = 0,
	CONN_UNKNOWN,   /* inbound, no validly signed message yet (probation) */
	CONN_CLIENT,
	CONN_PEER_IN,
	CONN_PEER_OUT,
} conn_kind;

typedef struct conn {
	conn_kind kind;
	int fd;
	uint32_t gen;
	uint32_t slot;
	uint8_t rank;        /* PEER_OUT: the far rank */
	bool connecting;     /* PEER_OUT: connect in progress */
	bool want_write;     /* socket was full: wait for writable */
	bool close_pending;  /* close at the next before-sleep */
	bool in_flush_list;
	/* The client shut its sending side (a TCP half-close, or a full close:
	 * they look alike): no more reads; the connection closes once every
	 * command it sent is answered, or after HALF_CLOSE_GRACE_NS. It gives
	 * its client slot back at once. A reset (RST) is "gone": closed at once,
	 * and what it sent and was not read yet is never started. */
	bool read_eof;
	add_cp_conn cp; /* inbound: the policy's state (conn_policy.h) */
	/* Bytes read and not yet decoded: the decoder stops at the command that
	 * makes the node stop accepting, and goes on from here when it accepts
	 * again (malloc'd READ_CHUNK, only when needed). */
	uint8_t *stash;
	size_t stash_len;
	uint64_t connect_start_ns; /* PEER_OUT while connecting */
	struct conn *next_flush;
	add_outbuf out;
	add_wire_decoder *dec;
} conn;

typedef struct peer_link {
	add_hostport hp;
	add_sockaddr addr;
	bool resolved;
	conn *c;
	uint64_t backoff_ns;
	uint64_t timer;
	uint64_t up_since_ns; /* 0 while not connected */
	uint64_t drops;
	add_link_log log; /* what the operator is told about this link */
} peer_link;

typedef struct addd_state {
	add_addd_config *cfg;
	add_loop *loop;
	int listen_fd;
	int signal_fd;
	int disk_fd;
	int lock_fd; /* flock'd in the storage directory: one process per dir */
	add_posix_disk *pdisk;
	add_rejoin *rejoin; /* membership of this storage (core/rejoin.h) */
	add_sector_store *store;
	add_node *node;
	add_nbd_server *nbd; /* --nbd-listen, else NULL */
	add_io io;
	conn *conns;
	uint32_t conns_max;
	uint32_t conns_open;
	add_conn_policy policy;
	uint32_t stashed; /* connections with a stash */
	conn *flush_head;
	bool clients_paused;
	int exit_code;
	peer_link links[ADD_PROCS_MAX + 1];
	uint64_t tick_timer;	   /* the node's tick (runtime-real/tick_policy.h) */
	uint64_t tick_at_ns;	   /* when it fires */
	uint64_t wakeups;	   /* loop iterations (idle wake-ups, stats line) */
	uint64_t last_stats_ns;    /* last debug stats line */
	bool repairs_owed;         /* damage was found and not yet all repaired */
	uint64_t damage_seen;      /* damage found so far (store and node counters) */
	uint64_t last_stores;      /* stores_durable at the last idle check */
	uint64_t last_activity_ns; /* when it last changed */
	add_scrub_pacer scrub;
	uint64_t last_scrub_ns;    /* last scrub tick */
	uint8_t hello[ADD_TACK_SIZE];
	uint64_t start_ns;	   /* for the uptime */
	add_http_server *metrics; /* --metrics-listen, else NULL */
	add_optrack ops;	   /* client commands in flight: latency, oldest age */
	add_hist batch_size;	   /* stores per group commit */
	add_hist checkpoint;	   /* checkpoint durations */
	add_ckpt_timer ckpt;	   /* times them (last_ns 0: not started) */
	uint64_t seen_flushes, seen_durable; /* store stats at the last before-sleep */
	size_t random_used;
	uint8_t random_pool[RANDOM_POOL];
	uint8_t rbuf[READ_CHUNK];
} addd_state;

/* The one daemon of this process: loop callbacks that get a conn or a rank
 * as their argument find it here. */
extern addd_state *addd_the_daemon;

/* daemon_conn.c */
void addd_drain_stashes(addd_state *d);
conn *addd_conn_open(addd_state *d, int fd, conn_kind kind);
void addd_conn_queue_flush(addd_state *d, conn *c);
bool addd_conn_close_if_done(addd_state *d, conn *c);
void addd_conn_update_mask(addd_state *d, conn *c);
conn *addd_conn_by_id(addd_state *d, uint64_t id);
void addd_conn_close(addd_state *d, conn *c, const char *why);
/* daemon_links.c */
void addd_link_connected(addd_state *d, conn *c);
void addd_link_try(addd_state *d, uint8_t rank);
void addd_link_schedule(addd_state *d, uint8_t rank);
void addd_link_log_down(addd_state *d, uint8_t rank, const char *why);
bool addd_link_up(const addd_state *d, uint8_t rank);
/* daemon_io.c */
void addd_io_local_done(void *ctx, uint64_t token, const uint8_t *data);
void addd_io_send_client(void *ctx, uint64_t id, const uint8_t *msg, size_t len);
void addd_io_random_bytes(void *ctx, uint8_t *out, size_t len);
void addd_store_durable(void *arg, uint64_t cookie);
void addd_io_send_peer(void *ctx, uint8_t rank, const uint8_t *msg, size_t len);
void addd_io_log(void *ctx, add_log_level level, const char *line);
void addd_store_fatal(void *arg, const char *why);
void addd_exit_if_node_failed(addd_state *d);
void addd_log_store_error(const addd_state *d, const char *what, const char *why);
void addd_store_log(void *arg, add_log_level level, const char *line);
uint64_t addd_io_now_ns(void *ctx);
/* daemon_hooks.c */
uint64_t addd_idle_timer(add_loop *loop, uint64_t id, void *arg);
void addd_before_sleep(add_loop *loop, void *arg);
void addd_listen_event(add_loop *loop, int fd, void *arg, uint32_t events);
uint64_t addd_tick_timer(add_loop *loop, uint64_t id, void *arg);
void addd_signal_event(add_loop *loop, int fd, void *arg, uint32_t events);
void addd_disk_event(add_loop *loop, int fd, void *arg, uint32_t events);
int addd_schedule_tick(addd_state *d);
uint64_t addd_scrub_timer(add_loop *loop, uint64_t id, void *arg);
/* daemon_observe.c */
int addd_start_metrics(addd_state *d);
void addd_answer_status(addd_state *d, conn *c, const add_client_cmd *cmd, bool hmac_ok);
void addd_observe_group_commits(addd_state *d);
/* daemon.c */
uint64_t addd_journal_max_bytes(void);

#endif /* ADD_REAL_DAEMON_INTERNAL_H */
