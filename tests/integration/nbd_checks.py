#!/usr/bin/python3
"""NBD checks with libnbd (python3-libnbd) and raw sockets, against addd's
--nbd-listen. Usage: nbd_checks.py CHECK PORT [PORT...]. Prints one line
per sub-check and exits 0 when every one holds.

Checks:
  refuse PORT       unaligned / out-of-range requests get EINVAL and change
                    nothing; FAST_ZERO gets ENOTSUP; TRIM and WRITE_ZEROES
                    read back as zeros (with structured replies, then simple)
  raw PORT          the handshake by hand: unknown options get
                    NBD_REP_ERR_UNSUP and parsing continues; LIST; INFO;
                    structured replies;
                    EXPORT_NAME of the default export; malformed input (bad
                    magic, oversized WRITE, truncated request) closes only
                    that connection
  fair PORT         a 32 MiB WRITE_ZEROES does not hold back other requests
  pattern PORT OFF N BYTE   N bytes at OFF all equal BYTE (for restarts)
  write PORT OFF N BYTE     writes them (then FLUSH)
"""
import errno
import os
import socket
import struct
import sys
import time

import nbd

FAILS = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + (f" ({detail})" if detail and not cond else ""))
    if not cond:
        FAILS.append(name)


def connect(port, strict=True, structured=True):
    h = nbd.NBD()
    if not strict:
        h.set_strict_mode(0)
    h.set_request_structured_replies(structured)
    h.connect_uri(f"nbd://127.0.0.1:{port}/add")
    return h


def nbd_errno(fn):
    try:
        fn()
    except nbd.Error as e:
        # libnbd gives the errno by name ("EINVAL") or by number
        return getattr(errno, e.errno, -1) if isinstance(e.errno, str) else e.errno
    return 0


def check_refuse(port, structured):
    h = connect(port, strict=False, structured=structured)
    check("structured_replies_" + ("on" if structured else "off"),
          h.get_structured_replies_negotiated() == structured)
    size = h.get_size()
    base = bytes([0x5A]) * 8192
    h.pwrite(base, 0)
    h.pwrite(base, size - 8192)
    h.flush()
    cases = [
        ("write_unaligned_offset_einval", lambda: h.pwrite(b"x" * 4096, 512)),
        ("write_unaligned_length_einval", lambda: h.pwrite(b"x" * 100, 0)),
        ("write_partial_sector_einval", lambda: h.pwrite(b"x" * 5000, 0)),
        ("write_past_end_einval", lambda: h.pwrite(b"x" * 8192, size - 4096)),
        ("write_beyond_end_einval", lambda: h.pwrite(b"x" * 4096, size)),
        ("read_unaligned_einval", lambda: h.pread(4096, 100)),
        ("read_short_einval", lambda: h.pread(512, 0)),
        ("read_past_end_einval", lambda: h.pread(8192, size - 4096)),
        ("zero_unaligned_einval", lambda: h.zero(1000, 0)),
        ("zero_past_end_einval", lambda: h.zero(8192, size - 4096)),
        ("trim_unaligned_einval", lambda: h.trim(4096, 10)),
    ]
    for name, fn in cases:
        e = nbd_errno(fn)
        check(name, e == errno.EINVAL, f"errno {e}")
    check("data_unchanged_after_refusals",
          h.pread(8192, 0) == base and h.pread(8192, size - 8192) == base)
    e = nbd_errno(lambda: h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO))
    check("fast_zero_enotsup", e == errno.ENOTSUP, f"errno {e}")
    check("data_unchanged_after_fast_zero", h.pread(4096, 0) == base[:4096])
    h.zero(4096, 0, nbd.CMD_FLAG_NO_HOLE)
    check("write_zeroes_no_hole_reads_zeros", h.pread(8192, 0) == bytes(4096) + base[:4096])
    h.trim(4096, 4096)
    check("trim_reads_zeros", h.pread(8192, 0) == bytes(8192))
    h.pwrite(base, 0, nbd.CMD_FLAG_FUA)
    check("fua_write_reads_back", h.pread(8192, 0) == base)
    check("zero_length_read_ok", h.pread(0, 4096) == b"")
    h.shutdown()


def check_fair(port):
    """A 32 MiB WRITE_ZEROES on one connection (8192 sector writes) does
    not hold back a read on another: the read takes a small part of the
    time the zeroes take (behind them, it would take most of it)."""
    h1, h2 = connect(port), connect(port)
    done = []
    t0 = time.monotonic()
    h1.aio_zero(32 << 20, 80 << 20,
                completion=lambda err: done.append(getattr(err, "value", err)) or 1)
    while h1.aio_get_direction() & nbd.AIO_DIRECTION_WRITE:
        h1.poll(0)  # the request is on the wire
    time.sleep(0.05)
    t1 = time.monotonic()
    h2.pread(4096, 0)
    t_read = time.monotonic() - t1
    while not done:
        h1.poll(-1)
    t_zero = time.monotonic() - t0
    check("large_zeroes_do_not_hold_back_other_requests", t_read < t_zero / 4,
          f"read {t_read:.3f} s during zeroes of {t_zero:.3f} s")
    check("large_zeroes_complete", done == [0], repr(done))
    check("large_zeroes_read_zeros", h2.pread(1 << 20, 95 << 20) == bytes(1 << 20))
    h1.shutdown()
    h2.shutdown()


# ---- raw protocol -------------------------------------------------------

MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x3E889045565A9


def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def raw_connect(port, flags=3):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    magic, opt, hflags = struct.unpack(">QQH", recvn(s, 18))
    assert magic == MAGIC and opt == IHAVEOPT, "greeting"
    s.sendall(struct.pack(">I", flags))
    return s, hflags


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def recv_rep(s):
    magic, opt, typ, ln = struct.unpack(">QIII", recvn(s, 20))
    assert magic == REP_MAGIC, "reply magic"
    return opt, typ, recvn(s, ln)


def go(s, name=b"add", opt=7):
    send_opt(s, opt, struct.pack(">I", len(name)) + name + struct.pack(">H", 1) + struct.pack(">H", 3))
    infos = {}
    while True:
        o, typ, data = recv_rep(s)
        if typ == 1:
            return infos
        if typ & 0x80000000:
            return typ
        infos[struct.unpack(">H", data[:2])[0]] = data[2:]


def closed(s):
    try:
        s.settimeout(5)
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def request(s, typ, cookie, off, ln, flags=0, payload=b""):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, off, ln) + payload)


def simple_reply(s, ln=0):
    magic, err, cookie = struct.unpack(">IIQ", recvn(s, 16))
    assert magic == 0x67446698
    return err, cookie, recvn(s, ln) if err == 0 else b""


def check_raw(port):
    s, hflags = raw_connect(port)
    check("handshake_flags_fixed_newstyle_no_zeroes", hflags == 3, hex(hflags))
    send_opt(s, 0x4242, b"whatever")
    o, typ, _ = recv_rep(s)
    check("unknown_option_err_unsup", o == 0x4242 and typ == 0x80000001, hex(typ))
    send_opt(s, 10, b"x" * 12)  # SET_META_CONTEXT: not supported
    check("set_meta_context_err_unsup", recv_rep(s)[1] == 0x80000001)
    send_opt(s, 3)
    o, typ, data = recv_rep(s)
    ok = typ == 2 and data[4:] == b"add"
    check("list_names_add", ok and recv_rep(s)[1] == 1)
    r = go(s, b"nosuch", opt=6)
    check("info_unknown_export_err_unknown", r == 0x80000006, str(r))
    r = go(s, b"add", opt=6)
    check("info_export_flags", isinstance(r, dict) and struct.unpack(">H", r[0][8:10])[0] == 0x096D,
          repr(r))
    check("info_block_size", isinstance(r, dict) and struct.unpack(">III", r[3]) ==
          (4096, 4096, 32 * 1024 * 1024), repr(r))
    r = go(s, b"")  # GO on the default export, after all of the above
    check("go_default_export_after_unknown_options", isinstance(r, dict) and 0 in r)
    request(s, 1, 7, 0, 4096, payload=b"\x77" * 4096)
    request(s, 0, 8, 0, 4096)
    got = {}
    for _ in range(2):
        err, cookie, _ = simple_reply(s, 0)
        if cookie == 8 and err == 0:
            _ = recvn(s, 4096)
        got[cookie] = err
    check("raw_write_read_replies_by_cookie", got == {7: 0, 8: 0}, repr(got))
    # malformed: a bad magic closes this connection ...
    s2, _ = raw_connect(port)
    go(s2)
    s2.sendall(b"\x00" * 28)
    check("bad_magic_closes_connection", closed(s2))
    # ... an oversized WRITE too ...
    s3, _ = raw_connect(port)
    go(s3)
    request(s3, 1, 1, 0, 64 * 1024 * 1024)
    check("oversized_write_closes_connection", closed(s3))
    # ... a truncated request, then hang-up, changes nothing ...
    s4, _ = raw_connect(port)
    go(s4)
    s4.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 9, 0, 8192) + b"\x99" * 5000)
    s4.close()
    # ... a bad option magic closes the handshake
    s5, _ = raw_connect(port)
    s5.sendall(b"\x01" * 16)
    check("bad_option_magic_closes_connection", closed(s5))
    # ... and the first connection never noticed
    request(s, 0, 9, 0, 8192)
    err, cookie, data = simple_reply(s, 8192)
    check("other_connection_undisturbed", err == 0 and cookie == 9 and data[:4096] == b"\x77" * 4096)
    check("truncated_write_changed_nothing", data[4096:] != b"\x99" * 4096)
    # structured replies: one chunk per request, NBD_REPLY_FLAG_DONE
    s8, _ = raw_connect(port)
    send_opt(s8, 8)
    check("structured_reply_acked", recv_rep(s8)[1] == 1)
    go(s8)
    request(s8, 0, 21, 0, 4096)
    magic, fl, typ, cookie, ln = struct.unpack(">IHHQI", recvn(s8, 20))
    body = recvn(s8, ln)
    check("structured_read_offset_data_done", magic == 0x668E33EF and fl == 1 and typ == 1 and
          cookie == 21 and ln == 8 + 4096 and struct.unpack(">Q", body[:8])[0] == 0 and
          body[8:] == b"\x77" * 4096)
    request(s8, 1, 22, 100, 4096, payload=b"q" * 4096)
    magic, fl, typ, cookie, ln = struct.unpack(">IHHQI", recvn(s8, 20))
    body = recvn(s8, ln)
    check("structured_error_chunk_einval", fl == 1 and typ == 32769 and cookie == 22 and
          struct.unpack(">IH", body[:6]) == (22, 0))
    request(s8, 3, 23, 0, 0)
    magic, fl, typ, cookie, ln = struct.unpack(">IHHQI", recvn(s8, 20))
    check("structured_flush_none_done", fl == 1 and typ == 0 and cookie == 23 and ln == 0)
    request(s8, 2, 0, 0, 0)
    s8.close()
    # EXPORT_NAME (the old way in), NO_ZEROES not asked: 124 zero bytes
    s6, _ = raw_connect(port, flags=1)
    send_opt(s6, 1, b"")
    size, tflags = struct.unpack(">QH", recvn(s6, 10))
    pad = recvn(s6, 124)
    check("export_name_default_export", tflags == 0x096D and pad == bytes(124), hex(tflags))
    request(s6, 2, 0, 0, 0)  # DISC
    check("disc_closes", closed(s6))
    # ABORT is acknowledged, then closed
    s7, _ = raw_connect(port)
    send_opt(s7, 2)
    check("abort_acked_then_closed", recv_rep(s7)[1] == 1 and closed(s7))
    request(s, 2, 0, 0, 0)
    s.close()


def main():
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "refuse":
        check_refuse(port, structured=True)
        check_refuse(port, structured=False)
    elif what == "raw":
        check_raw(port)
    elif what == "fair":
        check_fair(port)
    elif what in ("pattern", "write"):
        off, n, byte = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5], 0)
        h = connect(port)
        if what == "write":
            h.pwrite(bytes([byte]) * n, off)
            h.flush()
        else:
            check(f"pattern_{byte:#x}_at_{off}", h.pread(n, off) == bytes([byte]) * n)
        h.shutdown()
    else:
        sys.exit(f"unknown check {what}")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
