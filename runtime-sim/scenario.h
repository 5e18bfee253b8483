/*
 * runtime-sim/scenario: a simulator run described as a readable text file
 * (format documented in scenarios/README.md): the cluster, the workload, a
 * timeline of faults ("at 2000ms crash 2") and random fault rates
 * ("rate crash_per_s 0.2"), and what the checker must expect.
 */
#ifndef ADD_SIM_SCENARIO_H
#define ADD_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ADD_SCN_NODES_MAX 9
#define ADD_SCN_EVENTS_MAX 256
#define ADD_SCN_CLIENTS_MAX 64
#define ADD_SCN_READ_ERROR_LEN 4096 /* a latent sector error: one 4 KiB block */

typedef enum add_scn_action {
	ADD_SCN_CRASH = 1,   /* node */
	ADD_SCN_RESTART,     /* node */
	ADD_SCN_CRASH_ALL,   /* every node at once */
	ADD_SCN_RESTART_ALL, /* every crashed node */
	ADD_SCN_PARTITION,   /* groups */
	ADD_SCN_RING,        /* a ring of overlapping majorities */
	ADD_SCN_ISOLATE,     /* node cut off from every other node */
	ADD_SCN_CUT,         /* node, node2: only these two cannot talk */
	ADD_SCN_HEAL,        /* every partition removed */
	ADD_SCN_PAUSE,       /* node, duration_ns */
	ADD_SCN_FAIL_FLUSH,  /* node: its next flush fails (the node stops) */
	ADD_SCN_BREAK_LINKS, /* every node-to-node connection breaks */
	ADD_SCN_CHAOS_OFF,   /* random rates set to zero from here on */
	/* storage faults (the node's disk; see scenarios/README.md) */
	ADD_SCN_FLIP,	       /* node [file offset bit]: a bit flipped at rest */
	ADD_SCN_READ_ERROR,    /* node [file offset len]: reads there fail (EIO) */
	ADD_SCN_DISK_FULL,     /* node, duration_ns: capacity just above its use */
	ADD_SCN_RECOVERY_CRASH, /* node, count: crash now, then `count` recoveries
				 * crash at a random disk operation inside open */
	ADD_SCN_WIPE,	       /* node: crash, and its disk is replaced by an empty
				* one (amnesia: a new disk, a wiped directory) */
	ADD_SCN_LOSE_FILE,     /* node, file: crash, and that store file is deleted;
				* a store that then refuses to open is replaced by
				* an empty disk (the operator's amnesia) */
} add_scn_action;

/* The sector store's files random damage may hit (core/sector_store.h);
 * the superblock is not among them. */
#define ADD_SCN_STORE_FILES {"data", "meta", "journal-a", "journal-b"}
#define ADD_SCN_N_STORE_FILES 4

/* Crash modes of the scenario (add_sim_crash_mode, plus ANY: each crash
 * draws one of the others). */
#define ADD_SCN_CRASH_MODE_ANY 5

typedef struct add_scn_event {
	uint64_t at_ns;
	add_scn_action action;
	uint8_t node;  /* rank, 1-based; 0 for none */
	uint8_t node2; /* CUT: the other rank */
	uint64_t duration_ns;
	/* PARTITION: group of each rank (index = rank), 0 = not listed (its
	 * own singleton group). */
	uint8_t group[ADD_SCN_NODES_MAX + 1];
	/* FLIP / READ_ERROR: file[0] == 0 means a random place (random file of
	 * the sector store, random offset); else the file, byte offset, and
	 * the bit (FLIP) or length (READ_ERROR). RECOVERY_CRASH: count. */
	char file[32];
	uint64_t offset, len;
	uint8_t bit;
	uint32_t count;
} add_scn_event;

typedef struct add_scenario {
	char name[64];
	/* cluster */
	uint8_t nodes;
	uint64_t sectors;
	/* workload */
	uint32_t clients;
	uint32_t concurrency; /* ops in flight per client (distinct sectors) */
	uint64_t ops;         /* client ops before the final reads */
	double read_ratio;
	uint64_t duration_ns;       /* the workload stops at this time at the latest */
	uint64_t min_duration_ns;   /* ...and goes on at least this long (and until the
				     * timeline is over) even when `ops` are done */
	uint64_t client_timeout_ns; /* an op unanswered this long is abandoned */
	uint64_t think_ns_max;      /* a client's pause between two ops: [0, this] */
	uint64_t liveness_ns;       /* bound on an op while the cluster is healthy */
	uint64_t settle_ns;         /* after healing, before the final reads */
	uint64_t quiesce_ns;        /* after the final reads, before the resource checks */
	uint64_t checkpoint_idle_ns; /* a store idle this long checkpoints (as addd does) */
	uint64_t journal_max_bytes;  /* sector store journal size that forces a checkpoint */
	/* network: one-way latency [min, max] */
	uint64_t latency_min_ns, latency_max_ns;
	uint64_t reconnect_min_ns, reconnect_max_ns;
	/* disk: flush latency [min, max] */
	uint64_t flush_min_ns, flush_max_ns;
	/* random faults (probabilities per message / rates per simulated s) */
	double drop, duplicate, reorder, corrupt;
	double split; /* a message arrives in two reads (default 0.1) */
	double bad_cmd; /* a client command with a bad HMAC or sector index */
	uint64_t reorder_max_ns; /* extra delay of a reordered/duplicated message */
	double conn_break_per_s, crash_per_s, partition_per_s, pause_per_s, flush_fail_per_s;
	double wipe_per_s; /* amnesia faults (a node's disk replaced by an empty one) */
	uint64_t down_min_ns, down_max_ns;   /* how long a random crash/partition lasts */
	uint64_t pause_min_ns, pause_max_ns; /* how long a random pause lasts */
	int max_down;                        /* random faults keep at most this many down;
						  -1 = minority ((nodes-1)/2) */
	/* swarm additions: the share of random partitions that are a one-way
	 * cut (a -> b lost, b -> a delivered), and whether random crashes,
	 * pauses and failed flushes may overlap random partitions (still at
	 * most max_down nodes down at once) */
	double oneway;
	bool overlap_faults;
	bool buggify; /* BUGGIFY fault points may fire (runtime-sim/sim_hooks.c) */
	int crash_mode; /* add_sim_crash_mode of the disks (0 random), or
			 * ADD_SCN_CRASH_MODE_ANY */
	/* storage faults: rates per simulated second (rot: a bit flip at rest,
	 * read_error: a 4 KiB latent sector error, disk_full: a node's disk
	 * capacity set just above its use for disk_full_len), and the
	 * probability that a restart crashes inside recovery */
	double rot_per_s, read_error_per_s, disk_full_per_s, recovery_crash;
	uint64_t disk_full_min_ns, disk_full_max_ns;
	uint64_t scrub_per_s;	 /* sectors each node scrubs per second during the run */
	/* files of the sector store random rot may hit: bit i = ADD_SCN_STORE_FILES[i] */
	uint32_t rot_files;
	uint64_t repair_time_ns; /* bound on the end-of-run scrub and repairs */
	/* expectations */
	bool expect_no_completions; /* a majority is down at some point: nothing
				     * invoked then may complete until it is back */
	bool expect_liveness;       /* ops of a healthy cluster complete in time */
	bool expect_refusal;        /* a majority lost its storage: the run must end
				     * with processes still recovering and the final
				     * reads not done (core/rejoin.h refuses) */
	/* the timeline, sorted by time */
	add_scn_event events[ADD_SCN_EVENTS_MAX];
	size_t n_events;
} add_scenario;

/* The defaults every file starts from. */
void add_scenario_defaults(add_scenario *s);
/* Parses `text` into *s (starting from the defaults). On error returns -1 and
 * writes "line N: reason" to err. */
int add_scenario_parse(add_scenario *s, const char *text, char *err, size_t err_len);
/* Writes *s as a scenario file that add_scenario_parse reads back into the
 * same scenario (every field, the timeline included). Returns 0, or -errno
 * of the first failed write. */
int add_scenario_write(FILE *f, const add_scenario *s);
/* Reads and parses a file; the name defaults to the file's base name. */
int add_scenario_load(add_scenario *s, const char *path, char *err, size_t err_len);

#endif /* ADD_SIM_SCENARIO_H */
