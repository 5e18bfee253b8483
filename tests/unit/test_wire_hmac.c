/*
 * core/wire HMAC-SHA256 with prepared keys: RFC 4231 known answers, agreement
 * with OpenSSL's one-shot HMAC() for both key sizes, key reuse, verification.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"
#include "wire_fixture.h"

TestSuite(wire_hmac, .init = wire_fixture_setup, .fini = wire_fixture_teardown);

static void hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int b;
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
}

Test(wire_hmac, hmac_matches_rfc4231_test_case_2)
{
	add_hmac_key k;
	uint8_t tag[32], want[32];
	const char *msg = "what do ya want for nothing?";
	cr_assert_eq(add_hmac_key_init(&k, (const uint8_t *)"Jefe", 4), 0);
	add_hmac_sign(&k, (const uint8_t *)msg, strlen(msg), tag);
	hex_to_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", want,
		     32);
	cr_assert_arr_eq(tag, want, 32);
	add_hmac_key_free(&k);
}

Test(wire_hmac, hmac_hashes_a_key_longer_than_a_block_rfc4231_test_case_6)
{
	add_hmac_key k;
	uint8_t secret[131], tag[32], want[32];
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	memset(secret, 0xaa, sizeof(secret));
	cr_assert_eq(add_hmac_key_init(&k, secret, sizeof(secret)), 0);
	add_hmac_sign(&k, (const uint8_t *)msg, strlen(msg), tag);
	hex_to_bytes("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", want,
		     32);
	cr_assert_arr_eq(tag, want, 32);
	add_hmac_key_free(&k);
}

Test(wire_hmac, hmac_matches_openssl_one_shot_for_both_key_sizes)
{
	uint8_t tag[32], want[32];
	unsigned int n;
	add_hmac_sign(&client_key, sector_a, 4096, tag);
	HMAC(EVP_sha256(), client_secret, 32, sector_a, 4096, want, &n);
	cr_assert_arr_eq(tag, want, 32);
	add_hmac_sign(&system_key, sector_a, 4096, tag);
	HMAC(EVP_sha256(), system_secret, 64, sector_a, 4096, want, &n);
	cr_assert_arr_eq(tag, want, 32);
}

Test(wire_hmac, hmac_prepared_key_gives_same_tag_when_reused)
{
	uint8_t t1[32], t2[32], other[32];
	add_hmac_sign(&client_key, sector_a, 100, t1);
	add_hmac_sign(&client_key, sector_a + 100, 3000, other);
	add_hmac_sign(&client_key, sector_a, 100, t2);
	cr_assert_arr_eq(t1, t2, 32);
	cr_assert(memcmp(t1, other, 32) != 0);
}

Test(wire_hmac, hmac_verify_accepts_own_tag_and_rejects_a_flipped_bit)
{
	uint8_t tag[32];
	add_hmac_sign(&system_key, sector_a, 4096, tag);
	cr_assert(add_hmac_verify(&system_key, sector_a, 4096, tag));
	tag[31] ^= 0x01;
	cr_assert_not(add_hmac_verify(&system_key, sector_a, 4096, tag));
}

Test(wire_hmac, hmac_verify_rejects_a_tag_of_the_other_key)
{
	uint8_t tag[32];
	add_hmac_sign(&system_key, sector_a, 56, tag);
	cr_assert_not(add_hmac_verify(&client_key, sector_a, 56, tag));
}

Test(wire_hmac, empty_key_and_empty_message_match_openssl)
{
	add_hmac_key k;
	uint8_t tag[32], want[32];
	unsigned int n;
	cr_assert_eq(add_hmac_key_init(&k, NULL, 0), 0);
	add_hmac_sign(&k, NULL, 0, tag);
	HMAC(EVP_sha256(), "", 0, (const uint8_t *)"", 0, want, &n);
	cr_assert_arr_eq(tag, want, 32);
	add_hmac_key_free(&k);
}

Test(wire_hmac, key_free_is_idempotent)
{
	add_hmac_key k;
	cr_assert_eq(add_hmac_key_init(&k, (const uint8_t *)"k", 1), 0);
	add_hmac_key_free(&k);
	cr_assert_null(k.impl);
	add_hmac_key_free(&k);
}
