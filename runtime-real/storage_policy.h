/*
 * runtime-real/storage_policy: addd's decisions about its storage that do
 * not need the event loop, kept apart so that unit tests can check them:
 *  - how much space --sectors may need, and the start-up warning when the
 *    file system has less free;
 *  - whether a storage error means "the disk is full" (the store gives
 *    one-line reasons with strerror-like text; ENOSPC reads "No space left
 *    on device");
 *  - the scrub's pace: how many written sectors to verify at each timer
 *    tick so that one whole pass takes --scrub-interval seconds.
 */
#ifndef ADD_REAL_STORAGE_POLICY_H
#define ADD_REAL_STORAGE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Upper bound on the bytes the sector store's files may take with every one
 * of `n_sectors` written (core/sector_store.h): the data file (4096 per
 * sector), meta (well under 64 bytes per sector, 4 KiB pages kept twice),
 * both journals at their largest (each up to `journal_max_bytes`, 0 = the
 * store's default of 64 MiB, plus the batch that crossed it: at most
 * `batch_stores` stores of a 4 KiB block each, and their descriptors), and
 * the superblock and headers (a constant).
 */
uint64_t add_store_space_bound(uint64_t n_sectors, uint64_t journal_max_bytes,
			       uint64_t batch_stores);

/*
 * Free space of the file system holding `dir` (statvfs, blocks available to
 * an unprivileged user) into *free_bytes. 0, or -errno with `err` naming the
 * directory, the operation and strerror.
 */
int add_dir_free_bytes(const char *dir, uint64_t *free_bytes, char *err, size_t err_len);

/* True when a storage error line says the disk (file system) is full. */
bool add_storage_error_is_disk_full(const char *why);
/* Below this much free space (statvfs) a storage error is taken to be the
 * disk filling up even when its text does not say so (e.g. "error 28"). */
#define ADD_NEARLY_FULL_BYTES (1ull << 20)
/* True when `dir`'s file system has less than ADD_NEARLY_FULL_BYTES free
 * (for an unprivileged user); false when statvfs fails. */
bool add_dir_nearly_full(const char *dir);

/* Scrub pace: a whole pass over the written sectors every interval. */
typedef struct add_scrub_pacer {
	uint64_t interval_ns; /* 0: scrub off */
	uint64_t credit;      /* sector-nanoseconds owed, below interval_ns */
} add_scrub_pacer;

/* The most sectors one tick verifies (4 MiB of reads): a tick stays short
 * even when the interval is too short for the store's size (the pass then
 * takes longer than asked). */
#define ADD_SCRUB_STEP_MAX 1024u

void add_scrub_pacer_init(add_scrub_pacer *p, uint64_t interval_s);
/* Sectors to verify now, `elapsed_ns` after the previous call, with
 * `written` sectors in the store: written * elapsed / interval, the
 * fractions carried over, at most ADD_SCRUB_STEP_MAX. 0 when off. */
size_t add_scrub_pacer_due(add_scrub_pacer *p, uint64_t written, uint64_t elapsed_ns);

#endif /* ADD_REAL_STORAGE_POLICY_H */
