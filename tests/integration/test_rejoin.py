#!/usr/bin/env python3
"""Issue 11 with real addd processes on loopback: a process whose storage is
wiped comes back recovering (core/rejoin.h) and loses no acknowledged write.

Usage: test_rejoin.py [BUILD_DIR]. Ends with "N passed, N failed"."""
import os
import shutil
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cluster as tc  # noqa: E402
from addproto import READ, encode_cmd, pattern  # noqa: E402

N_SECTORS = 16
BIG = 65536
# the last sectors: the rebuild walks upwards, so they are re-learned last
SECS = list(range(BIG - N_SECTORS, BIG))


def log_count(cl, rank, text):
    """Lines of rank's log (every start of it appends) holding `text`."""
    path = os.path.join(cl.dir, "addd-%d.log" % rank)
    if not os.path.exists(path):
        return 0
    with open(path, errors="replace") as f:
        return sum(text in line for line in f)


def wait_log(cl, rank, text, timeout, count=1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log_count(cl, rank, text) >= count:
            return True
        time.sleep(0.05)
    return False


def reads_within(cl, rank, sectors, seconds):
    """Pipelines READs of `sectors` through `rank`; returns {sector: data} of
    those answered within `seconds` (a read may wait: that is allowed)."""
    got = {}
    c = tc.Client(cl.addr(rank), cl.ckey, timeout=seconds)
    try:
        for i, s in enumerate(sectors):
            c.send(encode_cmd(cl.ckey, READ, 1000 + i, s))
        end = time.monotonic() + seconds
        while len(got) < len(sectors) and time.monotonic() < end:
            c.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                r = c.recv_response()
            except (socket.timeout, TimeoutError):
                break
            if r.status == 0 and r.data is not None:
                got[sectors[r.request - 1000]] = r.data
    finally:
        c.close()
    return got


def wiped_node_sequence_loses_nothing():
    """The measured sequence: 1, 2 up, 3 down; Y written through 1 (acked by
    {1, 2}); 2 killed, its storage deleted, restarted; 3 started, 1 killed.
    Reads through 2 and 3 may wait but must never return the older X; once 1
    is back they return Y, 2 re-learns everything and becomes a member, and
    then {2, 3} alone return Y (2 really holds it)."""
    cl = tc.Cluster(3, sectors=BIG)
    try:
        cl.start_all()
        for r in (1, 2, 3):
            tc.check(wait_log(cl, r, "now a full member", 10), "rank %d: no founding" % r)
        c = cl.client(1)
        for s in SECS:
            c.write(s, pattern(1, s))  # X
        cl.kill(3)
        for s in SECS:
            c.write(s, pattern(2, s))  # Y, acknowledged by {1, 2}
        c.close()
        cl.kill(2)
        shutil.rmtree(os.path.join(cl.dir, "store-2"))
        cl.start(2)
        cl.start(3)
        tc.check(wait_log(cl, 2, "recovering", 10), "rank 2 did not start recovering")
        cl.kill(1)
        for rank in (2, 3):
            got = reads_within(cl, rank, SECS, 2.0)
            old = [s for s, d in got.items() if d != pattern(2, s)]
            tc.check(not old, "rank %d returned an older value than an acknowledged "
                     "write for sectors %r" % (rank, old))
            print("    without 1: %d of %d reads through %d answered (all Y)"
                  % (len(got), N_SECTORS, rank))
        t1 = time.monotonic()
        cl.start(1)
        for rank in (2, 3):
            got = reads_within(cl, rank, SECS, 10.0)
            tc.check(len(got) == N_SECTORS and all(got[s] == pattern(2, s) for s in got),
                     "with 1 back, rank %d: %d answered, not all Y" % (rank, len(got)))
        tc.check(wait_log(cl, 2, "now a full member", 120, count=2), "rank 2 never became a member")
        dt = time.monotonic() - t1
        print("    rebuild: %d sectors re-learned in at most %.1f s after 1 returned "
              "(>= %.0f sectors/s, %.1f MB/s of 4 KiB values)"
              % (BIG, dt, BIG / dt, BIG * 4096 / dt / 1e6))
        cl.kill(1)
        got = reads_within(cl, 3, SECS, 10.0)
        tc.check(len(got) == N_SECTORS and all(got[s] == pattern(2, s) for s in got),
                 "{2, 3}: %d answered, not all Y" % len(got))
    except Exception:
        if os.environ.get("ADD_IT_LOGS"):
            print(cl.logs())
        raise
    finally:
        cl.cleanup()


def majority_wiped_refuses():
    """1 and 2 lose their storage: they must wait (and say why), not serve."""
    cl = tc.Cluster(3, sectors=64)
    try:
        cl.start_all()
        for r in (1, 2, 3):
            tc.check(wait_log(cl, r, "now a full member", 10), "rank %d: no founding" % r)
        c = cl.client(1)
        for s in range(4):
            c.write(s, pattern(3, s))
        c.close()
        for r in (1, 2):
            cl.kill(r)
            shutil.rmtree(os.path.join(cl.dir, "store-%d" % r))
            cl.start(r)
        for rank in (1, 2, 3):
            got = reads_within(cl, rank, [0, 1, 2, 3], 2.0)
            tc.check(not got, "rank %d answered %d reads from a wiped majority"
                     % (rank, len(got)))
        tc.check(wait_log(cl, 1, "no progress", 10), "rank 1 does not say why it waits")
    finally:
        cl.cleanup()


def main():
    if len(sys.argv) > 1:
        tc.BUILD = sys.argv[1]
    passed = failed = 0
    for t in (wiped_node_sequence_loses_nothing, majority_wiped_refuses):
        t0 = time.monotonic()
        try:
            t()
            passed += 1
            print("ok   %s (%.1fs)" % (t.__name__, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
