#!/usr/bin/env python3
"""Integration tests of addd and addctl: real processes on loopback, random
free ports, every process stopped by pid (also on failure). Each test is one
behaviour, named for it. Prints "ok"/"FAIL" per test and ends with
"N passed, N failed".

    tests/integration/test_cluster.py [BUILD_DIR] [-k SUBSTRING]
"""

import hashlib
import hmac
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from addproto import (AUTH_FAILURE, INVALID_SECTOR, MAGIC, OK, READ, SECTOR,  # noqa: E402
                      WRITE, Client, encode_cmd, pattern)

BUILD = "build"
ZERO = bytes(SECTOR)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_key(path, nbytes, mode=0o600):
    key = os.urandom(nbytes)
    with open(path, "w") as f:
        f.write(key.hex() + "\n")
    os.chmod(path, mode)
    return key


class Cluster:
    """N addd processes on loopback in a temporary directory."""

    def __init__(self, n, sectors=4096, tmp=None):
        self.n, self.sectors = n, sectors
        self.dir = tmp or tempfile.mkdtemp(prefix="add-it-")
        self.ckey_path = os.path.join(self.dir, "client.key")
        self.skey_path = os.path.join(self.dir, "system.key")
        self.ckey = write_key(self.ckey_path, 32)
        write_key(self.skey_path, 64)
        self.ports = [free_port() for _ in range(n)]
        self.peers = ",".join("127.0.0.1:%d" % p for p in self.ports)
        self.procs = {}
        self.host = "127.0.0.1"  # where tests connect

    def addr(self, rank):
        return (self.host, self.ports[rank - 1])

    def argv(self, rank):
        return [os.path.join(BUILD, "addd"), "--rank", str(rank), "--peers", self.peers,
                "--storage-dir", os.path.join(self.dir, "store-%d" % rank),
                "--sectors", str(self.sectors), "--client-key-file", self.ckey_path,
                "--system-key-file", self.skey_path]

    def start(self, rank, wait=True):
        log = open(os.path.join(self.dir, "addd-%d.log" % rank), "ab")
        self.procs[rank] = subprocess.Popen(self.argv(rank), stdout=log, stderr=log)
        log.close()
        if wait:
            wait_listening(self.addr(rank), self.procs[rank])

    def start_all(self):
        for r in range(1, self.n + 1):
            self.start(r, wait=False)
        for r in range(1, self.n + 1):
            wait_listening(self.addr(r), self.procs[r])

    def kill(self, rank, sig=signal.SIGKILL):
        p = self.procs.pop(rank, None)
        if p is not None:
            p.send_signal(sig)
            p.wait(10)
        return p

    def stop(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}

    def client(self, rank):
        return Client(self.addr(rank), self.ckey)

    def logs(self):
        out = []
        for r in range(1, self.n + 1):
            path = os.path.join(self.dir, "addd-%d.log" % r)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append("--- addd %d\n%s" % (r, f.read()[-3000:]))
        return "\n".join(out)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_listening(addr, proc=None, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(addr, 0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise AssertionError("addd exited with %d before listening" % proc.returncode)
            time.sleep(0.005)
    raise AssertionError("nothing listening on %s:%d" % addr)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---- tests ----------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def one_process_write_then_read_returns_the_data(ctx):
    c = ctx.one.client(1)
    data = pattern(7, 11)
    c.write(11, data)
    check(c.read(11) == data, "read did not return the written data")
    c.close()


@test
def never_written_sector_reads_as_zeros(ctx):
    c = ctx.one.client(1)
    check(c.read(ctx.one.sectors - 1) == ZERO, "never-written sector is not zeros")
    c.close()


@test
def sixteen_clients_writing_one_sector_leave_one_whole_pattern(ctx):
    cl = ctx.one
    clients = [cl.client(1) for _ in range(16)]
    pats = [bytes([i + 1]) * SECTOR for i in range(16)]
    for i, c in enumerate(clients):
        c.send(encode_cmd(cl.ckey, WRITE, 100 + i, 42, pats[i]))
    for i, c in enumerate(clients):
        r = c.recv_response()
        check(r.tag_ok and r.status == OK and r.request == 100 + i, "bad reply %r" % r)
    got = clients[0].read(42)
    check(got in pats, "sector 42 holds no whole pattern (first bytes %r)" % got[:8])
    for c in clients:
        c.close()


@test
def pipelined_writes_and_reads_are_matched_by_request_number(ctx):
    cl = ctx.three
    c = cl.client(1)
    base = random.randrange(1 << 40)
    c.send(b"".join(encode_cmd(cl.ckey, WRITE, base + i, 200 + i, pattern(base + i, 200 + i))
                    for i in range(32)))
    seen = set()
    for _ in range(32):
        r = c.recv_response()
        check(r.tag_ok and r.status == OK and r.type == 0x42, "bad write reply %r" % r)
        seen.add(r.request)
    check(seen == {base + i for i in range(32)}, "write replies do not match the requests")
    c.send(b"".join(encode_cmd(cl.ckey, READ, base + 1000 + i, 200 + i) for i in range(32)))
    for _ in range(32):
        r = c.recv_response()
        i = r.request - base - 1000
        check(r.tag_ok and r.status == OK and 0 <= i < 32, "bad read reply %r" % r)
        check(r.data == pattern(base + i, 200 + i), "read %d returned other data" % i)
        seen.add(r.request)
    check(len(seen) == 64, "a reply came twice or never")
    c.close()


@test
def bad_hmac_gets_status_1_in_a_validly_signed_reply(ctx):
    cl = ctx.three
    c = cl.client(2)
    c.send(encode_cmd(cl.ckey, WRITE, 77, 3, pattern(1, 3), bad_tag=True))
    r = c.recv_response()
    check(r.status == AUTH_FAILURE, "status %d, want 1" % r.status)
    check(r.tag_ok, "the reply to a bad command is not signed with the client key")
    check(r.type == 0x42 and r.request == 77 and r.raw_len == 48, "bad reply %r" % r)
    c.close()


@test
def sector_index_equal_to_n_sectors_gets_status_2(ctx):
    cl = ctx.three
    c = cl.client(1)
    r = c.command(READ, 5, cl.sectors)
    check(r.status == INVALID_SECTOR and r.tag_ok and r.raw_len == 48, "bad reply %r" % r)
    r = c.command(WRITE, 6, cl.sectors, ZERO)
    check(r.status == INVALID_SECTOR and r.type == 0x42, "bad reply %r" % r)
    c.close()


@test
def garbage_and_an_invalid_type_before_a_command_are_skipped(ctx):
    cl = ctx.three
    c = cl.client(3)
    junk = b"garbage!" + b"at" + MAGIC + b"\0\0\0\x7f" + b"xxxx" + b"atd"
    c.send(junk + encode_cmd(cl.ckey, READ, 99, 1))
    r = c.recv_response()
    check(r.tag_ok and r.status == OK and r.request == 99 and r.type == 0x41, "bad reply %r" % r)
    c.close()


@test
def a_megabyte_of_random_bytes_then_a_command_is_answered(ctx):
    cl = ctx.three
    rng = random.Random(11)
    junk = bytes(rng.getrandbits(8) for _ in range(1 << 20))
    half = cl.client(1)
    half.send(encode_cmd(cl.ckey, WRITE, 1, 1, ZERO)[:1000])  # then hang up mid-message
    half.close()
    c = cl.client(1)
    c.send(junk + encode_cmd(cl.ckey, READ, 4242, 2))
    r = c.recv_response()
    while r.request != 4242:  # commands hidden in the junk would be answered too
        r = c.recv_response()
    check(r.tag_ok and r.status == OK, "bad reply %r" % r)
    c.close()
    check(all(p.poll() is None for p in cl.procs.values()), "a process died")


@test
def nonzero_command_padding_is_accepted(ctx):
    cl = ctx.three
    c = cl.client(1)
    c.send(encode_cmd(cl.ckey, READ, 98, 1, padding=b"\xde\xad\xbf"))
    r = c.recv_response()
    check(r.tag_ok and r.status == OK and r.request == 98, "bad reply %r" % r)
    c.close()


@test
def write_through_one_process_read_through_the_others(ctx):
    cl = ctx.three
    data = pattern(random.randrange(1 << 60), 300)
    w = cl.client(1)
    w.write(300, data)
    w.close()
    for r in (2, 3):
        c = cl.client(r)
        check(c.read(300) == data, "process %d does not return the write" % r)
        c.close()


@test
def a_seventeenth_client_is_refused_and_the_sixteen_keep_working(ctx):
    cl = ctx.three
    clients = [cl.client(1) for _ in range(16)]
    for c in clients:
        c.read(1)
    extra = cl.client(1)
    extra.sock.settimeout(3)
    refused = False
    try:
        extra.send(encode_cmd(cl.ckey, READ, 1, 1))
        extra.recv_response()
    except (ConnectionError, OSError):
        refused = True
    extra.close()
    check(refused, "a 17th client was served")
    for c in clients:
        c.read(1)
    clients.pop().close()
    time.sleep(0.1)
    again = cl.client(1)
    again.read(1)
    again.close()
    for c in clients:
        c.close()


@test
def sixteen_clients_that_hang_up_and_reconnect_at_once_are_all_served(ctx):
    # The new connections may be accepted before the old ones' end of file
    # is read: they must not be refused for slots that are free.
    cl = ctx.one
    for rnd in range(100):
        clients = [cl.client(1) for _ in range(16)]
        for i, c in enumerate(clients):
            try:
                c.read(1, request=i)
            except (ConnectionError, OSError) as e:
                raise AssertionError("round %d: client %d refused (%s)" % (rnd, i, e))
        for c in clients:
            c.close()


@test
def a_client_that_half_closes_after_its_commands_gets_every_reply(ctx):
    # shutdown(SHUT_WR) (as "nc -N" does) says "that was all", not "gone".
    cl = ctx.three
    c = cl.client(1)
    c.send(encode_cmd(cl.ckey, WRITE, 1, 40, pattern(1, 40)) + encode_cmd(cl.ckey, READ, 2, 41))
    c.sock.shutdown(socket.SHUT_WR)
    got = sorted(c.recv_response().request for _ in range(2))
    check(got == [1, 2], "replies %r" % got)
    c.close()


@test
def clients_gone_with_commands_unanswered_do_not_keep_client_slots(ctx):
    cl = Cluster(2, sectors=64)
    ctx.extra.append(cl)
    cl.start(1)  # no majority: the writes never complete
    for i in range(20):
        c = cl.client(1)
        c.send(encode_cmd(cl.ckey, WRITE, i, 1, pattern(i, 1)))
        c.close()
    time.sleep(0.1)
    clients = [cl.client(1) for _ in range(16)]
    for i, c in enumerate(clients):
        r = c.command(READ, i, cl.sectors)  # answered at once: status 2
        check(r.status == INVALID_SECTOR, "client %d: %r" % (i, r))
    for c in clients:
        c.close()


@test
def a_client_pipelining_3000_commands_gets_every_reply(ctx):
    cl = ctx.three
    c = cl.client(2)
    n = 3000
    sender = threading.Thread(target=c.send, args=(b"".join(
        encode_cmd(cl.ckey, READ, i, i % cl.sectors) for i in range(n)),))
    sender.start()
    seen = set()
    for _ in range(n):
        r = c.recv_response()
        check(r.tag_ok and r.status == OK, "bad reply %r" % r)
        seen.add(r.request)
    sender.join()
    check(seen == set(range(n)), "replies missing")
    c.close()


def cluster_with_peer_host(ctx, host, connect_host="127.0.0.1"):
    cl = Cluster(3, sectors=64)
    ctx.extra.append(cl)
    cl.host = connect_host
    cl.peers = ",".join("%s:%d" % (host, p) for p in cl.ports)
    cl.start_all()
    return cl


@test
def peers_named_localhost_form_a_cluster_reachable_at_127_0_0_1(ctx):
    cl = cluster_with_peer_host(ctx, "localhost")
    for rank in (1, 2, 3):
        c = Client(("127.0.0.1", cl.ports[rank - 1]), cl.ckey)
        data = pattern(rank, 9)
        c.write(9, data)  # needs a majority: the processes found each other
        check(c.read(9) == data, "rank %d does not read back its write" % rank)
        c.close()


@test
def peers_given_as_ipv6_loopback_form_a_cluster(ctx):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        raise Skip("no IPv6 loopback")
    cl = cluster_with_peer_host(ctx, "[::1]", "::1")
    for rank in (1, 2, 3):
        c = Client(("::1", cl.ports[rank - 1]), cl.ckey)
        c.write(9, pattern(rank, 9))
        check(c.read(9) == pattern(rank, 9), "rank %d does not read back its write" % rank)
        c.close()


class FakePeer:
    """Rank 2 of a 2-process cluster written from PROTOCOL.md's internal
    message tables alone: answers READ_PROC with VALUE and WRITE_PROC with
    ACK (on the connection they came in on), records what it receives."""
    SIZES = {0x03: 64, 0x04: 4176, 0x05: 4176, 0x06: 64,
             0x43: 56, 0x44: 56, 0x45: 56, 0x46: 56}

    def __init__(self, cl, rank=2):
        with open(cl.skey_path) as f:
            self.key = bytes.fromhex(f.read().strip())
        self.rank, self.store, self.seen, self.values = rank, {}, [], {}
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(cl.addr(rank))
        self.lsock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def msg(self, typ, uuid, sector, content=b""):
        body = MAGIC + b"\0\0" + bytes([self.rank, typ]) + uuid + struct.pack(">Q", sector)
        body += content
        return body + hmac.new(self.key, body, hashlib.sha256).digest()

    def _accept(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, sock):
        buf = b""
        while True:
            try:
                d = sock.recv(65536)
            except OSError:
                return
            if not d:
                return
            buf += d
            while len(buf) >= 8:
                i = buf.find(MAGIC)
                if i != 0:
                    buf = buf[i:] if i > 0 else buf[-3:]
                    continue
                n = self.SIZES.get(buf[7])
                if n is None:
                    self.seen.append(("invalid type", buf[7]))
                    buf = buf[8:]
                    continue
                if len(buf) < n:
                    break
                m, buf = buf[:n], buf[n:]
                ok = hmac.compare_digest(
                    hmac.new(self.key, m[:-32], hashlib.sha256).digest(), m[-32:])
                self.seen.append((m[7], m[6], ok, m[8:24]))
                if m[7] == 0x04 and ok:
                    self.values[m[8:24]] = m
                uuid, sector = m[8:24], struct.unpack(">Q", m[24:32])[0]
                if not ok or m[7] not in (0x03, 0x05):
                    continue
                if m[7] == 0x05:
                    ts, wr = struct.unpack(">Q", m[32:40])[0], m[47]
                    if (ts, wr) > self.store.get(sector, (0, 0, b""))[:2]:
                        self.store[sector] = (ts, wr, m[48:48 + SECTOR])
                    reply = self.msg(0x06, uuid, sector)
                else:
                    ts, wr, data = self.store.get(sector, (0, 0, ZERO))
                    reply = self.msg(0x04, uuid, sector,
                                     struct.pack(">Q", ts) + bytes(7) + bytes([wr]) + data)
                sock.sendall(reply)

    def close(self):
        self.lsock.close()


@test
def addd_completes_operations_with_a_peer_written_from_the_protocol(ctx):
    cl = Cluster(2, sectors=64)
    ctx.extra.append(cl)
    fake = FakePeer(cl)
    try:
        cl.start(1)
        c = cl.client(1)
        c.write(3, pattern(5, 3))
        check(c.read(3) == pattern(5, 3), "read does not return the write")
        check(c.read(4) == ZERO, "a never-written sector is not zeros")
        c.close()
        bad = [m for m in fake.seen if m[0] == "invalid type" or m[1] != 1 or not m[2]]
        check(not bad, "rank 1 sent messages off the protocol: %r" % bad[:5])
        types = {m[0] for m in fake.seen}
        check(0x03 in types and 0x05 in types, "no READ_PROC/WRITE_PROC seen: %r" % types)
        check(fake.store.get(3, (0, 0, b""))[2] == pattern(5, 3), "WRITE_PROC data differs")
    finally:
        fake.close()


@test
def addd_answers_a_peers_read_proc_with_a_signed_value(ctx):
    cl = Cluster(2, sectors=64)
    ctx.extra.append(cl)
    fake = FakePeer(cl)
    try:
        cl.start(1)
        c = cl.client(1)
        c.write(6, pattern(8, 6))
        c.close()
        # New storage serves nothing it has not re-learned until it knows
        # whether the cluster holds data (core/rejoin.h); a peer written from
        # the protocol alone never says: after 3 s it is taken as a member.
        log = os.path.join(cl.dir, "addd-1.log")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with open(log, errors="replace") as f:
                if "now a full member" in f.read():
                    break
            time.sleep(0.05)
        s = socket.create_connection(cl.addr(1), timeout=5)
        uuid = os.urandom(16)
        s.sendall(fake.msg(0x03, uuid, 6))
        end = time.monotonic() + 5
        value = None
        while value is None and time.monotonic() < end:  # on either connection
            value = next((m for m in fake.seen if m[0] == 0x04 and m[3] == uuid), None)
            time.sleep(0.01)
        check(value is not None and value[1] == 1 and value[2],
              "no signed VALUE echoing the UUID from rank 1: %r" % fake.seen[-5:])
        v = fake.values[uuid]
        check(struct.unpack(">Q", v[24:32])[0] == 6 and v[48:48 + SECTOR] == pattern(8, 6),
              "the VALUE does not carry sector 6's data at offset 48")
        check(struct.unpack(">Q", v[32:40])[0] > 0 and v[40:47] == bytes(7) and v[47] in (1, 2),
              "bad timestamp/padding/write rank in the VALUE: %r" % v[32:48])
        # A never-written sector: timestamp 0, write rank 0, zeros.
        uuid = os.urandom(16)
        s.sendall(fake.msg(0x03, uuid, 7))
        end = time.monotonic() + 5
        while uuid not in fake.values and time.monotonic() < end:
            time.sleep(0.01)
        s.close()
        check(uuid in fake.values, "no VALUE for a never-written sector")
        v = fake.values[uuid]
        check(v[32:48] == bytes(16) and v[48:48 + SECTOR] == ZERO,
              "a never-written sector's VALUE is not ts 0, rank 0, zeros: %r" % v[32:48])
    finally:
        fake.close()


@test
def kill_9_of_a_minority_during_writes_then_restart(ctx):
    cl = Cluster(3, sectors=1024)
    ctx.extra.append(cl)
    cl.start_all()
    c = cl.client(1)
    stop = time.monotonic() + 1.0
    i = 0
    while time.monotonic() < stop:
        c.write(i % 64, pattern(i, i % 64), request=i)
        i += 1
    cl.kill(3)
    t_kill = time.monotonic()
    done_while_down = 0
    while time.monotonic() < t_kill + 1.0:
        c.write(i % 64, pattern(i, i % 64), request=i)
        i += 1
        done_while_down += 1
    check(done_while_down > 10, "only %d writes completed with rank 3 down" % done_while_down)
    cl.start(3)
    for _ in range(200):
        c.write(i % 64, pattern(i, i % 64), request=i)
        i += 1
    last = {}
    for j in range(i):
        last[j % 64] = j
    r3 = cl.client(3)
    for s, j in last.items():
        check(r3.read(s) == pattern(j, s), "restarted rank 3 returns old data for sector %d" % s)
    r3.close()
    c.close()


@test
def kill_9_of_every_process_loses_no_acknowledged_write(ctx):
    cl = Cluster(3, sectors=2048)
    ctx.extra.append(cl)
    cl.start_all()
    acked = {}
    stop_evt = threading.Event()
    errors = []

    def writer(rank, first):
        try:
            c = cl.client(rank)
            k = 0
            while not stop_evt.is_set():
                s = first + (k % 100)
                tag = (rank << 32) | k
                c.write(s, pattern(tag, s), request=k)
                acked[s] = tag
                k += 1
        except (ConnectionError, OSError, ValueError) as e:
            if not stop_evt.is_set():
                errors.append(e)

    threads = [threading.Thread(target=writer, args=(r, 100 * r)) for r in (1, 2, 3)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    stop_evt.set()
    for r in (1, 2, 3):
        cl.kill(r)  # SIGKILL while writes are in flight
    for t in threads:
        t.join(10)
    check(len(acked) > 50, "too few acknowledged writes (%d)" % len(acked))
    cl.start_all()
    for r in (1, 2, 3):
        c = cl.client(r)
        for s, tag in acked.items():
            got = c.read(s)
            # The write in flight at the kill may or may not have happened: the
            # sector holds the last acknowledged write or the writer's next one
            # to that sector (k + 100).
            ok = got == pattern(tag, s) or got == pattern(tag + 100, s)
            check(ok, "sector %d via rank %d lost its acknowledged write" % (s, r))
        c.close()


@test
def disk_use_when_idle_is_within_the_bound(ctx):
    cl = Cluster(1, sectors=65536)
    ctx.extra.append(cl)
    cl.start_all()
    c = cl.client(1)
    n = 3000
    batch = 64
    for b in range(0, n, batch):
        c.send(b"".join(encode_cmd(cl.ckey, WRITE, s, s * 7, pattern(s, s * 7))
                        for s in range(b, min(n, b + batch))))
        for _ in range(b, min(n, b + batch)):
            r = c.recv_response()
            check(r.status == OK, "write failed %r" % r)
    c.close()
    time.sleep(2.5)  # idle: the store checkpoints and trims its journal
    used = du_bytes(os.path.join(cl.dir, "store-1"))
    bound = 1.1 * n * SECTOR + 1024 * 1024
    print("    disk use of %d written sectors: %d bytes (bound %d)" % (n, used, bound))
    check(used <= bound, "disk use %d over the bound %d" % (used, bound))


def du_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


@test
def memory_stays_small_with_2m_sectors_and_20000_written(ctx):
    cl = Cluster(1, sectors=2097152)
    ctx.extra.append(cl)
    cl.start_all()
    rss0 = vmrss_kib(cl.procs[1].pid)
    c = cl.client(1)
    n, batch = 20000, 128
    rng = random.Random(5)
    sectors = rng.sample(range(2097152), n)
    for b in range(0, n, batch):
        chunk = sectors[b:b + batch]
        c.send(b"".join(encode_cmd(cl.ckey, WRITE, i, s, pattern(i, s))
                        for i, s in enumerate(chunk)))
        for _ in chunk:
            r = c.recv_response()
            check(r.status == OK, "write failed %r" % r)
    c.close()
    time.sleep(1.5)
    rss = vmrss_kib(cl.procs[1].pid)
    print("    VmRSS: %d KiB at start, %d KiB after %d written sectors of 2097152"
          % (rss0, rss, n))
    check(rss < 64 * 1024, "resident memory %d KiB >= 64 MiB" % rss)


class Skip(Exception):
    pass


@test
def a_full_disk_stops_the_process_with_an_error(ctx):
    mnt = tempfile.mkdtemp(prefix="add-tiny-")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                            mnt], capture_output=True).returncode != 0:
        os.rmdir(mnt)
        raise Skip("needs root to mount a 1 MiB tmpfs")
    try:
        cl = Cluster(1, sectors=4096)
        ctx.extra.append(cl)
        argv = cl.argv(1)
        argv[argv.index("--storage-dir") + 1] = os.path.join(mnt, "s")
        p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        wait_listening(cl.addr(1), p)
        c = cl.client(1)
        acked = 0
        try:
            for i in range(1000):
                c.write(i, pattern(i, i), request=i)
                acked += 1
        except (ConnectionError, OSError):
            pass
        c.close()
        rc = p.wait(10)
        err = p.stderr.read()
        print("    %d writes acknowledged before the disk filled; exit %d" % (acked, rc))
        check(acked < 1000, "1000 x 4 KiB acknowledged on a 1 MiB disk")
        check(rc != 0, "exit 0 after a storage failure")
        check("error" in err and "storage" in err, "no error line: %r" % err)
    finally:
        subprocess.run(["umount", mnt], capture_output=True)
        os.rmdir(mnt)


def run_addd(args, timeout=5):
    p = subprocess.run([os.path.join(BUILD, "addd")] + args, capture_output=True,
                       timeout=timeout, text=True)
    return p.returncode, p.stderr.strip().splitlines()


def valid_args(ctx, rank=1, port=None):
    d = ctx.cli_dir
    return ["--rank", str(rank), "--peers", "127.0.0.1:%d" % (port or free_port()),
            "--storage-dir", os.path.join(d, "s"), "--sectors", "16",
            "--client-key-file", os.path.join(d, "ck"), "--system-key-file",
            os.path.join(d, "sk")]


def expect_one_line_error(ctx, args, word):
    rc, lines = run_addd(args)
    check(rc != 0, "exit 0 for %r" % args)
    check(len(lines) == 1, "want one line on stderr, got %r" % lines)
    check(word.lower() in lines[0].lower(), "the error %r does not name %r" % (lines[0], word))


def replace_arg(args, opt, value):
    args = list(args)
    args[args.index(opt) + 1] = value
    return args


@test
def addd_rejects_missing_and_bad_arguments_with_one_line(ctx):
    good = valid_args(ctx)
    expect_one_line_error(ctx, [], "missing")
    expect_one_line_error(ctx, good[2:], "rank")
    expect_one_line_error(ctx, replace_arg(good, "--rank", "2"), "rank")
    expect_one_line_error(ctx, replace_arg(good, "--rank", "0"), "rank")
    expect_one_line_error(ctx, replace_arg(good, "--sectors", "0"), "sectors")
    expect_one_line_error(ctx, replace_arg(good, "--sectors", "2097153"), "sectors")
    expect_one_line_error(ctx, replace_arg(good, "--peers", "localhost"), "localhost")
    expect_one_line_error(ctx, good + ["--bogus"], "bogus")
    expect_one_line_error(ctx, good + ["--log-level", "loud"], "log-level")
    expect_one_line_error(ctx, good + ["--client-idle-timeout", "soon"], "client-idle-timeout")
    expect_one_line_error(ctx, good + ["--client-idle-timeout", "-1"], "client-idle-timeout")


@test
def addd_rejects_malformed_or_missing_key_files(ctx):
    d = ctx.cli_dir
    good = valid_args(ctx)
    short = os.path.join(d, "short")
    with open(short, "w") as f:
        f.write("ab" * 31 + "\n")
    os.chmod(short, 0o600)
    nothex = os.path.join(d, "nothex")
    with open(nothex, "w") as f:
        f.write("zz" * 32 + "\n")
    os.chmod(nothex, 0o600)
    expect_one_line_error(ctx, replace_arg(good, "--client-key-file", short), "short")
    expect_one_line_error(ctx, replace_arg(good, "--client-key-file", nothex), "nothex")
    expect_one_line_error(ctx, replace_arg(good, "--system-key-file", os.path.join(d, "ck")),
                          "ck")
    expect_one_line_error(ctx, replace_arg(good, "--system-key-file", os.path.join(d, "none")),
                          "none")


@test
def addd_refuses_a_busy_port_and_an_unusable_storage_dir(ctx):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        expect_one_line_error(ctx, valid_args(ctx, port=port), "listen")
    finally:
        s.close()
    blocker = os.path.join(ctx.cli_dir, "afile")
    open(blocker, "w").close()
    expect_one_line_error(ctx, replace_arg(valid_args(ctx), "--storage-dir", blocker), "afile")


@test
def addd_refuses_a_storage_dir_in_use_by_another_process(ctx):
    args = valid_args(ctx)
    port = int(args[3].split(":")[1])
    shared = os.path.join(ctx.cli_dir, "shared")
    args = replace_arg(args, "--storage-dir", shared)
    first = subprocess.Popen([os.path.join(BUILD, "addd")] + args, stderr=subprocess.DEVNULL)
    try:
        wait_listening(("127.0.0.1", port), first)
        expect_one_line_error(ctx, replace_arg(valid_args(ctx), "--storage-dir", shared),
                              "in use")
    finally:
        first.kill()
        first.wait()
    # The lock went with the process: a restart is not blocked.
    again = subprocess.Popen([os.path.join(BUILD, "addd")] + args, stderr=subprocess.DEVNULL)
    try:
        wait_listening(("127.0.0.1", port), again)
        time.sleep(0.1)
        check(again.poll() is None, "a restart after SIGKILL exited %r" % again.returncode)
    finally:
        again.terminate()
        again.wait(5)


@test
def addd_warns_about_a_key_file_readable_by_others(ctx):
    d = ctx.cli_dir
    loose = os.path.join(d, "loose.key")
    write_key(loose, 32, 0o644)
    args = replace_arg(valid_args(ctx), "--client-key-file", loose)
    p = subprocess.Popen([os.path.join(BUILD, "addd")] + args, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    p.terminate()
    _, err = p.communicate(5)
    check("loose.key" in err and "warning" in err, "no warning naming the file: %r" % err)


@test
def addd_takes_log_levels_in_any_case_and_sigint_stops_it_with_0(ctx):
    for level in ("error", "WARNING", "Info", "debug", "trace", "warn"):
        args = valid_args(ctx) + ["--log-level", level]
        port = int(args[3].split(":")[1])
        p = subprocess.Popen([os.path.join(BUILD, "addd")] + args, stderr=subprocess.PIPE,
                             text=True)
        try:
            wait_listening(("127.0.0.1", port), p, timeout=2)
        finally:
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=5)
        check(p.returncode == 0, "--log-level %s: exit %d: %r" % (level, p.returncode, err))


@test
def addd_listens_within_300_ms_and_stops_on_sigterm(ctx):
    args = valid_args(ctx)
    port = int(args[3].split(":")[1])
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(BUILD, "addd")] + args, stderr=subprocess.DEVNULL)
    try:
        wait_listening(("127.0.0.1", port), p, timeout=2)
        dt = time.monotonic() - t0
        print("    listening after %.0f ms" % (dt * 1000))
        check(dt < 0.3, "listening only after %.0f ms" % (dt * 1000))
    finally:
        p.terminate()
        rc = p.wait(5)
    check(rc == 0, "exit %d after SIGTERM" % rc)


@test
def gen_keys_creates_its_directory_and_owner_only_keys_addd_accepts(ctx):
    d = os.path.join(ctx.cli_dir, "new", "keys")
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.run([os.path.join(here, "..", "..", "deploy", "gen-keys.sh"), d],
                       capture_output=True, text=True)
    check(p.returncode == 0, "gen-keys.sh failed: %r" % p.stderr)
    for name, digits in (("client.key", 64), ("system.key", 128)):
        path = os.path.join(d, name)
        with open(path) as f:
            text = f.read().strip()
        check(len(text) == digits and all(c in "0123456789abcdef" for c in text),
              "%s is not %d lowercase hex digits" % (name, digits))
        check(os.stat(path).st_mode & 0o077 == 0, "%s is readable by others" % name)
    args = replace_arg(replace_arg(valid_args(ctx), "--client-key-file",
                                   os.path.join(d, "client.key")),
                       "--system-key-file", os.path.join(d, "system.key"))
    port = int(args[3].split(":")[1])
    a = subprocess.Popen([os.path.join(BUILD, "addd")] + args, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(("127.0.0.1", port), a)
    finally:
        a.terminate()
        _, err = a.communicate(timeout=5)
    check("warning" not in err, "addd warns about the generated keys: %r" % err)


@test
def addd_started_with_stdio_closed_serves_and_keeps_its_data(ctx):
    cl = Cluster(1, sectors=64)
    ctx.extra.append(cl)
    argv = cl.argv(1) + ["--log-level", "trace"]  # many log lines: none may land in a file
    closed = ["sh", "-c", 'exec "$@" <&- >&- 2>&-', "sh"]
    cl.procs[1] = subprocess.Popen(closed + argv)
    wait_listening(cl.addr(1), cl.procs[1])
    c = cl.client(1)
    for i in range(20):
        c.write(i, pattern(i, i), request=i)
    c.close()
    cl.kill(1)
    cl.procs[1] = subprocess.Popen(closed + argv)
    wait_listening(cl.addr(1), cl.procs[1])
    c = cl.client(1)
    for i in range(20):
        check(c.read(i, request=i) == pattern(i, i), "sector %d lost or damaged" % i)
    c.close()


@test
def addd_help_exits_0(ctx):
    p = subprocess.run([os.path.join(BUILD, "addd"), "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "--storage-dir" in p.stdout, "bad --help")


@test
def addctl_write_then_read_round_trips_and_pads(ctx):
    cl = ctx.three
    addctl = os.path.join(BUILD, "addctl")
    base = [ "--peer", "127.0.0.1:%d" % cl.ports[1], "--client-key-file", cl.ckey_path,
            "--sector", "500"]
    p = subprocess.run([addctl, "write"] + base, input=b"hello", capture_output=True)
    check(p.returncode == 0, "write failed: %r" % p.stderr)
    p = subprocess.run([addctl, "read"] + base, capture_output=True)
    check(p.returncode == 0 and p.stdout == b"hello" + bytes(SECTOR - 5),
          "read returned %r" % p.stdout[:16])
    p = subprocess.run([addctl, "write"] + base, input=bytes(SECTOR + 1), capture_output=True)
    check(p.returncode != 0, "a write longer than a sector was accepted")


@test
def addctl_read_and_write_take_a_peers_list_and_skip_a_dead_process(ctx):
    cl = ctx.three
    addctl = os.path.join(BUILD, "addctl")
    peers = "127.0.0.1:%d,%s" % (free_port(), cl.peers)
    base = ["--peers", peers, "--client-key-file", cl.ckey_path, "--sector", "501"]
    p = subprocess.run([addctl, "write"] + base, input=b"listed", capture_output=True)
    check(p.returncode == 0, "write failed: %r" % p.stderr)
    p = subprocess.run([addctl, "read"] + base, capture_output=True)
    check(p.returncode == 0 and p.stdout[:6] == b"listed", "read returned %r" % p.stdout[:16])


@test
def addctl_takes_the_data_file_as_an_argument_and_dash_for_stdio(ctx):
    cl = ctx.three
    addctl = os.path.join(BUILD, "addctl")
    src = os.path.join(ctx.cli_dir, "sector.in")
    dst = os.path.join(ctx.cli_dir, "sector.out")
    with open(src, "wb") as f:
        f.write(pattern(3, 502))
    base = ["--peer", "127.0.0.1:%d" % cl.ports[2], "--client-key-file", cl.ckey_path,
            "--sector", "502"]
    p = subprocess.run([addctl, "write"] + base + [src], capture_output=True)
    check(p.returncode == 0, "write FILE failed: %r" % p.stderr)
    p = subprocess.run([addctl, "read"] + base + [dst], capture_output=True)
    check(p.returncode == 0 and p.stdout == b"", "read FILE failed: %r" % p.stderr)
    with open(dst, "rb") as f:
        check(f.read() == pattern(3, 502), "FILE does not hold the sector")
    p = subprocess.run([addctl, "write"] + base + ["-"], input=b"dash", capture_output=True)
    check(p.returncode == 0, "write - failed: %r" % p.stderr)
    p = subprocess.run([addctl, "read"] + base + ["-"], capture_output=True)
    check(p.returncode == 0 and p.stdout[:4] == b"dash", "read - returned %r" % p.stdout[:8])


@test
def addctl_reports_status_and_connection_errors(ctx):
    cl = ctx.three
    addctl = os.path.join(BUILD, "addctl")
    p = subprocess.run([addctl, "read", "--peer", "127.0.0.1:%d" % cl.ports[0],
                        "--client-key-file", cl.ckey_path, "--sector", str(cl.sectors)],
                       capture_output=True, text=True)
    check(p.returncode != 0 and "InvalidSectorIndex" in p.stderr, "got %r" % p.stderr)
    other = os.path.join(ctx.cli_dir, "other.key")
    write_key(other, 32)
    p = subprocess.run([addctl, "read", "--peer", "127.0.0.1:%d" % cl.ports[0],
                        "--client-key-file", other, "--sector", "1"],
                       capture_output=True, text=True)
    check(p.returncode != 0 and "HMAC" in p.stderr, "got %r" % p.stderr)
    p = subprocess.run([addctl, "read", "--peer", "127.0.0.1:%d" % free_port(),
                        "--client-key-file", cl.ckey_path, "--sector", "1"],
                       capture_output=True, text=True)
    check(p.returncode != 0 and "connect" in p.stderr, "got %r" % p.stderr)


@test
def addctl_gives_up_after_its_timeout_without_a_majority(ctx):
    cl = Cluster(2, sectors=16)
    ctx.extra.append(cl)
    cl.start(1)  # rank 2 never starts: no majority
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(BUILD, "addctl"), "write", "--peer",
                        "127.0.0.1:%d" % cl.ports[0], "--client-key-file", cl.ckey_path,
                        "--sector", "1", "--timeout", "1"], input=b"x",
                       capture_output=True, text=False, timeout=20)
    dt = time.monotonic() - t0
    check(p.returncode != 0 and b"no reply" in p.stderr, "got %r" % p.stderr)
    check(dt < 5, "gave up only after %.1f s" % dt)


@test
def addctl_bench_verifies_a_short_mixed_load(ctx):
    cl = ctx.three
    p = subprocess.run([os.path.join(BUILD, "addctl"), "bench", "--peers", cl.peers,
                        "--client-key-file", cl.ckey_path, "--connections", "4",
                        "--depth", "4", "--sectors", "512", "--first-sector", "1024",
                        "--duration", "1", "--verify", "--fresh", "--quiet"],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "bench failed: %s %s" % (p.stdout, p.stderr))
    check("verify:" in p.stdout and " 0 failures" in p.stdout, p.stdout)


@test
def addctl_bench_runs_again_over_sectors_written_before(ctx):
    # Earlier data in the range (another client's write, an earlier bench
    # run) is not a mismatch: only what this run wrote is checked.
    cl = ctx.three
    addctl = os.path.join(BUILD, "addctl")
    p = subprocess.run([addctl, "write", "--peer", "127.0.0.1:%d" % cl.ports[0],
                        "--client-key-file", cl.ckey_path, "--sector", "2048"],
                       input=b"not a bench pattern", capture_output=True)
    check(p.returncode == 0, "write failed: %r" % p.stderr)
    for run in (1, 2):
        p = subprocess.run([addctl, "bench", "--peers", cl.peers, "--client-key-file",
                            cl.ckey_path, "--connections", "2", "--depth", "2",
                            "--sectors", "8", "--first-sector", "2048", "--read-ratio", "0.7",
                            "--duration", "0.5", "--quiet"],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, "run %d failed: %s %s" % (run, p.stdout, p.stderr[-500:]))
        check("mismatches: 0" in p.stdout, p.stdout)


# ---- runner ---------------------------------------------------------------

class Ctx:
    pass


def main():
    global BUILD
    args = sys.argv[1:]
    only = None
    if "-k" in args:
        i = args.index("-k")
        only = args[i + 1]
        del args[i:i + 2]
    if args:
        BUILD = args[0]
    for b in ("addd", "addctl"):
        if not os.access(os.path.join(BUILD, b), os.X_OK):
            print("missing %s/%s (run make)" % (BUILD, b))
            print("0 passed, 1 failed")
            return 1
    ctx = Ctx()
    ctx.extra = []
    ctx.cli_dir = tempfile.mkdtemp(prefix="add-cli-")
    write_key(os.path.join(ctx.cli_dir, "ck"), 32)
    write_key(os.path.join(ctx.cli_dir, "sk"), 64)
    ctx.one = Cluster(1)
    ctx.three = Cluster(3)
    passed = failed = 0
    try:
        ctx.one.start_all()
        ctx.three.start_all()
        for t in TESTS:
            if only and only not in t.__name__:
                continue
            t0 = time.monotonic()
            try:
                t(ctx)
                passed += 1
                print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - t0), flush=True)
            except Skip as e:
                print("skip %s: %s" % (t.__name__, e), flush=True)
            except Exception as e:  # noqa: BLE001 - a test failure of any kind
                failed += 1
                print("FAIL %s: %s" % (t.__name__, e), flush=True)
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
                for cl in [ctx.one, ctx.three] + ctx.extra:
                    if os.environ.get("ADD_IT_LOGS"):
                        print(cl.logs())
            for cl in ctx.extra:
                cl.cleanup()
            ctx.extra = []
    finally:
        for cl in [ctx.one, ctx.three] + ctx.extra:
            cl.cleanup()
        shutil.rmtree(ctx.cli_dir, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
