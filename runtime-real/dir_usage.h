/*
 * runtime-real/dir_usage: what a storage directory occupies on disk, and the
 * bound the sector store promises for it (core/sector_store.h).
 */
#ifndef ADD_REAL_DIR_USAGE_H
#define ADD_REAL_DIR_USAGE_H

#include <stdint.h>

/* Bytes allocated (st_blocks x 512) by the regular files directly in dir;
 * -errno when the directory cannot be read. */
int64_t add_dir_disk_bytes(const char *dir);

/* 1.1 x written x 4096, plus both journals at their checkpoint threshold
 * (journal_max_bytes, 0 = the store's default of 64 MiB) and 1 MiB of
 * headers and small files: what the directory may hold at most while busy. */
uint64_t add_disk_bound_bytes(uint64_t sectors_written, uint64_t journal_max_bytes);

#endif /* ADD_REAL_DIR_USAGE_H */
