#!/usr/bin/env python3
"""Operating addd: the metrics endpoint, addctl status, the logs (issue 14).
Real processes on loopback, random free ports, every process stopped by pid
(also on failure). Prints "ok"/"FAIL" per test and ends with
"N passed, N failed".

    tests/integration/test_ops.py [BUILD_DIR] [-k SUBSTRING]
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cluster  # noqa: E402
from addproto import READ, encode_cmd, pattern  # noqa: E402
from test_cluster import Cluster, check, free_port, wait_listening  # noqa: E402

PROMTOOL = shutil.which("promtool")


class MetricsCluster(Cluster):
    """A Cluster whose processes serve /metrics on their own loopback port."""

    def __init__(self, n, **kw):
        super().__init__(n, **kw)
        self.mports = [free_port() for _ in range(n)]
        self.env = dict(os.environ)
        self.env.pop("JOURNAL_STREAM", None)

    def argv(self, rank):
        return super().argv(rank) + ["--metrics-listen", "127.0.0.1:%d" % self.mports[rank - 1]]

    def start(self, rank, wait=True):
        log = open(os.path.join(self.dir, "addd-%d.log" % rank), "ab")
        self.procs[rank] = subprocess.Popen(self.argv(rank), stdout=log, stderr=log, env=self.env)
        log.close()
        if wait:
            wait_listening(self.addr(rank), self.procs[rank])
            wait_listening(("127.0.0.1", self.mports[rank - 1]), self.procs[rank])

    def start_all(self):
        for r in range(1, self.n + 1):
            self.start(r, wait=False)
        for r in range(1, self.n + 1):
            wait_listening(self.addr(r), self.procs[r])
            wait_listening(("127.0.0.1", self.mports[r - 1]), self.procs[r])

    def log(self, rank):
        with open(os.path.join(self.dir, "addd-%d.log" % rank), errors="replace") as f:
            return f.read()


def http(port, request, timeout=5.0):
    """Sends raw request bytes, returns (status code, headers text, body bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.sendall(request)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    code = int(head.split(b" ", 2)[1])
    return code, head.decode(), body


def scrape(port):
    code, head, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    check(code == 200, "GET /metrics: %d" % code)
    check("text/plain; version=0.0.4" in head, "content type: %s" % head)
    m = re.search(r"Content-Length: (\d+)", head)
    check(m and int(m.group(1)) == len(body), "Content-Length does not match the body")
    return body.decode()


def value(page, name, labels=""):
    """The value of one sample, e.g. value(p, 'add_peer_up', 'peer="2"')."""
    key = name + ("{%s}" % labels if labels else "")
    for line in page.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    raise AssertionError("no sample %s in the page" % key)


def addctl_status(cl, extra=(), key=None):
    argv = [os.path.join(test_cluster.BUILD, "addctl"), "status", "--peers", cl.peers,
            "--client-key-file", key or cl.ckey_path, "--timeout-ms", "2000"] + list(extra)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def wait_for(fn, what, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---- metrics --------------------------------------------------------------

@test
def metrics_counters_move_as_operations_run_and_promtool_accepts_the_page(ctx):
    cl = ctx.three
    port = cl.mports[0]
    before = scrape(port)
    c = cl.client(1)
    for i in range(20):
        c.write(300 + i, pattern(i, 300 + i))
    for i in range(10):
        check(c.read(300 + i) == pattern(i, 300 + i), "read back")
    c.close()
    after = scrape(port)
    d = lambda name, labels="": value(after, name, labels) - value(before, name, labels)  # noqa: E731
    check(d("add_client_op_duration_seconds_count", 'op="write"') == 20,
          "write latency count moved by %s" % d("add_client_op_duration_seconds_count", 'op="write"'))
    check(d("add_client_op_duration_seconds_count", 'op="read"') == 10, "read latency count")
    check(d("add_client_op_duration_seconds_sum", 'op="write"') > 0, "write latency sum")
    check(d("add_ops_completed_total") >= 30, "ops completed")
    check(d("add_sectors_written") >= 20, "sectors written")
    check(d("add_stores_durable_total") >= 20, "stores durable")
    check(d("add_fdatasync_duration_seconds_count") >= 1, "fdatasync count")
    check(d("add_group_commit_batch_size_count") >= 1 and d("add_group_commit_batch_size_sum") >= 20,
          "group commit batches: %s" % d("add_group_commit_batch_size_sum"))
    check(value(after, "add_peer_up", 'peer="2"') == 1 and value(after, "add_peer_up", 'peer="3"') == 1,
          "peers up")
    check(value(after, "add_processes_up") == 3 and value(after, "add_cluster_processes") == 3, "quorum")
    check(value(after, "add_ops_in_flight") == 0 and value(after, "add_oldest_op_age_seconds") == 0,
          "nothing in flight when idle")
    check(value(after, "add_disk_bytes") > 0, "disk bytes")
    check(value(after, "add_disk_bound_bytes") >= value(after, "add_disk_bytes"), "within the bound")
    check('add_build_info{version="' in after, "build info")
    check("sector=" not in after, "a per-sector label")
    for peer in ("2", "3"):
        check(value(after, "add_peer_retransmissions_total", 'peer="%s"' % peer) >= 0, "per peer")
    check(sum(value(after, "add_peer_retransmissions_total", 'peer="%s"' % p) for p in "23") ==
          value(after, "add_retransmissions_total"), "per-peer retransmissions sum to the total")
    check(value(after, "add_rejoin_state", 'state="member"') == 1 and
          value(after, "add_rejoin_state", 'state="recovering"') == 0 and
          value(after, "add_rejoin_state", 'state="fresh"') == 0, "a member")
    check(value(after, "add_rejoin_sectors_known") == value(after, "add_sectors") and
          value(after, "add_rejoin_sectors_behind") == 0, "a member is behind on nothing")
    check(value(after, "add_repairs_pending") == 0, "no repair pending")
    check(value(after, "add_scrub_passes_total") >= value(before, "add_scrub_passes_total"),
          "scrub passes never go back")
    # the store checkpoints after 1 s idle: each checkpoint gets a duration
    idle = wait_for(lambda: (lambda p: p if value(p, "add_checkpoints_total") >
                             value(after, "add_checkpoints_total") and
                             value(p, "add_checkpoint_running") == 0 and
                             value(p, "add_checkpoint_duration_seconds_count") -
                             value(before, "add_checkpoint_duration_seconds_count") ==
                             value(p, "add_checkpoints_total") -
                             value(before, "add_checkpoints_total") else None)(scrape(port)),
                    "an idle checkpoint timed")
    check(0 < value(idle, "add_checkpoint_duration_seconds_sum") < 60, "checkpoint duration sum")
    if PROMTOOL is None:
        raise AssertionError("promtool not found (Debian package prometheus)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=after, capture_output=True, text=True)
    check(p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout, p.stderr))


@test
def the_alert_rules_in_operations_md_are_valid_and_name_exported_metrics(ctx):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(root, "docs", "OPERATIONS.md")) as f:
        rules = re.search(r"```yaml\n(.*?)```", f.read(), re.S).group(1)
    path = os.path.join(ctx.three.dir, "rules.yml")
    with open(path, "w") as f:
        f.write(rules)
    if PROMTOOL is None:
        raise AssertionError("promtool not found (Debian package prometheus)")
    p = subprocess.run([PROMTOOL, "check", "rules", path], capture_output=True, text=True)
    check(p.returncode == 0, "promtool check rules: %s%s" % (p.stdout, p.stderr))
    page = scrape(ctx.three.mports[0])
    for name in set(re.findall(r"\b(add_[a-z_]+?)(?:_bucket)?\b", rules)):
        check("# TYPE %s " % name in page, "the rules use %s, which is not exported" % name)


@test
def bad_hmac_commands_are_counted_by_kind(ctx):
    cl = ctx.three
    before = value(scrape(cl.mports[1]), "add_bad_hmac_total", 'kind="client"')
    c = cl.client(2)
    msg = bytearray(encode_cmd(cl.ckey, READ, 77, 5))
    msg[-1] ^= 1
    c.send(bytes(msg))
    r = c.recv_response()
    check(r.status == 1, "AuthFailure expected, got %r" % r)
    c.close()
    after = value(scrape(cl.mports[1]), "add_bad_hmac_total", 'kind="client"')
    check(after - before == 1, "bad-HMAC client counter moved by %s" % (after - before))


@test
def metrics_endpoint_answers_only_get_metrics_and_stays_bounded(ctx):
    port = ctx.three.mports[2]
    check(http(port, b"GET /other HTTP/1.1\r\n\r\n")[0] == 404, "404 for another path")
    check(http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")[0] == 405, "405 for POST")
    check(http(port, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n")[0] == 431,
          "431 for a head over 4 KiB")
    code, _, body = http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    check(code == 200 and body == b"", "HEAD: %d, %d body bytes" % (code, len(body)))
    # Four idle connections take every slot: a fifth is closed at once...
    idle = [socket.create_connection(("127.0.0.1", port), 2) for _ in range(4)]
    time.sleep(0.2)
    fifth = socket.create_connection(("127.0.0.1", port), 2)
    check(fifth.recv(100) == b"", "a fifth connection is closed at once")
    fifth.close()
    # ... and idle ones are closed after the 5 s timeout, freeing the slots.
    t0 = time.monotonic()
    for s in idle:
        s.settimeout(8)
        check(s.recv(100) == b"", "an idle connection is closed")
        s.close()
    check(4 <= time.monotonic() - t0 + 0.2 <= 7, "closed after about 5 s")
    scrape(port)


@test
def metrics_listen_refuses_a_non_loopback_address_without_allow_remote(ctx):
    cl = ctx.three
    argv = [a for a in Cluster.argv(cl, 1)]
    argv[argv.index("--storage-dir") + 1] = os.path.join(cl.dir, "refused")
    argv[argv.index("--peers") + 1] = "127.0.0.1:%d" % free_port()
    argv[argv.index("--rank") + 1] = "1"
    p = subprocess.run(argv + ["--metrics-listen", "0.0.0.0:%d" % free_port()],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode != 0, "addd started with a non-loopback metrics address")
    check("not a loopback address" in p.stderr and "--metrics-allow-remote" in p.stderr,
          "the error does not say why: %r" % p.stderr[-300:])


# ---- status ---------------------------------------------------------------

@test
def status_healthy_then_degraded_then_unavailable_with_exit_codes(ctx):
    cl = MetricsCluster(3)
    ctx.extra.append(cl)
    cl.start_all()
    # The verdict does not weigh the role: a new cluster's processes may be
    # healthy a moment before each says it founded (member); wait for both.
    rc, out, err = wait_for(lambda: (lambda r: r if r[0] == 0 and r[1].count("  up  member  ") == 3
                                     else None)(addctl_status(cl)),
                            "a healthy verdict with three members")
    lines = out.strip().splitlines()
    check(len(lines) == 4 and lines[-1] == "cluster: healthy", "healthy output: %r" % out)
    for r in (1, 2, 3):
        check(lines[r - 1].startswith("rank %d  127.0.0.1:%d  up  member  sees 1,2,3" %
                                      (r, cl.ports[r - 1])), "line %d: %r" % (r, lines[r - 1]))
        check("v0.1.0" in lines[r - 1] and "damage now 0" in lines[r - 1], "line %d" % r)
        check("(passes " in lines[r - 1] and "re-learned" not in lines[r - 1],
              "scrub passes, no re-learning for a member: %r" % lines[r - 1])
    rc, out, _ = addctl_status(cl, ["--json"])
    doc = json.loads(out)
    check(rc == 0 and doc["verdict"] == "healthy" and doc["exit"] == 0, "json healthy")
    check([p["peers_up"] for p in doc["processes"]] == [[1, 2, 3]] * 3, "json peers")
    check(all(p["sectors_known"] == p["sectors"] and p["damage"]["scrub_passes"] >= 0
              for p in doc["processes"]), "json: a member knows every sector")

    cl.kill(2)
    rc, out, _ = wait_for(lambda: (lambda r: r if "rank 2 down" in r[1] else None)(addctl_status(cl)),
                          "rank 2 reported down")
    check(rc == 1, "degraded exit %d" % rc)
    check(out.strip().splitlines()[-1] ==
          "cluster: degraded: rank 2 down; writes on a bare majority", "degraded: %r" % out)
    check(re.search(r"^rank 2  127\.0\.0\.1:\d+  unreachable: ", out, re.M), "rank 2 line: %r" % out)
    rc, out, _ = addctl_status(cl, ["--json"])
    doc = json.loads(out)
    check(rc == 1 and doc["verdict"] == "degraded" and not doc["processes"][1]["reachable"],
          "json degraded")

    cl.kill(3)
    rc, out, _ = addctl_status(cl)
    check(rc == 2, "unavailable exit %d: %r" % (rc, out))
    check(out.strip().splitlines()[-1].startswith("cluster: unavailable"), "unavailable: %r" % out)


@test
def a_wiped_process_shows_recovering_and_its_relearning_progress(ctx):
    cl = MetricsCluster(3)
    ctx.extra.append(cl)
    cl.start_all()
    wait_for(lambda: addctl_status(cl)[0] == 0, "a healthy verdict")
    c = cl.client(1)
    for i in range(8):
        c.write(40 + i, pattern(7, 40 + i))
    c.close()
    cl.kill(1)
    cl.kill(2)
    shutil.rmtree(os.path.join(cl.dir, "store-2"))
    cl.start(2)  # with 1 down it cannot re-learn the sectors 3 alone may lack
    page = wait_for(lambda: (lambda p: p if value(p, "add_rejoin_state", 'state="member"') == 0
                             else None)(scrape(cl.mports[1])), "rank 2 not a member")
    check(value(page, "add_rejoin_state", 'state="recovering"') +
          value(page, "add_rejoin_state", 'state="fresh"') == 1, "recovering or fresh")
    check(value(page, "add_rejoin_sectors_behind") > 0 and
          value(page, "add_rejoin_sectors_known") + value(page, "add_rejoin_sectors_behind") ==
          value(page, "add_sectors"), "known + behind = sectors")
    rc, out, _ = addctl_status(cl)
    line2 = [ln for ln in out.splitlines() if ln.startswith("rank 2 ")][0]
    check(re.search(r"  up  recovering  sees [0-9,]+  re-learned \d+/\d+ \(\d+\.\d%\)", line2),
          "rank 2 line: %r" % line2)
    check(rc != 0, "not healthy while rank 1 is down and 2 recovers: %d" % rc)
    cl.start(1)
    page = wait_for(lambda: (lambda p: p if value(p, "add_rejoin_state", 'state="member"') == 1
                             else None)(scrape(cl.mports[1])), "rank 2 a member again", 60)
    check(value(page, "add_rejoin_sectors_behind") == 0, "behind on nothing once a member")
    rc, out, _ = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(addctl_status(cl)),
                          "healthy again")
    check("re-learned" not in out and "recovering" not in out, "members only: %r" % out)


@test
def status_with_another_client_key_is_not_healthy(ctx):
    cl = ctx.three
    other = os.path.join(cl.dir, "other.key")
    with open(other, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(other, 0o600)
    rc, out, _ = addctl_status(cl, key=other)
    # the processes answer AuthFailure signed with the cluster's key: to
    # this client the answer's HMAC does not verify
    check(rc == 2 and out.count("(another client key?)") == 3, "another key: exit %d, %r" % (rc, out))


@test
def status_usage_errors_exit_3(ctx):
    p = subprocess.run([os.path.join(test_cluster.BUILD, "addctl"), "status", "--bogus"],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 3, "exit %d" % p.returncode)


@test
def a_status_request_leaves_the_connection_usable_for_commands(ctx):
    cl = ctx.three
    c = cl.client(1)
    status = bytearray(encode_cmd(cl.ckey, READ, 5, 0))
    status[7] = 0x82  # STATUS, laid out like READ: sign it again
    import hmac as _h
    import hashlib as _hl
    status[-32:] = _h.new(cl.ckey, bytes(status[:-32]), _hl.sha256).digest()
    c.send(bytes(status))
    c._fill(240)
    raw, c.buf = c.buf[:240], c.buf[240:]
    check(raw[:4] == b"atdd" and raw[6] == 0 and raw[7] == 0xC2, "status answer header %r" % raw[:8])
    check(_h.new(cl.ckey, raw[:-32], _hl.sha256).digest() == raw[-32:], "answer HMAC")
    check(raw[16] == 1 and raw[17] == 1 and raw[18] == 3, "format 1, rank 1 of 3")
    check(raw[19] == 0 and raw[20] & 0b1110 == 0b1110, "member, sees ranks 1-3: %r" % raw[19:21])
    c.write(9, pattern(1, 9))
    check(c.read(9) == pattern(1, 9), "the connection still serves commands")
    c.close()


# ---- logs -----------------------------------------------------------------

@test
def peer_link_down_and_up_are_logged_once_with_the_outage(ctx):
    cl = MetricsCluster(3)
    ctx.extra.append(cl)
    cl.start_all()
    wait_for(lambda: value(scrape(cl.mports[0]), "add_processes_up") == 3, "links up")
    cl.kill(2)
    wait_for(lambda: re.search(r"warning: link to rank 2 \(127\.0\.0\.1:\d+\) down", cl.log(1)),
             "a down line")
    time.sleep(1.5)  # reconnects fail meanwhile: no more lines
    cl.start(2)
    m = wait_for(lambda: re.search(r"info: link to rank 2 \(127\.0\.0\.1:\d+\) up again after "
                                   r"(\d+\.\d) s down", cl.log(1)), "an up-again line")
    check(1.0 <= float(m.group(1)) <= 10, "outage %s s" % m.group(1))
    log = cl.log(1)
    check(len(re.findall(r"link to rank 2 \S+ down:", log)) == 1, "one down line:\n" + log)
    check(len(re.findall(r"link to rank 2 \S+ up again", log)) == 1, "one up line:\n" + log)
    check(value(scrape(cl.mports[0]), "add_peer_up", 'peer="2"') == 1, "metric back up")


@test
def a_peer_never_reached_since_start_is_said_once_then_its_arrival(ctx):
    cl = MetricsCluster(3)
    ctx.extra.append(cl)
    cl.start(1)
    cl.start(2)
    m = wait_for(lambda: re.search(r"warning: link to rank 3 \(127\.0\.0\.1:\d+\) not up since "
                                   r"start \d+ s ago: (.+)", cl.log(1)), "a not-up warning", 10)
    check("refused" in m.group(1).lower(), "the reason: %r" % m.group(1))
    time.sleep(1.2)
    check(cl.log(1).count("not up since start") == 1, "said once:\n" + cl.log(1))
    two = [ln for ln in cl.log(1).splitlines() if "link to rank 2" in ln]
    check(len(two) == 1 and re.search(r"info: link to rank 2 \S+ up$", two[0]),
          "rank 2 came up at once: %r" % two)
    cl.start(3)
    wait_for(lambda: re.search(r"info: link to rank 3 \S+ up, \d+\.\d s after start", cl.log(1)),
             "the arrival line")
    check(re.search(r"info: storage in '.*' recovered: 0 sectors written, 0 journal records "
                    r"replayed", cl.log(1)), "the recovery line")


@test
def log_lines_carry_a_full_utc_time_stamp_unless_under_journald(ctx):
    cl = ctx.three
    first = cl.log(1).splitlines()[0]
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z addd\[1\] info: ", first),
          "no full UTC stamp: %r" % first)
    argv = [os.path.join(test_cluster.BUILD, "addd"), "--rank", "1", "--peers",
            "127.0.0.1:%d" % free_port(), "--storage-dir", os.path.join(cl.dir, "jd"),
            "--sectors", "8", "--client-key-file", cl.ckey_path, "--system-key-file",
            cl.skey_path]
    env = dict(os.environ, JOURNAL_STREAM="8:12345")
    p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stderr.readline()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
    check(line.startswith("addd[1] info: "), "under journald: %r" % line)


def main():
    args = sys.argv[1:]
    only = None
    if "-k" in args:
        i = args.index("-k")
        only = args[i + 1]
        del args[i:i + 2]
    if args:
        test_cluster.BUILD = args[0]

    class Ctx:
        pass

    ctx = Ctx()
    ctx.extra = []
    ctx.three = MetricsCluster(3)
    passed = failed = 0
    try:
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
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
                if os.environ.get("ADD_IT_LOGS"):
                    for cl in [ctx.three] + ctx.extra:
                        print(cl.logs())
            for cl in ctx.extra:
                cl.cleanup()
            ctx.extra = []
    finally:
        for cl in [ctx.three] + ctx.extra:
            cl.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
