/* runtime-real/storage_policy: see storage_policy.h. */
#include "storage_policy.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include "mutants.h"

#define SECTOR_BYTES 4096ull
/* Meta per written sector, rounded up generously (an entry is a few tens of
 * bytes; its pages are kept in two copies). */
#define META_BYTES_PER_SECTOR 64ull
#define JOURNAL_DEFAULT_BYTES (64ull << 20)
/* Superblock, journal headers, the lock file: a few KiB; 1 MiB of margin. */
#define FIXED_BYTES (1ull << 20)
/* A journal record: its data block, and its share of the descriptor and
 * trailer blocks of a chunk (169 records per chunk): rounded up. */
#define RECORD_BYTES (4096ull + 64)
/* Elapsed time counted per call at most: keeps the product below 2^64
 * (2^21 sectors x 10^10 ns) and a long stall from asking for a burst. */
#define ELAPSED_MAX_NS (10ull * 1000 * 1000 * 1000)

uint64_t add_store_space_bound(uint64_t n_sectors, uint64_t journal_max_bytes,
			       uint64_t batch_stores)
{
	uint64_t j = journal_max_bytes ? journal_max_bytes : JOURNAL_DEFAULT_BYTES;
	uint64_t journals = 2 * (j + batch_stores * RECORD_BYTES + 2 * 4096);
	uint64_t bound;

	if (ADD_MUTANT_ON(ADD_MUTANT_SPACE_BOUND_DATA_ONLY))
		journals = 0;
	bound = n_sectors * (SECTOR_BYTES + META_BYTES_PER_SECTOR) + journals + FIXED_BYTES;
	assert(bound >= n_sectors * SECTOR_BYTES);
	return bound;
}

int add_dir_free_bytes(const char *dir, uint64_t *free_bytes, char *err, size_t err_len)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) != 0) {
		int e = errno;
		snprintf(err, err_len, "statvfs '%s': %s", dir, strerror(e));
		return -e;
	}
	*free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}

bool add_storage_error_is_disk_full(const char *why)
{
	static const char *const words[] = {"No space left on device", "ENOSPC", "disk full",
					    "Disk quota exceeded"};

	if (why == NULL)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(why, words[i]) != NULL)
			return true;
	return false;
}

bool add_dir_nearly_full(const char *dir)
{
	uint64_t free_b = 0;
	char err[64];

	return add_dir_free_bytes(dir, &free_b, err, sizeof(err)) == 0 &&
	       free_b < ADD_NEARLY_FULL_BYTES;
}

void add_scrub_pacer_init(add_scrub_pacer *p, uint64_t interval_s)
{
	p->interval_ns = interval_s * 1000000000ull;
	p->credit = 0;
}

size_t add_scrub_pacer_due(add_scrub_pacer *p, uint64_t written, uint64_t elapsed_ns)
{
	uint64_t due;

	if (p->interval_ns == 0 || written == 0)
		return 0;
	if (elapsed_ns > ELAPSED_MAX_NS)
		elapsed_ns = ELAPSED_MAX_NS;
	assert(p->credit < p->interval_ns);
	p->credit += written * elapsed_ns;
	due = p->credit / p->interval_ns;
	p->credit %= p->interval_ns;
	/* What is beyond the step bound is not carried: a backlog would only
	 * turn into bursts. */
	return due > ADD_SCRUB_STEP_MAX ? ADD_SCRUB_STEP_MAX : (size_t)due;
}
