#!/usr/bin/env python3
"""Integration tests of addd's connection handling on a hostile network
(issue 13): idle and unauthenticated connections, a stopped client, the
ghost write after a client's failover, a slow deep-pipelining reader. Real
processes on loopback, each stopped by pid. Ends with "N passed, N failed".

    tests/integration/test_conn.py [BUILD_DIR] [-k SUBSTRING]
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cluster as tc  # noqa: E402
from addproto import OK, READ, WRITE, Client, encode_cmd, pattern  # noqa: E402

IDLE_S = 3  # --client-idle-timeout of these clusters
# The RSS bound of addd serving one slow client of 100,000 READs
# (runtime-real/daemon_internal.h: 8 MiB of replies at most, plus the store's and
# the node's own memory at 4096 sectors).
RSS_BOUND_KIB = 64 * 1024

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Cluster(tc.Cluster):
    def argv(self, rank):
        return super().argv(rank) + ["--client-idle-timeout", str(IDLE_S)]


def served(cl, rank, timeout=3.0):
    c = Client(cl.addr(rank), cl.ckey, timeout=timeout)
    try:
        c.read(1)
    finally:
        c.close()


def reset_close(sock):
    """Close with RST (SO_LINGER 0): the way a client that gives up on a
    process and fails over tells it "gone"."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@test
def sixteen_idle_connections_do_not_lock_out_a_new_client(ctx):
    cl = ctx.one
    idle = [socket.create_connection(cl.addr(1)) for _ in range(16)]
    noisy = [socket.create_connection(cl.addr(1)) for _ in range(16)]
    for s in noisy:  # unsigned commands prove nothing either
        s.sendall(encode_cmd(b"\0" * 32, READ, 1, 1))
    try:
        t0 = time.monotonic()
        served(cl, 1)
        check(time.monotonic() - t0 < 1.0, "the client waited for a slot")
    finally:
        for s in idle + noisy:
            s.close()


@test
def connections_that_never_sign_anything_are_closed_after_probation(ctx):
    cl = ctx.one
    s = socket.create_connection(cl.addr(1))
    s.settimeout(10)
    t0 = time.monotonic()
    check(s.recv(1) == b"", "data on a silent connection")
    took = time.monotonic() - t0
    s.close()
    check(2.5 <= took <= 5.0, "closed after %.1f s (probation is 3 s)" % took)


@test
def a_stopped_client_holding_every_slot_is_reaped(ctx):
    # A child process takes all 16 slots with signed commands, then is
    # SIGSTOPped (its kernel still answers TCP keepalive on loopback, as a
    # hung host's would not): the idle timeout reaps it.
    cl = ctx.one
    code = ("import sys, time\nsys.path.insert(0, %r)\nfrom addproto import Client\n"
            "cs = [Client(('127.0.0.1', %d), bytes.fromhex(%r)) for _ in range(16)]\n"
            "[c.read(1) for c in cs]\nprint('ready', flush=True)\ntime.sleep(600)\n"
            % (os.path.dirname(os.path.abspath(__file__)), cl.ports[0], cl.ckey.hex()))
    child = subprocess.Popen(["/usr/bin/python3", "-c", code], stdout=subprocess.PIPE)
    try:
        check(child.stdout.readline().strip() == b"ready", "the child did not connect")
        os.kill(child.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        refused = False
        try:
            served(cl, 1, timeout=1.0)
        except (ConnectionError, OSError):
            refused = True
        check(refused, "a 17th signed client was served while 16 held the slots")
        while True:
            try:
                served(cl, 1, timeout=1.0)
                break
            except (ConnectionError, OSError):
                check(time.monotonic() - t0 < IDLE_S + 3, "slots not reaped in time")
                time.sleep(0.2)
        took = time.monotonic() - t0
        print("    slots of the stopped client free after %.1f s" % took)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


@test
def ghost_write_after_a_pause_and_a_failover_ends_with_b(ctx):
    cl = ctx.three
    sector = 77
    a, b = pattern(0xA, sector), pattern(0xB, sector)
    c1 = cl.client(1)
    c1.read(sector)  # established and classified before the pause
    p1 = cl.procs[1]
    p1.send_signal(signal.SIGSTOP)
    try:
        # 1. write A through process 1: it is paused, the client times out
        c1.sock.settimeout(1.0)
        c1.send(encode_cmd(cl.ckey, WRITE, 10, sector, a))
        try:
            c1.recv_response()
            raise AssertionError("a paused process answered")
        except socket.timeout:
            pass
        reset_close(c1.sock)  # gives up on it: gone
        # 2. retry A through process 2; 3. then write B
        c2 = cl.client(2)
        c2.write(sector, a, request=11)
        c2.write(sector, b, request=12)
        c2.close()
    finally:
        p1.send_signal(signal.SIGCONT)  # 4. process 1 resumes
    time.sleep(1.0)
    for r in (1, 2, 3):
        c = cl.client(r)
        got = c.read(sector)
        c.close()
        check(got == b, "process %d reads %s after B was acknowledged" %
              (r, "A" if got == a else "something else"))


@test
def a_half_close_still_gets_every_answer(ctx):
    cl = ctx.three
    c = cl.client(1)
    c.send(b"".join(encode_cmd(cl.ckey, READ, i, i) for i in range(50)))
    c.sock.shutdown(socket.SHUT_WR)
    got = sorted(c.recv_response().request for _ in range(50))
    c.close()
    check(got == list(range(50)), "answers missing after a half-close")


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@test
def a_slow_reader_pipelining_100000_reads_is_never_cut_off(ctx):
    cl = ctx.three
    n = 100000
    c = cl.client(2)
    c.sock.settimeout(30)
    blob = b"".join(encode_cmd(cl.ckey, READ, i, i % cl.sectors) for i in range(n))
    sender = threading.Thread(target=c.send, args=(blob,), daemon=True)
    sender.start()
    pid = cl.procs[2].pid
    peak = 0
    got = 0
    t0 = time.monotonic()
    while got < n:
        if got % 2000 == 0:
            time.sleep(0.05)  # slow: pauses while the replies pile up
            peak = max(peak, vmrss_kib(pid))
        r = c.recv_response()
        check(r.status == OK and r.tag_ok, "bad reply %r" % r)
        got += 1
    sender.join(30)
    c.close()
    print("    %d replies in %.1f s, addd RSS peak %d KiB (bound %d KiB)" %
          (n, time.monotonic() - t0, peak, RSS_BOUND_KIB))
    check(peak < RSS_BOUND_KIB, "RSS %d KiB above the bound" % peak)


check = tc.check


class Ctx:
    pass


def main():
    args = sys.argv[1:]
    only = None
    if "-k" in args:
        i = args.index("-k")
        only = args[i + 1]
        del args[i:i + 2]
    if args:
        tc.BUILD = args[0]
    ctx = Ctx()
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
            except Exception as e:  # noqa: BLE001 - a test failure of any kind
                failed += 1
                print("FAIL %s: %s" % (t.__name__, e), flush=True)
                traceback.print_exc()
                print(ctx.one.logs()[-2000:], ctx.three.logs()[-4000:])
    finally:
        ctx.one.cleanup()
        ctx.three.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
