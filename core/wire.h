/*
 * core/wire: the ADD protocol (PROTOCOL.md), byte-exact.
 *
 * - HMAC-SHA256 keys prepared once (add_hmac_key) and reused for every message;
 * - encoders that write a complete signed message into a caller buffer;
 * - an incremental stream decoder fed bytes in any split, following the
 *   resync rules: slide to a magic; invalid type drops 8 bytes; any other
 *   error consumes a whole message of that type; a bad HMAC is reported per
 *   message (hmac_ok == false), never silently dropped by the decoder.
 *
 * Decoded messages point into either the caller's input or the decoder's own
 * buffer: `data` pointers are valid only until the next call on that decoder.
 * Nothing here allocates after init. Not thread-safe per object.
 */
#ifndef ADD_WIRE_H
#define ADD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_constants.h"

/* ---- HMAC-SHA256 -------------------------------------------------------- */

/* A keyed HMAC-SHA256 context, prepared once per key. Opaque storage so that
 * it can live inside other structs; see wire_hmac.c for the layout. Signing
 * uses scratch state inside the key: one thread at a time per key. */
typedef struct add_hmac_key {
	void *impl; /* owned; freed by add_hmac_key_free */
} add_hmac_key;

/* Returns 0 on success, -1 on failure (OpenSSL error, bad length). */
int add_hmac_key_init(add_hmac_key *key, const uint8_t *secret, size_t secret_len);
void add_hmac_key_free(add_hmac_key *key);
/* tag = HMAC(key, msg[0..len)) */
void add_hmac_sign(const add_hmac_key *key, const uint8_t *msg, size_t len,
		   uint8_t tag[ADD_HMAC_TAG_SIZE]);
/* Constant-time comparison of HMAC(key, msg[0..len)) with tag. */
bool add_hmac_verify(const add_hmac_key *key, const uint8_t *msg, size_t len,
		     const uint8_t tag[ADD_HMAC_TAG_SIZE]);

/* ---- message structs ---------------------------------------------------- */

/* Client -> process command (READ 0x01 / WRITE 0x02, or the project's
 * STATUS 0x82, laid out like READ). */
typedef struct add_client_cmd {
	uint8_t type;
	uint8_t padding[ADD_CMD_PADDING_SIZE]; /* raw bytes as received / to send */
	uint64_t request;
	uint64_t sector;
	const uint8_t *data; /* WRITE: 4096 bytes; READ: NULL */
} add_client_cmd;

/* Process -> client response (0x41 / 0x42, or the project's 0xC2). */
typedef struct add_client_rsp {
	uint8_t type; /* 0x41, 0x42 or 0xC2 */
	uint8_t status;
	uint64_t request;
	/* 4096 bytes for a successful READ, ADD_STATUS_BODY_SIZE for a
	 * successful STATUS; else NULL */
	const uint8_t *data;
} add_client_rsp;

/* Process -> process message: READ_PROC, VALUE, WRITE_PROC, ACK (0x03..0x06),
 * the project's READ_PROC_META / VALUE_META (0x80, 0x81: VALUE_META has ts
 * and wr, no data) or a transport acknowledgement (0x43..0x46, no sector, no
 * content). */
typedef struct add_peer_msg {
	uint8_t type;
	uint8_t rank; /* sender's rank (1-based) */
	uint8_t uuid[ADD_UUID_SIZE];
	uint64_t sector;     /* 0 for transport acks */
	uint64_t ts;         /* VALUE / WRITE_PROC / VALUE_META only */
	uint8_t wr;          /* VALUE / WRITE_PROC / VALUE_META only */
	const uint8_t *data; /* VALUE / WRITE_PROC: 4096 bytes; else NULL */
} add_peer_msg;

/* ---- sizes -------------------------------------------------------------- */

/* Size on the wire of a message of this type (for a response: of this type
 * and status), or 0 when the type is not one of the protocol's. */
size_t add_wire_cmd_size(uint8_t type);
size_t add_wire_rsp_size(uint8_t type, uint8_t status);
size_t add_wire_peer_size(uint8_t type);

/* ---- encoders ------------------------------------------------------------
 * Each writes a whole signed message to `out` (which must hold the size
 * returned by the matching add_wire_*_size) and returns the bytes written,
 * or 0 when the struct is invalid (unknown type, missing data).
 */
size_t add_wire_encode_cmd(const add_client_cmd *cmd, const add_hmac_key *client_key,
			   uint8_t *out);
size_t add_wire_encode_rsp(const add_client_rsp *rsp, const add_hmac_key *client_key,
			   uint8_t *out);
size_t add_wire_encode_peer(const add_peer_msg *msg, const add_hmac_key *system_key,
			    uint8_t *out);

/* ---- stream decoder ----------------------------------------------------- */

typedef enum add_wire_mode {
	/* A process's listening side: client commands (client key) and
	 * internal messages incl. transport acks (system key). */
	ADD_WIRE_MODE_PROCESS = 1,
	/* A client's side: responses 0x41 / 0x42 / 0xC2 (client key). A response
	 * with an unknown status (> 2) is framed like a failure (48 bytes) and
	 * yielded as decoded: the caller decides what to do with it. */
	ADD_WIRE_MODE_CLIENT = 2,
} add_wire_mode;

typedef enum add_wire_kind {
	ADD_WIRE_NONE = 0,
	ADD_WIRE_CMD,  /* msg.cmd valid */
	ADD_WIRE_RSP,  /* msg.rsp valid */
	ADD_WIRE_PEER, /* msg.peer valid */
} add_wire_kind;

typedef struct add_wire_msg {
	add_wire_kind kind;
	bool hmac_ok; /* false: tag did not verify (fields still decoded) */
	union {
		add_client_cmd cmd;
		add_client_rsp rsp;
		add_peer_msg peer;
	};
} add_wire_msg;

/* Counters a runtime may log (resyncs are worth a rate-limited warning). */
typedef struct add_wire_stats {
	uint64_t messages;      /* complete messages yielded */
	uint64_t bad_hmac;      /* of which hmac_ok == false */
	uint64_t skipped_bytes; /* bytes slid over looking for a magic */
	uint64_t invalid_types; /* times 8 bytes were dropped for a bad type */
} add_wire_stats;

typedef struct add_wire_decoder {
	add_wire_mode mode;
	const add_hmac_key *client_key; /* not owned */
	const add_hmac_key *system_key; /* not owned; unused in CLIENT mode */
	size_t have;                    /* bytes buffered in buf */
	add_wire_stats stats;
	uint8_t buf[ADD_WIRE_MSG_SIZE_MAX];
} add_wire_decoder;

void add_wire_decoder_init(add_wire_decoder *dec, add_wire_mode mode,
			   const add_hmac_key *client_key, const add_hmac_key *system_key);

/*
 * Feeds up to `len` bytes. Returns how many bytes were consumed (always > 0
 * when len > 0, unless a message was yielded from already-buffered bytes).
 * When a whole message is complete it is stored in *out (out->kind != NONE)
 * and the call returns at once: call again with the rest of the input.
 * When it returns with out->kind == NONE, all input was consumed.
 *
 *   while (len > 0 || out.kind != NONE) { n = feed(...); buf += n; len -= n; ... }
 *
 * The simplest correct loop: call until it returns 0 with out->kind == NONE.
 */
size_t add_wire_decoder_feed(add_wire_decoder *dec, const uint8_t *in, size_t len,
			     add_wire_msg *out);

/* ---- big-endian helpers (shared by codec, tests, tools) ----------------- */
static inline void add_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline uint64_t add_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#endif /* ADD_WIRE_H */
