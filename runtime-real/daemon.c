/* runtime-real/daemon: see daemon.h; the process lifecycle: startup, the loop, shutdown. */
#include "daemon.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_internal.h"

addd_state *addd_the_daemon;

/* ---- startup / shutdown ----------------------------------------------- */

/* ADD_JOURNAL_MAX_MB (environment, for experiments): checkpoint threshold. */
uint64_t addd_journal_max_bytes(void)
{
	const char *s = getenv("ADD_JOURNAL_MAX_MB");
	uint64_t mb;

	if (s == NULL || add_parse_u64(s, 1, 4096, &mb) != 0)
		return 0; /* the store's default */
	return mb << 20;
}

/* Before the store opens: whether this storage is new (no superblock) is
 * decided first, so that a crash right after the store's creation still
 * restarts as new storage (core/rejoin.h). */
static int open_rejoin(addd_state *d)
{
	char err[512];
	add_superblock sb;
	const add_disk *disk = add_posix_disk_ops(d->pdisk);
	int rc = add_superblock_read(disk, &sb, err, sizeof(err));

	if (rc < 0 && rc != -ENOENT) {
		addd_log_store_error(d, "cannot read the superblock", err);
		return -1;
	}
	add_rejoin_config rcfg = {
		.rank = d->cfg->rank,
		.n_procs = d->cfg->n_procs,
		.n_sectors = d->cfg->n_sectors,
		.store_created = rc == -ENOENT,
		.force = d->cfg->force_rejoin,
		.disk = disk,
		.log = addd_store_log,
		.log_arg = d,
	};
	d->rejoin = add_rejoin_open(&rcfg, err, sizeof(err));
	if (d->rejoin == NULL) {
		add_err("storage in '%s': %s", d->cfg->storage_dir, err);
		return -1;
	}
	return 0;
}

/* At start: a warning when the file system holding the storage has less
 * free space than --sectors could need (storage_policy.h's bound, beyond
 * what the store's files already take). */
static void warn_if_space_short(const addd_state *d, uint64_t journal_max)
{
	char err[ADD_PATH_MAX + 128];
	uint64_t free_b = 0, need, used = 0;
	int rc = add_dir_free_bytes(d->cfg->storage_dir, &free_b, err, sizeof(err));

	if (rc != 0) {
		add_warn("cannot tell the free space for the storage: %s", err);
		return;
	}
	/* A batch holds at most the stores of the operations in flight: each
	 * process's CLIENT_CMDS_MAX, one store each at this one. */
	need = add_store_space_bound(d->cfg->n_sectors, journal_max,
				     (uint64_t)d->cfg->n_procs * CLIENT_CMDS_MAX);
	assert(need >= d->cfg->n_sectors * ADD_SECTOR_SIZE);
	/* Space the files already hold counts as available to them. */
	static const char *const files[] = {"data", "meta", "journal-a", "journal-b"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[ADD_PATH_MAX + 16];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", d->cfg->storage_dir, files[i]);
		if (stat(path, &st) == 0)
			used += (uint64_t)st.st_blocks * 512;
	}
	if (free_b + used < need)
		add_warn("storage directory '%s': %llu MiB free, but --sectors %llu may need up "
			 "to %llu MiB (data, meta and journals): the disk may fill up",
			 d->cfg->storage_dir, (unsigned long long)((free_b + used) >> 20),
			 (unsigned long long)d->cfg->n_sectors,
			 (unsigned long long)(need >> 20));
}

static int make_signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static uint32_t conns_bound(void)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	if (n <= FDS_RESERVED + ADD_CLIENTS_MAX)
		return ADD_CLIENTS_MAX;
	n -= FDS_RESERVED;
	return n > CONNS_MAX ? CONNS_MAX : (uint32_t)n;
}

/* Lets the flushes in flight finish (their completions reach the node,
 * whose replies are dropped: the connections are closed), so that no file is
 * closed under the flush thread. Bounded: 5 s. */
static void drain_flushes(addd_state *d)
{
	uint64_t end = add_now_ns() + 5000000000ull;

	while (add_posix_disk_pending(d->pdisk) > 0 && add_now_ns() < end) {
		struct pollfd p = {.fd = d->disk_fd, .events = POLLIN};
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		(void)add_posix_disk_dispatch(d->pdisk);
	}
}

static void shutdown_daemon(addd_state *d)
{
	for (uint32_t i = 0; d->conns && i < d->conns_max; i++)
		if (d->conns[i].kind != CONN_FREE)
			addd_conn_close(d, &d->conns[i], "shutting down");
	if (d->pdisk && d->store && d->node && d->disk_fd >= 0)
		drain_flushes(d);
	if (d->node)
		add_node_destroy(d->node);
	add_nbd_server_destroy(d->nbd); /* after the node: nothing completes now */
	if (d->store)
		add_sector_store_close(d->store);
	add_rejoin_close(d->rejoin);
	if (d->pdisk)
		add_posix_disk_close(d->pdisk);
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	add_http_stop(d->metrics);
	add_loop_destroy(d->loop);
	free(d->conns);
}

/*
 * The storage directory is for the exclusive use of one process (the
 * assignment's words): a second addd given the same directory would corrupt
 * the first one's files, so it stops with a clear error instead. The lock
 * goes with the process (SIGKILL included), so a restart is never blocked.
 */
static int lock_storage_dir(addd_state *d)
{
	char path[ADD_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/.addd.lock", d->cfg->storage_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		add_err("storage directory '%s': cannot create its lock file: %s",
			d->cfg->storage_dir, strerror(errno));
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			add_err("storage directory '%s' is in use by another addd process (each "
				"process needs its own)", d->cfg->storage_dir);
			return -1;
		}
		/* A file system without locks: go on unprotected. */
		add_warn("storage directory '%s': cannot lock it: %s", d->cfg->storage_dir,
			 strerror(errno));
	}
	return 0;
}

/* What opening the store found and did, in one line. */
static void log_recovery(addd_state *d)
{
	add_sector_store_stats st;
	char damage[160] = "";

	add_sector_store_get_stats(d->store, &st);
	if (st.suspect_sectors > 0 || st.corrupt_records > 0)
		snprintf(damage, sizeof(damage),
			 "; %llu sectors marked damaged (%llu corrupt journal records): they are "
			 "repaired from the other processes",
			 (unsigned long long)st.suspect_sectors, (unsigned long long)st.corrupt_records);
	add_info("storage in '%s' recovered: %llu sectors written, %llu journal records "
		 "replayed%s%s", d->cfg->storage_dir,
		 (unsigned long long)add_sector_store_written(d->store),
		 (unsigned long long)st.recovered_records,
		 st.torn_tail ? ", a torn journal tail (a write cut by a crash) dropped" : "", damage);
}

static int fail(const char *what, const char *why)
{
	add_err("%s: %s", what, why);
	return 1;
}

int add_daemon_run(add_addd_config *cfg)
{
	static addd_state d_storage; /* large (read buffer): not on the stack */
	addd_state *d = &d_storage;
	const add_hostport *me = &cfg->peers[cfg->rank - 1];
	char err[512];
	int rc = 1;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->start_ns = add_now_ns();
	add_optrack_init(&d->ops);
	d->listen_fd = d->signal_fd = d->disk_fd = d->lock_fd = -1;
	d->exit_code = -1;
	d->random_used = sizeof(d->random_pool);
	addd_the_daemon = d;
	signal(SIGPIPE, SIG_IGN);

	/* Listen first: the port is bound within milliseconds of start, and
	 * connections wait in the backlog while the store recovers. */
	d->listen_fd = add_net_listen(me, 511, err, sizeof(err));
	if (d->listen_fd < 0)
		return fail("listen", err);
	d->signal_fd = make_signal_fd();
	if (d->signal_fd < 0)
		return fail("signalfd", strerror(errno));
	if (add_prepare_dir(cfg->storage_dir, err, sizeof(err)) != 0) {
		add_err("%s", err);
		goto out;
	}
	if (lock_storage_dir(d) != 0)
		goto out;
	d->pdisk = add_posix_disk_open(cfg->storage_dir, err, sizeof(err));
	if (d->pdisk == NULL) {
		add_err("storage directory '%s': %s", cfg->storage_dir, err);
		goto out;
	}
	add_sector_store_config scfg = {
		.disk = add_posix_disk_ops(d->pdisk),
		.n_sectors = cfg->n_sectors,
		.on_durable = addd_store_durable,
		.on_fatal = addd_store_fatal,
		.arg = d,
		.rank = cfg->rank,
		.log = addd_store_log,
		.journal_max_bytes = addd_journal_max_bytes(),
		/* Every process may have CLIENT_CMDS_MAX operations in flight, each
		 * asking this one for at most one store at a time: room for all of
		 * them twice over (store() refusing would be fatal). */
		.batch_max = (uint32_t)(2u * cfg->n_procs * CLIENT_CMDS_MAX < 16384u
						? 16384u
						: 2u * cfg->n_procs * CLIENT_CMDS_MAX < 65536u
						? 2u * cfg->n_procs * CLIENT_CMDS_MAX
						: 65536u),
	};
	if (ADD_MUTANT_ON(ADD_MUTANT_ADDD_STORE_RANK_UNCHECKED))
		scfg.rank = 0;
	addd_io_random_bytes(d, scfg.new_identity, sizeof(scfg.new_identity));
	warn_if_space_short(d, scfg.journal_max_bytes);
	if (open_rejoin(d) != 0)
		goto out;
	d->store = add_sector_store_open(&scfg, err, sizeof(err));
	if (d->store == NULL) {
		addd_log_store_error(d, "cannot open the storage", err);
		goto out;
	}
	log_recovery(d);
	add_superblock sb;
	add_sector_store_identity(d->store, &sb);
	add_rejoin_attach(d->rejoin, add_sector_store_ops(), d->store, sb.incarnation);

	d->io = (add_io){
		.ctx = d,
		.now_ns = addd_io_now_ns,
		.random_bytes = addd_io_random_bytes,
		.send_peer = addd_io_send_peer,
		.send_client = addd_io_send_client,
		.log = addd_io_log,
		.local_done = cfg->nbd_enabled ? addd_io_local_done : NULL,
	};
	add_node_config ncfg = {
		.rank = cfg->rank,
		.n_procs = cfg->n_procs,
		.n_sectors = cfg->n_sectors,
		.client_cmds_max = CLIENT_CMDS_MAX,
		.rejoin = d->rejoin,
	};
	memcpy(ncfg.client_key, cfg->client_key, sizeof(ncfg.client_key));
	memcpy(ncfg.system_key, cfg->system_key, sizeof(ncfg.system_key));
	d->node = add_node_create(&ncfg, &d->io, add_rejoin_store_ops(), d->rejoin);
	if (d->node == NULL) {
		add_err("cannot create the node (out of memory or bad keys)");
		goto out;
	}
	/* The hello: a signed transport ack of the null operation. */
	add_peer_msg hello = {.type = ADD_TYPE_READ_PROC_TACK, .rank = cfg->rank};
	if (add_wire_encode_peer(&hello, add_node_system_key(d->node), d->hello) !=
	    sizeof(d->hello)) {
		add_err("cannot encode the peer hello");
		goto out;
	}

	d->conns_max = conns_bound();
	d->conns = calloc(d->conns_max, sizeof(*d->conns));
	d->loop = add_loop_create((int)(d->conns_max + FDS_RESERVED + 64));
	if (d->conns == NULL || d->loop == NULL) {
		add_err("out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < d->conns_max; i++) {
		d->conns[i].slot = i;
		d->conns[i].fd = -1;
	}
	add_cp_config pcfg = {
		.client_slots = ADD_CLIENTS_MAX,
		.probation_max = d->conns_max > PROBATION_RESERVE + 16u
					 ? d->conns_max - PROBATION_RESERVE
					 : 16u,
		.probation_ns = PROBATION_NS,
		.idle_ns = cfg->client_idle_timeout_s * 1000000000ull,
		.half_close_ns = HALF_CLOSE_GRACE_NS,
		.out_pause = CLIENT_OUT_PAUSE,
	};
	add_cp_init(&d->policy, &pcfg);
	d->disk_fd = add_posix_disk_event_fd(d->pdisk);
	if (add_loop_add_fd(d->loop, d->listen_fd, ADD_LOOP_READABLE, addd_listen_event, d) != 0 ||
	    add_loop_add_fd(d->loop, d->signal_fd, ADD_LOOP_READABLE, addd_signal_event, d) != 0 ||
	    add_loop_add_fd(d->loop, d->disk_fd, ADD_LOOP_READABLE, addd_disk_event, d) != 0 ||
	    addd_schedule_tick(d) != 0 ||
	    add_loop_add_timer(d->loop, IDLE_CHECK_NS, addd_idle_timer, d) == 0 ||
	    (cfg->scrub_interval_s > 0 &&
	     add_loop_add_timer(d->loop, SCRUB_TICK_NS, addd_scrub_timer, d) == 0)) {
		add_err("cannot register with the event loop");
		goto out;
	}
	add_loop_set_before_sleep(d->loop, addd_before_sleep, d);
	if (cfg->metrics_enabled && addd_start_metrics(d) != 0)
		goto out;
	if (cfg->nbd_enabled) {
		d->nbd = add_nbd_server_create(&cfg->nbd_listen, cfg->nbd_allow_remote,
					       cfg->n_sectors, d->loop, d->node, err, sizeof(err));
		if (d->nbd == NULL) {
			add_err("nbd: %s", err);
			goto out;
		}
		add_info("serving NBD export \"add\" (%llu bytes) on %s:%u",
			 (unsigned long long)cfg->n_sectors * 4096, cfg->nbd_listen.host,
			 cfg->nbd_listen.port);
	}
	add_scrub_pacer_init(&d->scrub, cfg->scrub_interval_s);
	d->last_scrub_ns = add_now_ns();
	for (uint8_t r = 1; r <= cfg->n_procs; r++) {
		if (r == cfg->rank)
			continue;
		d->links[r].hp = cfg->peers[r - 1];
		add_link_log_init(&d->links[r].log, r, d->links[r].hp.host, d->links[r].hp.port,
				  d->start_ns);
		d->links[r].backoff_ns = BACKOFF_MIN_NS;
		addd_link_try(d, r);
	}
	add_sector_store_stats sst;
	add_sector_store_get_stats(d->store, &sst);
	if (sst.damaged_now > 0) {
		add_warn("storage in '%s': %llu sectors damaged here; repairing them from the other "
			 "processes (never served from this copy)", cfg->storage_dir,
			 (unsigned long long)sst.damaged_now);
		d->repairs_owed = true;
	}
	add_info("rank %u of %u listening on %s:%u; %llu sectors, %llu written, in %s",
		 cfg->rank, cfg->n_procs, me->host, me->port,
		 (unsigned long long)cfg->n_sectors,
		 (unsigned long long)add_sector_store_written(d->store), cfg->storage_dir);
	int lrc = add_loop_run(d->loop);
	if (lrc < 0) {
		add_err("epoll_wait: %s", strerror(-lrc));
		goto out;
	}
	rc = d->exit_code < 0 ? 1 : d->exit_code;
	d->exit_code = rc; /* no reconnects scheduled while shutting down */
out:
	if (d->exit_code < 0)
		d->exit_code = rc;
	shutdown_daemon(d);
	return rc;
}
