#!/usr/bin/env python3
"""Integration tests of addd under storage faults: real processes on
loopback whose store files are damaged between a stop (SIGTERM or SIGKILL)
and a restart (bytes flipped in data, meta, a journal record in the middle,
the journal tail, a journal header, the superblock; each file deleted), a
latent read error and a failed fdatasync (eio_preload.c), rot under a running
process found by the scrub, a full disk, a storage directory of another rank, too few --sectors.

What every test holds to: a damaged process either refuses to start with one
clear error line (and serves nothing), or starts, logs the damage (a
warning; for what a crash also leaves, a torn tail or one bad copy of a
journal header, a line naming the file is enough) and repairs it; in every
case every sector read through every serving process returns its last
acknowledged value, never a wrong byte. In the damage cases rank 2 is
test_cluster's FakePeer, which records the value written under every tag and
asks the damaged process directly for each sector: every VALUE it sends must
carry exactly the bytes written under its tag.

Same conventions as test_cluster.py (whose Cluster it uses): random free
ports, every process stopped by pid, "ok"/"FAIL"/"skip" per test ("xfail"
for a failure known and reported, see KNOWN), and a last line
"N passed, N failed".

    tests/integration/test_storage.py [BUILD_DIR] [-k SUBSTRING]
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cluster as tc  # noqa: E402
from addproto import OK, SECTOR, WRITE, Client, encode_cmd, pattern  # noqa: E402
from test_cluster import FakePeer, Skip, check, free_port  # noqa: E402

# The files of a store that are not its data: the lock is recreated freely.
LOCK = ".addd.lock"
WRITTEN = 48          # sectors 0..47 are written in every round
FAR_SECTOR = 200      # and this one, for the --sectors check
SECTORS = 256


class StoreCluster(tc.Cluster):
    """A Cluster whose processes take extra arguments (scrub), a storage
    directory each may be moved (a tmpfs), and an environment per rank."""

    def __init__(self, n, sectors=SECTORS, extra=None):
        super().__init__(n, sectors=sectors)
        self.extra = list(extra or [])
        self.storage = {r: os.path.join(self.dir, "store-%d" % r) for r in range(1, n + 1)}
        self.env = {}  # rank -> extra environment for its next start

    def argv(self, rank):
        a = super().argv(rank)
        a[a.index("--storage-dir") + 1] = self.storage[rank]
        return a + self.extra

    def start(self, rank, wait=True):
        log = open(self.log_path(rank), "ab")
        env = dict(os.environ, **self.env.get(rank, {}))
        self.procs[rank] = subprocess.Popen(self.argv(rank), stdout=log, stderr=log, env=env)
        log.close()
        if wait:
            tc.wait_listening(self.addr(rank), self.procs[rank])

    def log_path(self, rank):
        return os.path.join(self.dir, "addd-%d.log" % rank)

    def log_size(self, rank):
        try:
            return os.path.getsize(self.log_path(rank))
        except OSError:
            return 0

    def log_since(self, rank, offset):
        with open(self.log_path(rank), errors="replace") as f:
            f.seek(offset)
            return f.read()

    def client(self, rank, timeout=5.0):
        return Client(self.addr(rank), self.ckey, timeout=timeout)


def listening(addr):
    try:
        socket.create_connection(addr, 0.2).close()
        return True
    except OSError:
        return False


def start_or_exit(cl, rank, timeout=5.0):
    """Starts `rank`; returns None once it listens and has recovered (it
    answers a read), or its exit code if it stopped first."""
    cl.start(rank, wait=False)
    p = cl.procs[rank]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if p.poll() is not None:
            cl.procs.pop(rank)
            return p.returncode
        if listening(cl.addr(rank)):
            break
        time.sleep(0.01)
    # The port is bound before the store recovers: a refusal comes a little
    # later. A process that answers a command has opened its store.
    while time.monotonic() < end:
        if p.poll() is not None:
            cl.procs.pop(rank)
            return p.returncode
        try:
            c = cl.client(rank, timeout=max(0.2, end - time.monotonic()))
            c.read(SECTORS - 1, request=99)
            c.close()
            return None
        except (OSError, ValueError, ConnectionError):
            time.sleep(0.02)
    raise AssertionError("rank %d neither served nor exited in %.0f s" % (rank, timeout))


def write_round(cl, rnd, acked, rank=1, sectors=None):
    """Writes pattern(rnd, s) to every sector, pipelined; records the acks."""
    sectors = list(range(WRITTEN)) + [FAR_SECTOR] if sectors is None else sectors
    c = cl.client(rank)
    c.send(b"".join(encode_cmd(cl.ckey, WRITE, i, s, pattern(rnd, s))
                    for i, s in enumerate(sectors)))
    for _ in sectors:
        r = c.recv_response()
        check(r.tag_ok and r.status == OK and r.type == 0x42, "write failed: %r" % r)
        acked[sectors[r.request]] = rnd
    c.close()


def verify(cl, acked, ranks, what):
    """Every acknowledged sector read through each of `ranks` holds exactly
    its last acknowledged pattern."""
    for r in ranks:
        c = cl.client(r)
        for s, rnd in sorted(acked.items()):
            got = c.read(s, request=s)
            if got != pattern(rnd, s):
                at = next(i for i in range(SECTOR) if got[i] != pattern(rnd, s)[i])
                raise AssertionError("%s: sector %d via rank %d: wrong bytes from offset %d "
                                     "(want round %d)" % (what, s, r, at, rnd))
        c.close()


class RecordingStore(dict):
    """The FakePeer's store, remembering every (sector, ts, wr) -> data it
    took: which value each tag names."""

    def __init__(self):
        super().__init__()
        self.history = {}

    def __setitem__(self, sector, v):
        self.history[(sector, v[0], v[1])] = v[2]
        super().__setitem__(sector, v)


def probe_replica(cl, fake, rank, sectors, what, timeout=2.0):
    """Asks `rank` directly, as the fake peer, for each sector's value
    (READ_PROC; the VALUE comes back on its link to the fake) and checks
    every answer: never-written is ts 0 and zeros; otherwise the data is the
    very value the fake saw written under that tag. A damaged sector may go
    unanswered. Returns how many answered."""
    uuids = {os.urandom(16): s for s in sectors}
    sock = socket.create_connection(cl.addr(rank), timeout=5)
    try:
        sock.sendall(b"".join(fake.msg(0x03, u, s) for u, s in uuids.items()))
        end = time.monotonic() + timeout
        while time.monotonic() < end and not all(u in fake.values for u in uuids):
            time.sleep(0.01)
    finally:
        sock.close()
    answered = 0
    for u, s in uuids.items():
        v = fake.values.get(u)
        if v is None:
            continue
        answered += 1
        ts, wr, data = struct.unpack(">Q", v[32:40])[0], v[47], v[48:48 + SECTOR]
        if ts == 0:
            check(data == bytes(SECTOR), "%s: rank %d sends sector %d at ts 0 with data"
                  % (what, rank, s))
            continue
        want = fake.store.history.get((s, ts, wr))
        check(want is not None, "%s: rank %d sends sector %d under tag (%d, %d), never "
              "written" % (what, rank, s, ts, wr))
        check(data == want, "%s: rank %d sends sector %d under tag (%d, %d) with other "
              "bytes than were written with it" % (what, rank, s, ts, wr))
    return answered


def flip(path, offsets, n=8):
    """XORs n bytes at each offset (those inside the file); returns how many
    bytes changed."""
    changed = 0
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        for off in offsets:
            off = max(0, min(off, size - n))
            b = os.pread(fd, n, off)
            if not b:
                continue
            os.pwrite(fd, bytes(x ^ 0xA5 for x in b), off)
            changed += len(b)
        os.fsync(fd)
    finally:
        os.close(fd)
    return changed


def store_files(d):
    return sorted(f for f in os.listdir(d) if f != LOCK)


def error_lines(text):
    return [ln for ln in text.splitlines() if " error: " in ln]


def damage_cases():
    """(name, sig, file chooser, action) for every damage the brief lists."""
    cases = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        sn = "sigterm" if sig == signal.SIGTERM else "sigkill"
        cases.append((sn + "_flip_data", sig, "data", "data"))
        cases.append((sn + "_flip_meta", sig, "meta", "mid"))
        cases.append((sn + "_flip_journal_mid", sig, "journal", "mid"))
        cases.append((sn + "_flip_journal_tail", sig, "journal", "tail"))
        if sig == signal.SIGKILL:  # a journal holding records loses its header
            cases.append((sn + "_flip_journal_header", sig, "journal", "header"))
        cases.append((sn + "_flip_superblock", sig, "other", "mid"))
        cases.append((sn + "_delete_each_file", sig, "each", "delete"))
    return cases


def pick_journal(d):
    """The journal holding most bytes (the active one after a SIGKILL)."""
    js = [f for f in store_files(d) if f.startswith("journal")]
    check(js, "no journal file in %s: %r" % (d, store_files(d)))
    return max(js, key=lambda f: os.path.getsize(os.path.join(d, f)))


def other_files(d):
    """Files that are neither data, meta nor a journal: the superblock's."""
    return [f for f in store_files(d) if f not in ("data", "meta") and
            not f.startswith("journal")]


DATA_FLIPS = (3, 17, WRITTEN - 1)


def data_still_flipped(d, acked):
    """After a restart: does any flipped sector's home copy still differ from
    its acknowledged pattern? (After a SIGKILL the journal's replay may have
    written it home again: then nothing is left to find.)"""
    with open(os.path.join(d, "data"), "rb") as f:
        for s in DATA_FLIPS:
            f.seek(s * SECTOR)
            if f.read(SECTOR) != pattern(acked[s], s):
                return True
    return False


def damage(d, chooser, action):
    """Applies one damage; returns [(file, description)] of what was done."""
    done = []
    if chooser == "data":
        path = os.path.join(d, "data")
        n = flip(path, [s * SECTOR + 1000 for s in DATA_FLIPS])
        done.append(("data", "%d bytes flipped in sectors 3, 17, %d" % (n, WRITTEN - 1)))
    elif chooser == "meta":
        # Every copy of every page (two 4 KiB copies per page): nothing valid
        # is left to fall back on for the sectors those pages name.
        path = os.path.join(d, "meta")
        size = os.path.getsize(path)
        offs = list(range(8, size, 2048))
        n = flip(path, offs)
        done.append(("meta", "%d bytes flipped at %d offsets, every 2 KiB" % (n, len(offs))))
    elif chooser == "journal":
        f = pick_journal(d)
        path = os.path.join(d, f)
        size = os.path.getsize(path)
        if action == "header":
            offs = [8, 2048 + 8]  # both copies of the header (block 0)
        elif size <= 4096:
            # Header only (a clean stop empties the journals): "mid" hits both
            # copies of the header, "tail" the second copy alone.
            offs = [8, 2048 + 8] if action == "mid" else [2048 + 8]
        elif action == "mid":
            # The first record's data: block 2, after the header (block 0)
            # and the first chunk's descriptor (block 1, magic "JDD2"),
            # when the layout is the one expected; else the middle.
            with open(path, "rb") as fh:
                fh.seek(4096)
                first_desc = fh.read(4) == b"JDD2"
            offs = [2 * 4096 + 100] if first_desc else [size // 2]
        else:
            offs = [size - 200]  # the end of the last chunk
        n = flip(path, offs)
        done.append((f, "%d bytes flipped at %s of %d" % (n, offs, size)))
    elif chooser == "other":
        for f in other_files(d):
            path = os.path.join(d, f)
            size = os.path.getsize(path)
            n = flip(path, [size // 2])
            done.append((f, "%d bytes flipped at %d of %d" % (n, size // 2, size)))
    return done


class DamageCtx:
    pass


def run_damage_case(ctx, name, sig, chooser, action):
    cl, acked = ctx.cl, ctx.acked
    d = cl.storage[3]
    ctx.rnd += 1
    if chooser == "journal" and action == "mid" and sig == signal.SIGKILL:
        # Two batches at least, so that the journal's first chunk is not its
        # last: damage there is corruption, not a torn tail.
        everything = list(range(WRITTEN)) + [FAR_SECTOR]
        write_round(cl, ctx.rnd, acked, sectors=everything[:WRITTEN // 2])
        time.sleep(0.1)
        write_round(cl, ctx.rnd, acked, sectors=everything[WRITTEN // 2:])
    else:
        write_round(cl, ctx.rnd, acked)
    if chooser == "data" and sig == signal.SIGKILL:
        # So that the journal's replay does not simply rewrite the flipped
        # sectors: their last values are checkpointed home (idle for over a
        # second), and the round before the kill leaves them out.
        time.sleep(1.5)
        ctx.rnd += 1
        write_round(cl, ctx.rnd, acked,
                    sectors=[x for x in list(range(WRITTEN)) + [FAR_SECTOR]
                             if x not in DATA_FLIPS])
    if sig == signal.SIGTERM:
        time.sleep(0.1)  # rank 3 has stored what it was sent
    cl.kill(3, sig)      # SIGKILL: at once, the journal still holds the round
    if action == "delete":
        targets = store_files(d)
    else:
        targets = [None]
    for target in targets:
        if target is not None:
            if not os.path.exists(os.path.join(d, target)):
                continue  # a file of an earlier store that this one has not
            os.unlink(os.path.join(d, target))
            what = [(target, "deleted")]
        else:
            what = damage(d, chooser, action)
        desc = "%s: %s" % (name, "; ".join("%s %s" % w for w in what))
        changed = any(not w[1].startswith("0 bytes") for w in what)
        off = cl.log_size(3)
        rc = start_or_exit(cl, 3)
        log = cl.log_since(3, off)
        if rc is None and chooser == "data" and not data_still_flipped(d, acked):
            changed = False  # the journal's replay rewrote them: nothing to find
        if rc is not None:
            errs = error_lines(log)
            check(rc != 0, "%s: exit 0 on a damaged store" % desc)
            check(len(errs) == 1, "%s: want one error line, got %r" % (desc, errs))
            check(cl.storage[3] in errs[0] or "storage" in errs[0],
                  "%s: the error does not name the storage: %r" % (desc, errs[0]))
            check(not listening(cl.addr(3)), "%s: rank 3 still listening" % desc)
            verify(cl, acked, (1,), desc + " (rank 3 refused)")
            print("    %s -> refused: %s" % (desc, errs[0].split(" error: ", 1)[1][:160]))
            # Back to service: rank 3 starts over empty; the next round
            # writes every sector again with all three up.
            shutil.rmtree(d)
            check(start_or_exit(cl, 3) is None, "%s: rank 3 does not start empty" % desc)
        else:
            n = probe_replica(cl, ctx.fake, 3, sorted(acked), desc)
            verify(cl, acked, (3, 1), desc)
            # The scrub (one pass a second) finds damage no read touched:
            # a pass and a bit, longer on a busy machine if nothing was said.
            t0 = time.monotonic()
            while True:
                log = cl.log_since(3, off)
                warns = [ln for ln in log.splitlines() if " warning: " in ln]
                waited = time.monotonic() - t0
                if waited > 4 or (waited > 1.3 and (warns or not changed)):
                    break
                time.sleep(0.1)
            if action == "tail" and not warns:
                # The end of the last batch, or one of the journal header's
                # two copies: what a crash tears. Recovery drops it or uses
                # the other copy, and says so (at INFO, naming the file).
                warns = [ln for ln in log.splitlines() if any(w[0] in ln for w in what)]
            if changed:
                check(warns, "%s: started without reporting the damage" % desc)
            if chooser == "journal" and (action == "header" or "[8, 2056]" in desc):
                # A journal header lost in both copies: whatever the journal
                # held is unknown; a warning must name that journal.
                check(any(w[0] in ln and " warning: " in ln
                          for ln in log.splitlines() for w in what),
                      "%s: no warning names the journal whose header is gone" % desc)
            verify(cl, acked, (3, 1), desc + " (after the scrub)")
            for attempt in range(3):  # repairs may still be finishing
                if probe_replica(cl, ctx.fake, 3, sorted(acked), desc) == len(acked):
                    break
            else:
                raise AssertionError("%s: rank 3 still does not answer for every sector "
                                     "after repair" % desc)
            if any(" warning: " in w and "marked damaged" in w for w in warns):
                end = time.monotonic() + 2  # said at the next idle check
                while time.monotonic() < end and \
                        "every damaged sector is repaired" not in cl.log_since(3, off):
                    time.sleep(0.05)
                check("every damaged sector is repaired" in cl.log_since(3, off),
                      "%s: no line saying the damage is all repaired" % desc)
            print("    %s -> started, %d of %d sectors answered at once, %d line(s) on it%s"
                  % (desc, n, len(acked), len(warns),
                     (": " + warns[0].split(": ", 1)[-1][:120]) if warns else ""))
        if target is not None and len(targets) > 1:
            # Each deletion starts from a store holding the last round.
            ctx.rnd += 1
            write_round(cl, ctx.rnd, acked)
            time.sleep(0.1)
            cl.kill(3, sig)


# ---- tests ----------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def damage_test(name, sig, chooser, action):
    def fn(ctx):
        run_damage_case(ctx.damage, name, sig, chooser, action)
    fn.__name__ = "damaged_store_" + name + "_refused_or_repaired_never_wrong_bytes"
    return fn


for _case in damage_cases():
    test(damage_test(*_case))


def build_eio_preload(out_dir):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eio_preload.c")
    so = os.path.join(out_dir, "eio_preload.so")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise Skip("no C compiler to build the read-error library")
    p = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o", so,
                        src, "-ldl"], capture_output=True, text=True)
    check(p.returncode == 0, "cannot build eio_preload.so: %s" % p.stderr[-500:])
    return so


@test
def a_read_error_in_data_is_repaired_from_the_others_and_never_served(ctx):
    # A latent sector error (pread fails with EIO until the range is
    # rewritten) under one sector of rank 3's data file.
    d = ctx.damage
    cl, acked = d.cl, d.acked
    so = build_eio_preload(cl.dir)
    d.rnd += 1
    write_round(cl, d.rnd, acked)
    time.sleep(0.1)
    cl.kill(3, signal.SIGTERM)  # clean stop: every sector's data is home
    s = 9
    hits = os.path.join(cl.dir, "eio-hits")
    cl.env[3] = {"LD_PRELOAD": so, "ADD_FAULT_EIO": "data:%d:%d" % (s * SECTOR, SECTOR),
                 "ADD_FAULT_EIO_LOG": hits,
                 # an ASan build of addd (build/asan) accepts a preload after it
                 "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    off = cl.log_size(3)
    try:
        check(start_or_exit(cl, 3) is None, "rank 3 does not start: %s"
              % cl.log_since(3, off)[-500:])
        probe_replica(cl, d.fake, 3, [s], "read error")  # no wrong bytes, if any
        verify(cl, {s: acked[s]}, (3,), "read error, via rank 3")
        end = time.monotonic() + 4  # the scrub (a pass a second) or the read finds it
        while time.monotonic() < end:
            text = open(hits).read() if os.path.exists(hits) else ""
            if "eio" in text and "cleared" in text:
                break
            time.sleep(0.1)
        text = open(hits).read() if os.path.exists(hits) else ""
        check("eio" in text, "the read error was never hit")
        check("cleared" in text, "sector %d was never rewritten (repaired) after its read "
              "error: %r" % (s, text))
        log = cl.log_since(3, off)
        warns = [ln for ln in log.splitlines() if " warning: " in ln]
        check(warns, "a read error without a warning")
        for w in warns[:3]:
            print("    %s" % w.split(" warning: ", 1)[1][:160])
        verify(cl, acked, (3, 1), "after the read error's repair")
        check(probe_replica(cl, d.fake, 3, sorted(acked), "after repair") == len(acked),
              "rank 3 does not answer for every sector after the repair")
    finally:
        cl.env.pop(3, None)
        cl.kill(3, signal.SIGTERM)
        cl.start(3)


def write_proc_acked(cl, fake, rank, sector, ts, data, timeout, proc=None):
    """The fake (rank 2) sends WRITE_PROC (ts, wr 2) straight to `rank`;
    True once `rank`'s ACK for it came back within timeout (or before `proc`
    exited, plus a moment for bytes in flight)."""
    uuid = os.urandom(16)
    fake.store[sector] = (ts, 2, data)  # the fake wrote it: its tag's value
    sock = socket.create_connection(cl.addr(rank), timeout=5)
    try:
        sock.sendall(fake.msg(0x05, uuid, sector,
                              struct.pack(">Q", ts) + bytes(7) + bytes([2]) + data))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(m[0] == 0x06 and m[1] == rank and m[3] == uuid for m in fake.seen):
                return True
            if proc is not None and proc.poll() is not None:
                end = min(end, time.monotonic() + 0.2)
            time.sleep(0.01)
        return False
    finally:
        sock.close()


@test
def a_failed_flush_stops_the_process_before_it_acknowledges_and_names_the_file(ctx):
    # fdatasync of the journals fails (EIO) once armed: the store must never
    # report the write durable, so rank 3 never ACKs it, and stops with one
    # error line naming the flush, the file and the error.
    d = ctx.damage
    cl = d.cl
    so = build_eio_preload(cl.dir)
    trigger = os.path.join(cl.dir, "fsync-fails")
    cl.kill(3, signal.SIGTERM)
    cl.env[3] = {"LD_PRELOAD": so, "ADD_FAULT_FSYNC": "journal:" + trigger,
                 "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    off = cl.log_size(3)
    s = FAR_SECTOR + 10  # outside the acknowledged set: the fake's own writes
    try:
        check(start_or_exit(cl, 3) is None, "rank 3 does not start: %s"
              % cl.log_since(3, off)[-500:])
        check(write_proc_acked(cl, d.fake, 3, s, 1 << 40, pattern(1, s), 3),
              "no ACK of a WRITE_PROC while flushes work: the check cannot see ACKs")
        open(trigger, "w").close()
        acked = write_proc_acked(cl, d.fake, 3, s, (1 << 40) + 1, pattern(2, s), 3,
                                 proc=cl.procs[3])
        p = cl.procs.pop(3)
        rc = p.wait(5)
        errs = error_lines(cl.log_since(3, off))
        check(not acked, "rank 3 acknowledged a write whose flush failed")
        check(rc != 0, "rank 3 exited %d after a failed flush" % rc)
        check(errs, "no error line after a failed flush")
        print("    exit %d: %s" % (rc, errs[-1].split(" error: ", 1)[1][:200]))
        check(any("fdatasync" in e and "journal" in e and "Input/output error" in e
                  for e in errs), "the error lines do not name fdatasync, the journal "
              "and the error: %r" % errs)
    finally:
        cl.env.pop(3, None)
        if os.path.exists(trigger):
            os.unlink(trigger)
        cl.kill(3, signal.SIGKILL)
        check(start_or_exit(cl, 3) is None, "rank 3 does not start again after the "
              "failed flush: %s" % cl.log_since(3, off)[-500:])
    verify(cl, d.acked, (3, 1), "after the failed flush")


@test
def rot_under_a_running_process_is_found_by_the_scrub_and_repaired(ctx):
    cl = StoreCluster(3, extra=["--scrub-interval", "1"])
    ctx.extra.append(cl)
    cl.start_all()
    acked = {}
    write_round(cl, 1, acked)
    time.sleep(1.6)  # idle: checkpointed, every sector's data is in its home file
    path = os.path.join(cl.storage[3], "data")
    s = 5
    with open(path, "rb") as f:
        f.seek(s * SECTOR)
        check(f.read(SECTOR) == pattern(1, s), "sector %d is not at its home offset" % s)
    off = cl.log_size(3)
    flip(path, [s * SECTOR + 64], n=16)  # through the page cache: the process sees it
    end = time.monotonic() + 4
    while time.monotonic() < end:
        with open(path, "rb") as f:
            f.seek(s * SECTOR)
            if f.read(SECTOR) == pattern(1, s):
                break
        time.sleep(0.1)
    else:
        raise AssertionError("the scrub did not repair sector %d within 4 s" % s)
    warns = [ln for ln in cl.log_since(3, off).splitlines() if " warning: " in ln]
    check(warns, "the damage was repaired without a warning")
    verify(cl, acked, (3, 1, 2), "after the scrub")


@test
def a_full_disk_stops_one_process_saying_disk_full_and_a_restart_after_freeing_loses_nothing(
        ctx):
    if os.geteuid() != 0:
        raise Skip("needs root to mount a tmpfs")
    mnt = tempfile.mkdtemp(prefix="add-full-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        os.rmdir(mnt)
        raise Skip("cannot mount a tmpfs")
    cl = StoreCluster(3, sectors=4096)
    ctx.extra.append(cl)
    try:
        cl.storage[3] = os.path.join(mnt, "s")
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(os.urandom(5 << 20))  # leaves about 3 MiB for rank 3
        off = cl.log_size(3)
        cl.start_all()
        end = time.monotonic() + 3  # the port is bound before the check runs
        while time.monotonic() < end and "may need" not in cl.log_since(3, off):
            time.sleep(0.02)
        start_log = cl.log_since(3, off)
        check(any(" warning: " in ln and "may need" in ln for ln in start_log.splitlines()),
              "no start-up warning about the free space: %r" % start_log[-500:])
        acked = {}
        p3 = cl.procs[3]
        s = 0
        c = cl.client(1)
        while p3.poll() is None and s < 4096:
            batch = list(range(s, min(4096, s + 32)))
            c.send(b"".join(encode_cmd(cl.ckey, WRITE, x, x, pattern(7, x)) for x in batch))
            for _ in batch:
                r = c.recv_response()
                check(r.status == OK, "write failed with rank 3 full: %r" % r)
                acked[r.request] = 7
            s += len(batch)
        c.close()
        rc = p3.wait(10)
        cl.procs.pop(3)
        errs = error_lines(cl.log_since(3, off))
        print("    %d writes acknowledged; rank 3 exited %d: %s" % (
            len(acked), rc, errs[-1].split(" error: ", 1)[1][:200] if errs else "-"))
        check(s < 4096, "rank 3 took 16 MiB of writes on 3 MiB")
        check(rc != 0, "rank 3 exited 0 on a full disk")
        check(errs and "disk full" in errs[-1], "no 'disk full' error line: %r" % errs)
        check(any(os.path.join(cl.storage[3], f) in errs[-1]
                  for f in ("data", "meta", "journal", "sb.")),
              "the error names no file by its path: %r" % errs[-1])
        # Restart while still full: it recovers or refuses saying so.
        rc = start_or_exit(cl, 3)
        if rc is not None:
            errs = error_lines(cl.log_since(3, off))
            check("disk full" in errs[-1], "restart while full: %r" % errs[-1])
            print("    restart while still full refused: %s" % errs[-1].split(" error: ")[1][:160])
        else:
            print("    restart while still full: serving")
            cl.kill(3, signal.SIGTERM)
        os.unlink(filler)
        check(start_or_exit(cl, 3, timeout=10) is None,
              "rank 3 does not start once space is free: %s" % cl.log_since(3, off)[-600:])
        verify(cl, acked, (3, 1, 2), "after freeing space")
        cl.stop()
    finally:
        cl.stop()  # before the unmount
        subprocess.run(["umount", mnt], capture_output=True)
        os.rmdir(mnt)


def run_addd_expect_refusal(argv, word):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("addd %s started and ran instead of refusing"
                             % " ".join(argv[1:]))
    lines = p.stderr.strip().splitlines()
    errs = error_lines(p.stderr)
    check(p.returncode != 0, "exit 0 for %r" % argv[1:])
    check(len(errs) == 1, "want one error line, got %r" % lines)
    check(word in errs[0], "the error %r does not say %r" % (errs[0], word))
    return errs[0]


@test
def a_storage_directory_of_another_rank_is_refused(ctx):
    cl = ctx.damage.cl
    cl.kill(1, signal.SIGTERM)
    ports = [free_port() for _ in range(3)]
    argv = [os.path.join(tc.BUILD, "addd"), "--rank", "2", "--peers",
            ",".join("127.0.0.1:%d" % p for p in ports), "--storage-dir", cl.storage[1],
            "--sectors", str(SECTORS), "--client-key-file", cl.ckey_path,
            "--system-key-file", cl.skey_path]
    err = run_addd_expect_refusal(argv, "rank")
    print("    %s" % err.split(" error: ", 1)[1][:200])
    check(start_or_exit(cl, 1) is None, "rank 1 does not start on its own directory")
    verify(cl, ctx.damage.acked, (1, 3), "rank 1 after the refusal")


@test
def fewer_sectors_than_the_store_holds_data_for_is_refused_naming_them(ctx):
    cl = ctx.damage.cl
    cl.kill(3, signal.SIGTERM)
    argv = cl.argv(3)
    argv[argv.index("--sectors") + 1] = "100"  # sector FAR_SECTOR holds data
    err = run_addd_expect_refusal(argv, str(FAR_SECTOR))
    check("sector" in err, "the error does not speak of sectors: %r" % err)
    print("    %s" % err.split(" error: ", 1)[1][:200])
    check(start_or_exit(cl, 3) is None, "rank 3 does not start with its --sectors")
    verify(cl, ctx.damage.acked, (3, 1), "rank 3 after the refusal")


# ---- runner ---------------------------------------------------------------

# Failures known and reported to the module that owns them: printed as
# "xfail" with the reason (not counted); once such a test passes it prints
# "ok" and a reminder to remove it from here.
KNOWN = {}

def main():
    args = sys.argv[1:]
    only = None
    if "-k" in args:
        i = args.index("-k")
        only = args[i + 1]
        del args[i:i + 2]
    if args:
        tc.BUILD = args[0]
    if not os.access(os.path.join(tc.BUILD, "addd"), os.X_OK):
        print("missing %s/addd (run make)" % tc.BUILD)
        print("0 passed, 1 failed")
        return 1
    ctx = tc.Ctx()
    ctx.extra = []
    ctx.damage = DamageCtx()
    # One cluster for the damage cases: rank 3 is damaged and restarted
    # again and again; every case first writes a new round with all three up.
    # Rank 2 is test_cluster's FakePeer (a replica written from PROTOCOL.md):
    # it sees every value written, and asks rank 3 directly what it holds.
    ctx.damage.cl = StoreCluster(3, extra=["--scrub-interval", "1"])
    ctx.damage.acked = {}
    ctx.damage.rnd = 0
    passed = failed = 0
    fake = None
    try:
        fake = ctx.damage.fake = FakePeer(ctx.damage.cl, rank=2)
        fake.store = RecordingStore()
        ctx.damage.cl.start(1, wait=False)
        ctx.damage.cl.start(3, wait=False)
        for r in (1, 3):
            tc.wait_listening(ctx.damage.cl.addr(r), ctx.damage.cl.procs[r])
        for t in TESTS:
            if only and only not in t.__name__:
                continue
            t0 = time.monotonic()
            try:
                if 3 not in ctx.damage.cl.procs:  # a failed case left it down
                    shutil.rmtree(ctx.damage.cl.storage[3], ignore_errors=True)
                    ctx.damage.cl.start(3)
                t(ctx)
                passed += 1
                print("ok   %s (%.1fs)%s" % (t.__name__, time.monotonic() - t0,
                                         " (a known failure no more: remove it from KNOWN)"
                                         if t.__name__ in KNOWN else ""), flush=True)
            except Skip as e:
                print("skip %s: %s" % (t.__name__, e), flush=True)
            except Exception as e:  # noqa: BLE001 - a test failure of any kind
                if t.__name__ in KNOWN and isinstance(e, AssertionError):
                    print("xfail %s: known: %s (%s)" % (t.__name__, KNOWN[t.__name__], e),
                          flush=True)
                else:
                    failed += 1
                    print("FAIL %s: %s" % (t.__name__, e), flush=True)
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
                if os.environ.get("ADD_IT_LOGS"):
                    for cl in [ctx.damage.cl] + ctx.extra:
                        print(cl.logs())
            for cl in ctx.extra:
                cl.cleanup()
            ctx.extra = []
    finally:
        for cl in [ctx.damage.cl] + ctx.extra:
            cl.cleanup()
        if fake is not None:
            fake.close()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
