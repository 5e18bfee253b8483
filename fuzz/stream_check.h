/*
 * Shared by the stream fuzzers: runs the incremental decoder over arbitrary
 * bytes fed in chunks derived from the input, each chunk in its own exactly
 * sized heap block (so ASan catches any read past what was given), and
 * checks it against a naive whole-stream reference of the resync rules:
 * same messages, same order, same fields, same HMAC verdicts (computed
 * independently with OpenSSL's one-shot HMAC()), and the byte accounting
 * skipped + 8 * invalid types + message bytes + still buffered == fed.
 *
 * Input layout: byte 0 = flags (chunking scheme, re-sign framed messages so
 * that valid tags are exercised too), the rest is the stream.
 */
#ifndef FUZZ_STREAM_CHECK_H
#define FUZZ_STREAM_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wire.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c))                                                          \
			__builtin_trap();                                          \
	} while (0)

static const uint8_t fz_client_secret[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t fz_system_secret[64] =
	"system-key-system-key-system-key-system-key-system-key-system-k";
static add_hmac_key fz_client_key, fz_system_key;

static void fz_keys(void)
{
	static int ready;
	if (ready)
		return;
	CHECK(add_hmac_key_init(&fz_client_key, fz_client_secret, 32) == 0);
	CHECK(add_hmac_key_init(&fz_system_key, fz_system_secret, 64) == 0);
	ready = 1;
}

/* The reference framing: size of the message at p (with at least 8 bytes),
 * or 0 for an invalid type; is_system: signed with the system key. */
static size_t fz_ref_size(add_wire_mode mode, const uint8_t *p, int *is_system)
{
	uint8_t t = p[7];
	*is_system = 0;
	if (mode == ADD_WIRE_MODE_CLIENT) {
		if (t == 0x41)
			return p[6] == 0 ? 4144 : 48;
		if (t == 0xC2) /* STATUS response: a 192-byte body when Ok */
			return p[6] == 0 ? 240 : 48;
		return t == 0x42 ? 48 : 0;
	}
	if (t == 0x01 || t == 0x82) /* 0x82: STATUS, laid out like READ */
		return 56;
	if (t == 0x02)
		return 4152;
	*is_system = 1;
	if (t == 0x03 || t == 0x06 || t == 0x80) /* 0x80: READ_PROC_META */
		return 64;
	if (t == 0x04 || t == 0x05)
		return 4176;
	if (t == 0x81) /* VALUE_META: header, ts, padding, wr */
		return 80;
	if (t >= 0x43 && t <= 0x46)
		return 56;
	return 0;
}

typedef struct fz_ref_msg {
	size_t off, size;
	int ok;
} fz_ref_msg;

#define FZ_REF_MAX 4096

/* Whole-stream reference; optionally re-signs each framed message in place. */
static size_t fz_reference(add_wire_mode mode, uint8_t *s, size_t n, int resign,
			   fz_ref_msg *msgs, size_t *tail_start)
{
	size_t pos = 0, count = 0;
	*tail_start = n;
	while (pos < n) {
		size_t rem = n - pos;
		size_t cmp = rem < 4 ? rem : 4;
		if (memcmp(s + pos, "atdd", cmp) != 0) {
			pos++;
			continue;
		}
		if (rem < 8) {
			*tail_start = pos;
			break;
		}
		int sys;
		size_t size = fz_ref_size(mode, s + pos, &sys);
		if (size == 0) {
			pos += 8;
			continue;
		}
		if (rem < size) {
			*tail_start = pos;
			break;
		}
		const uint8_t *key = sys ? fz_system_secret : fz_client_secret;
		int klen = sys ? 64 : 32;
		uint8_t tag[32];
		unsigned int tl = 0;
		CHECK(HMAC(EVP_sha256(), key, klen, s + pos, size - 32, tag, &tl) != NULL);
		if (resign)
			memcpy(s + pos + size - 32, tag, 32);
		CHECK(count < FZ_REF_MAX);
		msgs[count].off = pos;
		msgs[count].size = size;
		msgs[count].ok = memcmp(tag, s + pos + size - 32, 32) == 0;
		count++;
		pos += size;
	}
	return count;
}

/* Checks that a yielded message matches the reference message at s + r->off. */
static void fz_check_msg(add_wire_mode mode, const add_wire_msg *m, const uint8_t *s,
			 const fz_ref_msg *r)
{
	const uint8_t *p = s + r->off;
	CHECK(m->hmac_ok == (r->ok != 0));
	if (mode == ADD_WIRE_MODE_CLIENT) {
		CHECK(m->kind == ADD_WIRE_RSP);
		CHECK(m->rsp.type == p[7] && m->rsp.status == p[6]);
		CHECK(m->rsp.request == add_get_be64(p + 8));
		CHECK((m->rsp.data != NULL) == (r->size == 4144 || r->size == 240));
		if (m->rsp.data)
			CHECK(memcmp(m->rsp.data, p + 16, r->size - 48) == 0);
		CHECK(add_wire_rsp_size(m->rsp.type, m->rsp.status) == r->size);
	} else if (p[7] <= 0x02 || p[7] == 0x82) {
		CHECK(m->kind == ADD_WIRE_CMD);
		CHECK(m->cmd.type == p[7] && memcmp(m->cmd.padding, p + 4, 3) == 0);
		CHECK(m->cmd.request == add_get_be64(p + 8));
		CHECK(m->cmd.sector == add_get_be64(p + 16));
		CHECK((m->cmd.data != NULL) == (r->size == 4152));
		if (m->cmd.data)
			CHECK(memcmp(m->cmd.data, p + 24, 4096) == 0);
		CHECK(add_wire_cmd_size(m->cmd.type) == r->size);
	} else {
		CHECK(m->kind == ADD_WIRE_PEER);
		CHECK(m->peer.type == p[7] && m->peer.rank == p[6]);
		CHECK(memcmp(m->peer.uuid, p + 8, 16) == 0);
		CHECK(m->peer.sector == (r->size == 56 ? 0 : add_get_be64(p + 24)));
		CHECK((m->peer.data != NULL) == (r->size == 4176));
		if (m->peer.data) {
			CHECK(m->peer.ts == add_get_be64(p + 32) && m->peer.wr == p[47]);
			CHECK(memcmp(m->peer.data, p + 48, 4096) == 0);
		}
		if (r->size == 80)
			CHECK(m->peer.ts == add_get_be64(p + 32) && m->peer.wr == p[47]);
		CHECK(add_wire_peer_size(m->peer.type) == r->size);
	}
}

static uint32_t fz_next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int fz_stream(add_wire_mode mode, const uint8_t *data, size_t size)
{
	static fz_ref_msg ref[FZ_REF_MAX];
	static add_wire_decoder dec;
	if (size < 1)
		return 0;
	fz_keys();
	uint8_t flags = data[0];
	size_t n = size - 1;
	uint8_t *s = malloc(n + 1);
	CHECK(s != NULL);
	memcpy(s, data + 1, n);
	size_t tail;
	size_t nref = fz_reference(mode, s, n, flags & 0x80, ref, &tail);

	add_wire_decoder_init(&dec, mode, &fz_client_key,
			      mode == ADD_WIRE_MODE_PROCESS ? &fz_system_key : NULL);
	static const size_t max_chunk[8] = { 1, 2, 3, 7, 64, 1000, 5000, 1 << 20 };
	size_t maxc = max_chunk[flags & 7];
	uint32_t rng = 0x9e3779b9u ^ flags ^ (uint32_t)(n * 2654435761u);
	size_t off = 0, got = 0, msg_bytes = 0;
	while (off < n) {
		size_t chunk = (flags & 8) ? maxc : 1 + fz_next(&rng) % maxc;
		if (chunk > n - off)
			chunk = n - off;
		uint8_t *c = malloc(chunk);
		CHECK(c != NULL);
		memcpy(c, s + off, chunk);
		const uint8_t *p = c;
		size_t left = chunk;
		for (;;) {
			add_wire_msg m;
			size_t used = add_wire_decoder_feed(&dec, p, left, &m);
			CHECK(used <= left);
			CHECK(dec.have < ADD_WIRE_MSG_SIZE_MAX);
			if (m.kind == ADD_WIRE_NONE) {
				CHECK(used == left);
				break;
			}
			CHECK(used > 0 || left == 0);
			CHECK(got < nref);
			fz_check_msg(mode, &m, s, &ref[got]);
			const uint8_t *d = m.kind == ADD_WIRE_CMD   ? m.cmd.data
					   : m.kind == ADD_WIRE_RSP ? m.rsp.data
								    : m.peer.data;
			/* data lies in this chunk (in place) or in the decoder */
			size_t dlen = m.kind == ADD_WIRE_RSP && m.rsp.type == 0xC2
					      ? ADD_STATUS_BODY_SIZE
					      : ADD_SECTOR_SIZE;
			CHECK(d == NULL || (d >= c && d + dlen <= c + chunk) ||
			      (d >= dec.buf && d + dlen <= dec.buf + sizeof(dec.buf)));
			msg_bytes += ref[got].size;
			got++;
			p += used;
			left -= used;
		}
		free(c);
		off += chunk;
	}
	CHECK(got == nref);
	CHECK(dec.stats.messages == nref);
	CHECK(dec.have == n - tail);
	CHECK(memcmp(dec.buf, s + tail, dec.have) == 0);
	CHECK(dec.stats.skipped_bytes + 8 * dec.stats.invalid_types + msg_bytes + dec.have == n);
	free(s);
	return 0;
}

#endif /* FUZZ_STREAM_CHECK_H */
