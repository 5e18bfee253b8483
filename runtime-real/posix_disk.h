/*
 * runtime-real/posix_disk: the add_disk (core/disk.h) of real files in one
 * directory, for addd, tests and benchmarks.
 *
 *  - files opened with O_CLOEXEC relative to a directory fd (openat); a
 *    handle is the file descriptor; pread/pwrite loop over short transfers
 *    and EINTR; sync = fdatasync; sync_dir = fsync of the directory;
 *  - sync_async: fdatasync on dedicated flush threads (two, so a long flush
 *    of one file, e.g. a checkpoint's data, does not delay a short one of
 *    another, e.g. a journal), fed by a bounded queue
 *    (ADD_POSIX_DISK_FLUSHES_MAX; beyond it sync_async returns -EBUSY).
 *    Requests queued together for one file share one fdatasync. Completions
 *    (in completion order, not submission order across files) are reported
 *    through an eventfd: the event loop polls
 *    add_posix_disk_event_fd() for readability and then calls
 *    add_posix_disk_dispatch(), which runs the done callbacks on the loop
 *    thread. A failed fdatasync is reported as -errno
 *    (the storage layer makes it fatal; it is never retried as if it worked);
 *  - a handle must not be closed while a flush of it is queued;
 *  - errors are -errno as the system call gave it (a full disk is -ENOSPC or
 *    -EDQUOT, never a generic -EIO). Each one is also logged (add_log: WARN,
 *    ERROR for a failed flush) as one line naming the operation, the file's
 *    path and strerror, and kept for add_posix_disk_last_error(); a failed
 *    sync_async is logged when add_posix_disk_dispatch() delivers it. Not
 *    logged: -ENOENT from open without create and from unlink (questions the
 *    storage layer asks), and -EINVAL for a bad name.
 * Every function but the flush threads' work runs on the loop thread.
 */
#ifndef ADD_POSIX_DISK_H
#define ADD_POSIX_DISK_H

#include <stddef.h>

#include "disk.h"
#include "histogram.h"

#define ADD_POSIX_DISK_FLUSHES_MAX 256
#define ADD_POSIX_DISK_ERROR_MAX 512

typedef struct add_posix_disk add_posix_disk;

/* Opens `dir` (creating it, mode 0700, if missing) and starts the flush
 * thread. NULL and a one-line reason in `err` on failure. */
add_posix_disk *add_posix_disk_open(const char *dir, char *err, size_t err_len);
/* Waits for queued flushes to finish (their callbacks are not run), stops the
 * thread, closes the directory. Files still open stay open (their owner
 * closes them first). */
void add_posix_disk_close(add_posix_disk *d);

const add_disk *add_posix_disk_ops(add_posix_disk *d);

/* Readable when completions wait for add_posix_disk_dispatch(). */
int add_posix_disk_event_fd(const add_posix_disk *d);
/* Runs the done callbacks of the finished flushes; returns how many. Never
 * blocks. Callbacks may start new flushes (they complete in a later call). */
size_t add_posix_disk_dispatch(add_posix_disk *d);
/* Flushes started and not yet dispatched. */
size_t add_posix_disk_pending(const add_posix_disk *d);
/* The last error reported, e.g. "fdatasync /var/lib/add/journal-a:
 * Input/output error"; "" if none yet. Loop thread. */
const char *add_posix_disk_last_error(const add_posix_disk *d);
/* Latency of every fdatasync so far (flush threads and sync()). Any thread. */
void add_posix_disk_sync_latency(const add_posix_disk *d, add_hist_snap *out);

#endif /* ADD_POSIX_DISK_H */
