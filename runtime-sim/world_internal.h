/*
 * runtime-sim/world_internal: what the simulator's files share (world.c:
 * nodes and the event loop; sim_net.c: connections, links, partitions and
 * quorum; nemesis.c: faults from the timeline and from rates; workload.c:
 * clients, phases and final reads). Not a public interface: see world.h.
 */
#ifndef ADD_SIM_WORLD_INTERNAL_H
#define ADD_SIM_WORLD_INTERNAL_H

#include "world.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evq.h"
#include "liveness_bound.h"
#include "memstore.h"
#include "node.h"
#include "prng.h"
#include "sector_store.h"
#include "sim_disk.h"
#include "tag_map.h"
#include "wire.h"

#define MS 1000000ull
#define NEMESIS_PERIOD_NS (50 * MS)
/* A client that cannot reach a node waits this long before the next one. */
#define CLIENT_RECONNECT_NS (20 * MS)
/* A broken TCP connection is noticed by the other end after this. */
#define RST_DELAY_NS (1 * MS)
/* The nodes' stubborn-link timer (set explicitly, so that the liveness bound
 * knows it). */
#define SIM_RETX_INITIAL_NS (100 * MS)
#define SIM_RETX_MAX_NS (2000 * MS)

enum ev_kind {
	EV_DELIVER_NODE = 1, /* ptr/b: bytes for node `target` on conn a */
	EV_DELIVER_CLIENT,   /* ptr/b: bytes for client `target` on conn a */
	EV_TICK,	     /* node target, incarnation a */
	EV_FLUSH,	     /* node target, incarnation a: one flush completes */
	EV_LINK_CONNECT,     /* a -> b (node indices) */
	EV_CLIENT_ISSUE,     /* client target */
	EV_CLIENT_TIMEOUT,   /* client target, conn a, request b */
	EV_CLIENT_CONNECT,   /* client target */
	EV_CLIENT_CONN_LOST, /* client target, conn a */
	EV_TIMELINE,	     /* scenario event a */
	EV_RESTART,	     /* node target (random or after a failed flush) */
	EV_HEAL,	     /* random partition over (a = partition generation) */
	EV_UNPAUSE,	     /* node target, pause generation a */
	EV_NEMESIS,	     /* periodic random faults */
	EV_CRASH,	     /* node target, incarnation a: fatal error seen */
	EV_PHASE,	     /* phase machine step */
	EV_DISK_SPACE,	     /* node target, full generation a: its disk has room again */
};

/* After the heal, every node up, SCRUB: every node scrubs whole passes and
 * repairs what it finds, before the final reads. */
enum phase { PH_WORKLOAD = 0, PH_DRAIN, PH_SETTLE, PH_SCRUB, PH_FINAL, PH_QUIESCE, PH_DONE };

/* A restart whose store cannot open (an injected fault: no space, a crash
 * inside recovery) is retried after [min, max]. */
#define RESTART_RETRY_MIN_NS (20 * MS)
#define RESTART_RETRY_MAX_NS (200 * MS)
/* Consecutive recoveries a random recovery_crash may interrupt. */
#define RECOVERY_CRASH_STREAK_MAX 4
/* Sectors the end-of-run scrub verifies per node per step (every tick). */
#define SCRUB_STEP_SECTORS 256

enum conn_kind { CONN_CLIENT = 1, CONN_PEER = 2 };

enum bad_cmd { BAD_NONE = 0, BAD_HMAC = 1, BAD_SECTOR = 2 };

typedef struct conn {
	uint8_t kind;
	bool open;
	uint32_t node;   /* the node side (receives commands / peer messages) */
	uint32_t from;   /* client index, or the sending node's index */
	uint64_t to_node_last_ns, to_client_last_ns; /* FIFO delivery */
	add_wire_decoder *dec_node;		      /* at the node */
	add_wire_decoder *dec_client;		      /* at the client */
} conn;

typedef struct pend {
	bool used;
	uint8_t kind;
	uint8_t bad; /* BAD_*: a command the node must refuse (not in the history) */
	uint64_t request, sector, value;
	size_t hidx;
} pend;

typedef struct client {
	uint32_t idx;
	add_prng rng;
	uint64_t conn; /* 0: not connected */
	uint32_t node;
	pend *pend;
	uint32_t n_pend;
	uint64_t next_request;
	bool issue_scheduled;
	bool connect_scheduled;
	/* final reads assigned to this client */
	uint64_t *final_sectors;
	size_t n_final, next_final;
} client;

struct world;

/* A store or repair submitted and not yet durable (storage.c): its tag is
 * recorded when it becomes durable (a crash before that loses it, and the
 * writer may then reuse the tag: nobody saw it). */
typedef struct pending_store {
	uint64_t cookie, sector, ts, value;
	uint8_t wr;
	bool repair;
} pending_store;

typedef struct snode {
	struct world *w;
	uint32_t idx;
	bool up, paused, flush_armed;
	uint64_t pause_gen;
	uint64_t paused_until;
	uint64_t incarnation;
	uint64_t quorum_since; /* live and reaching a live majority since; or UINT64_MAX */
	uint64_t last_stores_durable, last_activity_ns; /* idle checkpoint, as addd */
	add_node *node;
	add_io io;
	add_prng rng;
	/* storage */
	add_sim_disk *disk;
	struct add_rejoin *rejoin; /* core/rejoin.h, over the same disk (real store) */
	uint32_t wipes;		   /* amnesia faults: the disk replaced by an empty one */
	add_sector_store *store;
	add_memstore *mem;
	bool flush_scheduled;
	uint64_t *durable; /* cookies made durable, delivered after the flush */
	size_t n_durable, cap_durable;
	bool fatal;
	uint64_t links_out[ADD_SCN_NODES_MAX]; /* conn id of the link to node j */
	/* the store the node sees: base ops wrapped by the tag check (storage.c) */
	const add_store_ops *base_ops;
	void *base_ctx;
	pending_store *pst;		/* FIFO: completions come in submission order */
	size_t pst_head, pst_len, pst_cap;
	uint64_t starts;		/* successful starts (incarnations that ran) */
	char open_err[240];		/* why the last store open failed */
	bool restart_pending;		/* a retry of a failed open is scheduled */
	/* storage faults (storage_faults.c) */
	bool dirty;			/* damaged and not yet scrubbed clean */
	uint64_t dirty_starts;		/* `starts` when last damaged */
	bool disk_full;			/* capacity held just above use */
	uint64_t full_gen;
	uint32_t recovery_crashes;	/* recoveries (armed by the timeline) that crash */
	uint32_t recovery_crash_streak; /* consecutive random recovery crashes */
	uint64_t open_ops_last;		/* disk operations the last complete open took */
	uint64_t scrub_credit;		/* scrub_per_s, in sectors x 1e9 */
	uint64_t scrub_target, scrub_target_starts; /* end-of-run scrub */
	/* DURABLE TAG WENT BACK (durable_floor.h): per sector, the highest
	 * tag reported durable (NULL until the first); a fault aimed at a
	 * journal since the last wipe (a torn tail may then lower) */
	uint64_t *floor_ts;
	uint8_t *floor_wr;
	bool floor_journal_fault;
	bool lost_file; /* a store file deleted (lose_file), not yet replaced */
} snode;

/* The tag each recent WRITE_PROC carried, by its uuid (storage.c: the ACK
 * check); a lossy cache: an entry overwritten is a check not made. */
#define SIM_WP_CACHE 8192
typedef struct sim_wp_entry {
	uint8_t uuid[16];
	uint64_t sector, ts;
	uint8_t wr;
	bool used;
} sim_wp_entry;

typedef struct world {
	const add_scenario *s;
	sim_wp_entry wp[SIM_WP_CACHE];
	/* BUGGIFY (sim_hooks.c): its own stream; per point, enabled for the
	 * run or not, decided at its first visit */
	add_prng bug_rng;
	size_t n_bug;
	struct {
		const char *name;
		bool enabled;
	} bug[16];
	const add_sim_opts *o;
	add_sim_result *r;
	uint64_t now;
	add_evq q;
	add_prng net_rng, nem_rng, wl_rng;
	snode nodes[ADD_SCN_NODES_MAX];
	uint32_t n;
	client *clients;
	conn *conns;
	size_t n_conns, cap_conns;
	bool reach[ADD_SCN_NODES_MAX][ADD_SCN_NODES_MAX];
	bool partitioned;
	uint64_t partition_gen;
	/* fault rates in force (zeroed by chaos_off and at HEAL) */
	double drop, duplicate, reorder, corrupt, split;
	double conn_break_per_s, crash_per_s, partition_per_s, pause_per_s, flush_fail_per_s;
	double wipe_per_s;
	int max_down;
	/* bound on an operation of a healthy cluster: the scenario's liveness,
	 * plus what its message loss honestly needs (liveness_bound.h) */
	uint64_t op_liveness_ns;
	double rot_per_s, read_error_per_s, disk_full_per_s, recovery_crash;
	/* ONE TAG ONE VALUE (tag_map.h) and the wrapped store ops */
	add_tag_map tags;
	/* stores and repairs a crash caught before their completion: lost, or
	 * durable after all (the journal write made it, the completion did
	 * not); a node may hold them after its recovery (REPAIRED accepts a
	 * tag of this map that `tags` does not know) */
	add_tag_map maybe_tags;
	add_store_ops store_ops;
	/* phases */
	enum phase phase;
	uint64_t last_timeline_ns;
	uint64_t ops_issued;
	uint64_t final_left;
	uint32_t final_round;
	uint64_t *final_secs;
	size_t n_final_secs;
	uint64_t heal_ns;     /* when HEAL happened */
	uint64_t scrub_deadline_ns;
	/* quorum and health tracking */
	bool quorum;
	uint64_t no_quorum_since;
	uint64_t (*no_quorum)[2];
	size_t n_no_quorum, cap_no_quorum;
	bool healthy;
	uint64_t healthy_since;
	bool stop;
	/* keys */
	uint8_t client_secret[ADD_CLIENT_KEY_SIZE];
	uint8_t system_secret[ADD_SYSTEM_KEY_SIZE];
	add_hmac_key client_key;
	uint64_t hash;
	uint8_t buf[ADD_WIRE_MSG_SIZE_MAX];
	uint8_t data[ADD_SECTOR_SIZE];
} world;

/* ---- shared functions, by file -------------------------------------------- */
void sim_mix(world *w, uint64_t v);
void sim_mix_bytes(world *w, const uint8_t *p, size_t len);
void sim_wlog(world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_push(world *w, uint64_t at, uint32_t kind, uint32_t target, uint64_t a, uint64_t b,
		 void *ptr);
uint64_t sim_rand_between(add_prng *p, uint64_t lo, uint64_t hi);
void sim_deliver_at(world *w, uint32_t kind, uint32_t target, uint64_t id, uint64_t t,
		       const uint8_t *msg, size_t len);
uint64_t sim_conn_new(world *w, uint8_t kind, uint32_t node, uint32_t from);
void sim_conn_close(world *w, uint64_t id, bool tell_node);
bool sim_node_start(world *w, snode *sn);
void sim_node_crash(world *w, snode *sn, const char *why);
void sim_add_node_counts(world *w, snode *sn);
bool sim_node_restart(world *w, snode *sn);
/* The amnesia fault: crash `sn` and replace its disk by an empty one (with
 * the real store; with --store mem, its memory store is emptied). */
void sim_node_wipe(world *w, snode *sn);
/* Crash `sn` and delete one of its store files (durably); if its store then
 * refuses to open, its disk is replaced by an empty one (sim_node_wipe). */
void sim_node_lose_file(world *w, snode *sn, const char *file);
void sim_deliver_durable(snode *sn);
void sim_after_node(world *w, snode *sn);
void sim_on_flush_event(world *w, snode *sn);
void sim_send_peer_msg(world *w, snode *from, uint32_t to, const uint8_t *msg, size_t len);
void sim_link_break(world *w, uint32_t i, uint32_t j);
void sim_links_refresh(world *w);
void sim_on_link_connect(world *w, uint32_t i, uint32_t j);
bool sim_node_live(const world *w, uint32_t i);
void sim_update_health(world *w);
uint32_t sim_down_count(const world *w);
void sim_set_partition(world *w, const uint8_t *group);
void sim_set_ring(world *w);
void sim_cut(world *w, uint32_t a, uint32_t b);
void sim_cut_oneway(world *w, uint32_t a, uint32_t b);
/* sim_hooks.c: coverage points and BUGGIFY */
void sim_sometimes(world *w, const char *point);
bool sim_buggify(world *w, const char *point);
void sim_hooks_init(world *w);
void sim_io_sometimes(void *ctx, const char *point);
int sim_io_buggify(void *ctx, const char *point);
void sim_heal(world *w);
void sim_pause_node(world *w, snode *sn, uint64_t dur);
void sim_arm_flush_failure(world *w, snode *sn);
void sim_chaos_off(world *w);
void sim_on_timeline(world *w, const add_scn_event *e);
void sim_random_partition(world *w);
void sim_on_nemesis(world *w);
void sim_client_schedule_issue(world *w, client *c, uint64_t delay);
void sim_client_connect(world *w, client *c);
void sim_client_abandon_all(world *w, client *c, uint8_t flag, uint64_t timed_out_request);
void sim_client_reconnect_elsewhere(world *w, client *c);
bool sim_sector_pending(const world *w, const client *c, uint64_t sector);
void sim_send_cmd(world *w, client *c, pend *pd);
bool sim_workload_wants_more(const world *w);
void sim_client_issue(world *w, client *c);
void sim_liveness_violation(world *w, const add_hist_op *op, size_t hidx, const char *what);
void sim_client_on_timeout(world *w, client *c, uint64_t conn_id, uint64_t request);
void sim_client_on_conn_lost(world *w, client *c, uint64_t conn_id);
void sim_on_deliver_client(world *w, client *c, uint64_t conn_id, uint8_t *bytes, size_t len);
bool sim_clients_idle(const world *w);
int sim_cmp_u64(const void *a, const void *b);
void sim_client_close_conn(world *w, client *c);
void sim_start_final_round(world *w);
void sim_start_final_reads(world *w);
void sim_phase_step(world *w);
bool sim_node_event_deferred(world *w, snode *sn, const add_sim_event *e);
void sim_dispatch(world *w, add_sim_event *e);
void sim_check_no_quorum(world *w);
void sim_window_around(world *w, size_t culprit);
void sim_check_resources(world *w);
/* storage.c: the store seen through the tag check, and the end checks */
void sim_store_ops_init(world *w, const add_store_ops *base);
void sim_tag_observe(world *w, uint8_t rank, const char *what, uint64_t sector, uint64_t ts,
		     uint8_t wr, const uint8_t *data);
void sim_observe_peer_msg(world *w, uint8_t rank, const uint8_t *msg, size_t len);
void sim_store_durable(snode *sn, uint64_t cookie);
void sim_store_pending_clear(snode *sn);
void sim_tags_init(world *w);
void sim_tags_free(world *w);
void sim_check_repaired(world *w);
bool sim_scrub_step_all(world *w, char *why, size_t why_len);
void sim_scrub_begin(world *w);
/* storage_faults.c: damage, full disks, crashes inside recovery */
void sim_power_cut(world *w, snode *sn);
void sim_storage_flip(world *w, snode *sn, const char *file, uint64_t off, unsigned bit);
void sim_storage_read_error(world *w, snode *sn, const char *file, uint64_t off, uint64_t len);
void sim_storage_disk_full(world *w, snode *sn, uint64_t dur);
void sim_storage_on_space(world *w, snode *sn, uint64_t gen);
void sim_storage_nemesis(world *w);
void sim_storage_faults_off(world *w);
bool sim_storage_recovery_crash_due(world *w, snode *sn);
void sim_node_scrub_tick(world *w, snode *sn);

#endif /* ADD_SIM_WORLD_INTERNAL_H */
