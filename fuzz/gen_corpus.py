#!/usr/bin/env python3
"""Writes the seed corpora of the wire fuzzers into fuzz/corpus/<target>/.

Deterministic (fixed seed), so re-running it reproduces the committed files.
Keys are the fuzzers' own (fuzz/stream_check.h). A stream seed is one flags
byte (chunking scheme; 0x80 = re-sign framed messages) followed by the stream.
"""
import hashlib
import hmac
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CK = b"0123456789abcdef0123456789abcdef"
SK = b"system-key-system-key-system-key-system-key-system-key-system-k\0"
rnd = random.Random(20261122)


def sign(key, body):
    return body + hmac.new(key, body, hashlib.sha256).digest()


def sector(seed):
    return bytes((seed + i * 7) & 0xFF for i in range(4096))


def cmd(t, req, sec, pad=b"\0\0\0"):
    body = b"atdd" + pad + bytes([t]) + struct.pack(">QQ", req, sec)
    if t == 2:
        body += sector(req)
    return sign(CK, body)


def rsp(t, status, req):
    body = b"atdd\0\0" + bytes([status, t]) + struct.pack(">Q", req)
    if t == 0x41 and status == 0:
        body += sector(req)
    if t == 0xC2 and status == 0:  # STATUS answer: a 192-byte body, format 1
        body += bytes([1, 1, 3, 0, 0x0E]) + bytes(187)
    return sign(CK, body)


def peer(t, rank, sec, ts=0, wr=0):
    uuid = bytes(rnd.randrange(256) for _ in range(16))
    body = b"atdd\0\0" + bytes([rank, t]) + uuid
    if t >= 0x43:
        return sign(SK, body)
    body += struct.pack(">Q", sec)
    if t in (4, 5):
        body += struct.pack(">Q", ts) + b"\0" * 7 + bytes([wr]) + sector(sec)
    return sign(SK, body)


def bad(msg):
    return msg[:-1] + bytes([msg[-1] ^ 1])


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("process_stream", {
    "read_cmd": b"\x07" + cmd(1, 1, 2),
    "write_cmd_chunks": b"\x05" + cmd(2, 3, 4, b"\xde\xad\x01"),
    "value_bytewise": b"\x00" + peer(4, 2, 9, 5, 2),
    "small_internal_and_tacks": b"\x03" + b"".join(
        [peer(3, 1, 7), peer(6, 3, 7)] + [peer(t, 2, 0) for t in range(0x43, 0x47)]),
    "garbage_invalid_type_read": b"\x02" + b"xxatdatd" + b"atdd\0\0\0\x07" + cmd(1, 5, 6),
    "bad_hmac_write_proc_resign": b"\x84" + bad(peer(5, 4, 1, 77, 4)) + cmd(1, 8, 8),
    "partial_magic": b"\x01" + b"atdatdd\x01atd",
    "status_cmd_then_read": b"\x06" + cmd(0x82, 9, 0) + cmd(1, 10, 3),
})
write("client_stream", {
    "read_ok": b"\x07" + rsp(0x41, 0, 1),
    "empty_responses": b"\x03" + b"".join(
        rsp(t, s, 10 * t + s) for t in (0x41, 0x42) for s in (0, 1, 2) if (t, s) != (0x41, 0)),
    "unknown_status": b"\x00" + rsp(0x42, 9, 1),
    "garbage_then_read_ok_bytewise": b"\x08" + b"at\x00atdd\0\0\0\x01" + rsp(0x41, 0, 2),
    "bad_hmac_resign": b"\x84" + bad(rsp(0x41, 0, 3)) + rsp(0x42, 1, 4),
    "status_ok_and_failed": b"\x05" + rsp(0xC2, 0, 5) + rsp(0xC2, 1, 6) + rsp(0x41, 0, 7),
})
write("roundtrip", {
    "seed%d" % i: bytes([i]) + bytes(rnd.randrange(256) for _ in range(160)) for i in range(8)
})
