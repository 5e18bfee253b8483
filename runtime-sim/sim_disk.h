/*
 * runtime-sim/sim_disk: an in-memory add_disk (core/disk.h) that models what a
 * real disk does at a power cut, for unit tests, crash tests and the simulator.
 *
 * Model:
 *  - every file (inode) keeps the image that is written (what reads see) and,
 *    apart from it, what is durable: the written image plus an undo log of the
 *    writes/truncates not yet flushed. `sync` makes a file's writes durable at
 *    once; `sync_async` only when its owner delivers the completion with
 *    add_sim_disk_complete_flushes() / add_sim_disk_complete_one(), so a
 *    simulator can delay (or, at a crash, drop) completions;
 *  - the directory (create, rename, unlink) is durable only after sync_dir;
 *  - add_sim_disk_crash(): pending completions are dropped (never delivered),
 *    every handle is closed, the directory goes back to its durable state plus
 *    a random prefix of the later directory operations, and each file either
 *    loses its unflushed writes, keeps them, or keeps a prefix of them with
 *    the last kept write torn at a 512- or 4096-byte boundary (the torn part
 *    holds its old bytes, or, in GARBAGE mode, PRNG garbage). Choices come
 *    from a seeded splitmix64 PRNG: the same seed and calls give the same disk;
 *  - add_sim_disk_fail_next_flush(): the next flush (sync, sync_async or
 *    sync_dir) reports -EIO and makes nothing durable;
 *  - a recorder for systematic crash tests: every mutating operation (create,
 *    pwrite, truncate, sync, sync_async, rename, unlink, sync_dir) gets an
 *    index 1, 2, ...; add_sim_disk_set_crash_after(d, k) lets the workload run
 *    on but keeps every operation after the k-th from reaching the durable
 *    image (its flushes never complete); add_sim_disk_crash() then gives the
 *    disk as a power cut right after operation k would have left it. A trace
 *    callback sees every operation, and the reads (open, pread, list, with
 *    the index of the last operation), to count the files a call touches.
 *
 * Files are sparse (4 KiB pages in a hash map), so a data file addressed up to
 * 2^21 sectors costs memory only for the pages written. Single-threaded.
 */
#ifndef ADD_SIM_DISK_H
#define ADD_SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"

typedef struct add_sim_disk add_sim_disk;

typedef enum add_sim_crash_mode {
	ADD_SIM_CRASH_RANDOM = 0, /* per file: lose, keep or tear, by the PRNG */
	ADD_SIM_CRASH_LOSE,	  /* every unflushed write and dir op lost */
	ADD_SIM_CRASH_KEEP,	  /* every write before the crash point kept */
	ADD_SIM_CRASH_TEAR,	  /* kept, but each file's last unflushed write torn */
	ADD_SIM_CRASH_GARBAGE,	  /* like TEAR, but the torn part holds garbage */
} add_sim_crash_mode;

add_sim_disk *add_sim_disk_create(uint64_t seed);
void add_sim_disk_destroy(add_sim_disk *d);

/* The add_disk table of this disk (valid until destroy). */
const add_disk *add_sim_disk_ops(add_sim_disk *d);

/* sync_async completions waiting to be delivered. */
size_t add_sim_disk_pending_flushes(const add_sim_disk *d);
/* Delivers the completions pending at entry, oldest first (not those started
 * by the callbacks); returns how many. */
size_t add_sim_disk_complete_flushes(add_sim_disk *d);
/* Delivers the oldest pending completion; false if none. */
bool add_sim_disk_complete_one(add_sim_disk *d);

/* Delivers the newest pending completion (a later flush that finishes
 * before the earlier ones: real disks with several flushes in flight may);
 * false if none. */
bool add_sim_disk_complete_newest(add_sim_disk *d);

/* The next flush reports -EIO (and makes nothing durable). */
void add_sim_disk_fail_next_flush(add_sim_disk *d);

/* Power cut (see above) with the disk's crash mode (default RANDOM). Handles
 * become invalid; the disk is usable again. */
void add_sim_disk_crash(add_sim_disk *d);
/* Sets the crash mode of later add_sim_disk_crash() calls. */
void add_sim_disk_set_crash_mode(add_sim_disk *d, add_sim_crash_mode mode);
/* Power cut with `mode`, which also becomes the disk's crash mode (so on a
 * fresh disk it just sets the mode). */
void add_sim_disk_crash_mode(add_sim_disk *d, add_sim_crash_mode mode);

/* Recorder. */
uint64_t add_sim_disk_op_count(const add_sim_disk *d);
/* Operations after the k-th never become durable; UINT64_MAX (the default
 * and the state after a crash) = no crash point. */
void add_sim_disk_set_crash_after(add_sim_disk *d, uint64_t k);
/* True once more than k operations were issued with a crash point k. */
bool add_sim_disk_past_crash_point(const add_sim_disk *d);
/* `name` is the file (the directory: "."); `to` is the new name of a rename,
 * else NULL. */
typedef void (*add_sim_disk_trace_fn)(void *arg, uint64_t op_index, const char *op,
				      const char *name, const char *to);
void add_sim_disk_set_trace(add_sim_disk *d, add_sim_disk_trace_fn fn, void *arg);

/* Flushes issued so far (sync + sync_async; not sync_dir). */
uint64_t add_sim_disk_flush_count(const add_sim_disk *d);
/* Bytes allocated (4 KiB pages) by the files in the written directory. */
uint64_t add_sim_disk_bytes_used(const add_sim_disk *d);
/* Files in the written directory. */
size_t add_sim_disk_file_count(const add_sim_disk *d);

/* ---- storage faults (the fault model beyond power cuts) ----
 * Latent sector errors, rot at rest, a full disk. Offsets are file offsets;
 * a fault that names a missing file or a byte past its end returns -ENOENT
 * or -EINVAL and changes nothing. */

/* preads overlapping [off, off + len) of `name` fail with -EIO until that
 * range is written again (a disk remaps a bad sector on write). */
int add_sim_disk_inject_read_error(add_sim_disk *d, const char *name, uint64_t off,
				   uint64_t len);
/* Flips bit `bit` (0..7) of the byte at `off` of `name`, in the written and
 * the durable image alike (rot at rest, survives a crash). -ENODATA, and
 * nothing changes, when `off` lies in a hole of the file (a page never
 * written reads as zeros; a flip must not allocate it). */
int add_sim_disk_flip_bit(add_sim_disk *d, const char *name, uint64_t off, unsigned bit);
/* A random fault at a random allocated byte of a random file, drawn from the
 * disk's PRNG: a bit flip, or (if `read_errors`) a 4 KiB read error. Writes
 * a one-line description ("flip data@12345 bit 3") into desc. Returns 0, or
 * -ENOENT when the disk holds no data yet. */
int add_sim_disk_rot_random(add_sim_disk *d, bool read_errors, char *desc, size_t desc_len);
/* Read errors injected and not yet cleared by a rewrite. */
size_t add_sim_disk_read_errors_active(const add_sim_disk *d);
/* Bytes the files may occupy (4 KiB pages, as add_sim_disk_bytes_used counts
 * them); a pwrite or truncate that would need more fails with -ENOSPC and
 * writes nothing (it is no operation for the recorder). A growing truncate
 * needs the pages of the whole new size, as if it were written. 0 = unlimited
 * (the default). */
void add_sim_disk_set_capacity(add_sim_disk *d, uint64_t bytes);
/* Size of the written image of `name`, or -ENOENT. */
int64_t add_sim_disk_file_size(const add_sim_disk *d, const char *name);
/* Reads `len` bytes of the written image of `name` at `off` (tests); returns
 * bytes read or -errno. Ignores injected read errors. */
int64_t add_sim_disk_peek(const add_sim_disk *d, const char *name, void *buf, size_t len,
			  uint64_t off);

#endif /* ADD_SIM_DISK_H */
