/* runtime-real/nbd_proto: see nbd_proto.h. */
#include "nbd_proto.h"

#include <assert.h>
#include <string.h>

#include "mutants.h"

#define NAME_LEN (sizeof(ADD_NBD_EXPORT_NAME) - 1)
#define REP_HDR 20u

void add_nbd_hs_init(add_nbd_hs *hs, uint64_t export_size)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = ADD_NBD_HS_CLIENT_FLAGS;
	hs->export_size = export_size;
}

size_t add_nbd_greeting(uint8_t out[ADD_NBD_GREETING_SIZE])
{
	add_nbd_put64(out, ADD_NBD_MAGIC);
	add_nbd_put64(out + 8, ADD_NBD_IHAVEOPT);
	add_nbd_put16(out + 16, ADD_NBD_FLAG_FIXED_NEWSTYLE | ADD_NBD_FLAG_NO_ZEROES);
	return ADD_NBD_GREETING_SIZE;
}

/* Appends one option reply; returns the new output length. */
static size_t rep(uint8_t *out, size_t at, uint32_t opt, uint32_t type, const void *data,
		  uint32_t len)
{
	assert(at + REP_HDR + len <= ADD_NBD_HS_OUT_MAX);
	add_nbd_put64(out + at, ADD_NBD_REP_MAGIC);
	add_nbd_put32(out + at + 8, opt);
	add_nbd_put32(out + at + 12, type);
	add_nbd_put32(out + at + 16, len);
	if (len > 0)
		memcpy(out + at + REP_HDR, data, len);
	return at + REP_HDR + len;
}

static size_t rep_err(uint8_t *out, size_t at, uint32_t opt, uint32_t type, const char *msg)
{
	return rep(out, at, opt, type, msg, (uint32_t)strlen(msg));
}

/* The export is "add", and the empty name is the default export. */
static bool name_ok(const uint8_t *name, uint32_t len)
{
	return len == 0 || (len == NAME_LEN && memcmp(name, ADD_NBD_EXPORT_NAME, NAME_LEN) == 0);
}

/* NBD_OPT_INFO / NBD_OPT_GO: [u32 name length, name, u16 n, n x u16]. */
static size_t opt_info_go(add_nbd_hs *hs, uint8_t *out)
{
	const uint8_t *d = hs->data;
	uint32_t len = hs->opt_len, nlen, n;
	bool want_name = false;
	uint8_t info[14];
	size_t at = 0;

	if (len < 6)
		return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_INVALID, "option too short");
	nlen = add_nbd_get32(d);
	if (nlen > len - 6)
		return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_INVALID, "bad name length");
	n = add_nbd_get16(d + 4 + nlen);
	if (len != 4 + nlen + 2 + 2 * n)
		return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_INVALID,
			       "bad information request count");
	if (!name_ok(d + 4, nlen))
		return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_UNKNOWN,
			       "no such export (the export is \"add\")");
	for (uint32_t i = 0; i < n; i++)
		if (add_nbd_get16(d + 4 + nlen + 2 + 2 * i) == ADD_NBD_INFO_NAME)
			want_name = true;
	if (want_name) {
		uint8_t nm[2 + NAME_LEN];
		add_nbd_put16(nm, ADD_NBD_INFO_NAME);
		memcpy(nm + 2, ADD_NBD_EXPORT_NAME, NAME_LEN);
		at = rep(out, at, hs->opt, ADD_NBD_REP_INFO, nm, sizeof(nm));
	}
	add_nbd_put16(info, ADD_NBD_INFO_EXPORT);
	add_nbd_put64(info + 2, hs->export_size);
	add_nbd_put16(info + 10, (uint16_t)ADD_NBD_TFLAGS);
	at = rep(out, at, hs->opt, ADD_NBD_REP_INFO, info, 12);
	/* Sent whether asked or not (the protocol allows it). */
	add_nbd_put16(info, ADD_NBD_INFO_BLOCK_SIZE);
	add_nbd_put32(info + 2, ADD_NBD_BLOCK);
	add_nbd_put32(info + 6, ADD_NBD_BLOCK);
	add_nbd_put32(info + 10, ADD_NBD_PAYLOAD_MAX);
	at = rep(out, at, hs->opt, ADD_NBD_REP_INFO, info, 14);
	at = rep(out, at, hs->opt, ADD_NBD_REP_ACK, NULL, 0);
	if (hs->opt == ADD_NBD_OPT_GO)
		hs->state = ADD_NBD_HS_TRANSMISSION;
	return at;
}

/* One whole option received (data kept if it fit): answer it. */
static size_t opt_done(add_nbd_hs *hs, uint8_t *out)
{
	bool known = hs->opt == ADD_NBD_OPT_EXPORT_NAME || hs->opt == ADD_NBD_OPT_ABORT ||
		     hs->opt == ADD_NBD_OPT_LIST || hs->opt == ADD_NBD_OPT_INFO ||
		     hs->opt == ADD_NBD_OPT_GO || hs->opt == ADD_NBD_OPT_STRUCTURED_REPLY;

	hs->state = ADD_NBD_HS_OPT_HEADER;
	if (!known)
		return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_UNSUP, "option not supported");
	if (hs->opt_len > ADD_NBD_OPT_DATA_MAX) {
		if (hs->opt == ADD_NBD_OPT_EXPORT_NAME) {
			/* no way to answer an error to EXPORT_NAME */
			hs->state = ADD_NBD_HS_CLOSED;
			hs->why = "NBD_OPT_EXPORT_NAME with an oversized name";
			return 0;
		}
		return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_TOO_BIG, "option too long");
	}
	switch (hs->opt) {
	case ADD_NBD_OPT_EXPORT_NAME: {
		size_t n = hs->no_zeroes ? 10 : 134;
		if (!name_ok(hs->data, hs->opt_len)) {
			hs->state = ADD_NBD_HS_CLOSED;
			hs->why = "NBD_OPT_EXPORT_NAME of an unknown export";
			return 0;
		}
		memset(out, 0, n);
		add_nbd_put64(out, hs->export_size);
		add_nbd_put16(out + 8, (uint16_t)ADD_NBD_TFLAGS);
		hs->state = ADD_NBD_HS_TRANSMISSION;
		return n;
	}
	case ADD_NBD_OPT_ABORT:
		hs->state = ADD_NBD_HS_CLOSED;
		hs->why = "the client sent NBD_OPT_ABORT";
		return rep(out, 0, hs->opt, ADD_NBD_REP_ACK, NULL, 0);
	case ADD_NBD_OPT_LIST: {
		uint8_t srv[4 + NAME_LEN];
		size_t at;
		if (hs->opt_len != 0)
			return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_INVALID,
				       "NBD_OPT_LIST takes no data");
		add_nbd_put32(srv, (uint32_t)NAME_LEN);
		memcpy(srv + 4, ADD_NBD_EXPORT_NAME, NAME_LEN);
		at = rep(out, 0, hs->opt, ADD_NBD_REP_SERVER, srv, sizeof(srv));
		return rep(out, at, hs->opt, ADD_NBD_REP_ACK, NULL, 0);
	}
	case ADD_NBD_OPT_STRUCTURED_REPLY:
		if (hs->opt_len != 0)
			return rep_err(out, 0, hs->opt, ADD_NBD_REP_ERR_INVALID,
				       "NBD_OPT_STRUCTURED_REPLY takes no data");
		hs->structured = true;
		return rep(out, 0, hs->opt, ADD_NBD_REP_ACK, NULL, 0);
	default:
		return opt_info_go(hs, out);
	}
}

size_t add_nbd_hs_feed(add_nbd_hs *hs, const uint8_t *in, size_t len, uint8_t *out,
		       size_t *out_len)
{
	size_t used = 0, n;

	*out_len = 0;
	switch (hs->state) {
	case ADD_NBD_HS_CLIENT_FLAGS:
	case ADD_NBD_HS_OPT_HEADER: {
		size_t want = hs->state == ADD_NBD_HS_CLIENT_FLAGS ? 4 : 16;
		n = want - hs->hdr_len < len ? want - hs->hdr_len : len;
		memcpy(hs->hdr + hs->hdr_len, in, n);
		hs->hdr_len += n;
		used = n;
		if (hs->hdr_len < want)
			return used;
		hs->hdr_len = 0;
		if (hs->state == ADD_NBD_HS_CLIENT_FLAGS) {
			uint32_t f = add_nbd_get32(hs->hdr);
			if (f & ~(uint32_t)(ADD_NBD_FLAG_FIXED_NEWSTYLE | ADD_NBD_FLAG_NO_ZEROES)) {
				hs->state = ADD_NBD_HS_CLOSED;
				hs->why = "unknown client flags";
				return used;
			}
			hs->no_zeroes = (f & ADD_NBD_FLAG_NO_ZEROES) != 0;
			hs->state = ADD_NBD_HS_OPT_HEADER;
			return used;
		}
		if (add_nbd_get64(hs->hdr) != ADD_NBD_IHAVEOPT) {
			hs->state = ADD_NBD_HS_CLOSED;
			hs->why = "bad option magic";
			return used;
		}
		if (++hs->opts_seen > ADD_NBD_OPTS_MAX) {
			hs->state = ADD_NBD_HS_CLOSED;
			hs->why = "too many options";
			return used;
		}
		hs->opt = add_nbd_get32(hs->hdr + 8);
		hs->opt_len = add_nbd_get32(hs->hdr + 12);
		hs->opt_got = 0;
		hs->state = ADD_NBD_HS_OPT_DATA;
		if (hs->opt_len == 0)
			*out_len = opt_done(hs, out);
		return used;
	}
	case ADD_NBD_HS_OPT_DATA:
		n = hs->opt_len - hs->opt_got < len ? hs->opt_len - hs->opt_got : len;
		if (hs->opt_got < ADD_NBD_OPT_DATA_MAX) {
			size_t keep = ADD_NBD_OPT_DATA_MAX - hs->opt_got;
			memcpy(hs->data + hs->opt_got, in, n < keep ? n : keep);
		}
		hs->opt_got += (uint32_t)n;
		assert(hs->opt_got <= hs->opt_len);
		if (hs->opt_got == hs->opt_len)
			*out_len = opt_done(hs, out);
		return n;
	case ADD_NBD_HS_TRANSMISSION:
	case ADD_NBD_HS_CLOSED:
		break;
	}
	return 0;
}

/* ---- transmission ------------------------------------------------------- */

void add_nbd_rx_init(add_nbd_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

size_t add_nbd_rx_feed(add_nbd_rx *rx, const uint8_t *in, size_t len, add_nbd_rx_event *ev)
{
	size_t n;

	memset(ev, 0, sizeof(*ev));
	if (rx->broken) {
		ev->kind = ADD_NBD_RX_ERROR;
		ev->why = "input after a malformed request";
		return 0;
	}
	if (rx->in_payload) {
		uint32_t left = rx->payload_len - rx->payload_got;
		if (len == 0)
			return 0;
		n = left < len ? left : len;
		ev->kind = ADD_NBD_RX_PAYLOAD;
		ev->data = in;
		ev->data_len = n;
		ev->payload_off = rx->payload_got;
		rx->payload_got += (uint32_t)n;
		assert(rx->payload_got <= rx->payload_len);
		if (rx->payload_got == rx->payload_len) {
			rx->in_payload = false;
			ev->payload_end = true;
		}
		return n;
	}
	n = ADD_NBD_REQUEST_SIZE - rx->hdr_len < len ? ADD_NBD_REQUEST_SIZE - rx->hdr_len : len;
	memcpy(rx->hdr + rx->hdr_len, in, n);
	rx->hdr_len += n;
	if (rx->hdr_len < ADD_NBD_REQUEST_SIZE)
		return n;
	rx->hdr_len = 0;
	if (add_nbd_get32(rx->hdr) != ADD_NBD_REQUEST_MAGIC) {
		rx->broken = true;
		ev->kind = ADD_NBD_RX_ERROR;
		ev->why = "bad request magic";
		return n;
	}
	ev->req.flags = add_nbd_get16(rx->hdr + 4);
	ev->req.type = add_nbd_get16(rx->hdr + 6);
	ev->req.cookie = add_nbd_get64(rx->hdr + 8);
	ev->req.offset = add_nbd_get64(rx->hdr + 16);
	ev->req.length = add_nbd_get32(rx->hdr + 24);
	if (ev->req.type == ADD_NBD_CMD_WRITE) {
		if (ev->req.length > ADD_NBD_PAYLOAD_MAX) {
			rx->broken = true;
			ev->kind = ADD_NBD_RX_ERROR;
			ev->why = "WRITE longer than the maximum payload";
			return n;
		}
		rx->in_payload = ev->req.length > 0;
		rx->payload_len = ev->req.length;
		rx->payload_got = 0;
	}
	ev->kind = ADD_NBD_RX_REQUEST;
	return n;
}

bool add_nbd_is_write(uint16_t type)
{
	return type == ADD_NBD_CMD_WRITE || type == ADD_NBD_CMD_WRITE_ZEROES ||
	       type == ADD_NBD_CMD_TRIM;
}

uint32_t add_nbd_check(const add_nbd_req *req, uint64_t export_size)
{
	switch (req->type) {
	case ADD_NBD_CMD_READ:
	case ADD_NBD_CMD_WRITE:
		if (req->length > ADD_NBD_PAYLOAD_MAX)
			return ADD_NBD_EINVAL;
		break;
	case ADD_NBD_CMD_WRITE_ZEROES:
	case ADD_NBD_CMD_TRIM:
		break;
	case ADD_NBD_CMD_FLUSH:
	case ADD_NBD_CMD_DISC:
		return 0;
	default:
		return ADD_NBD_EINVAL;
	}
	/* Whole sectors only: a partial sector would need a read-modify-write,
	 * which is not atomic against other writers. */
	if (req->offset % ADD_NBD_BLOCK != 0)
		return ADD_NBD_EINVAL;
	if (!ADD_MUTANT_ON(ADD_MUTANT_NBD_ACCEPT_UNALIGNED) && req->length % ADD_NBD_BLOCK != 0)
		return ADD_NBD_EINVAL;
	if (req->offset > export_size || req->length > export_size - req->offset)
		return ADD_NBD_EINVAL;
	if (req->type == ADD_NBD_CMD_WRITE_ZEROES && (req->flags & ADD_NBD_CMD_FLAG_FAST_ZERO))
		return ADD_NBD_ENOTSUP; /* zeros are written like data: never fast */
	return 0;
}

void add_nbd_encode_simple_reply(uint8_t out[ADD_NBD_SIMPLE_REPLY_SIZE], uint32_t error,
				 uint64_t cookie)
{
	add_nbd_put32(out, ADD_NBD_SIMPLE_REPLY_MAGIC);
	add_nbd_put32(out + 4, error);
	add_nbd_put64(out + 8, cookie);
}

size_t add_nbd_encode_reply(uint8_t *out, bool structured, const add_nbd_req *req,
			    uint32_t error)
{
	bool data = error == 0 && req->type == ADD_NBD_CMD_READ && req->length > 0;
	uint16_t type = data ? ADD_NBD_REPLY_TYPE_OFFSET_DATA
			: error ? ADD_NBD_REPLY_TYPE_ERROR : ADD_NBD_REPLY_TYPE_NONE;
	uint32_t len = data ? 8 + req->length : error ? 6 : 0;

	if (!structured) {
		add_nbd_encode_simple_reply(out, error, req->cookie);
		return ADD_NBD_SIMPLE_REPLY_SIZE;
	}
	add_nbd_put32(out, ADD_NBD_STRUCTURED_REPLY_MAGIC);
	add_nbd_put16(out + 4, ADD_NBD_REPLY_FLAG_DONE);
	add_nbd_put16(out + 6, type);
	add_nbd_put64(out + 8, req->cookie);
	add_nbd_put32(out + 16, len);
	if (data) {
		add_nbd_put64(out + 20, req->offset);
		return ADD_NBD_STRUCTURED_HDR_SIZE + 8;
	}
	if (error) {
		add_nbd_put32(out + 20, error);
		add_nbd_put16(out + 24, 0); /* no message */
		return ADD_NBD_STRUCTURED_HDR_SIZE + 6;
	}
	return ADD_NBD_STRUCTURED_HDR_SIZE;
}
