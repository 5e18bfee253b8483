#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_nbd (fuzz/corpus/nbd/): client byte
streams, each after one byte that picks how the input is cut into reads."""
import os
import struct

IHAVEOPT = 0x49484156454F5054
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "nbd")
os.makedirs(out, exist_ok=True)


def opt(o, data=b""):
    return struct.pack(">QII", IHAVEOPT, o, len(data)) + data


def go(name=b"add", infos=(3,), o=7):
    d = struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos))
    d += b"".join(struct.pack(">H", i) for i in infos)
    return opt(o, d)


def req(typ, cookie, off, ln, flags=0, payload=b""):
    return struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, off, ln) + payload


flags = struct.pack(">I", 3)
seeds = {
    "go_write_read_flush_disc": b"\x3f" + flags + go() + req(1, 1, 0, 4096, payload=b"\xab" * 4096)
    + req(0, 2, 0, 8192) + req(3, 3, 0, 0) + req(6, 4, 4096, 4096, 2) + req(4, 5, 0, 4096) + req(2, 6, 0, 0),
    "unknown_option_then_go_bytewise": b"\x00" + flags + opt(0x4242, b"xyz") + opt(8) + go(b"", (0, 1, 2, 3)),
    "info_list_export_name": b"\x07" + struct.pack(">I", 1) + go(b"add", (), 6) + opt(3)
    + opt(1, b"add") + req(0, 1, 4096, 4096),
    "unaligned_and_fast_zero": b"\x10" + flags + go() + req(1, 1, 512, 100, payload=b"z" * 100)
    + req(6, 2, 0, 4096, 0x10) + req(0, 3, 1 << 40, 4096),
    "bad_request_magic": b"\x20" + flags + go() + b"\x00" * 28,
    "oversized_write": b"\x05" + flags + go() + req(1, 1, 0, 64 << 20),
    "abort": b"\x02" + flags + opt(2),
    "bad_option_magic": b"\x01" + flags + b"\x11" * 16,
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
