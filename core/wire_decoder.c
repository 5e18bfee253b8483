/*
 * core/wire: the incremental stream decoder.
 *
 * The stream is the decoder's buffered bytes followed by the caller's input.
 * Resync rules (PROTOCOL.md, "A stream that does not parse"):
 *  - slide byte by byte until a magic "atdd" starts a message;
 *  - the type byte (offset 7) is not one this mode accepts: drop the magic
 *    and the next 4 bytes (8 in total), then slide again;
 *  - any other error (a bad HMAC) consumes exactly the bytes of a
 *    well-formed message of that type, which is yielded with hmac_ok false.
 *
 * Framing needs only the first 8 bytes: the type, and in CLIENT mode the
 * status (offset 6) of a READ or STATUS response (4144 / 240 bytes when Ok,
 * else 48; an
 * unknown status is framed as a 48-byte response and yielded as decoded, the
 * caller decides what to do with it).
 *
 * Fast path: with nothing buffered, a message wholly inside the input is
 * decoded in place (data points into the input). Otherwise at most one
 * message is buffered: its partial magic, its 8-byte header, then its body.
 * Invariant between calls: buf[0..have) is a prefix of the magic (have < 4),
 * or starts with the magic (have >= 4), and when have >= 8 its type is valid
 * and have < its message size. The decoder never reads past `len` and never
 * allocates.
 */
#include <assert.h>
#include <string.h>

#include "wire.h"

#define HEADER_PEEK 8 /* bytes needed to judge a type and frame a message */

static const uint8_t magic[ADD_MAGIC_SIZE] = { ADD_MAGIC_0, ADD_MAGIC_1, ADD_MAGIC_2,
					       ADD_MAGIC_3 };

void add_wire_decoder_init(add_wire_decoder *dec, add_wire_mode mode,
			   const add_hmac_key *client_key, const add_hmac_key *system_key)
{
	assert(dec != NULL && client_key != NULL);
	assert(mode == ADD_WIRE_MODE_PROCESS || mode == ADD_WIRE_MODE_CLIENT);
	assert(mode == ADD_WIRE_MODE_CLIENT || system_key != NULL);
	dec->mode = mode;
	dec->client_key = client_key;
	dec->system_key = system_key;
	dec->have = 0;
	memset(&dec->stats, 0, sizeof(dec->stats));
}

/* Size of the message whose first 8 bytes are hdr, or 0 for a type this
 * mode does not accept. */
static size_t frame_size(add_wire_mode mode, const uint8_t *hdr)
{
	uint8_t type = hdr[7];
	if (mode == ADD_WIRE_MODE_CLIENT)
		return add_wire_rsp_size(type, hdr[ADD_RSP_OFF_STATUS]);
	size_t size = add_wire_cmd_size(type);
	return size != 0 ? size : add_wire_peer_size(type);
}

/* Decodes and verifies the complete message p[0..size). */
static void decode(add_wire_decoder *dec, const uint8_t *p, size_t size,
		   add_wire_msg *out)
{
	uint8_t type = p[7];
	const add_hmac_key *key = dec->client_key;
	memset(out, 0, sizeof(*out));

	if (dec->mode == ADD_WIRE_MODE_CLIENT) {
		out->kind = ADD_WIRE_RSP;
		out->rsp.type = type;
		out->rsp.status = p[ADD_RSP_OFF_STATUS];
		out->rsp.request = add_get_be64(p + ADD_RSP_OFF_REQUEST);
		/* a successful READ's sector, or a successful STATUS's body */
		out->rsp.data = size > ADD_RSP_EMPTY_SIZE ? p + ADD_RSP_OFF_DATA : NULL;
	} else if (add_wire_cmd_size(type) != 0) {
		out->kind = ADD_WIRE_CMD;
		out->cmd.type = type;
		memcpy(out->cmd.padding, p + ADD_CMD_OFF_PADDING, ADD_CMD_PADDING_SIZE);
		out->cmd.request = add_get_be64(p + ADD_CMD_OFF_REQUEST);
		out->cmd.sector = add_get_be64(p + ADD_CMD_OFF_SECTOR);
		out->cmd.data = type == ADD_TYPE_WRITE ? p + ADD_CMD_OFF_DATA : NULL;
	} else {
		key = dec->system_key;
		out->kind = ADD_WIRE_PEER;
		out->peer.type = type;
		out->peer.rank = p[ADD_PEER_OFF_RANK];
		memcpy(out->peer.uuid, p + ADD_PEER_OFF_UUID, ADD_UUID_SIZE);
		if (size != ADD_TACK_SIZE)
			out->peer.sector = add_get_be64(p + ADD_PEER_OFF_SECTOR);
		if (size == ADD_PEER_VALUE_SIZE || size == ADD_PEER_META_SIZE) {
			out->peer.ts = add_get_be64(p + ADD_PEER_OFF_TS);
			out->peer.wr = p[ADD_PEER_OFF_WR];
		}
		if (size == ADD_PEER_VALUE_SIZE)
			out->peer.data = p + ADD_PEER_OFF_DATA;
	}
	out->hmac_ok = add_hmac_verify(key, p, size - ADD_HMAC_TAG_SIZE,
				       p + size - ADD_HMAC_TAG_SIZE);
	dec->stats.messages++;
	if (!out->hmac_ok)
		dec->stats.bad_hmac++;
}

/* Nothing buffered: scan in[0..len) for a message; decode it in place when
 * it is whole, else buffer its start. Returns the bytes consumed. */
static size_t feed_direct(add_wire_decoder *dec, const uint8_t *in, size_t len,
			  add_wire_msg *out)
{
	assert(dec->have == 0);
	size_t pos = 0;
	while (pos < len) {
		size_t rem = len - pos;
		if (in[pos] != ADD_MAGIC_0) {
			const uint8_t *a = memchr(in + pos, ADD_MAGIC_0, rem);
			size_t skip = a != NULL ? (size_t)(a - (in + pos)) : rem;
			dec->stats.skipped_bytes += skip;
			pos += skip;
			continue;
		}
		if (memcmp(in + pos, magic, rem < ADD_MAGIC_SIZE ? rem : ADD_MAGIC_SIZE) != 0) {
			dec->stats.skipped_bytes++;
			pos++;
			continue;
		}
		if (rem < HEADER_PEEK)
			break; /* a magic or its prefix at the end: buffer it */
		size_t size = frame_size(dec->mode, in + pos);
		if (size == 0) {
			dec->stats.invalid_types++;
			pos += ADD_INVALID_TYPE_SKIP;
			continue;
		}
		if (rem < size)
			break;
		decode(dec, in + pos, size, out);
		return pos + size;
	}
	/* in[pos..len) is the start of a message (or empty): keep it. */
	size_t rem = len - pos;
	assert(rem < ADD_WIRE_MSG_SIZE_MAX);
	if (rem > 0)
		memcpy(dec->buf, in + pos, rem);
	dec->have = rem;
	return len;
}

/* Drops leading buffered bytes until buf is empty or a magic prefix. */
static void slide_buffer(add_wire_decoder *dec)
{
	assert(dec->have <= ADD_MAGIC_SIZE);
	size_t drop = 0;
	while (drop < dec->have && memcmp(dec->buf + drop, magic, dec->have - drop) != 0)
		drop++;
	if (drop == 0)
		return;
	memmove(dec->buf, dec->buf + drop, dec->have - drop);
	dec->have -= drop;
	dec->stats.skipped_bytes += drop;
}

size_t add_wire_decoder_feed(add_wire_decoder *dec, const uint8_t *in, size_t len,
			     add_wire_msg *out)
{
	assert(dec != NULL && out != NULL && (in != NULL || len == 0));
	out->kind = ADD_WIRE_NONE;
	size_t pos = 0;
	if (len == 0)
		return 0;

	/* Complete the header of a buffered partial message byte by byte:
	 * a broken magic prefix slides inside the buffer. */
	while (dec->have > 0 && dec->have < HEADER_PEEK && pos < len) {
		dec->buf[dec->have++] = in[pos++];
		if (dec->have <= ADD_MAGIC_SIZE)
			slide_buffer(dec);
	}
	if (dec->have >= HEADER_PEEK) {
		size_t size = frame_size(dec->mode, dec->buf);
		if (size == 0) {
			assert(dec->have == HEADER_PEEK);
			dec->stats.invalid_types++;
			dec->have = 0;
		} else {
			assert(dec->have < size);
			size_t take = size - dec->have;
			if (take > len - pos)
				take = len - pos;
			memcpy(dec->buf + dec->have, in + pos, take);
			dec->have += take;
			pos += take;
			if (dec->have < size) {
				assert(pos == len);
				return pos;
			}
			decode(dec, dec->buf, size, out);
			dec->have = 0; /* out's data stays valid until the next call */
			return pos;
		}
	}
	if (dec->have > 0) {
		assert(pos == len);
		return pos;
	}
	return pos + feed_direct(dec, in + pos, len - pos, out);
}
