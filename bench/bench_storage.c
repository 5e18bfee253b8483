/*
 * bench_storage: the sector store on real files, beside the machine's limits.
 *
 *   1. limits, same directory, same run: 4 KiB pwrite + fdatasync per second;
 *      64 x 4 KiB pwrite + one fdatasync (sectors per second);
 *   2. sector stores per second with 1, 16 and 256 in flight (submitted, not
 *      yet durable; refilled as completions arrive through the eventfd), with
 *      latency percentiles;
 *   3. a steady stream of stores (open loop: arrivals at a fixed rate, as a
 *      node's stores arrive while flushes run), with one journal flush in
 *      flight at a time and with two, same run: latency from arrival to
 *      durable (p50, p99, p99.9) beside the fdatasync latency;
 *   4. recovery time of a store with many written sectors and a full journal.
 *
 * Files live in a fresh directory under /var/tmp (removed at the end).
 * Environment: BENCH_SECONDS (per throughput run, default 1.5),
 * BENCH_RECOVERY_SECTORS (default 1000000), BENCH_VERBOSE (prints the time
 * of each closing checkpoint). About 15-25 s in all on this machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime-real/posix_disk.h"
#include "sector_store.h"

#define N_SECTORS (1ull << 21)
#define LAT_MAX (1u << 22)
/* Throughput runs write random sectors of the first 2^16 (256 MiB; "data"
 * preallocated there once, see prealloc_data). */
#define BENCH_SPAN (1ull << 16)

static char dir[64];
static double run_seconds = 1.5;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_storage: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void remove_cb(void *arg, const char *name)
{
	const add_disk *d = add_posix_disk_ops(arg);

	d->unlink(d->ctx, name);
}

static void keep_data_cb(void *arg, const char *name)
{
	if (strcmp(name, "data") != 0)
		remove_cb(arg, name);
}

/* Empties the directory but for "data" (a fresh store ignores its content). */
static void clean_keep_data(add_posix_disk *pd)
{
	const add_disk *d = add_posix_disk_ops(pd);

	d->list(d->ctx, keep_data_cb, pd);
}

static void clean_dir(add_posix_disk *pd)
{
	const add_disk *d = add_posix_disk_ops(pd);

	/* No directory flush: with online discard (a "discard" mount) it would
	 * wait for the freed blocks to be trimmed, seconds per run. */
	d->list(d->ctx, remove_cb, pd);
}

/* Writes "data" with zeros up to `bytes`, so that the store's random home
 * writes land in contiguous blocks: on this kind of VM disk (discard mount)
 * removing a file of tens of thousands of scattered extents afterwards takes
 * tens of seconds, which is no part of what is measured. */
static void prealloc_data(add_posix_disk *pd, uint64_t bytes)
{
	/* 4 KiB at a time: bigger writes make large page-cache folios, and a
	 * 4 KiB write into one then walks all its buffer heads (ext4). */
	static uint8_t zeros[4096];
	const add_disk *d = add_posix_disk_ops(pd);
	int h = d->open(d->ctx, "data", true);

	if (h < 0)
		die("open data");
	for (uint64_t off = 0; off < bytes; off += sizeof(zeros))
		if (d->pwrite(d->ctx, h, zeros, sizeof(zeros), off) < 0)
			die("pwrite data");
	if (d->sync(d->ctx, h) < 0)
		die("fdatasync data");
	d->close(d->ctx, h);
}

/* ---- 1. the machine's limits ---- */

static double limit_pwrite_fdatasync(int batch)
{
	char path[128];
	static uint8_t buf[64 * 4096];
	int fd;
	uint64_t sectors = 0;
	double t0, t;

	snprintf(path, sizeof(path), "%s/limit", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open limit file");
	memset(buf, 0x5a, sizeof(buf));
	/* Appending, like a journal: each flush also commits the file size. */
	uint64_t off = 0;

	t0 = now_s();
	do {
		for (int i = 0; i < batch; i++) {
			if (pwrite(fd, buf + (size_t)i * 4096, 4096, (off_t)off) != 4096)
				die("pwrite");
			off += 4096;
		}
		if (fdatasync(fd) < 0)
			die("fdatasync");
		sectors += (uint64_t)batch;
		t = now_s();
	} while (t - t0 < run_seconds);
	close(fd);
	unlink(path);
	return (double)sectors / (t - t0);
}

/* ---- 2. sector store throughput ---- */

typedef struct run {
	add_sector_store *store;
	uint64_t durable, submitted, fatal;
	double *submit_t; /* by cookie % LAT_MAX */
	double *lat;
	size_t n_lat;
	/* stream runs: checkpoint state at each store's arrival (by cookie %
	 * LAT_MAX), and the latencies of stores that overlapped a checkpoint
	 * (lat_ck) or not (lat) */
	uint64_t *ck_at;
	double *lat_ck;
	size_t n_lat_ck;
} run;

static void on_durable(void *arg, uint64_t cookie)
{
	run *r = arg;

	r->durable++;
	double l = now_s() - r->submit_t[cookie % LAT_MAX];

	if (r->ck_at) {
		add_sector_store_stats st;

		/* ck_at: 2 * checkpoints started + running, at arrival */
		add_sector_store_get_stats(r->store, &st);
		uint64_t at = r->ck_at[cookie % LAT_MAX];
		bool inside = (at & 1) || at / 2 != st.checkpoints_started;

		if (inside) {
			if (r->n_lat_ck < LAT_MAX)
				r->lat_ck[r->n_lat_ck++] = l;
			return;
		}
	}
	if (r->n_lat < LAT_MAX)
		r->lat[r->n_lat++] = l;
}

static void on_fatal(void *arg, const char *why)
{
	run *r = arg;

	fprintf(stderr, "bench_storage: fatal: %s\n", why);
	r->fatal++;
}

static uint32_t journal_flights; /* 0 = the store's default */

static add_sector_store *open_store_max(const add_disk *disk, run *r, uint64_t journal_max)
{
	char err[256] = "";
	add_sector_store_config cfg = {
		.disk = disk,
		.n_sectors = N_SECTORS,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = r,
		.journal_max_bytes = journal_max,
		.journal_flights = journal_flights,
	};
	add_sector_store *s = add_sector_store_open(&cfg, err, sizeof(err));

	if (!s) {
		fprintf(stderr, "bench_storage: open: %s\n", err);
		exit(1);
	}
	return s;
}

static add_sector_store *open_store(const add_disk *disk, run *r)
{
	return open_store_max(disk, r, 0);
}

static void loop_once(add_posix_disk *pd, run *r)
{
	struct pollfd p = { .fd = add_posix_disk_event_fd(pd), .events = POLLIN };

	add_sector_store_kick(r->store);
	if (add_posix_disk_pending(pd) == 0)
		return; /* nothing to wait for */
	if (poll(&p, 1, 1000) < 0 && errno != EINTR)
		die("poll");
	add_posix_disk_dispatch(pd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double bench_store(add_posix_disk *pd, unsigned inflight, uint64_t *seed)
{
	static uint8_t data[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();
	run r = { 0 };
	double t0, t;

	r.submit_t = calloc(LAT_MAX, sizeof(double));
	r.lat = calloc(LAT_MAX, sizeof(double));
	if (!r.submit_t || !r.lat)
		die("calloc");
	clean_keep_data(pd);
	r.store = open_store(add_posix_disk_ops(pd), &r);
	t0 = now_s();
	do {
		while (r.submitted - r.durable < inflight) {
			*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t sector = (*seed >> 33) % BENCH_SPAN;

			memcpy(data, seed, sizeof(*seed));
			r.submit_t[r.submitted % LAT_MAX] = now_s();
			if (ops->store(r.store, sector, r.submitted + 1, 1, data,
				       r.submitted) < 0) {
				fprintf(stderr, "bench_storage: store refused\n");
				exit(1);
			}
			r.submitted++;
		}
		loop_once(pd, &r);
		t = now_s();
	} while (t - t0 < run_seconds && !r.fatal);
	double rate = (double)r.durable / (t - t0);
	add_sector_store_stats st;

	add_sector_store_get_stats(r.store, &st);
	qsort(r.lat, r.n_lat, sizeof(double), cmp_double);
	printf("  %3u in flight: %9.0f sectors/s  (%llu stores, %llu flushes, %.1f stores/flush, "
	       "%llu checkpoints; latency p50 %.2f ms, p99 %.2f ms)\n",
	       inflight, rate, (unsigned long long)r.durable,
	       (unsigned long long)st.journal_flushes,
	       st.journal_flushes ? (double)st.stores_durable / (double)st.journal_flushes : 0.0,
	       (unsigned long long)st.checkpoints, r.n_lat ? r.lat[r.n_lat / 2] * 1e3 : 0.0,
	       r.n_lat ? r.lat[r.n_lat * 99 / 100] * 1e3 : 0.0);
	while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
		loop_once(pd, &r);
	t0 = now_s();
	add_sector_store_close(r.store);
	if (getenv("BENCH_VERBOSE"))
		fprintf(stderr, "  (close with its checkpoint: %.2f s)\n", now_s() - t0);
	free(r.submit_t);
	free(r.lat);
	return rate;
}

/* ---- 3. recovery ---- */

/*
 * Writing a million distinct sectors for real would put 4 GiB through the
 * disk, which the run cannot afford; recovery never reads the data of the
 * sectors it recovers from meta, only meta (O(written)) and the journal. So
 * this wrapper drops the writes to "data" and to the records of "journal"
 * while the store is filled; meta, the journal header, the final journal's
 * records and everything recovery does are real.
 */
typedef struct shim {
	add_disk ops;
	const add_disk *base;
	int h_data, h_journal;
	int drop_journal, drop_data;
} shim;

static int sh_open(void *ctx, const char *name, bool create)
{
	shim *s = ctx;
	int h = s->base->open(s->base->ctx, name, create);

	if (h >= 0 && strcmp(name, "data") == 0)
		s->h_data = h;
	if (h >= 0 && strncmp(name, "journal", 7) == 0)
		s->h_journal = h;
	return h;
}

static int sh_close(void *ctx, int h)
{
	shim *s = ctx;

	return s->base->close(s->base->ctx, h);
}

static int64_t sh_pread(void *ctx, int h, void *buf, size_t len, uint64_t off)
{
	shim *s = ctx;

	return s->base->pread(s->base->ctx, h, buf, len, off);
}

static int64_t sh_pwrite(void *ctx, int h, const void *buf, size_t len, uint64_t off)
{
	shim *s = ctx;

	if ((s->drop_data && h == s->h_data) || (s->drop_journal && h == s->h_journal && off > 0))
		return (int64_t)len;
	return s->base->pwrite(s->base->ctx, h, buf, len, off);
}

static int sh_truncate(void *ctx, int h, uint64_t size)
{
	shim *s = ctx;

	return s->base->truncate(s->base->ctx, h, size);
}

static int64_t sh_size(void *ctx, int h)
{
	shim *s = ctx;

	return s->base->size(s->base->ctx, h);
}

static int sh_sync(void *ctx, int h)
{
	shim *s = ctx;

	return s->base->sync(s->base->ctx, h);
}

static int sh_sync_async(void *ctx, int h, add_disk_done_fn done, void *arg)
{
	shim *s = ctx;

	return s->base->sync_async(s->base->ctx, h, done, arg);
}

static int sh_rename(void *ctx, const char *a, const char *b)
{
	shim *s = ctx;

	return s->base->rename(s->base->ctx, a, b);
}

static int sh_unlink(void *ctx, const char *n)
{
	shim *s = ctx;

	return s->base->unlink(s->base->ctx, n);
}

static int sh_sync_dir(void *ctx)
{
	shim *s = ctx;

	return s->base->sync_dir(s->base->ctx);
}

static int sh_list(void *ctx, void (*fn)(void *, const char *), void *arg)
{
	shim *s = ctx;

	return s->base->list(s->base->ctx, fn, arg);
}

static void bench_recovery(add_posix_disk *pd, uint64_t n_written)
{
	static uint8_t data[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();
	shim sh = { .base = add_posix_disk_ops(pd), .h_data = -1, .h_journal = -1 };
	run r = { 0 };
	double t0;

	sh.ops = (add_disk){ &sh, sh_open, sh_close, sh_pread, sh_pwrite, sh_truncate,
			     sh_size, sh_sync, sh_sync_async, sh_rename, sh_unlink,
			     sh_sync_dir, sh_list };
	r.submit_t = calloc(LAT_MAX, sizeof(double));
	r.lat = calloc(LAT_MAX, sizeof(double));
	clean_dir(pd);
	prealloc_data(pd, (1ull << 16) * ADD_SECTOR_SIZE); /* where the replay writes */
	/* No checkpoints while filling (the dropped records take no room). */
	r.store = open_store_max(&sh.ops, &r, 1ull << 40);
	t0 = now_s();
	sh.drop_journal = 1;
	sh.drop_data = 1;
	/* Distinct sectors: a stride coprime with 2^21. */
	for (uint64_t i = 0; i < n_written; i++) {
		if (ops->store(r.store, (i * 1000003) % N_SECTORS, i + 1, 1, data, i) < 0)
			die("store");
		if (i % 8192 == 8191)
			while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
				loop_once(pd, &r);
	}
	while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
		loop_once(pd, &r);
	add_sector_store_checkpoint(r.store);
	while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
		loop_once(pd, &r);
	/* Then a journal nearly full (60 MiB of records) left unapplied by a
	 * "crash": the store is dropped without its closing checkpoint. */
	sh.drop_journal = 0;
	uint64_t n_journal = 15000;

	for (uint64_t i = 0; i < n_journal; i++) {
		memset(data, (int)i, sizeof(data));
		if (ops->store(r.store, (i * 7919) % (1u << 16), n_written + i + 1, 2, data, i) < 0)
			die("store");
		if (i % 1024 == 1023)
			while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
				loop_once(pd, &r);
	}
	while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
		loop_once(pd, &r);
	double fill_s = now_s() - t0;

	ops->store(r.store, 0, 1, 1, data, 0); /* not idle: close skips the checkpoint */
	add_sector_store_close(r.store);

	sh.drop_data = 0; /* the replay writes its data home for real */
	t0 = now_s();
	r.store = open_store(&sh.ops, &r);
	double rec_s = now_s() - t0;
	add_sector_store_stats st;

	add_sector_store_get_stats(r.store, &st);
	printf("  recovery: %llu written sectors, %llu journal records replayed: %.3f s "
	       "(%.2f s per million written sectors; memory %.1f MiB, %.1f B/sector; "
	       "filling took %.1f s)\n",
	       (unsigned long long)add_sector_store_written(r.store),
	       (unsigned long long)st.recovered_records, rec_s,
	       rec_s / ((double)add_sector_store_written(r.store) / 1e6),
	       (double)st.memory_bytes / 1048576.0,
	       (double)st.index_bytes / (double)add_sector_store_written(r.store), fill_s);
	add_sector_store_close(r.store); /* clean: journals empty */
	t0 = now_s();
	r.store = open_store(&sh.ops, &r);
	rec_s = now_s() - t0;
	printf("  clean reopen (meta only): %llu written sectors: %.3f s\n",
	       (unsigned long long)add_sector_store_written(r.store), rec_s);
	add_sector_store_close(r.store);
	free(r.submit_t);
	free(r.lat);
}

/* Stores arriving at `rate` per second for run_seconds; latency from each
 * one's arrival time to its durable report. */
static void bench_stream(add_posix_disk *pd, double rate, uint32_t flights, uint64_t *seed)
{
	static uint8_t data[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();
	run r = { 0 };
	double t0, t, next;

	r.submit_t = calloc(LAT_MAX, sizeof(double));
	r.lat = calloc(LAT_MAX, sizeof(double));
	r.lat_ck = calloc(LAT_MAX, sizeof(double));
	r.ck_at = calloc(LAT_MAX, sizeof(uint64_t));
	if (!r.submit_t || !r.lat || !r.lat_ck || !r.ck_at)
		die("calloc");
	clean_keep_data(pd);
	journal_flights = flights;
	/* 16 MiB of journal: a checkpoint every 4096 stores */
	r.store = open_store_max(add_posix_disk_ops(pd), &r, 16ull << 20);
	journal_flights = 0;
	t0 = next = now_s();
	do {
		t = now_s();
		while (next <= t) {
			*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
			memcpy(data, seed, sizeof(*seed));
			r.submit_t[r.submitted % LAT_MAX] = next;
			add_sector_store_stats cst;

			add_sector_store_get_stats(r.store, &cst);
			r.ck_at[r.submitted % LAT_MAX] =
				2 * cst.checkpoints_started + cst.checkpoint_running;
			if (ops->store(r.store, (*seed >> 33) % BENCH_SPAN, r.submitted + 1, 1, data,
				       r.submitted) < 0) {
				fprintf(stderr, "bench_storage: store refused\n");
				exit(1);
			}
			r.submitted++;
			next += 1.0 / rate;
		}
		add_sector_store_kick(r.store);
		/* Sleep until the next arrival or a completion. */
		double wait = next - now_s();
		struct timespec ts = { 0, wait > 0 ? (long)(wait * 1e9) : 0 };
		struct pollfd p = { .fd = add_posix_disk_event_fd(pd), .events = POLLIN };

		if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR)
			die("ppoll");
		if (p.revents & POLLIN)
			add_posix_disk_dispatch(pd);
		t = now_s();
	} while (t - t0 < run_seconds && !r.fatal);
	add_sector_store_stats st;

	add_sector_store_get_stats(r.store, &st);
	/* all = outside + inside, for the overall percentiles */
	size_t n_all = r.n_lat + r.n_lat_ck;
	double *all = malloc((n_all ? n_all : 1) * sizeof(double));

	if (!all)
		die("malloc");
	memcpy(all, r.lat, r.n_lat * sizeof(double));
	memcpy(all + r.n_lat, r.lat_ck, r.n_lat_ck * sizeof(double));
	qsort(all, n_all, sizeof(double), cmp_double);
	qsort(r.lat, r.n_lat, sizeof(double), cmp_double);
	qsort(r.lat_ck, r.n_lat_ck, sizeof(double), cmp_double);
	printf("  stream %6.0f stores/s, %u flush%s in flight: durable %8.0f/s, latency p50 %5.2f "
	       "ms, p99 %5.2f ms, p99.9 %5.2f ms (%.1f stores/flush, %llu completed before an "
	       "earlier one)\n",
	       rate, flights, flights == 1 ? "  " : "es", (double)r.durable / (t - t0),
	       n_all ? all[n_all / 2] * 1e3 : 0.0, n_all ? all[n_all * 99 / 100] * 1e3 : 0.0,
	       n_all ? all[n_all * 999 / 1000] * 1e3 : 0.0,
	       st.journal_flushes ? (double)st.stores_durable / (double)st.journal_flushes : 0.0,
	       (unsigned long long)st.flights_waited);
	printf("    checkpoint windows (%llu checkpoints): p99 inside %5.2f ms (%zu stores), "
	       "outside %5.2f ms (%zu stores)   target: the tail does not grow in them\n",
	       (unsigned long long)st.checkpoints,
	       r.n_lat_ck ? r.lat_ck[r.n_lat_ck * 99 / 100] * 1e3 : 0.0, r.n_lat_ck,
	       r.n_lat ? r.lat[r.n_lat * 99 / 100] * 1e3 : 0.0, r.n_lat);
	while (!add_sector_store_idle(r.store) || add_posix_disk_pending(pd) > 0)
		loop_once(pd, &r);
	add_sector_store_close(r.store);
	free(r.submit_t);
	free(r.lat);
	free(r.lat_ck);
	free(r.ck_at);
	free(all);
}

int main(void)
{
	char err[256];
	const char *e = getenv("BENCH_SECONDS");
	uint64_t n_rec = 1000000, seed = 12345;

	if (e && atof(e) > 0)
		run_seconds = atof(e);
	e = getenv("BENCH_RECOVERY_SECTORS");
	if (e && strtoull(e, NULL, 10) > 0)
		n_rec = strtoull(e, NULL, 10);
	snprintf(dir, sizeof(dir), "/var/tmp/add-bench-storage-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	add_posix_disk *pd = add_posix_disk_open(dir, err, sizeof(err));

	if (!pd) {
		fprintf(stderr, "bench_storage: %s\n", err);
		return 1;
	}
	printf("bench_storage: real files in %s, %.1f s per run\n", dir, run_seconds);
	/* Each limit is measured right before the store runs it is compared
	 * with: the machine is shared and its speed drifts. */
	prealloc_data(pd, BENCH_SPAN * ADD_SECTOR_SIZE);
	printf("machine limits (appending 4 KiB writes, fdatasync) and the sector store\n"
	       "(random sectors of the first 2^16, group commit, a CRC32C per sector):\n");
	double l1 = limit_pwrite_fdatasync(1);

	printf("  limit: pwrite 4 KiB + fdatasync:        %9.0f /s\n", l1);
	bench_store(pd, 1, &seed);
	bench_store(pd, 16, &seed);
	double l64 = limit_pwrite_fdatasync(64);

	printf("  limit: 64 x pwrite 4 KiB + 1 fdatasync: %9.0f sectors/s\n", l64);
	double r256 = bench_store(pd, 256, &seed);

	printf("  256 in flight vs the 64-batch limit: %.2f (target >= 0.5)\n", r256 / l64);
	printf("  limit: fdatasync latency after one 4 KiB pwrite: %.2f ms (1 / the rate above)\n",
	       1e3 / l1);
	for (int k = 0; k < 2; k++) {
		double rate = k == 0 ? 5000 : 20000;

		bench_stream(pd, rate, 1, &seed);
		bench_stream(pd, rate, 2, &seed);
	}
	bench_recovery(pd, n_rec);
	clean_dir(pd);
	add_posix_disk_close(pd);
	if (rmdir(dir) < 0)
		die("rmdir");
	return 0;
}
