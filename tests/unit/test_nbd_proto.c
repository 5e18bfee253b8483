/* Unit tests of runtime-real/nbd_proto: the NBD handshake and request
 * decoder, byte by byte as the NetworkBlockDevice project's doc/proto.md
 * lays them out. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../runtime-real/nbd_proto.h"

#define SIZE (1024ull * 4096)

static size_t opt_bytes(uint8_t *p, uint32_t opt, const void *data, uint32_t len)
{
	add_nbd_put64(p, ADD_NBD_IHAVEOPT);
	add_nbd_put32(p + 8, opt);
	add_nbd_put32(p + 12, len);
	if (len)
		memcpy(p + 16, data, len);
	return 16 + len;
}

/* Feeds everything, byte by byte when `bytewise` (the decoder must not care
 * how the input is cut), collecting the output. */
static size_t hs_run(add_nbd_hs *hs, const uint8_t *in, size_t len, uint8_t *out, bool bytewise,
		     size_t *consumed)
{
	size_t at = 0, total = 0;

	while (at < len && hs->state != ADD_NBD_HS_TRANSMISSION && hs->state != ADD_NBD_HS_CLOSED) {
		size_t o, n = bytewise ? 1 : len - at;
		size_t used = add_nbd_hs_feed(hs, in + at, n, out + total, &o);
		cr_assert(used <= n);
		cr_assert(o <= ADD_NBD_HS_OUT_MAX);
		at += used;
		total += o;
	}
	*consumed = at;
	return total;
}

/* Parses one option reply at p; returns its length. */
static size_t rep_at(const uint8_t *p, uint32_t *opt, uint32_t *type, uint32_t *len)
{
	cr_assert_eq(add_nbd_get64(p), ADD_NBD_REP_MAGIC);
	*opt = add_nbd_get32(p + 8);
	*type = add_nbd_get32(p + 12);
	*len = add_nbd_get32(p + 16);
	return 20 + *len;
}

static size_t go_data(uint8_t *d, const char *name, uint16_t n_info, const uint16_t *infos)
{
	uint32_t nl = (uint32_t)strlen(name);
	add_nbd_put32(d, nl);
	memcpy(d + 4, name, nl);
	add_nbd_put16(d + 4 + nl, n_info);
	for (uint16_t i = 0; i < n_info; i++)
		add_nbd_put16(d + 6 + nl + 2 * i, infos[i]);
	return 6 + nl + 2u * n_info;
}

Test(nbd_proto, greeting_is_nbdmagic_ihaveopt_fixed_newstyle_no_zeroes)
{
	uint8_t g[ADD_NBD_GREETING_SIZE];
	cr_assert_eq(add_nbd_greeting(g), 18);
	cr_assert(memcmp(g, "NBDMAGIC", 8) == 0);
	cr_assert(memcmp(g + 8, "IHAVEOPT", 8) == 0);
	cr_assert_eq(add_nbd_get16(g + 16), 3);
}

static void go_with_unknown_option_first(bool bytewise)
{
	static add_nbd_hs hs;
	uint8_t in[256], out[2048], d[64];
	uint16_t infos[] = {ADD_NBD_INFO_BLOCK_SIZE, ADD_NBD_INFO_NAME};
	size_t n = 0, used, olen, at = 0;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, ADD_NBD_FLAG_FIXED_NEWSTYLE | ADD_NBD_FLAG_NO_ZEROES);
	n = 4;
	n += opt_bytes(in + n, 0x7777, "junk", 4);
	n += opt_bytes(in + n, ADD_NBD_OPT_GO, d, (uint32_t)go_data(d, "add", 2, infos));
	in[n++] = 0x25; /* the first transmission byte: not consumed */
	olen = hs_run(&hs, in, n, out, bytewise, &used);
	cr_assert_eq(hs.state, ADD_NBD_HS_TRANSMISSION);
	cr_assert_eq(used, n - 1);
	at += rep_at(out, &opt, &type, &len);
	cr_assert_eq(opt, 0x7777);
	cr_assert_eq(type, ADD_NBD_REP_ERR_UNSUP);
	bool seen_export = false, seen_bs = false, seen_name = false;
	for (;;) {
		const uint8_t *p = out + at;
		at += rep_at(p, &opt, &type, &len);
		cr_assert_eq(opt, ADD_NBD_OPT_GO);
		if (type == ADD_NBD_REP_ACK)
			break;
		cr_assert_eq(type, ADD_NBD_REP_INFO);
		switch (add_nbd_get16(p + 20)) {
		case ADD_NBD_INFO_EXPORT:
			cr_assert_eq(len, 12);
			cr_assert_eq(add_nbd_get64(p + 22), SIZE);
			cr_assert_eq(add_nbd_get16(p + 30), ADD_NBD_TFLAGS);
			seen_export = true;
			break;
		case ADD_NBD_INFO_BLOCK_SIZE:
			cr_assert_eq(len, 14);
			cr_assert_eq(add_nbd_get32(p + 22), 4096);
			cr_assert_eq(add_nbd_get32(p + 26), 4096);
			cr_assert_eq(add_nbd_get32(p + 30), ADD_NBD_PAYLOAD_MAX);
			seen_bs = true;
			break;
		case ADD_NBD_INFO_NAME:
			cr_assert_eq(len, 5);
			cr_assert(memcmp(p + 22, "add", 3) == 0);
			seen_name = true;
			break;
		default:
			cr_assert_fail("unexpected info");
		}
	}
	cr_assert(seen_export && seen_bs && seen_name);
	cr_assert_eq(at, olen);
}

Test(nbd_proto, unknown_option_err_unsup_then_go_succeeds)
{
	go_with_unknown_option_first(false);
}

Test(nbd_proto, handshake_fed_byte_by_byte_gives_the_same)
{
	go_with_unknown_option_first(true);
}

Test(nbd_proto, advertised_flags_are_flush_fua_zeroes_trim_multiconn_fastzero)
{
	cr_assert_eq(ADD_NBD_TFLAGS, 0x096d);
}

Test(nbd_proto, info_of_unknown_export_err_unknown_and_continues)
{
	static add_nbd_hs hs;
	uint8_t in[256], out[1024], d[64];
	size_t n = 4, used;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 1);
	n += opt_bytes(in + n, ADD_NBD_OPT_INFO, d, (uint32_t)go_data(d, "nope", 0, NULL));
	hs_run(&hs, in, n, out, false, &used);
	rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ERR_UNKNOWN);
	cr_assert_eq(hs.state, ADD_NBD_HS_OPT_HEADER);
}

Test(nbd_proto, info_with_inconsistent_lengths_err_invalid)
{
	static add_nbd_hs hs;
	uint8_t in[256], out[1024], d[64];
	size_t n = 4, used, dl;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 1);
	dl = go_data(d, "add", 0, NULL);
	add_nbd_put32(d, 200); /* name length past the option's end */
	n += opt_bytes(in + n, ADD_NBD_OPT_GO, d, (uint32_t)dl);
	hs_run(&hs, in, n, out, false, &used);
	rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ERR_INVALID);
	cr_assert_eq(hs.state, ADD_NBD_HS_OPT_HEADER);
}

Test(nbd_proto, list_names_add_then_ack)
{
	static add_nbd_hs hs;
	uint8_t in[64], out[1024];
	size_t n = 4, used, at;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 3);
	n += opt_bytes(in + n, ADD_NBD_OPT_LIST, NULL, 0);
	hs_run(&hs, in, n, out, false, &used);
	at = rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_SERVER);
	cr_assert_eq(add_nbd_get32(out + 20), 3);
	cr_assert(memcmp(out + 24, "add", 3) == 0);
	rep_at(out + at, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ACK);
}

Test(nbd_proto, export_name_default_export_with_and_without_zeroes)
{
	for (int nz = 0; nz < 2; nz++) {
		static add_nbd_hs hs;
		uint8_t in[64], out[1024];
		size_t n = 4, used, olen;

		add_nbd_hs_init(&hs, SIZE);
		add_nbd_put32(in, nz ? 3 : 1);
		n += opt_bytes(in + n, ADD_NBD_OPT_EXPORT_NAME, NULL, 0);
		olen = hs_run(&hs, in, n, out, false, &used);
		cr_assert_eq(hs.state, ADD_NBD_HS_TRANSMISSION);
		cr_assert_eq(olen, nz ? 10u : 134u);
		cr_assert_eq(add_nbd_get64(out), SIZE);
		cr_assert_eq(add_nbd_get16(out + 8), ADD_NBD_TFLAGS);
	}
}

Test(nbd_proto, export_name_unknown_closes)
{
	static add_nbd_hs hs;
	uint8_t in[64], out[1024];
	size_t n = 4, used;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 1);
	n += opt_bytes(in + n, ADD_NBD_OPT_EXPORT_NAME, "other", 5);
	cr_assert_eq(hs_run(&hs, in, n, out, false, &used), 0);
	cr_assert_eq(hs.state, ADD_NBD_HS_CLOSED);
}

Test(nbd_proto, abort_acks_then_closes_and_bad_magic_closes)
{
	static add_nbd_hs hs;
	uint8_t in[64], out[1024];
	size_t n = 4, used;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 1);
	n += opt_bytes(in + n, ADD_NBD_OPT_ABORT, NULL, 0);
	hs_run(&hs, in, n, out, false, &used);
	rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ACK);
	cr_assert_eq(hs.state, ADD_NBD_HS_CLOSED);

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 1);
	memset(in + 4, 0x42, 16);
	hs_run(&hs, in, 20, out, false, &used);
	cr_assert_eq(hs.state, ADD_NBD_HS_CLOSED);

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 0x80); /* unknown client flag */
	hs_run(&hs, in, 4, out, false, &used);
	cr_assert_eq(hs.state, ADD_NBD_HS_CLOSED);
}

Test(nbd_proto, oversized_option_is_skipped_with_too_big)
{
	static add_nbd_hs hs;
	static uint8_t in[16384], big[9000];
	uint8_t out[1024];
	size_t n = 4, used;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 1);
	n += opt_bytes(in + n, ADD_NBD_OPT_GO, big, sizeof(big)); /* data: whatever */
	n += opt_bytes(in + n, ADD_NBD_OPT_LIST, NULL, 0);
	size_t olen = hs_run(&hs, in, n, out, false, &used);
	size_t at = rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ERR_TOO_BIG);
	rep_at(out + at, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_SERVER); /* the next option still parsed */
	cr_assert_gt(olen, at);
	cr_assert_eq(used, n);
}

static size_t req_bytes(uint8_t *p, uint16_t flags, uint16_t type, uint64_t cookie, uint64_t off,
			uint32_t len)
{
	add_nbd_put32(p, ADD_NBD_REQUEST_MAGIC);
	add_nbd_put16(p + 4, flags);
	add_nbd_put16(p + 6, type);
	add_nbd_put64(p + 8, cookie);
	add_nbd_put64(p + 16, off);
	add_nbd_put32(p + 24, len);
	return 28;
}

Test(nbd_proto, write_request_then_payload_in_pieces)
{
	add_nbd_rx rx;
	add_nbd_rx_event ev;
	static uint8_t in[28 + 8192 + 28];
	size_t n = req_bytes(in, 1, ADD_NBD_CMD_WRITE, 0x1122334455667788ull, 4096, 8192), at = 0;
	uint32_t got = 0;

	memset(in + n, 0xab, 8192);
	n += 8192;
	n += req_bytes(in + n, 0, ADD_NBD_CMD_FLUSH, 9, 0, 0);
	add_nbd_rx_init(&rx);
	/* header cut in two */
	at += add_nbd_rx_feed(&rx, in, 10, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_NONE);
	at += add_nbd_rx_feed(&rx, in + at, n - at, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_REQUEST);
	cr_assert_eq(ev.req.type, ADD_NBD_CMD_WRITE);
	cr_assert_eq(ev.req.flags, 1);
	cr_assert_eq(ev.req.cookie, 0x1122334455667788ull);
	cr_assert_eq(ev.req.offset, 4096);
	cr_assert_eq(ev.req.length, 8192);
	while (got < 8192) {
		size_t piece = 1000 < n - at ? 1000 : n - at;
		at += add_nbd_rx_feed(&rx, in + at, piece, &ev);
		cr_assert_eq(ev.kind, ADD_NBD_RX_PAYLOAD);
		cr_assert_eq(ev.payload_off, got);
		cr_assert_eq(ev.data[0], 0xab);
		got += (uint32_t)ev.data_len;
		cr_assert_eq(ev.payload_end, got == 8192);
	}
	at += add_nbd_rx_feed(&rx, in + at, n - at, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_REQUEST);
	cr_assert_eq(ev.req.type, ADD_NBD_CMD_FLUSH);
	cr_assert_eq(at, n);
}

Test(nbd_proto, bad_magic_and_oversized_write_are_errors_for_good)
{
	add_nbd_rx rx;
	add_nbd_rx_event ev;
	uint8_t in[64];

	add_nbd_rx_init(&rx);
	req_bytes(in, 0, ADD_NBD_CMD_READ, 1, 0, 4096);
	in[0] ^= 1;
	add_nbd_rx_feed(&rx, in, 28, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_ERROR);
	req_bytes(in, 0, ADD_NBD_CMD_READ, 1, 0, 4096);
	add_nbd_rx_feed(&rx, in, 28, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_ERROR); /* stays broken */

	add_nbd_rx_init(&rx);
	req_bytes(in, 0, ADD_NBD_CMD_WRITE, 1, 0, ADD_NBD_PAYLOAD_MAX + 4096);
	add_nbd_rx_feed(&rx, in, 28, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_ERROR);

	/* an oversized READ has no payload to skip: answered EINVAL, not closed */
	add_nbd_rx_init(&rx);
	req_bytes(in, 0, ADD_NBD_CMD_READ, 1, 0, ADD_NBD_PAYLOAD_MAX + 4096);
	add_nbd_rx_feed(&rx, in, 28, &ev);
	cr_assert_eq(ev.kind, ADD_NBD_RX_REQUEST);
	cr_assert_eq(add_nbd_check(&ev.req, 1ull << 40), ADD_NBD_EINVAL);
}

Test(nbd_proto, check_refuses_unaligned_and_out_of_range)
{
	const struct {
		uint16_t type, flags;
		uint64_t off;
		uint32_t len;
		uint32_t want;
	} cases[] = {
		{ADD_NBD_CMD_READ, 0, 0, 4096, 0},
		{ADD_NBD_CMD_WRITE, 0, SIZE - 4096, 4096, 0},
		{ADD_NBD_CMD_WRITE, 0, 512, 4096, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_WRITE, 0, 0, 4097, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_WRITE, 0, 0, 100, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_READ, 0, 0, 6000, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_READ, 0, SIZE, 4096, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_READ, 0, SIZE - 4096, 8192, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_READ, 0, UINT64_MAX - 4095, 8192, ADD_NBD_EINVAL}, /* wraps */
		{ADD_NBD_CMD_WRITE_ZEROES, 0, 0, 8192, 0},
		{ADD_NBD_CMD_WRITE_ZEROES, ADD_NBD_CMD_FLAG_NO_HOLE, 0, 8192, 0},
		{ADD_NBD_CMD_WRITE_ZEROES, ADD_NBD_CMD_FLAG_FAST_ZERO, 0, 8192, ADD_NBD_ENOTSUP},
		{ADD_NBD_CMD_WRITE_ZEROES, 0, 4096, 1, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_TRIM, 0, 0, 4096, 0},
		{ADD_NBD_CMD_TRIM, 0, 0, 4095, ADD_NBD_EINVAL},
		{ADD_NBD_CMD_FLUSH, 0, 0, 0, 0},
		{ADD_NBD_CMD_DISC, 0, 0, 0, 0},
		{5 /* CACHE: not advertised */, 0, 0, 4096, ADD_NBD_EINVAL},
		{7 /* BLOCK_STATUS */, 0, 0, 4096, ADD_NBD_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		add_nbd_req r = {.type = cases[i].type, .flags = cases[i].flags,
				 .offset = cases[i].off, .length = cases[i].len};
		cr_assert_eq(add_nbd_check(&r, SIZE), cases[i].want, "case %zu", i);
	}
}

Test(nbd_proto, simple_reply_layout)
{
	uint8_t r[16];
	add_nbd_encode_simple_reply(r, ADD_NBD_EINVAL, 0xdeadbeefcafef00dull);
	cr_assert_eq(add_nbd_get32(r), 0x67446698u);
	cr_assert_eq(add_nbd_get32(r + 4), 22);
	cr_assert_eq(add_nbd_get64(r + 8), 0xdeadbeefcafef00dull);
	cr_assert(add_nbd_is_write(ADD_NBD_CMD_WRITE_ZEROES) && add_nbd_is_write(ADD_NBD_CMD_TRIM));
	cr_assert(!add_nbd_is_write(ADD_NBD_CMD_READ) && !add_nbd_is_write(ADD_NBD_CMD_FLUSH));
}

Test(nbd_proto, structured_reply_option_acked_and_remembered)
{
	static add_nbd_hs hs;
	uint8_t in[64], out[1024];
	size_t n = 4, used;
	uint32_t opt, type, len;

	add_nbd_hs_init(&hs, SIZE);
	add_nbd_put32(in, 3);
	n += opt_bytes(in + n, ADD_NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	hs_run(&hs, in, n, out, false, &used);
	rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ACK);
	cr_assert(hs.structured);

	add_nbd_hs_init(&hs, SIZE);
	n = 4;
	n += opt_bytes(in + n, ADD_NBD_OPT_STRUCTURED_REPLY, "x", 1);
	hs_run(&hs, in, n, out, false, &used);
	rep_at(out, &opt, &type, &len);
	cr_assert_eq(type, ADD_NBD_REP_ERR_INVALID);
	cr_assert(!hs.structured);
}

Test(nbd_proto, replies_simple_and_structured_chunks)
{
	uint8_t r[ADD_NBD_REPLY_PREFIX_MAX];
	add_nbd_req rd = {.type = ADD_NBD_CMD_READ, .cookie = 5, .offset = 8192, .length = 4096};
	add_nbd_req wr = {.type = ADD_NBD_CMD_WRITE, .cookie = 6, .offset = 0, .length = 4096};

	cr_assert_eq(add_nbd_encode_reply(r, false, &rd, 0), 16);
	cr_assert_eq(add_nbd_get32(r), ADD_NBD_SIMPLE_REPLY_MAGIC);
	cr_assert_eq(add_nbd_get64(r + 8), 5);
	/* READ: one OFFSET_DATA chunk, DONE, length 8 + data */
	cr_assert_eq(add_nbd_encode_reply(r, true, &rd, 0), 28);
	cr_assert_eq(add_nbd_get32(r), ADD_NBD_STRUCTURED_REPLY_MAGIC);
	cr_assert_eq(add_nbd_get16(r + 4), ADD_NBD_REPLY_FLAG_DONE);
	cr_assert_eq(add_nbd_get16(r + 6), ADD_NBD_REPLY_TYPE_OFFSET_DATA);
	cr_assert_eq(add_nbd_get64(r + 8), 5);
	cr_assert_eq(add_nbd_get32(r + 16), 8 + 4096);
	cr_assert_eq(add_nbd_get64(r + 20), 8192);
	/* an error: ERROR chunk with the errno and an empty message */
	cr_assert_eq(add_nbd_encode_reply(r, true, &rd, ADD_NBD_EINVAL), 26);
	cr_assert_eq(add_nbd_get16(r + 6), ADD_NBD_REPLY_TYPE_ERROR);
	cr_assert_eq(add_nbd_get32(r + 16), 6);
	cr_assert_eq(add_nbd_get32(r + 20), ADD_NBD_EINVAL);
	cr_assert_eq(add_nbd_get16(r + 24), 0);
	/* anything else: NONE, DONE */
	cr_assert_eq(add_nbd_encode_reply(r, true, &wr, 0), 20);
	cr_assert_eq(add_nbd_get16(r + 6), ADD_NBD_REPLY_TYPE_NONE);
	cr_assert_eq(add_nbd_get32(r + 16), 0);
}
