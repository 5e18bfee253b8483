"""An independent client of the ADD wire protocol, written from PROTOCOL.md
alone (stdlib only: hmac, hashlib, struct, socket). It cross-checks the C
codec's byte layout from the outside: if both agree with the document, the
integration tests pass."""

import hashlib
import hmac
import socket
import struct

MAGIC = b"atdd"
SECTOR = 4096
READ, WRITE = 0x01, 0x02
OK, AUTH_FAILURE, INVALID_SECTOR = 0, 1, 2


def sign(key, body):
    return hmac.new(key, body, hashlib.sha256).digest()


def encode_cmd(key, typ, request, sector, data=None, padding=b"\0\0\0", bad_tag=False):
    """READ = 56 bytes, WRITE = 4152 bytes: magic | padding(3) | type |
    request u64 | sector u64 | data (WRITE) | HMAC-SHA256."""
    body = MAGIC + padding + bytes([typ]) + struct.pack(">QQ", request, sector)
    if typ == WRITE:
        assert data is not None and len(data) == SECTOR
        body += data
    tag = sign(key, body)
    if bad_tag:
        tag = bytes([tag[0] ^ 1]) + tag[1:]
    return body + tag


class Response:
    def __init__(self, status, typ, request, data, tag_ok, raw_len):
        self.status, self.type, self.request = status, typ, request
        self.data, self.tag_ok, self.raw_len = data, tag_ok, raw_len

    def __repr__(self):
        return "Response(status=%d type=0x%02x req=%d len=%d tag_ok=%s)" % (
            self.status, self.type, self.request, self.raw_len, self.tag_ok)


class Client:
    """One TCP connection to a process; responses parsed by the table:
    magic | padding(2) | status | type | request u64 | data (READ ok) | HMAC."""

    def __init__(self, addr, key, timeout=10.0):
        host, port = addr
        self.key = key
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, raw):
        self.sock.sendall(raw)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the process")
            self.buf += chunk

    def recv_response(self):
        self._fill(8)
        if self.buf[:4] != MAGIC:
            raise ValueError("response does not start with the magic: %r" % self.buf[:8])
        status, typ = self.buf[6], self.buf[7]
        size = 16 + (SECTOR if (typ == 0x41 and status == OK) else 0) + 32
        self._fill(size)
        raw, self.buf = self.buf[:size], self.buf[size:]
        if raw[4:6] != b"\0\0":
            raise ValueError("response padding is not zero")
        (request,) = struct.unpack(">Q", raw[8:16])
        data = raw[16:16 + SECTOR] if size > 48 else None
        tag_ok = hmac.compare_digest(sign(self.key, raw[:-32]), raw[-32:])
        return Response(status, typ, request, data, tag_ok, size)

    def command(self, typ, request, sector, data=None):
        self.send(encode_cmd(self.key, typ, request, sector, data))
        return self.recv_response()

    def write(self, sector, data, request=1):
        r = self.command(WRITE, request, sector, data)
        _check(r, 0x42, request)
        return r

    def read(self, sector, request=2):
        r = self.command(READ, request, sector)
        _check(r, 0x41, request)
        return r.data


def _check(r, typ, request):
    if not r.tag_ok:
        raise ValueError("reply HMAC does not verify")
    if r.type != typ or r.request != request:
        raise ValueError("unexpected reply %r" % r)
    if r.status != OK:
        raise ValueError("status %d" % r.status)


def pattern(tag, sector):
    """4096 bytes that say which write they are."""
    head = struct.pack(">QQ", sector, tag)
    return (head * (SECTOR // 16))[:SECTOR]
