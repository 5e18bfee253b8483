/*
 * libFuzzer: encode -> decode round trip. The input describes up to 8
 * messages (kind, type, fields, a data pattern) and how to split the encoded
 * streams; every message is encoded, the PROCESS stream (commands, internal
 * messages, transport acks) and the CLIENT stream (responses) are decoded in
 * those splits, and each decoded message must equal the one encoded, with a
 * valid HMAC, with nothing skipped and nothing left buffered.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c))                                                          \
			__builtin_trap();                                          \
	} while (0)

#define MSGS_MAX 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static add_hmac_key client_key, system_key;

typedef struct reader {
	const uint8_t *p;
	size_t n;
} reader;

static uint8_t rd8(reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

static uint64_t rd64(reader *r)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | rd8(r);
	return v;
}

typedef struct item {
	add_wire_kind kind;
	add_client_cmd cmd;
	add_client_rsp rsp;
	add_peer_msg peer;
	uint8_t data[ADD_SECTOR_SIZE];
} item;

static const uint8_t process_types[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
					 0x43, 0x44, 0x45, 0x46, 0x80, 0x81 };

static void read_item(reader *r, item *it)
{
	memset(it, 0, sizeof(*it));
	uint8_t sel = rd8(r);
	uint8_t pattern = rd8(r);
	for (size_t i = 0; i < ADD_SECTOR_SIZE; i++)
		it->data[i] = (uint8_t)(pattern + i * (pattern | 1));
	if (sel & 0x80) {
		it->kind = ADD_WIRE_RSP;
		it->rsp.type = (sel & 1) ? ADD_TYPE_READ_RESPONSE : ADD_TYPE_WRITE_RESPONSE;
		it->rsp.status = (uint8_t)((sel >> 1) % 3);
		it->rsp.request = rd64(r);
		it->rsp.data = it->data;
		return;
	}
	uint8_t type = process_types[sel % sizeof(process_types)];
	if (type <= ADD_TYPE_WRITE) {
		it->kind = ADD_WIRE_CMD;
		it->cmd.type = type;
		for (int i = 0; i < ADD_CMD_PADDING_SIZE; i++)
			it->cmd.padding[i] = rd8(r);
		it->cmd.request = rd64(r);
		it->cmd.sector = rd64(r);
		it->cmd.data = type == ADD_TYPE_WRITE ? it->data : NULL;
		return;
	}
	it->kind = ADD_WIRE_PEER;
	it->peer.type = type;
	it->peer.rank = rd8(r);
	for (int i = 0; i < ADD_UUID_SIZE; i++)
		it->peer.uuid[i] = rd8(r);
	bool tack = type >= ADD_TYPE_READ_PROC_TACK && type <= ADD_TYPE_ACK_TACK;
	bool value = type == ADD_TYPE_VALUE || type == ADD_TYPE_WRITE_PROC;
	bool meta = type == ADD_TYPE_VALUE_META; /* (ts, wr), no data */
	it->peer.sector = tack ? 0 : rd64(r);
	if (value || meta) {
		it->peer.ts = rd64(r);
		it->peer.wr = rd8(r);
	}
	if (value)
		it->peer.data = it->data;
}

static size_t encode(const item *it, uint8_t *out)
{
	size_t n;
	if (it->kind == ADD_WIRE_CMD) {
		n = add_wire_encode_cmd(&it->cmd, &client_key, out);
		CHECK(n == add_wire_cmd_size(it->cmd.type));
	} else if (it->kind == ADD_WIRE_RSP) {
		n = add_wire_encode_rsp(&it->rsp, &client_key, out);
		CHECK(n == add_wire_rsp_size(it->rsp.type, it->rsp.status));
	} else {
		n = add_wire_encode_peer(&it->peer, &system_key, out);
		CHECK(n == add_wire_peer_size(it->peer.type));
	}
	CHECK(n > 0);
	return n;
}

static void check_equal(const item *it, const add_wire_msg *m)
{
	CHECK(m->kind == it->kind);
	CHECK(m->hmac_ok);
	if (it->kind == ADD_WIRE_CMD) {
		const add_client_cmd *a = &it->cmd, *b = &m->cmd;
		CHECK(a->type == b->type && a->request == b->request && a->sector == b->sector);
		CHECK(memcmp(a->padding, b->padding, ADD_CMD_PADDING_SIZE) == 0);
		CHECK((a->data == NULL) == (b->data == NULL));
		CHECK(!b->data || memcmp(b->data, a->data, ADD_SECTOR_SIZE) == 0);
	} else if (it->kind == ADD_WIRE_RSP) {
		const add_client_rsp *a = &it->rsp, *b = &m->rsp;
		CHECK(a->type == b->type && a->status == b->status && a->request == b->request);
		bool with_data = a->type == ADD_TYPE_READ_RESPONSE && a->status == ADD_STATUS_OK;
		CHECK((b->data != NULL) == with_data);
		CHECK(!b->data || memcmp(b->data, a->data, ADD_SECTOR_SIZE) == 0);
	} else {
		const add_peer_msg *a = &it->peer, *b = &m->peer;
		CHECK(a->type == b->type && a->rank == b->rank && a->sector == b->sector);
		CHECK(a->ts == b->ts && a->wr == b->wr);
		CHECK(memcmp(a->uuid, b->uuid, ADD_UUID_SIZE) == 0);
		CHECK((a->data == NULL) == (b->data == NULL));
		CHECK(!b->data || memcmp(b->data, a->data, ADD_SECTOR_SIZE) == 0);
	}
}

/* Decodes stream[0..n) fed in chunks drawn from r; expects items in order. */
static void decode_stream(add_wire_mode mode, const uint8_t *stream, size_t n,
			  item *const *items, size_t count, reader *r)
{
	static add_wire_decoder dec;
	add_wire_decoder_init(&dec, mode, &client_key,
			      mode == ADD_WIRE_MODE_PROCESS ? &system_key : NULL);
	size_t off = 0, got = 0;
	while (off < n) {
		size_t chunk = ((size_t)rd8(r) << 8 | rd8(r)) % 9000 + 1;
		if (chunk > n - off)
			chunk = n - off;
		uint8_t *c = malloc(chunk); /* exact size: ASan sees any over-read */
		CHECK(c != NULL);
		memcpy(c, stream + off, chunk);
		const uint8_t *p = c;
		size_t left = chunk;
		for (;;) {
			add_wire_msg m;
			size_t used = add_wire_decoder_feed(&dec, p, left, &m);
			CHECK(used <= left);
			if (m.kind == ADD_WIRE_NONE) {
				CHECK(used == left);
				break;
			}
			CHECK(got < count);
			check_equal(items[got++], &m);
			p += used;
			left -= used;
		}
		free(c);
		off += chunk;
	}
	CHECK(got == count);
	CHECK(dec.have == 0);
	CHECK(dec.stats.skipped_bytes == 0 && dec.stats.invalid_types == 0);
	CHECK(dec.stats.bad_hmac == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static item items[MSGS_MAX];
	static uint8_t pstream[MSGS_MAX * ADD_WIRE_MSG_SIZE_MAX];
	static uint8_t cstream[MSGS_MAX * ADD_WIRE_MSG_SIZE_MAX];
	if (!ready) {
		static const uint8_t cs[ADD_CLIENT_KEY_SIZE] = { 1, 2, 3 };
		static const uint8_t ss[ADD_SYSTEM_KEY_SIZE] = { 9, 8, 7 };
		CHECK(add_hmac_key_init(&client_key, cs, sizeof(cs)) == 0);
		CHECK(add_hmac_key_init(&system_key, ss, sizeof(ss)) == 0);
		ready = 1;
	}
	reader r = { data, size };
	size_t count = rd8(&r) % MSGS_MAX + 1;
	item *pitems[MSGS_MAX], *citems[MSGS_MAX];
	size_t np = 0, nc = 0, plen = 0, clen = 0;
	for (size_t i = 0; i < count; i++) {
		read_item(&r, &items[i]);
		if (items[i].kind == ADD_WIRE_RSP) {
			clen += encode(&items[i], cstream + clen);
			citems[nc++] = &items[i];
		} else {
			plen += encode(&items[i], pstream + plen);
			pitems[np++] = &items[i];
		}
	}
	decode_stream(ADD_WIRE_MODE_PROCESS, pstream, plen, pitems, np, &r);
	decode_stream(ADD_WIRE_MODE_CLIENT, cstream, clen, citems, nc, &r);
	return 0;
}
