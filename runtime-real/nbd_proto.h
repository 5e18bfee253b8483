/*
 * runtime-real/nbd_proto: the Network Block Device protocol's bytes, as the
 * NetworkBlockDevice project's doc/proto.md defines them: the fixed newstyle
 * handshake (server side) and the transmission phase's request decoder and
 * simple-reply encoder. Pure (no syscalls, no allocation): fed bytes, it
 * returns what to send and what was asked, so it can be fuzzed
 * (fuzz/fuzz_nbd.c) and unit tested (tests/unit/test_nbd_proto.c).
 *
 * One export, named "add", also the default export (empty name), of
 * `export_size` bytes. Everything is big-endian on the wire. Replies are
 * simple, or structured once the client asked for NBD_OPT_STRUCTURED_REPLY
 * (then every reply is one chunk with NBD_REPLY_FLAG_DONE).
 */
#ifndef ADD_REAL_NBD_PROTO_H
#define ADD_REAL_NBD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADD_NBD_EXPORT_NAME "add"
/* Every request is in whole 4 KiB sectors. */
#define ADD_NBD_BLOCK 4096u
/* Largest READ / WRITE payload (advertised as the maximum block size). */
#define ADD_NBD_PAYLOAD_MAX (32u * 1024 * 1024)

#define ADD_NBD_MAGIC 0x4e42444d41474943ull	  /* "NBDMAGIC" */
#define ADD_NBD_IHAVEOPT 0x49484156454f5054ull	  /* "IHAVEOPT" */
#define ADD_NBD_REP_MAGIC 0x0003e889045565a9ull
#define ADD_NBD_REQUEST_MAGIC 0x25609513u
#define ADD_NBD_SIMPLE_REPLY_MAGIC 0x67446698u

/* Handshake flags (server) and client flags. */
#define ADD_NBD_FLAG_FIXED_NEWSTYLE 1u
#define ADD_NBD_FLAG_NO_ZEROES 2u

/* Options. */
#define ADD_NBD_OPT_EXPORT_NAME 1u
#define ADD_NBD_OPT_ABORT 2u
#define ADD_NBD_OPT_LIST 3u
#define ADD_NBD_OPT_INFO 6u
#define ADD_NBD_OPT_GO 7u
#define ADD_NBD_OPT_STRUCTURED_REPLY 8u

/* Option replies. */
#define ADD_NBD_REP_ACK 1u
#define ADD_NBD_REP_SERVER 2u
#define ADD_NBD_REP_INFO 3u
#define ADD_NBD_REP_ERR_UNSUP 0x80000001u
#define ADD_NBD_REP_ERR_INVALID 0x80000003u
#define ADD_NBD_REP_ERR_UNKNOWN 0x80000006u
#define ADD_NBD_REP_ERR_TOO_BIG 0x80000009u

/* NBD_REP_INFO types. */
#define ADD_NBD_INFO_EXPORT 0u
#define ADD_NBD_INFO_NAME 1u
#define ADD_NBD_INFO_DESCRIPTION 2u
#define ADD_NBD_INFO_BLOCK_SIZE 3u

/* Transmission flags. */
#define ADD_NBD_TFLAG_HAS_FLAGS (1u << 0)
#define ADD_NBD_TFLAG_SEND_FLUSH (1u << 2)
#define ADD_NBD_TFLAG_SEND_FUA (1u << 3)
#define ADD_NBD_TFLAG_SEND_TRIM (1u << 5)
#define ADD_NBD_TFLAG_SEND_WRITE_ZEROES (1u << 6)
#define ADD_NBD_TFLAG_CAN_MULTI_CONN (1u << 8)
#define ADD_NBD_TFLAG_SEND_FAST_ZERO (1u << 11)
/* What this server advertises: every one of them is true (see nbd_server.h). */
#define ADD_NBD_TFLAGS                                                                   \
	(ADD_NBD_TFLAG_HAS_FLAGS | ADD_NBD_TFLAG_SEND_FLUSH | ADD_NBD_TFLAG_SEND_FUA |   \
	 ADD_NBD_TFLAG_SEND_TRIM | ADD_NBD_TFLAG_SEND_WRITE_ZEROES |                      \
	 ADD_NBD_TFLAG_CAN_MULTI_CONN | ADD_NBD_TFLAG_SEND_FAST_ZERO)

/* Commands and their flags. */
#define ADD_NBD_CMD_READ 0u
#define ADD_NBD_CMD_WRITE 1u
#define ADD_NBD_CMD_DISC 2u
#define ADD_NBD_CMD_FLUSH 3u
#define ADD_NBD_CMD_TRIM 4u
#define ADD_NBD_CMD_WRITE_ZEROES 6u
#define ADD_NBD_CMD_FLAG_FUA (1u << 0)
#define ADD_NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define ADD_NBD_CMD_FLAG_FAST_ZERO (1u << 4)

/* Errors of a reply. */
#define ADD_NBD_EIO 5u
#define ADD_NBD_EINVAL 22u
#define ADD_NBD_ENOTSUP 95u

/* ---- handshake ---------------------------------------------------------- */

/* Server's first bytes: NBDMAGIC, IHAVEOPT, handshake flags. */
#define ADD_NBD_GREETING_SIZE 18u
/* Option data kept; longer data is skipped (NBD_REP_ERR_TOO_BIG). Room for a
 * 4096-byte name, its length and a few hundred info requests. */
#define ADD_NBD_OPT_DATA_MAX 5120u
/* Options one connection may send before it is closed. */
#define ADD_NBD_OPTS_MAX 256u
/* Largest output of one call of add_nbd_hs_feed. */
#define ADD_NBD_HS_OUT_MAX 512u

typedef enum add_nbd_hs_state {
	ADD_NBD_HS_CLIENT_FLAGS = 0,
	ADD_NBD_HS_OPT_HEADER,
	ADD_NBD_HS_OPT_DATA,
	ADD_NBD_HS_TRANSMISSION, /* done: the bytes that follow are requests */
	ADD_NBD_HS_CLOSED,	 /* close the connection once `out` is sent */
} add_nbd_hs_state;

typedef struct add_nbd_hs {
	add_nbd_hs_state state;
	uint64_t export_size;
	bool no_zeroes;
	bool structured; /* NBD_OPT_STRUCTURED_REPLY acknowledged */
	uint32_t opts_seen;
	uint8_t hdr[16];
	size_t hdr_len;
	uint32_t opt;
	uint32_t opt_len;
	uint32_t opt_got; /* data bytes received (kept or skipped) */
	const char *why;  /* CLOSED: why, for the log */
	uint8_t data[ADD_NBD_OPT_DATA_MAX];
} add_nbd_hs;

void add_nbd_hs_init(add_nbd_hs *hs, uint64_t export_size);
/* The greeting the server sends at once. Returns ADD_NBD_GREETING_SIZE. */
size_t add_nbd_greeting(uint8_t out[ADD_NBD_GREETING_SIZE]);
/*
 * Feeds received bytes. Consumes at most one client message (the client
 * flags or one option), writes the answer to `out` (at most
 * ADD_NBD_HS_OUT_MAX bytes, *out_len set) and returns the bytes consumed.
 * Call again with the rest while the state is neither TRANSMISSION (bytes
 * not consumed then belong to the transmission phase) nor CLOSED.
 */
size_t add_nbd_hs_feed(add_nbd_hs *hs, const uint8_t *in, size_t len, uint8_t *out,
		       size_t *out_len);

/* ---- transmission ------------------------------------------------------- */

#define ADD_NBD_REQUEST_SIZE 28u
#define ADD_NBD_SIMPLE_REPLY_SIZE 16u
#define ADD_NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define ADD_NBD_STRUCTURED_HDR_SIZE 20u
#define ADD_NBD_REPLY_FLAG_DONE 1u
#define ADD_NBD_REPLY_TYPE_NONE 0u
#define ADD_NBD_REPLY_TYPE_OFFSET_DATA 1u
#define ADD_NBD_REPLY_TYPE_ERROR 32769u
/* Most bytes a reply puts before a READ's data: a structured chunk header
 * and its offset (a simple reply needs 16). */
#define ADD_NBD_REPLY_PREFIX_MAX (ADD_NBD_STRUCTURED_HDR_SIZE + 8u)

typedef struct add_nbd_req {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
} add_nbd_req;

typedef enum add_nbd_rx_kind {
	ADD_NBD_RX_NONE = 0, /* need more bytes */
	ADD_NBD_RX_REQUEST,  /* ev.req; a WRITE's payload follows as PAYLOAD events */
	ADD_NBD_RX_PAYLOAD,  /* ev.data[0..data_len) at ev.payload_off of the payload */
	ADD_NBD_RX_ERROR,    /* malformed: close the connection (ev.why) */
} add_nbd_rx_kind;

typedef struct add_nbd_rx_event {
	add_nbd_rx_kind kind;
	add_nbd_req req;
	const uint8_t *data; /* points into the input */
	size_t data_len;
	uint32_t payload_off;
	bool payload_end; /* PAYLOAD: this is its last piece */
	const char *why;
} add_nbd_rx_event;

typedef struct add_nbd_rx {
	uint8_t hdr[ADD_NBD_REQUEST_SIZE];
	size_t hdr_len;
	uint32_t payload_len;  /* of the current WRITE */
	uint32_t payload_got;
	bool in_payload;
	bool broken; /* after an ERROR, every later call is an ERROR */
} add_nbd_rx;

void add_nbd_rx_init(add_nbd_rx *rx);
/* Consumes bytes up to and including one event; returns how many. A WRITE
 * longer than ADD_NBD_PAYLOAD_MAX, or a bad magic, is an ERROR. */
size_t add_nbd_rx_feed(add_nbd_rx *rx, const uint8_t *in, size_t len, add_nbd_rx_event *ev);

/* 0 when the request may run, else the NBD error to answer it with (EINVAL:
 * not whole 4 KiB sectors, past the end, unknown command, oversized READ;
 * ENOTSUP: FAST_ZERO). DISC is valid (and gets no reply). */
uint32_t add_nbd_check(const add_nbd_req *req, uint64_t export_size);
/* True for the commands that change data (FLUSH waits for them). */
bool add_nbd_is_write(uint16_t type);

void add_nbd_encode_simple_reply(uint8_t out[ADD_NBD_SIMPLE_REPLY_SIZE], uint32_t error,
				 uint64_t cookie);
/*
 * The one reply to a request, simple or as one structured chunk with
 * NBD_REPLY_FLAG_DONE, without the data a successful READ carries (which
 * follows it at once): OFFSET_DATA (with the request's offset) for a READ
 * with data, ERROR (no message) when `error`, else NONE. Writes it to `out`
 * (ADD_NBD_REPLY_PREFIX_MAX bytes of room) and returns its length.
 */
size_t add_nbd_encode_reply(uint8_t *out, bool structured, const add_nbd_req *req,
			    uint32_t error);

/* Big-endian helpers (also for the tests). */
static inline void add_nbd_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void add_nbd_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static inline void add_nbd_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static inline uint16_t add_nbd_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t add_nbd_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t add_nbd_get64(const uint8_t *p)
{
	return ((uint64_t)add_nbd_get32(p) << 32) | add_nbd_get32(p + 4);
}

#endif /* ADD_REAL_NBD_PROTO_H */
