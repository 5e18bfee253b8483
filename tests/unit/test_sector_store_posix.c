/*
 * The sector store on real files (the POSIX disk in a temporary directory):
 * space once idle, measured as allocated blocks, and a reopen.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime-real/posix_disk.h"
#include "sector_store.h"

#define N_SECTORS (1ull << 21)

typedef struct fixture {
	char dir[64];
	add_posix_disk *pd;
	add_sector_store *store;
	uint64_t n_durable;
	int fatal;
} fixture;

static void on_durable(void *arg, uint64_t cookie)
{
	fixture *f = arg;

	(void)cookie;
	f->n_durable++;
}

static void on_fatal(void *arg, const char *why)
{
	fixture *f = arg;

	(void)why;
	f->fatal++;
}

static void open_store(fixture *f)
{
	char err[256] = "";
	add_sector_store_config cfg = {
		.disk = add_posix_disk_ops(f->pd),
		.n_sectors = N_SECTORS,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.arg = f,
	};

	f->store = add_sector_store_open(&cfg, err, sizeof(err));
	cr_assert_not_null(f->store, "%s", err);
}

static void setup(fixture *f)
{
	char err[256] = "";

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/add-store-XXXXXX");
	cr_assert_not_null(mkdtemp(f->dir));
	f->pd = add_posix_disk_open(f->dir, err, sizeof(err));
	cr_assert_not_null(f->pd, "%s", err);
	open_store(f);
}

static void remove_cb(void *arg, const char *name)
{
	fixture *f = arg;
	const add_disk *d = add_posix_disk_ops(f->pd);

	d->unlink(d->ctx, name);
}

static void teardown(fixture *f)
{
	const add_disk *d = add_posix_disk_ops(f->pd);

	add_sector_store_close(f->store);
	d->list(d->ctx, remove_cb, f);
	add_posix_disk_close(f->pd);
	rmdir(f->dir);
}

/* The event loop in miniature: kick, wait for the eventfd, dispatch. */
static void drain(fixture *f)
{
	for (int i = 0; i < 100000; i++) {
		add_sector_store_kick(f->store);
		if (add_sector_store_idle(f->store) && add_posix_disk_pending(f->pd) == 0)
			return;
		struct pollfd p = { .fd = add_posix_disk_event_fd(f->pd), .events = POLLIN };

		cr_assert_geq(poll(&p, 1, 10000), 0);
		add_posix_disk_dispatch(f->pd);
	}
	cr_assert_fail("did not drain");
}

static uint64_t allocated_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t sum = 0;
	char path[512];
	struct stat st;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.' && stat(path, &st) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

Test(sector_store_posix, disk_space_once_idle_is_within_1_1_times_the_written_sectors)
{
	fixture f;
	uint8_t buf[ADD_SECTOR_SIZE];
	const uint64_t n = 4096;
	const add_store_ops *ops = add_sector_store_ops();

	setup(&f);
	for (uint64_t i = 0; i < n; i++) {
		memset(buf, (int)(i & 0xff) | 1, sizeof(buf));
		/* spread over the whole 2^21-sector device */
		cr_assert_eq(ops->store(f.store, (i * 2654435761u) % N_SECTORS, 1, 1, buf, i), 0);
		if (i % 1024 == 1023)
			drain(&f);
	}
	drain(&f);
	cr_assert_eq(f.n_durable, n);
	cr_assert_eq(add_sector_store_written(f.store), n);
	uint64_t before = allocated_bytes(f.dir);

	cr_assert(add_sector_store_checkpoint(f.store));
	drain(&f);
	uint64_t after = allocated_bytes(f.dir);
	uint64_t bound = n * ADD_SECTOR_SIZE * 11 / 10 + 1024 * 1024;

	printf("sector store space: %llu sectors written: %llu bytes allocated while the journal "
	       "holds them, %llu once idle (%.3f x the data; bound %llu)\n",
	       (unsigned long long)n, (unsigned long long)before, (unsigned long long)after,
	       (double)after / (double)(n * ADD_SECTOR_SIZE), (unsigned long long)bound);
	cr_assert_leq(after, bound);
	cr_assert_eq(f.fatal, 0);
	teardown(&f);
}

Test(sector_store_posix, stores_survive_a_close_and_reopen_on_real_files)
{
	fixture f;
	uint8_t buf[ADD_SECTOR_SIZE], out[ADD_SECTOR_SIZE];
	const add_store_ops *ops = add_sector_store_ops();
	uint64_t ts;
	uint8_t wr;

	setup(&f);
	for (uint64_t i = 0; i < 64; i++) {
		memset(buf, (int)i + 1, sizeof(buf));
		cr_assert_eq(ops->store(f.store, i * 1000, i + 1, 2, buf, i), 0);
	}
	drain(&f);
	add_sector_store_close(f.store);
	open_store(&f);
	for (uint64_t i = 0; i < 64; i++) {
		memset(buf, (int)i + 1, sizeof(buf));
		ops->get_meta(f.store, i * 1000, &ts, &wr);
		cr_assert_eq(ts, i + 1);
		cr_assert_eq(wr, 2);
		cr_assert_eq(ops->read_data(f.store, i * 1000, out), 0);
		cr_assert_arr_eq(out, buf, sizeof(buf));
	}
	teardown(&f);
}
