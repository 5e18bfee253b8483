/*
 * core/disk: the file operations the storage layer (sector store, stable
 * key-value store) needs, behind a table of function pointers in the manner
 * of SQLite's VFS. Backends:
 *   runtime-real/posix_disk.c  real files in one directory, fdatasync/fsync;
 *   runtime-sim/sim_disk.c     in-memory, keeps durable apart from written,
 *                              loses/tears unsynced data at a crash, fails a
 *                              flush on demand (used by tests and addsim).
 *
 * Names are plain file names inside the backend's one directory (no '/').
 * Errors are negative errno-style values. Synchronous calls other than the
 * flushes are expected to be fast (page cache). A flush that fails is never
 * retried by the caller as if it had worked: the storage layer treats it as
 * fatal for the process.
 */
#ifndef ADD_DISK_H
#define ADD_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*add_disk_done_fn)(void *arg, int result);

typedef struct add_disk {
	void *ctx;
	/* Opens (creating it if `create`) a file; returns a handle >= 0 or -errno. */
	int (*open)(void *ctx, const char *name, bool create);
	int (*close)(void *ctx, int h);
	/* Returns bytes read (short only at end of file) or -errno. */
	int64_t (*pread)(void *ctx, int h, void *buf, size_t len, uint64_t off);
	/* Returns len or -errno (no short writes). */
	int64_t (*pwrite)(void *ctx, int h, const void *buf, size_t len, uint64_t off);
	int (*truncate)(void *ctx, int h, uint64_t size);
	/* Current size in bytes, or -errno. */
	int64_t (*size)(void *ctx, int h);
	/* Synchronous flush of a file's data (fdatasync); 0 or -errno. */
	int (*sync)(void *ctx, int h);
	/* Asynchronous flush of a file's data: returns 0 once started (or
	 * -errno); `done(arg, result)` is called later, on the event-loop
	 * thread, never from inside this call. Covers every pwrite that returned
	 * before the call. */
	int (*sync_async)(void *ctx, int h, add_disk_done_fn done, void *arg);
	/* Atomic rename within the directory (replaces `to`). */
	int (*rename)(void *ctx, const char *from, const char *to);
	/* Removes a file; -ENOENT if missing. */
	int (*unlink)(void *ctx, const char *name);
	/* Makes creations, renames and unlinks durable (fsync of the dir). */
	int (*sync_dir)(void *ctx);
	/* Calls fn(arg, name) for every file in the directory, in any order. */
	int (*list)(void *ctx, void (*fn)(void *arg, const char *name), void *arg);
} add_disk;

#endif /* ADD_DISK_H */
