/*
 * The stream decoder: framing across arbitrary splits and the resync rules
 * of PROTOCOL.md ("A stream that does not parse").
 */
#include <string.h>

#include <criterion/criterion.h>

#include "wire.h"

static add_hmac_key client_key, system_key;
static uint8_t sector_a[4096];

static void setup(void)
{
	uint8_t cs[32], ss[64];
	for (int i = 0; i < 32; i++)
		cs[i] = (uint8_t)(i * 5 + 1);
	for (int i = 0; i < 64; i++)
		ss[i] = (uint8_t)(i * 11 + 3);
	for (int i = 0; i < 4096; i++)
		sector_a[i] = (uint8_t)(i ^ (i >> 8));
	cr_assert_eq(add_hmac_key_init(&client_key, cs, 32), 0);
	cr_assert_eq(add_hmac_key_init(&system_key, ss, 64), 0);
}

static void teardown(void)
{
	add_hmac_key_free(&client_key);
	add_hmac_key_free(&system_key);
}

TestSuite(wire_stream, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------- */

/* A yielded message, deep-copied (data pointers die at the next feed). */
typedef struct got {
	add_wire_msg m;
	bool has_data;
	bool zero_copy; /* data pointed into the caller's input */
	uint8_t data[4096];
} got;

#define GOT_MAX 16
static got gots[GOT_MAX];

static void keep(got *g, const add_wire_msg *m, const uint8_t *in, size_t len)
{
	g->m = *m;
	const uint8_t *d = m->kind == ADD_WIRE_CMD ? m->cmd.data
			   : m->kind == ADD_WIRE_RSP ? m->rsp.data
						     : m->peer.data;
	g->has_data = d != NULL;
	g->zero_copy = d != NULL && d >= in && d < in + len;
	if (d != NULL)
		memcpy(g->data, d,
		       m->kind == ADD_WIRE_RSP && m->rsp.type == ADD_TYPE_STATUS_RESPONSE
			       ? ADD_STATUS_BODY_SIZE
			       : 4096);
}

/* Feeds stream[0..len) in chunks of `chunk` bytes (0: all at once), following
 * the documented calling loop; returns the number of messages collected. */
static size_t feed_all(add_wire_decoder *dec, const uint8_t *stream, size_t len, size_t chunk)
{
	size_t count = 0, off = 0;
	while (off < len) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
		const uint8_t *p = stream + off;
		size_t left = n;
		for (;;) {
			add_wire_msg m;
			size_t used = add_wire_decoder_feed(dec, p, left, &m);
			cr_assert_leq(used, left);
			if (m.kind == ADD_WIRE_NONE) {
				cr_assert_eq(used, left, "NONE means all input consumed");
				break;
			}
			cr_assert_lt(count, GOT_MAX);
			keep(&gots[count++], &m, p, left);
			p += used;
			left -= used;
		}
		off += n;
	}
	return count;
}

static size_t feed_split(add_wire_decoder *dec, const uint8_t *stream, size_t len,
			 size_t split)
{
	size_t a = feed_all(dec, stream, split, 0);
	cr_assert_leq(a, GOT_MAX);
	/* feed_all restarts at gots[0]; shift the second half's results */
	got first[GOT_MAX];
	memcpy(first, gots, a * sizeof(got));
	size_t b = feed_all(dec, stream + split, len - split, 0);
	cr_assert_leq(a + b, GOT_MAX);
	memmove(gots + a, gots, b * sizeof(got));
	memcpy(gots, first, a * sizeof(got));
	return a + b;
}

static add_wire_decoder process_dec(void)
{
	add_wire_decoder d;
	add_wire_decoder_init(&d, ADD_WIRE_MODE_PROCESS, &client_key, &system_key);
	return d;
}

static add_wire_decoder client_dec(void)
{
	add_wire_decoder d;
	add_wire_decoder_init(&d, ADD_WIRE_MODE_CLIENT, &client_key, NULL);
	return d;
}

static size_t put_write_cmd(uint8_t *out, uint64_t req, uint64_t sector)
{
	add_client_cmd c = { .type = ADD_TYPE_WRITE, .request = req, .sector = sector,
			     .data = sector_a };
	return add_wire_encode_cmd(&c, &client_key, out);
}

static size_t put_read_cmd(uint8_t *out, uint64_t req, uint64_t sector)
{
	add_client_cmd c = { .type = ADD_TYPE_READ, .request = req, .sector = sector };
	return add_wire_encode_cmd(&c, &client_key, out);
}

static size_t put_peer(uint8_t *out, uint8_t type, uint64_t sector)
{
	add_peer_msg p = { .type = type, .rank = 2, .sector = sector, .ts = 99, .wr = 2,
			   .data = sector_a };
	memset(p.uuid, 0x5a, sizeof(p.uuid));
	return add_wire_encode_peer(&p, &system_key, out);
}

static size_t put_rsp(uint8_t *out, uint8_t type, uint8_t status, uint64_t req)
{
	add_client_rsp r = { .type = type, .status = status, .request = req, .data = sector_a };
	return add_wire_encode_rsp(&r, &client_key, out);
}

/* ---- framing ---------------------------------------------------------------------- */

Test(wire_stream, empty_input_consumes_nothing_and_yields_nothing)
{
	add_wire_decoder d = process_dec();
	add_wire_msg m;
	cr_assert_eq(add_wire_decoder_feed(&d, NULL, 0, &m), 0);
	cr_assert_eq(m.kind, ADD_WIRE_NONE);
}

Test(wire_stream, whole_message_in_input_is_decoded_in_place)
{
	static uint8_t s[4152];
	size_t n = put_write_cmd(s, 1, 2);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert(gots[0].m.hmac_ok);
	cr_assert(gots[0].zero_copy);
	cr_assert_eq(d.have, 0);
}

Test(wire_stream, message_split_at_every_byte_boundary_decodes_once)
{
	static uint8_t s[4152 + 4176 + 56 + 64];
	size_t n = put_write_cmd(s, 11, 12);
	n += put_peer(s + n, ADD_TYPE_VALUE, 13);
	n += put_read_cmd(s + n, 14, 15);
	n += put_peer(s + n, ADD_TYPE_ACK, 16);
	for (size_t split = 0; split <= n; split++) {
		add_wire_decoder d = process_dec();
		cr_assert_eq(feed_split(&d, s, n, split), 4, "split at %zu", split);
		cr_assert_eq(gots[0].m.cmd.request, 11);
		cr_assert_eq(gots[1].m.peer.sector, 13);
		cr_assert_eq(gots[2].m.cmd.request, 14);
		cr_assert_eq(gots[3].m.peer.type, ADD_TYPE_ACK);
		for (int i = 0; i < 4; i++)
			cr_assert(gots[i].m.hmac_ok, "split %zu msg %d", split, i);
		cr_assert_arr_eq(gots[0].data, sector_a, 4096);
		cr_assert_arr_eq(gots[1].data, sector_a, 4096);
		cr_assert_eq(d.have, 0);
	}
}

Test(wire_stream, one_byte_at_a_time_decodes_every_message)
{
	static uint8_t s[4152 + 4176 + 56 * 2 + 16];
	size_t n = 0;
	memcpy(s + n, "xyzat", 5);
	n += 5;
	n += put_write_cmd(s + n, 1, 1);
	n += put_peer(s + n, ADD_TYPE_WRITE_PROC, 2);
	s[n++] = 'a';
	n += put_peer(s + n, ADD_TYPE_VALUE_TACK, 0);
	n += put_read_cmd(s + n, 3, 3);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 1), 4);
	cr_assert_eq(gots[0].m.kind, ADD_WIRE_CMD);
	cr_assert_eq(gots[1].m.peer.type, ADD_TYPE_WRITE_PROC);
	cr_assert_eq(gots[2].m.peer.type, ADD_TYPE_VALUE_TACK);
	cr_assert_eq(gots[3].m.cmd.type, ADD_TYPE_READ);
	for (int i = 0; i < 4; i++)
		cr_assert(gots[i].m.hmac_ok);
	cr_assert_not(gots[0].zero_copy, "a split message is buffered");
	cr_assert_arr_eq(gots[1].data, sector_a, 4096);
	cr_assert_eq(d.stats.skipped_bytes, 6);
}

Test(wire_stream, several_messages_in_one_buffer_come_out_in_order)
{
	uint8_t s[56 * 3 + 64];
	size_t n = put_read_cmd(s, 100, 0);
	n += put_peer(s + n, ADD_TYPE_READ_PROC, 7);
	n += put_read_cmd(s + n, 101, 0);
	n += put_peer(s + n, ADD_TYPE_ACK_TACK, 0);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 4);
	cr_assert_eq(gots[0].m.cmd.request, 100);
	cr_assert_eq(gots[1].m.peer.type, ADD_TYPE_READ_PROC);
	cr_assert_eq(gots[2].m.cmd.request, 101);
	cr_assert_eq(gots[3].m.peer.type, ADD_TYPE_ACK_TACK);
	cr_assert_eq(d.stats.messages, 4);
}

Test(wire_stream, every_chunk_size_decodes_the_same_messages)
{
	static uint8_t s[4176 + 6 + 56 + 64];
	size_t n = put_peer(s, ADD_TYPE_VALUE, 5);
	memcpy(s + n, "atdatd", 6);
	n += 6;
	n += put_read_cmd(s + n, 8, 9);
	n += put_peer(s + n, ADD_TYPE_READ_PROC, 4);
	for (size_t chunk = 1; chunk <= 300; chunk++) {
		add_wire_decoder d = process_dec();
		cr_assert_eq(feed_all(&d, s, n, chunk), 3, "chunk %zu", chunk);
		cr_assert_eq(gots[0].m.peer.type, ADD_TYPE_VALUE);
		cr_assert_arr_eq(gots[0].data, sector_a, 4096);
		cr_assert_eq(gots[1].m.cmd.request, 8);
		cr_assert_eq(gots[2].m.peer.sector, 4);
		cr_assert_eq(d.stats.skipped_bytes, 6, "chunk %zu", chunk);
	}
}

/* ---- resync: sliding to a magic ---------------------------------------------------- */

Test(wire_stream, garbage_before_a_magic_is_skipped)
{
	uint8_t s[100];
	memcpy(s, "\x00\xff garbage", 10);
	size_t n = 10 + put_read_cmd(s + 10, 5, 6);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert(gots[0].m.hmac_ok);
	cr_assert_eq(gots[0].m.cmd.request, 5);
	cr_assert_eq(d.stats.skipped_bytes, 10);
}

Test(wire_stream, a_magic_inside_garbage_starts_a_message)
{
	uint8_t s[100];
	memcpy(s, "aaatdatdaat", 11); /* near-magics; the real one follows */
	size_t n = 11 + put_read_cmd(s + 11, 5, 6);
	memcpy(s + n, "ddda", 4);
	n += 4;
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.cmd.request, 5);
	cr_assert(gots[0].m.hmac_ok);
	/* 11 skipped before; "ddd" slid over; the trailing "a" is kept */
	cr_assert_eq(d.stats.skipped_bytes, 14);
	cr_assert_eq(d.have, 1);
}

Test(wire_stream, partial_magic_at_end_of_input_is_kept_for_the_next_call)
{
	uint8_t s[56];
	size_t n = put_read_cmd(s, 77, 1);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, 2, 0), 0); /* "at" */
	cr_assert_eq(d.have, 2);
	cr_assert_eq(feed_all(&d, s + 2, n - 2, 0), 1);
	cr_assert_eq(gots[0].m.cmd.request, 77);
	cr_assert(gots[0].m.hmac_ok);
	cr_assert_eq(d.stats.skipped_bytes, 0);
}

Test(wire_stream, broken_partial_magic_slides_into_the_next_input)
{
	uint8_t s[60];
	memcpy(s, "ata", 3); /* "at" + "a" breaks the first, starts a second */
	size_t n = 3 + put_read_cmd(s + 3, 78, 1);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, 2, 0), 0);
	cr_assert_eq(feed_all(&d, s + 2, 1, 0), 0);
	cr_assert_eq(feed_all(&d, s + 3, n - 3, 0), 1);
	cr_assert_eq(gots[0].m.cmd.request, 78);
	cr_assert_eq(d.stats.skipped_bytes, 3);
}

/* ---- resync: invalid type drops 8 bytes --------------------------------------------- */

Test(wire_stream, invalid_type_drops_8_bytes_then_a_valid_message_decodes)
{
	uint8_t s[8 + 56];
	memcpy(s, "atdd\x01\x02\x03\x07", 8); /* type 0x07 is not a protocol type */
	size_t n = 8 + put_read_cmd(s + 8, 9, 9);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.cmd.request, 9);
	cr_assert_eq(d.stats.invalid_types, 1);
	cr_assert_eq(d.stats.skipped_bytes, 0, "exactly the 8 bytes were dropped");
}

Test(wire_stream, invalid_type_drops_8_bytes_even_when_they_hold_a_magic_start)
{
	/* A READ command starting at offset 5 is swallowed: its "atd" is part
	 * of the 8 dropped bytes; sliding resumes at its 4th byte. */
	uint8_t s[5 + 56 + 56];
	memcpy(s, "atddx", 5);
	size_t n = 5 + put_read_cmd(s + 5, 1, 1);
	/* bytes 0..7 = "atddxatd": type 'd' (0x64) is invalid */
	n += put_read_cmd(s + n, 2, 2);
	for (size_t chunk = 0; chunk <= 9; chunk++) {
		add_wire_decoder d = process_dec();
		cr_assert_eq(feed_all(&d, s, n, chunk), 1, "chunk %zu", chunk);
		cr_assert_eq(gots[0].m.cmd.request, 2);
		cr_assert_eq(d.stats.invalid_types, 1);
		cr_assert_eq(d.stats.skipped_bytes, 56 - 3);
	}
}

Test(wire_stream, invalid_type_with_less_than_8_bytes_waits_for_the_type)
{
	uint8_t s[8 + 56];
	memcpy(s, "atdd\0\0\0\x99", 8);
	size_t n = 8 + put_read_cmd(s + 8, 4, 4);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, 7, 0), 0);
	cr_assert_eq(d.stats.invalid_types, 0);
	cr_assert_eq(feed_all(&d, s + 7, n - 7, 0), 1);
	cr_assert_eq(d.stats.invalid_types, 1);
	cr_assert_eq(gots[0].m.cmd.request, 4);
}

Test(wire_stream, process_mode_treats_a_response_type_as_invalid)
{
	uint8_t s[48 + 56];
	size_t n = put_rsp(s, ADD_TYPE_WRITE_RESPONSE, 0, 1);
	n += put_read_cmd(s + n, 2, 2);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.cmd.request, 2);
	cr_assert_eq(d.stats.invalid_types, 1);
	cr_assert_eq(d.stats.skipped_bytes, 48 - 8);
}

Test(wire_stream, client_mode_treats_command_and_internal_types_as_invalid)
{
	uint8_t s[56 + 64 + 48];
	size_t n = put_read_cmd(s, 1, 1);
	n += put_peer(s + n, ADD_TYPE_READ_PROC, 1);
	n += put_rsp(s + n, ADD_TYPE_WRITE_RESPONSE, 0, 3);
	add_wire_decoder d = client_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.kind, ADD_WIRE_RSP);
	cr_assert_eq(gots[0].m.rsp.request, 3);
	cr_assert_eq(d.stats.invalid_types, 2);
}

/* ---- resync: other errors consume a whole message ------------------------------------ */

Test(wire_stream, bad_hmac_consumes_the_whole_message_then_a_valid_one_decodes)
{
	static uint8_t s[4152 + 56];
	size_t n = put_write_cmd(s, 1, 1);
	s[100] ^= 0x40; /* corrupt the data */
	/* plant a magic inside the corrupted message's data: must not resync */
	memcpy(s + 200, "atdd\0\0\0\x01", 8);
	n += put_read_cmd(s + n, 2, 2);
	for (size_t chunk = 0; chunk <= 4096; chunk += 1024) {
		add_wire_decoder d = process_dec();
		cr_assert_eq(feed_all(&d, s, n, chunk), 2);
		cr_assert_eq(gots[0].m.kind, ADD_WIRE_CMD);
		cr_assert_not(gots[0].m.hmac_ok);
		cr_assert_eq(gots[0].m.cmd.request, 1, "fields still decoded");
		cr_assert_eq(gots[1].m.cmd.request, 2);
		cr_assert(gots[1].m.hmac_ok);
		cr_assert_eq(d.stats.bad_hmac, 1);
		cr_assert_eq(d.stats.skipped_bytes, 0);
	}
}

Test(wire_stream, bad_hmac_on_an_internal_message_is_reported_not_dropped)
{
	uint8_t s[64];
	size_t n = put_peer(s, ADD_TYPE_ACK, 3);
	s[n - 1] ^= 1; /* the tag */
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.kind, ADD_WIRE_PEER);
	cr_assert_not(gots[0].m.hmac_ok);
}

Test(wire_stream, command_signed_with_the_system_key_is_yielded_with_bad_hmac)
{
	uint8_t s[56];
	add_client_cmd c = { .type = ADD_TYPE_READ, .request = 1 };
	size_t n = add_wire_encode_cmd(&c, &system_key, s);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.kind, ADD_WIRE_CMD);
	cr_assert_not(gots[0].m.hmac_ok);
}

Test(wire_stream, internal_message_signed_with_the_client_key_is_yielded_with_bad_hmac)
{
	uint8_t s[56];
	add_peer_msg p = { .type = ADD_TYPE_READ_PROC_TACK, .rank = 1 };
	size_t n = add_wire_encode_peer(&p, &client_key, s);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(gots[0].m.kind, ADD_WIRE_PEER);
	cr_assert_not(gots[0].m.hmac_ok);
}

Test(wire_stream, command_with_nonzero_padding_verifies_in_a_stream)
{
	uint8_t s[56];
	add_client_cmd c = { .type = ADD_TYPE_READ, .padding = { 0xff, 0x00, 0x7e },
			     .request = 3 };
	size_t n = add_wire_encode_cmd(&c, &client_key, s);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 1), 1);
	cr_assert(gots[0].m.hmac_ok);
	cr_assert_eq(gots[0].m.cmd.padding[0], 0xff);
	cr_assert_eq(gots[0].m.cmd.padding[2], 0x7e);
}

/* ---- CLIENT mode --------------------------------------------------------------------- */

Test(wire_stream, client_mode_frames_responses_of_every_status)
{
	static uint8_t s[4144 + 48 * 5];
	size_t n = put_rsp(s, ADD_TYPE_READ_RESPONSE, ADD_STATUS_OK, 1);
	n += put_rsp(s + n, ADD_TYPE_READ_RESPONSE, ADD_STATUS_AUTH_FAILURE, 2);
	n += put_rsp(s + n, ADD_TYPE_READ_RESPONSE, ADD_STATUS_INVALID_SECTOR_INDEX, 3);
	n += put_rsp(s + n, ADD_TYPE_WRITE_RESPONSE, ADD_STATUS_OK, 4);
	n += put_rsp(s + n, ADD_TYPE_WRITE_RESPONSE, ADD_STATUS_AUTH_FAILURE, 5);
	n += put_rsp(s + n, ADD_TYPE_WRITE_RESPONSE, ADD_STATUS_INVALID_SECTOR_INDEX, 6);
	cr_assert_eq(n, 4144 + 5 * 48);
	for (size_t chunk = 0; chunk < 50; chunk += 7) {
		add_wire_decoder d = client_dec();
		cr_assert_eq(feed_all(&d, s, n, chunk), 6);
		for (int i = 0; i < 6; i++) {
			cr_assert_eq(gots[i].m.kind, ADD_WIRE_RSP);
			cr_assert(gots[i].m.hmac_ok);
			cr_assert_eq(gots[i].m.rsp.request, (uint64_t)i + 1);
			cr_assert_eq(gots[i].m.rsp.status, (uint8_t)(i % 3));
			cr_assert_eq(gots[i].has_data, i == 0);
		}
		cr_assert_arr_eq(gots[0].data, sector_a, 4096);
	}
}

Test(wire_stream, client_mode_frames_an_unknown_status_as_48_bytes)
{
	uint8_t s[48 + 48];
	size_t n = put_rsp(s, ADD_TYPE_READ_RESPONSE, ADD_STATUS_AUTH_FAILURE, 1);
	s[6] = 0x05; /* unknown status; tag now bad, framing unchanged */
	n += put_rsp(s + n, ADD_TYPE_WRITE_RESPONSE, ADD_STATUS_OK, 2);
	add_wire_decoder d = client_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 2);
	cr_assert_eq(gots[0].m.rsp.status, 0x05);
	cr_assert_not(gots[0].m.hmac_ok);
	cr_assert_not(gots[0].has_data);
	cr_assert_eq(gots[1].m.rsp.request, 2);
	cr_assert(gots[1].m.hmac_ok);
}

/* ---- buffering contract ------------------------------------------------------------- */

Test(wire_stream, buffered_message_is_yielded_as_soon_as_its_last_byte_arrives)
{
	uint8_t s[56 + 56];
	size_t n = put_read_cmd(s, 1, 1);
	put_read_cmd(s + n, 2, 2);
	add_wire_decoder d = process_dec();
	add_wire_msg m;
	cr_assert_eq(add_wire_decoder_feed(&d, s, 30, &m), 30);
	cr_assert_eq(m.kind, ADD_WIRE_NONE);
	/* the rest of the first message and the whole second in one input */
	size_t used = add_wire_decoder_feed(&d, s + 30, 82, &m);
	cr_assert_eq(used, 26, "stops right after the buffered message");
	cr_assert_eq(m.kind, ADD_WIRE_CMD);
	cr_assert_eq(m.cmd.request, 1);
	used = add_wire_decoder_feed(&d, s + 56, 56, &m);
	cr_assert_eq(used, 56);
	cr_assert_eq(m.cmd.request, 2);
}

Test(wire_stream, data_of_a_buffered_message_points_into_the_decoder)
{
	static uint8_t s[4176];
	size_t n = put_peer(s, ADD_TYPE_VALUE, 1);
	add_wire_decoder d = process_dec();
	add_wire_msg m;
	cr_assert_eq(add_wire_decoder_feed(&d, s, 1000, &m), 1000);
	cr_assert_eq(add_wire_decoder_feed(&d, s + 1000, n - 1000, &m), n - 1000);
	cr_assert_eq(m.kind, ADD_WIRE_PEER);
	cr_assert_eq(m.peer.data, d.buf + 48);
	cr_assert_arr_eq(m.peer.data, sector_a, 4096);
}

Test(wire_stream, client_mode_response_split_at_every_byte_boundary_decodes_once)
{
	static uint8_t s[4144 + 48];
	size_t n = put_rsp(s, ADD_TYPE_READ_RESPONSE, ADD_STATUS_OK, 21);
	n += put_rsp(s + n, ADD_TYPE_READ_RESPONSE, ADD_STATUS_INVALID_SECTOR_INDEX, 22);
	for (size_t split = 0; split <= n; split++) {
		add_wire_decoder d = client_dec();
		cr_assert_eq(feed_split(&d, s, n, split), 2, "split at %zu", split);
		cr_assert(gots[0].m.hmac_ok && gots[1].m.hmac_ok);
		cr_assert_eq(gots[0].m.rsp.request, 21);
		cr_assert_arr_eq(gots[0].data, sector_a, 4096);
		cr_assert_eq(gots[1].m.rsp.request, 22);
		cr_assert_not(gots[1].has_data);
	}
}

Test(wire_stream, unassigned_custom_types_are_invalid_for_the_decoder)
{
	uint8_t s[8 + 64];
	memcpy(s, "atdd\0\0\x01\x83", 8); /* 0x80..0x82 are the project's own */
	size_t n = 8 + put_peer(s + 8, ADD_TYPE_READ_PROC, 1);
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 0), 1);
	cr_assert_eq(d.stats.invalid_types, 1);
	cr_assert_eq(gots[0].m.peer.type, ADD_TYPE_READ_PROC);
}

Test(wire_stream, stats_account_for_every_byte_fed)
{
	static uint8_t s[16 + 8 + 4152 + 64 + 3];
	size_t n = 0;
	memcpy(s, "0123456789abcdef", 16); /* 16 skipped */
	n += 16;
	memcpy(s + n, "atdd\0\0\0\x47", 8); /* one invalid type */
	n += 8;
	size_t w = put_write_cmd(s + n, 1, 1);
	s[n + 30] ^= 1; /* bad HMAC */
	n += w;
	n += put_peer(s + n, ADD_TYPE_ACK, 2);
	memcpy(s + n, "atd", 3); /* kept buffered */
	n += 3;
	add_wire_decoder d = process_dec();
	cr_assert_eq(feed_all(&d, s, n, 13), 2);
	cr_assert_eq(d.stats.skipped_bytes, 16);
	cr_assert_eq(d.stats.invalid_types, 1);
	cr_assert_eq(d.stats.messages, 2);
	cr_assert_eq(d.stats.bad_hmac, 1);
	cr_assert_eq(d.have, 3);
	cr_assert_eq(d.stats.skipped_bytes + 8 * d.stats.invalid_types + w + 64 + d.have, n);
}
