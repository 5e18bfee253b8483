/*
 * core/superblock: the store's on-disk identity, kept with core/kv_store (the
 * stable-storage module: one file per key, replaced atomically and durably),
 * in the store's own directory, under the key "superblock".
 *
 * Written once at creation (and again only to grow n_sectors, raise
 * ts_floor, or change the incarnation); read at every open. It says:
 *  - format_version: the on-disk layout of the sector store (a newer layout
 *    than the code knows is refused);
 *  - rank: the process this storage belongs to (a different --rank refuses);
 *  - n_sectors: how many sectors the store was sized for (grow only);
 *  - cluster_id: 16 random bytes drawn when the storage was created (the
 *    rejoin work compares them across processes);
 *  - incarnation: changes whenever this rank's storage is created anew;
 *  - ts_floor: see core/store_ops.h.
 */
#ifndef ADD_SUPERBLOCK_H
#define ADD_SUPERBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"

#define ADD_SUPERBLOCK_FORMAT 2u /* sector store layout 2: checksummed sectors */
#define ADD_CLUSTER_ID_SIZE 16

typedef struct add_superblock {
	uint32_t format_version;
	uint8_t rank;
	uint64_t n_sectors;
	uint8_t cluster_id[ADD_CLUSTER_ID_SIZE];
	uint64_t incarnation;
	uint64_t ts_floor;
} add_superblock;

/* 0 and *out filled; -ENOENT when the directory holds no superblock;
 * -EBADMSG when it exists but is corrupt or of an unknown version; other
 * -errno for I/O errors. `err` gets a one-line reason on failure. */
int add_superblock_read(const add_disk *disk, add_superblock *out, char *err, size_t err_len);
/* Writes it atomically and durably (returns only once it is on disk).
 * 0 or -errno, with `err` a one-line reason naming the operation. */
int add_superblock_write(const add_disk *disk, const add_superblock *sb, char *err,
			 size_t err_len);
/* True if `name` is one of the files the superblock's kv_store uses (so a
 * check for "a partial store" knows what belongs to it). */
bool add_superblock_owns_file(const char *name);

#endif /* ADD_SUPERBLOCK_H */
