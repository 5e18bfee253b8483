/*
 * The sector store never lies (core/sector_store.h, core/store_ops.h): each
 * measured bug of the layout-1 store, as the behaviour that now holds, on
 * the simulated disk with its storage faults (bit flips at rest, read
 * errors, a full disk) and a recording disk for the layout rules.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime-sim/sim_disk.h"
#include "sector_store.h"

#define BLK 4096u
#define N_SECTORS 100000u

typedef struct h {
	add_sim_disk *disk;
	const add_disk *dops; /* what the store uses (the sim disk or a wrapper) */
	add_sector_store *store;
	const add_store_ops *ops;
	uint64_t n_sectors;
	uint8_t rank;
	int fatal_calls;
	char fatal_why[256];
	char log[64][320];
	int n_log;
	size_t durable;
} h_t;

static void on_durable(void *arg, uint64_t cookie)
{
	h_t *h = arg;

	(void)cookie;
	h->durable++;
}

static void on_fatal(void *arg, const char *why)
{
	h_t *h = arg;

	h->fatal_calls++;
	snprintf(h->fatal_why, sizeof(h->fatal_why), "%s", why);
}

static void on_log(void *arg, add_log_level level, const char *line)
{
	h_t *h = arg;

	if (h->n_log < 64)
		snprintf(h->log[h->n_log++], sizeof(h->log[0]), "%s %s",
			 level == ADD_LOG_WARN ? "WARN" : level == ADD_LOG_INFO ? "INFO" : "OTHER",
			 line);
}

/* True if some log line contains every one of the (NULL-ended) words. */
static bool logged(const h_t *h, const char *w1, const char *w2, const char *w3)
{
	for (int i = 0; i < h->n_log; i++)
		if (strstr(h->log[i], w1) && (!w2 || strstr(h->log[i], w2)) &&
		    (!w3 || strstr(h->log[i], w3)))
			return true;
	return false;
}

static add_sector_store *try_open(h_t *h, char *err, size_t len)
{
	add_sector_store_config cfg = {
		.disk = h->dops,
		.n_sectors = h->n_sectors,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = h,
		.rank = h->rank,
		.log = on_log,
	};

	for (int i = 0; i < ADD_CLUSTER_ID_SIZE; i++)
		cfg.new_identity[i] = (uint8_t)(0xa0 + i);
	h->n_log = 0;
	h->store = add_sector_store_open(&cfg, err, len);
	h->ops = add_sector_store_ops();
	return h->store;
}

static void open_ok(h_t *h)
{
	char err[256] = "";

	cr_assert_not_null(try_open(h, err, sizeof(err)), "open failed: %s", err);
}

static void setup(h_t *h)
{
	memset(h, 0, sizeof(*h));
	h->disk = add_sim_disk_create(5);
	h->dops = add_sim_disk_ops(h->disk);
	h->n_sectors = N_SECTORS;
	h->rank = 1;
	open_ok(h);
}

static void fill(uint8_t *buf, uint64_t sector, uint64_t ts)
{
	for (size_t i = 0; i < ADD_SECTOR_SIZE; i++)
		buf[i] = (uint8_t)(sector * 31 + ts * 7 + i);
}

static void put(h_t *h, uint64_t sector, uint64_t ts, uint8_t wr)
{
	uint8_t buf[ADD_SECTOR_SIZE];

	fill(buf, sector, ts);
	cr_assert_eq(h->ops->store(h->store, sector, ts, wr, buf, sector), 0);
}

static void drain(h_t *h)
{
	for (int i = 0; i < 1000; i++) {
		add_sector_store_kick(h->store);
		if (add_sim_disk_complete_flushes(h->disk) == 0 && add_sector_store_idle(h->store))
			return;
	}
	cr_assert_fail("store did not drain");
}

/* One store per batch, each made durable. */
static void put_durable(h_t *h, uint64_t sector, uint64_t ts, uint8_t wr)
{
	put(h, sector, ts, wr);
	drain(h);
}

static void crash_reopen(h_t *h, add_sim_crash_mode mode)
{
	add_sim_disk_crash_mode(h->disk, mode);
	add_sector_store_close(h->store);
	open_ok(h);
}

static void expect(h_t *h, uint64_t sector, uint64_t ts, uint8_t wr)
{
	uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];
	uint64_t gts;
	uint8_t gwr;

	h->ops->get_meta(h->store, sector, &gts, &gwr);
	cr_assert_eq(gts, ts, "sector %llu: ts %llu, want %llu", (unsigned long long)sector,
		     (unsigned long long)gts, (unsigned long long)ts);
	cr_assert_eq(gwr, wr);
	cr_assert_not(h->ops->damaged(h->store, sector));
	cr_assert_eq(h->ops->read_data(h->store, sector, got), 0, "sector %llu unreadable",
		     (unsigned long long)sector);
	if (ts)
		fill(want, sector, ts);
	else
		memset(want, 0, sizeof(want));
	cr_assert_arr_eq(got, want, sizeof(got));
}

static void expect_damaged(h_t *h, uint64_t sector, uint64_t ts, int rc)
{
	uint8_t got[ADD_SECTOR_SIZE];
	uint64_t gts;
	uint8_t gwr;

	cr_assert_eq(h->ops->read_data(h->store, sector, got), rc, "sector %llu: read gives %d",
		     (unsigned long long)sector, h->ops->read_data(h->store, sector, got));
	h->ops->get_meta(h->store, sector, &gts, &gwr);
	cr_assert_eq(gts, ts, "damaged sector %llu keeps its known tag %llu (has %llu)",
		     (unsigned long long)sector, (unsigned long long)ts, (unsigned long long)gts);
	cr_assert(h->ops->damaged(h->store, sector), "sector %llu should be damaged",
		  (unsigned long long)sector);
	cr_assert_eq(h->ops->read_data(h->store, sector, got), rc, "and stays damaged");
}

static void teardown(h_t *h)
{
	add_sector_store_close(h->store);
	add_sim_disk_destroy(h->disk);
}

/* ---- bug 1: data checksums ---- */

Test(sector_store_damage, flipped_bytes_in_data_are_never_served)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 7, 3, 1);
	put_durable(&h, 8, 3, 1);
	cr_assert(add_sector_store_checkpoint(h.store));
	drain(&h);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "data", 7 * BLK + 100, 2), 0);
	expect_damaged(&h, 7, 3, -EBADMSG);
	expect(&h, 8, 3, 1);
	cr_assert_eq(h.ops->next_damaged(h.store, 0), 7);
	cr_assert_eq(h.ops->next_damaged(h.store, 8), UINT64_MAX);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.checksum_mismatches, 1);
	cr_assert_eq(st.damaged_now, 1);
	cr_assert(logged(&h, "WARN", "data", "sector 7"), "a WARN names the file and sector");
	/* the mark survives a restart */
	add_sector_store_close(h.store);
	open_ok(&h);
	cr_assert(h.ops->damaged(h.store, 7), "the mark was persisted");
	expect_damaged(&h, 7, 3, -EBADMSG);
	teardown(&h);
}

Test(sector_store_damage, a_repair_clears_the_mark_and_survives_a_crash)
{
	h_t h;
	uint8_t buf[ADD_SECTOR_SIZE];

	setup(&h);
	put_durable(&h, 7, 3, 1);
	cr_assert(add_sector_store_checkpoint(h.store));
	drain(&h);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "data", 7 * BLK, 0), 0);
	expect_damaged(&h, 7, 3, -EBADMSG);
	fill(buf, 7, 2);
	cr_assert_eq(h.ops->repair(h.store, 7, 2, 3, buf, 1), 0);
	cr_assert_not(h.ops->damaged(h.store, 7), "reflects the submitted repair");
	drain(&h);
	expect(&h, 7, 2, 3);
	crash_reopen(&h, ADD_SIM_CRASH_LOSE);
	expect(&h, 7, 2, 3);
	cr_assert_eq(h.ops->ts_floor(h.store), 3, "the repair lowered our own tag (3, 1)");
	teardown(&h);
}

Test(sector_store_damage, a_repair_lowering_our_own_tag_raises_the_durable_ts_floor)
{
	h_t h;
	uint8_t buf[ADD_SECTOR_SIZE];
	add_superblock sb;

	setup(&h);
	put_durable(&h, 7, 9, 1); /* rank 1 = ours */
	fill(buf, 7, 4);
	cr_assert_eq(h.ops->repair(h.store, 7, 4, 2, buf, 1), 0);
	cr_assert_eq(h.ops->ts_floor(h.store), 9);
	drain(&h);
	crash_reopen(&h, ADD_SIM_CRASH_LOSE);
	cr_assert_eq(h.ops->ts_floor(h.store), 9, "the floor is durable");
	add_sector_store_identity(h.store, &sb);
	cr_assert_eq(sb.ts_floor, 9);
	expect(&h, 7, 4, 2);
	teardown(&h);
}

/* ---- bug 3: read errors ---- */

Test(sector_store_damage, a_failed_read_of_data_is_eio_and_marks_the_sector)
{
	h_t h;
	add_sector_store_stats st;
	uint8_t buf[ADD_SECTOR_SIZE];

	setup(&h);
	put_durable(&h, 11, 5, 2);
	cr_assert(add_sector_store_checkpoint(h.store));
	drain(&h);
	cr_assert_eq(add_sim_disk_inject_read_error(h.disk, "data", 11 * BLK, BLK), 0);
	expect_damaged(&h, 11, 5, -EIO);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.read_errors, 1);
	cr_assert(logged(&h, "WARN", "pread data", "sector 11"));
	cr_assert(logged(&h, "WARN", "Input/output error", NULL));
	fill(buf, 11, 6);
	cr_assert_eq(h.ops->repair(h.store, 11, 6, 2, buf, 1), 0);
	drain(&h);
	expect(&h, 11, 6, 2);
	teardown(&h);
}

/* ---- bug 2: corruption inside a journal ---- */

Test(sector_store_damage, a_corrupt_record_mid_journal_keeps_every_later_record)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 1, 1, 1); /* chunk at 4096: desc, data 8192, trailer */
	put_durable(&h, 2, 1, 1); /* chunk at 16384: data 20480 */
	put_durable(&h, 3, 1, 1); /* chunk at 28672 */
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE); /* home writes lost */
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 20480 + 77, 5), 0);
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect(&h, 3, 1, 1);
	expect_damaged(&h, 2, 1, -EBADMSG);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.corrupt_records, 1);
	cr_assert_eq(st.suspect_sectors, 1);
	cr_assert_not(st.torn_tail);
	cr_assert(logged(&h, "WARN", "journal-a", "sector 2"));
	cr_assert(logged(&h, "INFO", "1 suspect sectors", NULL));
	/* persisted before the journals were reset */
	crash_reopen(&h, ADD_SIM_CRASH_LOSE);
	expect_damaged(&h, 2, 1, -EBADMSG);
	teardown(&h);
}

Test(sector_store_damage, a_corrupt_older_record_never_replaces_newer_home_data)
{
	h_t h;

	setup(&h);
	put_durable(&h, 5, 1, 1); /* data at 8192 */
	put_durable(&h, 5, 2, 1); /* data at 20480 */
	put_durable(&h, 6, 1, 1);
	/* A checkpoint whose data and meta flushes complete, but whose journal
	 * reset never becomes durable. */
	cr_assert(add_sector_store_checkpoint(h.store));
	cr_assert(add_sim_disk_complete_one(h.disk)); /* data */
	cr_assert(add_sim_disk_complete_one(h.disk)); /* meta */
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 20480 + 9, 1), 0);
	open_ok(&h);
	expect(&h, 5, 2, 1);
	expect(&h, 6, 1, 1);
	teardown(&h);
}

Test(sector_store_damage, lost_descriptors_mid_journal_refuse_to_open_with_a_clear_error)
{
	h_t h;
	char err[256] = "";

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put_durable(&h, 2, 1, 1); /* desc 16384, trailer 24576 */
	put_durable(&h, 3, 1, 1);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 16384 + 40, 0), 0);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 24576 + 40, 0), 0);
	cr_assert_null(try_open(&h, err, sizeof(err)), "must not guess");
	cr_assert(strstr(err, "journal-a") && strstr(err, "corrupt") && strstr(err, "refusing"),
		  "error: %s", err);
	add_sim_disk_destroy(h.disk);
}

Test(sector_store_damage, a_bad_descriptor_is_read_from_its_trailer)
{
	h_t h;

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put_durable(&h, 2, 1, 1);
	put_durable(&h, 3, 1, 1);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 16384 + 40, 0), 0);
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect(&h, 2, 1, 1);
	expect(&h, 3, 1, 1);
	teardown(&h);
}

Test(sector_store_damage, a_torn_last_batch_is_dropped_quietly)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put(&h, 2, 1, 1);
	put(&h, 3, 1, 1); /* one batch: desc 16384, data 20480, 24576 */
	add_sector_store_kick(h.store); /* written, flush never completes */
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_KEEP);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 24576 + 3, 0), 0); /* torn */
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect(&h, 2, 1, 1); /* whole: kept (never acknowledged, harmless) */
	expect(&h, 3, 0, 0);
	add_sector_store_get_stats(h.store, &st);
	cr_assert(st.torn_tail);
	cr_assert_eq(st.corrupt_records, 0);
	cr_assert_eq(st.damaged_now, 0);
	teardown(&h);
}

Test(sector_store_damage, a_flipped_meta_page_never_serves_wrong_bytes)
{
	h_t h;
	uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];

	setup(&h);
	for (uint64_t round = 1; round <= 3; round++) {
		for (uint64_t s = 0; s < 10; s++)
			put(&h, s, round, 1);
		drain(&h);
		cr_assert(add_sector_store_checkpoint(h.store));
		drain(&h);
	}
	/* page 0: copies at 0 and 4096; flip one byte in each in turn */
	for (unsigned c = 0; c < 2; c++) {
		cr_assert_eq(add_sim_disk_flip_bit(h.disk, "meta", c * BLK + 200, 3), 0);
		crash_reopen(&h, ADD_SIM_CRASH_LOSE);
		for (uint64_t s = 0; s < 10; s++) {
			int rc = h.ops->read_data(h.store, s, got);
			uint64_t ts;
			uint8_t wr;

			h.ops->get_meta(h.store, s, &ts, &wr);
			cr_assert_gt(ts, 0, "sector %llu forgotten", (unsigned long long)s);
			if (rc == 0) {
				fill(want, s, ts);
				cr_assert_arr_eq(got, want, sizeof(got), "sector %llu: bytes not of its tag",
						 (unsigned long long)s);
			} else {
				cr_assert(rc == -EBADMSG || rc == -EIO);
			}
		}
	}
	teardown(&h);
}

/* ---- bug 4 is the crash test's (test_crash_sector_store: recovery cut) ---- */

/* ---- bug 5: identity and partial stores ---- */

Test(sector_store_damage, a_store_missing_journal_a_is_refused_and_meta_kept)
{
	h_t h;
	char err[256] = "";

	setup(&h);
	put_durable(&h, 1, 1, 1);
	add_sector_store_close(h.store);
	int64_t meta = add_sim_disk_file_size(h.disk, "meta");

	cr_assert_gt(meta, 0);
	cr_assert_eq(h.dops->unlink(h.dops->ctx, "journal-a"), 0);
	cr_assert_null(try_open(&h, err, sizeof(err)));
	cr_assert(strstr(err, "missing journal-a"), "error: %s", err);
	cr_assert_eq(add_sim_disk_file_size(h.disk, "meta"), meta, "meta never truncated");
	add_sim_disk_destroy(h.disk);
}

Test(sector_store_damage, an_old_format_store_is_refused)
{
	h_t h;
	char err[256] = "";
	uint8_t hdr[64] = { 0x4a, 0x44, 0x44, 0x48 };

	memset(&h, 0, sizeof(h));
	h.disk = add_sim_disk_create(1);
	h.dops = add_sim_disk_ops(h.disk);
	h.n_sectors = 64;
	const char *names[] = { "data", "meta", "journal-a", "journal-b" };

	for (int i = 0; i < 4; i++) {
		int fd = h.dops->open(h.dops->ctx, names[i], true);

		cr_assert_geq(fd, 0);
		cr_assert_eq(h.dops->pwrite(h.dops->ctx, fd, hdr, sizeof(hdr), 0), 64);
		h.dops->close(h.dops->ctx, fd);
	}
	cr_assert_null(try_open(&h, err, sizeof(err)));
	cr_assert(strstr(err, "old-format"), "error: %s", err);
	add_sim_disk_destroy(h.disk);
}

Test(sector_store_damage, the_identity_is_written_at_creation_and_another_rank_is_refused)
{
	h_t h;
	char err[256] = "";
	add_superblock sb;

	setup(&h);
	add_sector_store_identity(h.store, &sb);
	cr_assert_eq(sb.rank, 1);
	cr_assert_eq(sb.n_sectors, N_SECTORS);
	cr_assert_eq(sb.format_version, ADD_SUPERBLOCK_FORMAT);
	cr_assert_eq(sb.cluster_id[0], 0xa0);
	add_sector_store_close(h.store);
	h.rank = 2;
	cr_assert_null(try_open(&h, err, sizeof(err)));
	cr_assert(strstr(err, "rank 1") && strstr(err, "rank 2"), "error: %s", err);
	add_sim_disk_destroy(h.disk);
}

Test(sector_store_damage, a_larger_size_grows_the_store_and_a_smaller_one_names_the_sectors)
{
	h_t h;
	char err[256] = "";
	add_superblock sb;

	setup(&h);
	put_durable(&h, 70000, 1, 1);
	put_durable(&h, 70012, 1, 1);
	add_sector_store_close(h.store);
	h.n_sectors = 200000;
	open_ok(&h);
	add_sector_store_identity(h.store, &sb);
	cr_assert_eq(sb.n_sectors, 200000);
	put_durable(&h, 150000, 1, 1);
	expect(&h, 70012, 1, 1);
	add_sector_store_close(h.store);
	h.n_sectors = 65536;
	cr_assert_null(try_open(&h, err, sizeof(err)));
	cr_assert(strstr(err, "sectors 70000..150000 hold data"), "error: %s", err);
	h.n_sectors = 200000;
	open_ok(&h);
	expect(&h, 150000, 1, 1);
	teardown(&h);
}

/* ---- bug 6: a full disk ---- */

Test(sector_store_damage, a_full_disk_is_named_and_a_restart_works_full_or_freed)
{
	h_t h;
	char err[256] = "";
	uint64_t acked = 0;

	setup(&h);
	for (uint64_t s = 0; s < 20; s++)
		put_durable(&h, s, 1, 1);
	acked = h.durable;
	add_sim_disk_set_capacity(h.disk, add_sim_disk_bytes_used(h.disk) + 8 * BLK);
	for (uint64_t s = 20; s < 60 && h.fatal_calls == 0; s++) {
		put(&h, s, 1, 1);
		add_sector_store_kick(h.store);
		add_sim_disk_complete_flushes(h.disk);
		if (h.fatal_calls == 0)
			acked = h.durable;
	}
	cr_assert_eq(h.fatal_calls, 1);
	cr_assert(strstr(h.fatal_why, "No space left on device") && strstr(h.fatal_why, "pwrite") &&
		  strstr(h.fatal_why, " at "),
		  "fatal: %s", h.fatal_why);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	/* still full: works, or says so */
	if (try_open(&h, err, sizeof(err)) == NULL) {
		printf("full disk: restart refused: %s\n", err);
		cr_assert(strstr(err, "disk full") || strstr(err, "No space left"), "error: %s", err);
	} else {
		printf("full disk: restart while full works\n");
		add_sector_store_close(h.store);
	}
	printf("full disk: fatal was: %s\n", h.fatal_why);
	add_sim_disk_set_capacity(h.disk, 0);
	open_ok(&h);
	for (uint64_t s = 0; s < 20 + (acked - 20); s++)
		expect(&h, s, 1, 1);
	teardown(&h);
}

/* ---- bug 7: no device block holding an acknowledged record is rewritten ---- */

typedef struct rec_disk {
	add_disk ops;
	const add_disk *in;
	char names[16][32];
	uint64_t append_end[16]; /* journal: end of the last append since its reset */
	int bad;
	char why[200];
} rec_disk;

static rec_disk *RD;

static int rd_open(void *ctx, const char *name, bool create)
{
	int fd = RD->in->open(ctx, name, create);

	if (fd >= 0 && fd < 16) {
		snprintf(RD->names[fd], sizeof(RD->names[fd]), "%s", name);
		RD->append_end[fd] = 0;
	}
	return fd;
}

static int64_t rd_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	const char *n = fd >= 0 && fd < 16 ? RD->names[fd] : "";
	bool journal = strncmp(n, "journal-", 8) == 0, meta = strcmp(n, "meta") == 0;

	if ((journal || meta) && (off % BLK || len % BLK) && !RD->bad++)
		snprintf(RD->why, sizeof(RD->why), "%s: pwrite of %zu at %llu not 4 KiB aligned", n,
			 len, (unsigned long long)off);
	if (meta && len != BLK && !RD->bad++)
		snprintf(RD->why, sizeof(RD->why), "meta: pwrite of %zu (not one page)", len);
	if (journal) {
		if (off == 0) {
			RD->append_end[fd] = BLK; /* a reset */
		} else {
			if (off < RD->append_end[fd] && !RD->bad++)
				snprintf(RD->why, sizeof(RD->why),
					 "%s: append at %llu rewrites blocks below %llu", n,
					 (unsigned long long)off,
					 (unsigned long long)RD->append_end[fd]);
			RD->append_end[fd] = off + len;
		}
	}
	return RD->in->pwrite(ctx, fd, buf, len, off);
}

Test(sector_store_damage, batches_start_on_fresh_4k_blocks_and_meta_writes_whole_pages)
{
	h_t h;
	rec_disk rd = { 0 };

	memset(&h, 0, sizeof(h));
	h.disk = add_sim_disk_create(2);
	rd.in = add_sim_disk_ops(h.disk);
	rd.ops = *rd.in;
	rd.ops.open = rd_open;
	rd.ops.pwrite = rd_pwrite;
	RD = &rd;
	h.dops = &rd.ops;
	h.n_sectors = 4096;
	open_ok(&h);
	for (uint64_t i = 0; i < 600; i++) {
		put(&h, (i * 37) % 1000, i + 1, 1);
		if (i % 5 == 4) {
			add_sector_store_kick(h.store);
			add_sim_disk_complete_flushes(h.disk);
		}
		if (i % 97 == 0)
			drain(&h), add_sector_store_checkpoint(h.store);
	}
	drain(&h);
	cr_assert_eq(rd.bad, 0, "%s", rd.why);
	teardown(&h);
}

/* ---- recovery reads each journal block about once (O(journal)) ---- */

static const add_disk *CNT_IN;
static uint64_t CNT_READ;

static int64_t cnt_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
	int64_t n = CNT_IN->pread(ctx, fd, buf, len, off);

	if (n > 0)
		CNT_READ += (uint64_t)n;
	return n;
}

Test(sector_store_damage, recovery_of_many_one_record_batches_reads_the_journal_about_once)
{
	h_t h;
	add_disk counting;

	memset(&h, 0, sizeof(h));
	h.disk = add_sim_disk_create(4);
	CNT_IN = add_sim_disk_ops(h.disk);
	counting = *CNT_IN;
	counting.pread = cnt_pread;
	h.dops = &counting;
	h.n_sectors = 4096;
	open_ok(&h);
	for (uint64_t i = 0; i < 1500; i++)
		put_durable(&h, i % 700, i + 1, 1);
	int64_t ja = add_sim_disk_file_size(h.disk, "journal-a"),
		jb = add_sim_disk_file_size(h.disk, "journal-b");
	int64_t meta = add_sim_disk_file_size(h.disk, "meta");

	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE);
	add_sector_store_close(h.store);
	CNT_READ = 0;
	open_ok(&h);
	uint64_t bound = 2 * (uint64_t)(ja + jb + meta) + (2u << 20);

	printf("recovery of 1500 one-record batches: read %llu bytes (journals %lld B)\n",
	       (unsigned long long)CNT_READ, (long long)(ja + jb));
	cr_assert_leq(CNT_READ, bound, "read %llu bytes, bound %llu", (unsigned long long)CNT_READ,
		      (unsigned long long)bound);
	for (uint64_t s = 0; s < 700; s++) {
		uint64_t last = 0;

		for (uint64_t i = 0; i < 1500; i++)
			if (i % 700 == s)
				last = i + 1;
		expect(&h, s, last, 1);
	}
	teardown(&h);
}

/* ---- random rot: damage marks or a clear refusal, never wrong bytes ---- */

static uint64_t xs(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

Test(sector_store_damage, random_rot_and_read_errors_never_serve_wrong_bytes, .timeout = 120)
{
	uint64_t refused = 0, damaged = 0, served = 0;

	for (uint64_t seed = 1; seed <= 400; seed++) {
		h_t h;
		uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
		bool submitted[32][64] = { { false } }; /* [sector][ts] */
		char desc[4][96] = { "", "", "", "" }, err[256] = "";

		memset(&h, 0, sizeof(h));
		h.disk = add_sim_disk_create(seed);
		h.dops = add_sim_disk_ops(h.disk);
		h.n_sectors = 1024;
		open_ok(&h);
		for (uint64_t ts = 1; ts < 60; ts++) {
			uint64_t sector = xs(&x) % 32;

			put(&h, sector, ts, 1);
			submitted[sector][ts] = true;
			if (xs(&x) % 3 == 0) {
				add_sector_store_kick(h.store);
				add_sim_disk_complete_flushes(h.disk);
			}
			if (xs(&x) % 17 == 0) {
				drain(&h);
				add_sector_store_checkpoint(h.store);
			}
		}
		if (xs(&x) % 2)
			drain(&h);
		add_sim_disk_crash(h.disk);
		add_sector_store_close(h.store);
		unsigned n_faults = 1 + (unsigned)(xs(&x) % 3);

		for (unsigned f = 0; f < n_faults; f++)
			add_sim_disk_rot_random(h.disk, true, desc[f], sizeof(desc[f]));
		if (!try_open(&h, err, sizeof(err))) {
			refused++;
			if (getenv("ROT_VERBOSE"))
				printf("refused (%s; %s; %s): %s\n", desc[0], desc[1], desc[2], err);
			cr_assert(strstr(err, "sector store:") || strstr(err, "superblock"),
				  "seed %llu: an unclear refusal: %s", (unsigned long long)seed, err);
			add_sim_disk_destroy(h.disk);
			continue;
		}
		for (uint64_t sector = 0; sector < 32; sector++) {
			uint8_t got[ADD_SECTOR_SIZE], want[ADD_SECTOR_SIZE];
			uint64_t ts;
			uint8_t wr;
			int rc = h.ops->read_data(h.store, sector, got);

			h.ops->get_meta(h.store, sector, &ts, &wr);
			cr_assert(ts < 64 && (ts == 0 || submitted[sector][ts]),
				  "seed %llu (%s; %s; %s): sector %llu has ts %llu never stored there",
				  (unsigned long long)seed, desc[0], desc[1], desc[2],
				  (unsigned long long)sector, (unsigned long long)ts);
			if (rc != 0) {
				cr_assert(rc == -EBADMSG || rc == -EIO);
				cr_assert(h.ops->damaged(h.store, sector));
				damaged++;
				continue;
			}
			if (ts)
				fill(want, sector, ts);
			else
				memset(want, 0, sizeof(want));
			cr_assert_arr_eq(got, want, sizeof(got),
					 "seed %llu (%s; %s; %s): sector %llu: bytes not those of ts %llu",
					 (unsigned long long)seed, desc[0], desc[1], desc[2],
					 (unsigned long long)sector, (unsigned long long)ts);
			served++;
		}
		teardown(&h);
	}
	printf("random rot: 400 stores, %llu refused to open, %llu sectors damaged, %llu served "
	       "right\n",
	       (unsigned long long)refused, (unsigned long long)damaged, (unsigned long long)served);
	cr_assert_gt(damaged, 0, "the rot should hit sector data sometimes");
}

Test(sector_store_damage, a_bad_record_before_a_torn_batch_is_corruption_not_a_torn_tail)
{
	h_t h;
	add_sector_store_stats st;
	const uint64_t b3 = 28672; /* the third batch: two chunks */

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put_durable(&h, 2, 1, 1); /* acknowledged: data at 20480 */
	for (uint64_t s = 100; s < 100 + 200; s++)
		put(&h, s, 1, 1);
	add_sector_store_kick(h.store); /* never completes */
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_KEEP);
	add_sector_store_close(h.store);
	/* the in-flight batch: its first chunk torn (descriptor and trailer),
	 * its second whole; and rot in the acknowledged batch before it */
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", b3 + 40, 1), 0);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", b3 + 170 * BLK + 40, 1), 0);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 20480 + 5, 1), 0);
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect_damaged(&h, 2, 1, -EBADMSG);
	add_sector_store_get_stats(h.store, &st);
	cr_assert(st.torn_tail);
	cr_assert_eq(st.corrupt_records, 1);
	teardown(&h);
}

/* Two journal flushes in flight at the crash (batches 2 and 3): a tear may
 * hit the earlier one while the later is whole. Neither was acknowledged
 * (completions in order), so this is a torn tail, not corruption: the open
 * works and both batches are dropped. */
Test(sector_store_damage, a_torn_batch_with_a_later_batch_in_flight_is_a_torn_tail)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 1, 1, 1); /* chunk at 4096 */
	put(&h, 2, 1, 1);
	add_sector_store_kick(h.store); /* batch 2 at 16384 (trailer 24576), in flight */
	put(&h, 3, 1, 1);
	add_sector_store_kick(h.store); /* batch 3 at 28672, in flight too */
	cr_assert_eq(add_sim_disk_pending_flushes(h.disk), 2);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_KEEP);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 16384 + 40, 1), 0);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 24576 + 40, 1), 0);
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect(&h, 2, 0, 0);
	expect(&h, 3, 0, 0); /* after the tear: dropped with it */
	add_sector_store_get_stats(h.store, &st);
	cr_assert(st.torn_tail);
	cr_assert_eq(st.corrupt_records, 0);
	cr_assert_eq(st.damaged_now, 0);
	teardown(&h);
}

/* The same, the tear in a data block of the earlier batch: its record is
 * dropped (torn), the later batch's whole record kept (never acknowledged,
 * harmless); no damage. */
Test(sector_store_damage, a_torn_record_with_a_later_batch_in_flight_is_dropped_quietly)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put(&h, 2, 1, 1);
	add_sector_store_kick(h.store); /* data at 20480 */
	put(&h, 3, 1, 1);
	add_sector_store_kick(h.store);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_KEEP);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 20480 + 5, 1), 0);
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect(&h, 2, 0, 0);
	expect(&h, 3, 1, 1);
	add_sector_store_get_stats(h.store, &st);
	cr_assert(st.torn_tail);
	cr_assert_eq(st.corrupt_records, 0);
	cr_assert_eq(st.damaged_now, 0);
	teardown(&h);
}

/* Batch 2 reported durable (its flush completed) before batch 3 was
 * written: batch 3 names no flight floor at or below batch 2, so a bad
 * record of batch 2 is corruption (marked damaged), not a tear. */
Test(sector_store_damage, a_bad_record_of_a_batch_durable_before_the_next_was_written_is_corruption)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put(&h, 2, 1, 1);
	add_sector_store_kick(h.store); /* data at 20480 */
	cr_assert(add_sim_disk_complete_one(h.disk)); /* acknowledged */
	put(&h, 3, 1, 1);
	add_sector_store_kick(h.store); /* in flight, never completes */
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_KEEP);
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 20480 + 5, 1), 0);
	open_ok(&h);
	expect(&h, 1, 1, 1);
	expect_damaged(&h, 2, 1, -EBADMSG);
	expect(&h, 3, 1, 1);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_eq(st.corrupt_records, 1);
	teardown(&h);
}

/* Rot in both copies of the active journal's header: its records are the
 * only copy of what was acknowledged since the last checkpoint (the home
 * writes were lost with the crash). They are replayed, with the generation
 * every chunk descriptor repeats, and the damage is named. (Mutant 14 skips
 * such a journal: the acknowledged stores go back.) */
Test(sector_store_damage, a_journal_with_both_header_copies_corrupt_is_still_replayed)
{
	h_t h;
	add_sector_store_stats st;

	setup(&h);
	put_durable(&h, 1, 1, 1);
	put_durable(&h, 2, 1, 1);
	put_durable(&h, 1, 2, 1);
	add_sim_disk_crash_mode(h.disk, ADD_SIM_CRASH_LOSE); /* home writes lost */
	add_sector_store_close(h.store);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 9, 2), 0);
	cr_assert_eq(add_sim_disk_flip_bit(h.disk, "journal-a", 2048 + 9, 2), 0);
	open_ok(&h);
	expect(&h, 1, 2, 1);
	expect(&h, 2, 1, 1);
	add_sector_store_get_stats(h.store, &st);
	cr_assert_geq(st.corrupt_records, 1);
	cr_assert(logged(&h, "WARN", "journal-a", "both copies of its header"));
	/* settled: the next start finds a whole journal and the same data */
	crash_reopen(&h, ADD_SIM_CRASH_LOSE);
	expect(&h, 1, 2, 1);
	expect(&h, 2, 1, 1);
	teardown(&h);
}
