/*
 * core/crc32c: the known answer of CRC-32C, and the hardware (SSE4.2) and
 * software paths agreeing on every length, alignment and chaining.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "crc32c.h"

static uint8_t buf[4096 + 64];

static void setup(void)
{
	uint32_t x = 0x12345678u;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	add_crc32c_init();
}

TestSuite(crc32c, .init = setup);

Test(crc32c, check_value_of_123456789_is_e3069283)
{
	cr_assert_eq(add_crc32c_sw(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(add_crc32c_hw(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(add_crc32c(0, "123456789", 9), 0xe3069283u);
}

Test(crc32c, empty_input_leaves_the_crc_unchanged)
{
	cr_assert_eq(add_crc32c(0, buf, 0), 0u);
	cr_assert_eq(add_crc32c(0xdeadbeefu, buf, 0), 0xdeadbeefu);
}

Test(crc32c, hardware_and_software_agree_on_every_length_and_alignment)
{
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= 300; len++)
			cr_assert_eq(add_crc32c_hw(0, buf + off, len), add_crc32c_sw(0, buf + off, len),
				     "off %zu len %zu", off, len);
	for (size_t off = 0; off < 64; off += 7)
		cr_assert_eq(add_crc32c_hw(0, buf + off, 4096), add_crc32c_sw(0, buf + off, 4096));
}

Test(crc32c, chained_calls_equal_one_call)
{
	uint32_t whole = add_crc32c(0, buf, 4096);

	for (size_t cut = 0; cut <= 4096; cut += 333) {
		cr_assert_eq(add_crc32c(add_crc32c(0, buf, cut), buf + cut, 4096 - cut), whole);
		cr_assert_eq(add_crc32c_hw(add_crc32c_sw(0, buf, cut), buf + cut, 4096 - cut),
			     whole);
	}
}
