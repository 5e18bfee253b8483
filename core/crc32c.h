/*
 * core/crc32c: CRC-32C (Castagnoli), in software, pure C.
 *
 * Used by the sector store and the key-value store to tell a complete record
 * from a torn or stale one. Slicing-by-8 tables (about 1.3 GB/s on one core),
 * built on first use: the core is single-threaded (io.h), and a store calls
 * add_crc32c_init() from its open function before any other thread could.
 */
#ifndef ADD_CRC32C_H
#define ADD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

void add_crc32c_init(void);

/* crc = add_crc32c(0, buf, len); chains: add_crc32c(add_crc32c(0, a, n), b, m). */
uint32_t add_crc32c(uint32_t crc, const void *buf, size_t len);

#endif /* ADD_CRC32C_H */
