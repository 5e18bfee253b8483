/* SPDX-License-Identifier: MIT */
/*
 * ADD wire protocol constants: sizes, offsets, types, status codes, magic.
 *
 * The single source of truth for the byte layout of PROTOCOL.md. It holds
 * macros only (no types, no includes) so that userspace (core/, runtime-*,
 * tests, fuzzers) and the kernel module (kmod/) include the very same file.
 * All multi-byte integers on the wire are big-endian.
 */
#ifndef ADD_WIRE_CONSTANTS_H
#define ADD_WIRE_CONSTANTS_H

/* ---- general ----------------------------------------------------------- */
#define ADD_MAGIC_0 0x61 /* 'a' */
#define ADD_MAGIC_1 0x74 /* 't' */
#define ADD_MAGIC_2 0x64 /* 'd' */
#define ADD_MAGIC_3 0x64 /* 'd' */
#define ADD_MAGIC_U32 0x61746464u
#define ADD_MAGIC_SIZE 4

#define ADD_SECTOR_SIZE 4096
#define ADD_HMAC_TAG_SIZE 32
#define ADD_CLIENT_KEY_SIZE 32
#define ADD_SYSTEM_KEY_SIZE 64
#define ADD_UUID_SIZE 16

/* Limits carried from the assignment. */
#define ADD_N_SECTORS_MAX (1ull << 21)
#define ADD_PROCS_MAX 254 /* ranks 1..N, N < 255 */
#define ADD_CLIENTS_MAX 16

/* Bytes to drop when the type byte after a magic is invalid. */
#define ADD_INVALID_TYPE_SKIP 8

/* ---- message types ------------------------------------------------------ */
#define ADD_TYPE_READ 0x01
#define ADD_TYPE_WRITE 0x02
#define ADD_TYPE_READ_PROC 0x03
#define ADD_TYPE_VALUE 0x04
#define ADD_TYPE_WRITE_PROC 0x05
#define ADD_TYPE_ACK 0x06
/* Response to a client command / transport ack of an internal message. */
#define ADD_TYPE_RESPONSE_BIT 0x40
#define ADD_TYPE_READ_RESPONSE 0x41
#define ADD_TYPE_WRITE_RESPONSE 0x42
#define ADD_TYPE_READ_PROC_TACK 0x43
#define ADD_TYPE_VALUE_TACK 0x44
#define ADD_TYPE_WRITE_PROC_TACK 0x45
#define ADD_TYPE_ACK_TACK 0x46
/* Types >= this are free for the project's own messages. */
#define ADD_TYPE_CUSTOM_MIN 0x80
/* The project's own internal messages (system key), only between ADD
 * processes. A write's read phase needs only the replicas' (ts, wr), not
 * their 4 KiB values: READ_PROC_META (laid out like READ_PROC) is answered
 * by VALUE_META (VALUE without the data). No transport acks are defined for
 * them (0x80 + 0x40 does not fit the 0x40 scheme). A process sends them only
 * once every peer has shown it speaks them (core/node.c: a READ_PROC_TACK
 * with a marker UUID asks and answers); until then only the standard
 * messages, so that a process written from PROTOCOL.md alone can be a peer. */
#define ADD_TYPE_READ_PROC_META 0x80
#define ADD_TYPE_VALUE_META 0x81
/* The project's own client command (client key): STATUS asks a process for
 * its state (addctl status). Laid out like READ (sector unused, sent as 0);
 * answered by a STATUS_RESPONSE (0x82 + 0x40) carrying ADD_STATUS_BODY_SIZE
 * bytes when Ok, 48 bytes otherwise. The daemon answers it (the node ignores
 * it); a process written from PROTOCOL.md alone drops it as an invalid type.
 * Body layout: runtime-real/status.h and docs/PROTOCOL.md. */
#define ADD_TYPE_STATUS 0x82
#define ADD_TYPE_STATUS_RESPONSE 0xC2

/* ---- status codes (response byte 6) ------------------------------------- */
#define ADD_STATUS_OK 0x00
#define ADD_STATUS_AUTH_FAILURE 0x01
#define ADD_STATUS_INVALID_SECTOR_INDEX 0x02

/* ---- client -> process: command (client key) ----------------------------
 * magic(4) | padding(3, NOT guaranteed zero) | type(1) | request(8)
 * | sector(8) | data(4096, WRITE only) | hmac(32)
 */
#define ADD_CMD_OFF_MAGIC 0
#define ADD_CMD_OFF_PADDING 4
#define ADD_CMD_PADDING_SIZE 3
#define ADD_CMD_OFF_TYPE 7
#define ADD_CMD_OFF_REQUEST 8
#define ADD_CMD_OFF_SECTOR 16
#define ADD_CMD_OFF_DATA 24
#define ADD_CMD_HEADER_SIZE 24
#define ADD_CMD_READ_SIZE 56    /* 24 + 32 */
#define ADD_CMD_WRITE_SIZE 4152 /* 24 + 4096 + 32 */

/* ---- process -> client: response (client key) ---------------------------
 * magic(4) | padding(2, zero) | status(1) | type(1) | request(8)
 * | data(4096, successful READ only) | hmac(32)
 */
#define ADD_RSP_OFF_MAGIC 0
#define ADD_RSP_OFF_PADDING 4
#define ADD_RSP_PADDING_SIZE 2
#define ADD_RSP_OFF_STATUS 6
#define ADD_RSP_OFF_TYPE 7
#define ADD_RSP_OFF_REQUEST 8
#define ADD_RSP_OFF_DATA 16
#define ADD_RSP_HEADER_SIZE 16
#define ADD_RSP_EMPTY_SIZE 48 /* 16 + 32: WRITE ok, or any failure */
#define ADD_RSP_READ_SIZE 4144 /* 16 + 4096 + 32: READ ok */
#define ADD_STATUS_BODY_SIZE 192
#define ADD_RSP_STATUS_SIZE 240 /* 16 + 192 + 32: STATUS ok */

/* ---- process -> process: internal message (system key) ------------------
 * magic(4) | padding(2) | sender rank(1) | type(1) | uuid(16) | sector(8)
 * | content | hmac(32)
 * VALUE / WRITE_PROC content: ts(8) | padding(7) | write rank(1) | data(4096)
 * VALUE_META content: ts(8) | padding(7) | write rank(1)
 */
#define ADD_PEER_OFF_MAGIC 0
#define ADD_PEER_OFF_PADDING 4
#define ADD_PEER_PADDING_SIZE 2
#define ADD_PEER_OFF_RANK 6
#define ADD_PEER_OFF_TYPE 7
#define ADD_PEER_OFF_UUID 8
#define ADD_PEER_OFF_SECTOR 24
#define ADD_PEER_OFF_CONTENT 32
#define ADD_PEER_HEADER_SIZE 32
#define ADD_PEER_OFF_TS 32
#define ADD_PEER_OFF_TS_PADDING 40
#define ADD_PEER_TS_PADDING_SIZE 7
#define ADD_PEER_OFF_WR 47
#define ADD_PEER_OFF_DATA 48
#define ADD_PEER_SMALL_SIZE 64  /* READ_PROC, ACK: 32 + 32 */
#define ADD_PEER_VALUE_SIZE 4176 /* VALUE, WRITE_PROC: 48 + 4096 + 32 */
#define ADD_PEER_META_SIZE 80    /* VALUE_META: 48 + 32 (ts, padding, wr) */

/* ---- transport acknowledgement of an internal message (system key) -----
 * magic(4) | padding(2) | acking rank(1) | type = orig + 0x40 (1)
 * | uuid(16) | hmac(32)
 */
#define ADD_TACK_OFF_RANK 6
#define ADD_TACK_OFF_TYPE 7
#define ADD_TACK_OFF_UUID 8
#define ADD_TACK_HEADER_SIZE 24
#define ADD_TACK_SIZE 56 /* 24 + 32 */

/* The largest message of the protocol: the size a stream decoder buffers. */
#define ADD_WIRE_MSG_SIZE_MAX ADD_PEER_VALUE_SIZE

#endif /* ADD_WIRE_CONSTANTS_H */
