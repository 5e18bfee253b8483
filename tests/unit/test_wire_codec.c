/*
 * core/wire encoders and single-message decoding, checked against byte
 * vectors built by hand from the tables of PROTOCOL.md (literal offsets,
 * big-endian), with tags computed independently by OpenSSL's one-shot HMAC().
 */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"
#include "wire_fixture.h"

TestSuite(wire_codec, .init = wire_fixture_setup, .fini = wire_fixture_teardown);

/* ---- helpers --------------------------------------------------------------- */

static void put_be64_literal(uint8_t *p, uint64_t v)
{
	/* written independently of add_put_be64 on purpose */
	p[0] = (uint8_t)(v >> 56);
	p[1] = (uint8_t)(v >> 48);
	p[2] = (uint8_t)(v >> 40);
	p[3] = (uint8_t)(v >> 32);
	p[4] = (uint8_t)(v >> 24);
	p[5] = (uint8_t)(v >> 16);
	p[6] = (uint8_t)(v >> 8);
	p[7] = (uint8_t)v;
}

/* Appends HMAC-SHA256(secret, msg[0..size-32)) at msg[size-32..size). */
static void openssl_sign(const uint8_t *secret, int secret_len, uint8_t *msg, size_t size)
{
	unsigned int n = 0;
	cr_assert_not_null(HMAC(EVP_sha256(), secret, secret_len, msg, size - 32,
				msg + size - 32, &n));
	cr_assert_eq(n, 32);
}

static void expect_magic(uint8_t *p)
{
	p[0] = 'a';
	p[1] = 't';
	p[2] = 'd';
	p[3] = 'd';
}

static const uint8_t uuid_a[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

/* Decodes one whole message fed in one piece; asserts nothing else comes. */
static add_wire_msg decode_one(add_wire_decoder *dec, const uint8_t *p, size_t size)
{
	add_wire_msg m;
	size_t n = add_wire_decoder_feed(dec, p, size, &m);
	cr_assert_eq(n, size, "consumed %zu of %zu", n, size);
	cr_assert_neq(m.kind, ADD_WIRE_NONE);
	return m;
}

static add_wire_msg decode_process(const uint8_t *p, size_t size)
{
	static add_wire_decoder dec;
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_PROCESS, &client_key, &system_key);
	return decode_one(&dec, p, size);
}

static add_wire_msg decode_client(const uint8_t *p, size_t size)
{
	static add_wire_decoder dec;
	add_wire_decoder_init(&dec, ADD_WIRE_MODE_CLIENT, &client_key, NULL);
	return decode_one(&dec, p, size);
}

/* ---- sizes ----------------------------------------------------------------- */

Test(wire_codec, sizes_match_protocol_tables)
{
	cr_assert_eq(add_wire_cmd_size(0x01), 56);
	cr_assert_eq(add_wire_cmd_size(0x02), 4152);
	cr_assert_eq(add_wire_cmd_size(0x03), 0);
	cr_assert_eq(add_wire_rsp_size(0x41, 0), 4144);
	cr_assert_eq(add_wire_rsp_size(0x41, 1), 48);
	cr_assert_eq(add_wire_rsp_size(0x41, 2), 48);
	cr_assert_eq(add_wire_rsp_size(0x42, 0), 48);
	cr_assert_eq(add_wire_rsp_size(0x42, 1), 48);
	cr_assert_eq(add_wire_rsp_size(0x42, 2), 48);
	cr_assert_eq(add_wire_rsp_size(0x01, 0), 0);
	cr_assert_eq(add_wire_peer_size(0x03), 64);
	cr_assert_eq(add_wire_peer_size(0x04), 4176);
	cr_assert_eq(add_wire_peer_size(0x05), 4176);
	cr_assert_eq(add_wire_peer_size(0x06), 64);
	for (int t = 0x43; t <= 0x46; t++)
		cr_assert_eq(add_wire_peer_size((uint8_t)t), 56);
	cr_assert_eq(add_wire_peer_size(0x01), 0);
	cr_assert_eq(add_wire_peer_size(0x07), 0);
	cr_assert_eq(add_wire_peer_size(0x47), 0);
	/* the project's own: READ_PROC_META, VALUE_META; no transport acks */
	cr_assert_eq(add_wire_peer_size(0x80), 64);
	cr_assert_eq(add_wire_peer_size(0x81), 80);
	cr_assert_eq(add_wire_peer_size(0x82), 0);
	cr_assert_eq(add_wire_peer_size(0xc0), 0);
	cr_assert_eq(add_wire_peer_size(0xc1), 0);
	cr_assert_eq(add_wire_cmd_size(0x80), 0);
	cr_assert_eq(add_wire_rsp_size(0x81, 0), 0);
	cr_assert_eq(ADD_WIRE_MSG_SIZE_MAX, 4176);
}

/* ---- client commands ---------------------------------------------------------- */

static void build_cmd(uint8_t *exp, uint8_t type, const uint8_t pad[3], uint64_t req,
		      uint64_t sector, const uint8_t *data, size_t size)
{
	memset(exp, 0xEE, size);
	expect_magic(exp);
	exp[4] = pad[0];
	exp[5] = pad[1];
	exp[6] = pad[2];
	exp[7] = type;
	put_be64_literal(exp + 8, req);
	put_be64_literal(exp + 16, sector);
	if (data != NULL)
		memcpy(exp + 24, data, 4096);
	openssl_sign(client_secret, 32, exp, size);
}

Test(wire_codec, read_command_encodes_to_56_bytes_of_the_table)
{
	const uint8_t pad[3] = { 0, 0, 0 };
	uint8_t exp[56], out[56];
	build_cmd(exp, 0x01, pad, 0x0102030405060708ull, 0x1122334455667788ull, NULL, 56);
	add_client_cmd c = { .type = ADD_TYPE_READ, .request = 0x0102030405060708ull,
			     .sector = 0x1122334455667788ull };
	cr_assert_eq(add_wire_encode_cmd(&c, &client_key, out), 56);
	cr_assert_arr_eq(out, exp, 56);
}

Test(wire_codec, write_command_encodes_to_4152_bytes_with_padding_as_given)
{
	const uint8_t pad[3] = { 0xde, 0xad, 0x01 };
	static uint8_t exp[4152], out[4152];
	build_cmd(exp, 0x02, pad, 42, 7, sector_a, 4152);
	add_client_cmd c = { .type = ADD_TYPE_WRITE, .padding = { 0xde, 0xad, 0x01 },
			     .request = 42, .sector = 7, .data = sector_a };
	cr_assert_eq(add_wire_encode_cmd(&c, &client_key, out), 4152);
	cr_assert_arr_eq(out, exp, 4152);
}

Test(wire_codec, read_command_decodes_from_the_table)
{
	const uint8_t pad[3] = { 0, 0, 0 };
	uint8_t exp[56];
	build_cmd(exp, 0x01, pad, 0xfedcba9876543210ull, 5, NULL, 56);
	add_wire_msg m = decode_process(exp, 56);
	cr_assert_eq(m.kind, ADD_WIRE_CMD);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.cmd.type, 0x01);
	cr_assert_eq(m.cmd.request, 0xfedcba9876543210ull);
	cr_assert_eq(m.cmd.sector, 5);
	cr_assert_null(m.cmd.data);
}

Test(wire_codec, write_command_with_nonzero_padding_verifies_and_decodes)
{
	const uint8_t pad[3] = { 0x13, 0x37, 0xff };
	static uint8_t exp[4152];
	build_cmd(exp, 0x02, pad, 9, (1ull << 21) - 1, sector_a, 4152);
	add_wire_msg m = decode_process(exp, 4152);
	cr_assert_eq(m.kind, ADD_WIRE_CMD);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.cmd.type, 0x02);
	cr_assert_arr_eq(m.cmd.padding, pad, 3);
	cr_assert_eq(m.cmd.request, 9);
	cr_assert_eq(m.cmd.sector, (1ull << 21) - 1);
	cr_assert_eq(m.cmd.data, exp + 24, "zero-copy: data points into the input");
	cr_assert_arr_eq(m.cmd.data, sector_a, 4096);
}

Test(wire_codec, command_signed_with_the_system_key_fails_verification)
{
	const uint8_t pad[3] = { 0, 0, 0 };
	uint8_t exp[56];
	build_cmd(exp, 0x01, pad, 1, 2, NULL, 56);
	openssl_sign(system_secret, 64, exp, 56);
	add_wire_msg m = decode_process(exp, 56);
	cr_assert_eq(m.kind, ADD_WIRE_CMD);
	cr_assert_not(m.hmac_ok);
	cr_assert_eq(m.cmd.request, 1, "fields are still decoded");
}

Test(wire_codec, command_encoder_rejects_unknown_type_and_write_without_data)
{
	uint8_t out[4176];
	add_client_cmd c = { .type = 0x03 };
	cr_assert_eq(add_wire_encode_cmd(&c, &client_key, out), 0);
	c.type = ADD_TYPE_WRITE;
	c.data = NULL;
	cr_assert_eq(add_wire_encode_cmd(&c, &client_key, out), 0);
}

/* ---- responses ------------------------------------------------------------------ */

static void build_rsp(uint8_t *exp, uint8_t type, uint8_t status, uint64_t req,
		      const uint8_t *data, size_t size)
{
	memset(exp, 0xEE, size);
	expect_magic(exp);
	exp[4] = 0;
	exp[5] = 0;
	exp[6] = status;
	exp[7] = type;
	put_be64_literal(exp + 8, req);
	if (data != NULL)
		memcpy(exp + 16, data, 4096);
	openssl_sign(client_secret, 32, exp, size);
}

Test(wire_codec, read_response_ok_encodes_to_4144_bytes_of_the_table)
{
	static uint8_t exp[4144], out[4144];
	build_rsp(exp, 0x41, 0, 0xa1a2a3a4a5a6a7a8ull, sector_a, 4144);
	add_client_rsp r = { .type = 0x41, .status = 0, .request = 0xa1a2a3a4a5a6a7a8ull,
			     .data = sector_a };
	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, out), 4144);
	cr_assert_arr_eq(out, exp, 4144);
}

Test(wire_codec, write_response_ok_encodes_to_48_bytes_of_the_table)
{
	uint8_t exp[48], out[48];
	build_rsp(exp, 0x42, 0, 77, NULL, 48);
	add_client_rsp r = { .type = 0x42, .status = 0, .request = 77 };
	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, out), 48);
	cr_assert_arr_eq(out, exp, 48);
}

Test(wire_codec, failed_responses_encode_to_48_bytes_with_empty_content)
{
	for (uint8_t type = 0x41; type <= 0x42; type++) {
		for (uint8_t status = 1; status <= 2; status++) {
			uint8_t exp[48], out[4144];
			build_rsp(exp, type, status, 1000 + status, NULL, 48);
			/* data given must be ignored: a failure has no content */
			add_client_rsp r = { .type = type, .status = status,
					     .request = 1000 + status, .data = sector_a };
			cr_assert_eq(add_wire_encode_rsp(&r, &client_key, out), 48);
			cr_assert_arr_eq(out, exp, 48, "type %#x status %u", type, status);
		}
	}
}

Test(wire_codec, response_encoder_rejects_bad_type_unknown_status_and_missing_data)
{
	uint8_t out[4144];
	add_client_rsp r = { .type = 0x43, .status = 0 };
	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, out), 0);
	r.type = 0x42;
	r.status = 3;
	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, out), 0);
	r.type = 0x41;
	r.status = 0;
	r.data = NULL;
	cr_assert_eq(add_wire_encode_rsp(&r, &client_key, out), 0);
}

Test(wire_codec, read_response_ok_decodes_from_the_table)
{
	static uint8_t exp[4144];
	build_rsp(exp, 0x41, 0, 3, sector_a, 4144);
	add_wire_msg m = decode_client(exp, 4144);
	cr_assert_eq(m.kind, ADD_WIRE_RSP);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.rsp.type, 0x41);
	cr_assert_eq(m.rsp.status, 0);
	cr_assert_eq(m.rsp.request, 3);
	cr_assert_arr_eq(m.rsp.data, sector_a, 4096);
}

Test(wire_codec, every_failed_response_decodes_as_48_bytes_without_data)
{
	for (uint8_t type = 0x41; type <= 0x42; type++) {
		for (uint8_t status = 0; status <= 2; status++) {
			if (type == 0x41 && status == 0)
				continue;
			uint8_t exp[48];
			build_rsp(exp, type, status, 0x8000000000000001ull, NULL, 48);
			add_wire_msg m = decode_client(exp, 48);
			cr_assert_eq(m.kind, ADD_WIRE_RSP);
			cr_assert(m.hmac_ok);
			cr_assert_eq(m.rsp.type, type);
			cr_assert_eq(m.rsp.status, status);
			cr_assert_eq(m.rsp.request, 0x8000000000000001ull);
			cr_assert_null(m.rsp.data);
		}
	}
}

Test(wire_codec, response_with_unknown_status_decodes_as_48_bytes_for_the_caller)
{
	uint8_t exp[48];
	build_rsp(exp, 0x41, 0x09, 5, NULL, 48);
	add_wire_msg m = decode_client(exp, 48);
	cr_assert_eq(m.kind, ADD_WIRE_RSP);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.rsp.status, 0x09);
	cr_assert_null(m.rsp.data);
}

Test(wire_codec, response_signed_with_the_system_key_fails_verification)
{
	uint8_t exp[48];
	build_rsp(exp, 0x42, 0, 5, NULL, 48);
	openssl_sign(system_secret, 64, exp, 48);
	add_wire_msg m = decode_client(exp, 48);
	cr_assert_eq(m.kind, ADD_WIRE_RSP);
	cr_assert_not(m.hmac_ok);
}

/* ---- internal messages ------------------------------------------------------------- */

static void build_peer(uint8_t *exp, uint8_t type, uint8_t rank, uint64_t sector,
		       uint64_t ts, uint8_t wr, const uint8_t *data, size_t size)
{
	memset(exp, 0xEE, size);
	expect_magic(exp);
	exp[4] = 0;
	exp[5] = 0;
	exp[6] = rank;
	exp[7] = type;
	memcpy(exp + 8, uuid_a, 16);
	put_be64_literal(exp + 24, sector);
	if (size == 4176) {
		put_be64_literal(exp + 32, ts);
		memset(exp + 40, 0, 7);
		exp[47] = wr;
		memcpy(exp + 48, data, 4096);
	}
	openssl_sign(system_secret, 64, exp, size);
}

static void check_small_peer(uint8_t type)
{
	uint8_t exp[64], out[64];
	build_peer(exp, type, 3, 0x0000000000123456ull, 0, 0, NULL, 64);
	add_peer_msg p = { .type = type, .rank = 3, .sector = 0x123456 };
	memcpy(p.uuid, uuid_a, 16);
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 64);
	cr_assert_arr_eq(out, exp, 64, "type %#x", type);

	add_wire_msg m = decode_process(exp, 64);
	cr_assert_eq(m.kind, ADD_WIRE_PEER);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.peer.type, type);
	cr_assert_eq(m.peer.rank, 3);
	cr_assert_arr_eq(m.peer.uuid, uuid_a, 16);
	cr_assert_eq(m.peer.sector, 0x123456);
	cr_assert_null(m.peer.data);
}

Test(wire_codec, read_proc_encodes_and_decodes_as_64_bytes_of_the_table)
{
	check_small_peer(0x03);
}

Test(wire_codec, ack_encodes_and_decodes_as_64_bytes_of_the_table)
{
	check_small_peer(0x06);
}

Test(wire_codec, read_proc_meta_encodes_and_decodes_as_64_bytes_like_read_proc)
{
	check_small_peer(0x80);
}

Test(wire_codec, value_meta_encodes_and_decodes_as_80_bytes_without_data)
{
	/* magic | 0 0 | rank | 0x81 | uuid | sector | ts | 7 x 0 | wr | hmac */
	static const uint8_t head[48] = {
		0x61, 0x74, 0x64, 0x64, 0x00, 0x00, 0x02, 0x81,
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0xff, 0xff,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11,
	};
	uint8_t exp[80], out[80];

	memcpy(exp, head, 48);
	openssl_sign(system_secret, 64, exp, 80);
	/* data is not part of a VALUE_META: ignored */
	add_peer_msg p = { .type = 0x81, .rank = 2, .sector = 2097151,
			   .ts = 0x0102030405060708ull, .wr = 17, .data = sector_a };
	memcpy(p.uuid, uuid_a, 16);
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 80);
	cr_assert_arr_eq(out, exp, 80);

	add_wire_msg m = decode_process(exp, 80);
	cr_assert_eq(m.kind, ADD_WIRE_PEER);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.peer.type, 0x81);
	cr_assert_eq(m.peer.rank, 2);
	cr_assert_arr_eq(m.peer.uuid, uuid_a, 16);
	cr_assert_eq(m.peer.sector, 2097151);
	cr_assert_eq(m.peer.ts, 0x0102030405060708ull);
	cr_assert_eq(m.peer.wr, 17);
	cr_assert_null(m.peer.data);
	exp[47] ^= 1;
	cr_assert_not(decode_process(exp, 80).hmac_ok, "the HMAC covers (ts, wr)");
}

static void check_value_peer(uint8_t type)
{
	static uint8_t exp[4176], out[4176];
	build_peer(exp, type, 254, 2097151, 0x0102030405060708ull, 17, sector_a, 4176);
	add_peer_msg p = { .type = type, .rank = 254, .sector = 2097151,
			   .ts = 0x0102030405060708ull, .wr = 17, .data = sector_a };
	memcpy(p.uuid, uuid_a, 16);
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 4176);
	cr_assert_arr_eq(out, exp, 4176, "type %#x", type);

	add_wire_msg m = decode_process(exp, 4176);
	cr_assert_eq(m.kind, ADD_WIRE_PEER);
	cr_assert(m.hmac_ok);
	cr_assert_eq(m.peer.type, type);
	cr_assert_eq(m.peer.rank, 254);
	cr_assert_arr_eq(m.peer.uuid, uuid_a, 16);
	cr_assert_eq(m.peer.sector, 2097151);
	cr_assert_eq(m.peer.ts, 0x0102030405060708ull);
	cr_assert_eq(m.peer.wr, 17);
	cr_assert_eq(m.peer.data, exp + 48);
}

Test(wire_codec, value_encodes_and_decodes_as_4176_bytes_of_the_table)
{
	check_value_peer(0x04);
}

Test(wire_codec, write_proc_encodes_and_decodes_as_4176_bytes_of_the_table)
{
	check_value_peer(0x05);
}

Test(wire_codec, transport_acks_encode_and_decode_as_56_bytes_of_the_table)
{
	for (uint8_t type = 0x43; type <= 0x46; type++) {
		uint8_t exp[56], out[56];
		memset(exp, 0xEE, 56);
		expect_magic(exp);
		exp[4] = 0;
		exp[5] = 0;
		exp[6] = 2;
		exp[7] = type;
		memcpy(exp + 8, uuid_a, 16);
		openssl_sign(system_secret, 64, exp, 56);

		/* sector/ts/data are not part of a transport ack: ignored */
		add_peer_msg p = { .type = type, .rank = 2, .sector = 99, .ts = 5,
				   .data = sector_a };
		memcpy(p.uuid, uuid_a, 16);
		cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 56);
		cr_assert_arr_eq(out, exp, 56, "type %#x", type);

		add_wire_msg m = decode_process(exp, 56);
		cr_assert_eq(m.kind, ADD_WIRE_PEER);
		cr_assert(m.hmac_ok);
		cr_assert_eq(m.peer.type, type);
		cr_assert_eq(m.peer.rank, 2);
		cr_assert_arr_eq(m.peer.uuid, uuid_a, 16);
		cr_assert_eq(m.peer.sector, 0);
		cr_assert_null(m.peer.data);
	}
}

Test(wire_codec, internal_message_signed_with_the_client_key_fails_verification)
{
	uint8_t exp[64];
	build_peer(exp, 0x03, 1, 0, 0, 0, NULL, 64);
	openssl_sign(client_secret, 32, exp, 64);
	add_wire_msg m = decode_process(exp, 64);
	cr_assert_eq(m.kind, ADD_WIRE_PEER);
	cr_assert_not(m.hmac_ok);
}

Test(wire_codec, peer_encoder_rejects_unknown_type_and_value_without_data)
{
	uint8_t out[4176];
	add_peer_msg p = { .type = 0x07 };
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 0);
	p.type = 0x01;
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 0);
	p.type = ADD_TYPE_VALUE;
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 0);
	p.type = ADD_TYPE_WRITE_PROC;
	cr_assert_eq(add_wire_encode_peer(&p, &system_key, out), 0);
}

Test(wire_codec, be64_helpers_are_big_endian)
{
	uint8_t b[8];
	add_put_be64(b, 0x0102030405060708ull);
	const uint8_t want[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	cr_assert_arr_eq(b, want, 8);
	cr_assert_eq(add_get_be64(want), 0x0102030405060708ull);
}
