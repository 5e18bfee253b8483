/*
 * core/crc32c: CRC-32C (Castagnoli), pure C.
 *
 * Used by the sector store and the key-value store to tell a complete record
 * from a torn or stale one. On x86-64 CPUs with SSE4.2 the crc32 instruction
 * is used (about 8 bytes per cycle-ish, several times the tables); elsewhere,
 * slicing-by-8 tables (about 1.3 GB/s on one core). The choice and the tables
 * are made once, on first use: the core is single-threaded (io.h), and a
 * store calls add_crc32c_init() from its open function before any other
 * thread could. Both paths compute the same function (tests/unit/test_crc32c.c).
 */
#ifndef ADD_CRC32C_H
#define ADD_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void add_crc32c_init(void);

/* crc = add_crc32c(0, buf, len); chains: add_crc32c(add_crc32c(0, a, n), b, m). */
uint32_t add_crc32c(uint32_t crc, const void *buf, size_t len);

/* For tests and benchmarks: the software path always; the hardware path
 * (falls back to software when the CPU lacks it); whether it has it. */
uint32_t add_crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t add_crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool add_crc32c_hw_available(void);

#endif /* ADD_CRC32C_H */
