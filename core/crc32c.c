/* core/crc32c: CRC-32C, the SSE4.2 crc32 instruction when the CPU has it,
 * else table-driven slicing by 8 (see crc32c.h). */
#include "crc32c.h"

#include <stdbool.h>

#define CRC32C_POLY_REFLECTED 0x82f63b78u

static uint32_t crc_table[8][256];
static bool crc_ready;
static bool crc_hw; /* chosen once, in add_crc32c_init() */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ADD_CRC32C_HAVE_HW 1
/* The crc32 instruction computes exactly CRC-32C (reflected, polynomial
 * 0x1EDC6F41) without the initial and final inversion, like the tables.
 * Built-ins rather than <nmmintrin.h>: core/ includes only pure libc headers,
 * and the target attribute keeps the rest of the core baseline x86-64. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
							     size_t len)
{
	uint64_t c = crc;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		__builtin_memcpy(&v, p, 8); /* x86 is little-endian, like the tables */
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static bool cpu_has_sse42(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}
#else
#define ADD_CRC32C_HAVE_HW 0
#endif

void add_crc32c_init(void)
{
	if (crc_ready)
		return;
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
#if ADD_CRC32C_HAVE_HW
	crc_hw = cpu_has_sse42();
#endif
	crc_ready = true;
}

bool add_crc32c_hw_available(void)
{
	if (!crc_ready)
		add_crc32c_init();
	return crc_hw;
}

uint32_t add_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_ready)
		add_crc32c_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo, hi;

		/* Explicit little-endian loads: portable, and compilers fuse them. */
		lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
		hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		     (uint32_t)p[7] << 24;
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

uint32_t add_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#if ADD_CRC32C_HAVE_HW
	if (add_crc32c_hw_available())
		return ~crc32c_hw(~crc, buf, len);
#endif
	return add_crc32c_sw(crc, buf, len);
}

uint32_t add_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (!crc_ready)
		add_crc32c_init();
#if ADD_CRC32C_HAVE_HW
	if (crc_hw)
		return ~crc32c_hw(~crc, buf, len);
#endif
	return add_crc32c_sw(crc, buf, len);
}
