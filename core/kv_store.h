/*
 * core/kv_store: the stable key-value store of the stable-storage seed, over
 * an add_disk directory, plus an atomic multi-key commit.
 *
 * Guarantees: put/remove/commit are atomic and durable when they return 0
 * (also across an OS crash); a get sees the last one; keys 0..255 bytes
 * (the empty key is a key), values 0..65535 bytes; an invalid argument is an
 * error that changes nothing. Time and files touched per operation do not
 * depend on the number of keys, nor does recovery; no key or value is kept
 * in memory (so there is nothing to rebuild at open).
 *
 * Design, and why: one file per key, named "v" + hex(SHA-256(key)), so a key
 * finds its file without any index (the seed allows assuming no SHA-256
 * collisions; the key is stored in the file and checked anyway). The file
 * holds a checksummed header, the key and the value.
 *  - put: the new file is written whole to "tmp", flushed, renamed over
 *    "v<hash>", and the directory flushed. rename is atomic, so after a crash
 *    the key has the old file or the new one; "tmp" is data-flushed before
 *    the rename can become durable, so the new file is never partial.
 *    Two flushes (file, directory), three names touched.
 *  - remove: unlink "v<hash>" and flush the directory.
 *  - commit (several puts/removes, all or nothing): the whole intent (every
 *    new value) is written to "txn.tmp", flushed, and renamed to "txn": that
 *    rename, once the directory is flushed, is the commit point. Then every
 *    operation is applied as above (put via "tmp") and "txn" is removed. If a
 *    crash interrupts it, open finds "txn" and applies it again (applying is
 *    idempotent); a "txn.tmp" without "txn" was never committed: discarded.
 *    Cost O(operations in the commit).
 *  - open (recovery): unlink "tmp" and "txn.tmp", finish "txn" if present.
 * A log-structured store would batch better, but needs compaction and an
 * index rebuilt at open (O(keys)); the seed asks for O(1) files and time.
 *
 * Errors are negative errno values. A failed flush or write leaves what is on
 * disk consistent (old or new), but the store then refuses every call with
 * -EIO: the process must stop (a failed fsync cannot be retried safely).
 * Single-threaded; one store per directory.
 */
#ifndef ADD_KV_STORE_H
#define ADD_KV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"

#define ADD_KV_KEY_MAX 255
#define ADD_KV_VALUE_MAX 65535
/* Bounds of one multi-key commit. */
#define ADD_KV_COMMIT_OPS_MAX 64
#define ADD_KV_COMMIT_BYTES_MAX (1u << 20) /* keys + values */

typedef struct add_kv add_kv;

/* Opens the store in the disk's directory, finishing or discarding what a
 * crash interrupted. NULL (and a one-line reason) on failure. */
add_kv *add_kv_open(const add_disk *disk, char *err, size_t err_len);
void add_kv_close(add_kv *kv);

/* 0; -ENAMETOOLONG (key > 255), -EFBIG (value > 65535), -EINVAL (NULL with a
 * nonzero length), -EIO (disk failure: stop). */
int add_kv_put(add_kv *kv, const void *key, size_t key_len, const void *value,
	       size_t value_len);

/* 0 and the value in out[0..*value_len) (out must hold ADD_KV_VALUE_MAX bytes,
 * or at least the value); -ENOENT if absent; -ENOSPC if out_cap is too small
 * (*value_len tells the size); -ENAMETOOLONG, -EINVAL; -EBADMSG (the key's
 * file is corrupt: damage at rest); -EIO or another -errno (the disk failed
 * to read it). */
int add_kv_get(add_kv *kv, const void *key, size_t key_len, void *out, size_t out_cap,
	       size_t *value_len);

/* 1 if the key was removed, 0 if it was not there; or -errno. */
int add_kv_remove(add_kv *kv, const void *key, size_t key_len);

typedef struct add_kv_op {
	bool remove; /* else put */
	const void *key;
	size_t key_len;
	const void *value; /* put only */
	size_t value_len;
} add_kv_op;

/* Applies every op, in order, atomically: after a crash either all or none.
 * Every op is validated first (then -ENAMETOOLONG/-EFBIG/-EINVAL, or -E2BIG
 * beyond ADD_KV_COMMIT_OPS_MAX / ADD_KV_COMMIT_BYTES_MAX, changes nothing).
 * Removing a missing key in a commit is not an error. */
int add_kv_commit(add_kv *kv, const add_kv_op *ops, size_t n_ops);

#endif /* ADD_KV_STORE_H */
