/*
 * The keys and sector pattern shared by the wire tests (test_wire_codec.c,
 * test_wire_hmac.c): fixed secrets for the client (32-byte) and system
 * (64-byte) keys, prepared once per test, and a non-trivial 4 KiB sector.
 * Include once per test file; use wire_fixture_setup/teardown as the suite's
 * .init/.fini.
 */
#ifndef ADD_TEST_WIRE_FIXTURE_H
#define ADD_TEST_WIRE_FIXTURE_H

#include <criterion/criterion.h>

#include "wire.h"

static uint8_t client_secret[ADD_CLIENT_KEY_SIZE];
static uint8_t system_secret[ADD_SYSTEM_KEY_SIZE];
static add_hmac_key client_key, system_key;
static uint8_t sector_a[ADD_SECTOR_SIZE];

static void wire_fixture_setup(void)
{
	for (int i = 0; i < ADD_CLIENT_KEY_SIZE; i++)
		client_secret[i] = (uint8_t)(0xc0 + i);
	for (int i = 0; i < ADD_SYSTEM_KEY_SIZE; i++)
		system_secret[i] = (uint8_t)(0x50 + 3 * i);
	for (int i = 0; i < ADD_SECTOR_SIZE; i++)
		sector_a[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(add_hmac_key_init(&client_key, client_secret, ADD_CLIENT_KEY_SIZE), 0);
	cr_assert_eq(add_hmac_key_init(&system_key, system_secret, ADD_SYSTEM_KEY_SIZE), 0);
}

static void wire_fixture_teardown(void)
{
	add_hmac_key_free(&client_key);
	add_hmac_key_free(&system_key);
}

#endif /* ADD_TEST_WIRE_FIXTURE_H */
