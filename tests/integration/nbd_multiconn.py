# Run by nbdsh (libnbd's Python shell): several handles, on several addd
# processes, interleave writes, FLUSH and reads (after nbdkit's multi-conn
# test). A write answered on one handle is seen at once by every other;
# FLUSH answers only after the writes sent before it. PORTS: the processes'
# NBD ports, comma-separated (environment).
import os
import nbd

ports = [int(p) for p in os.environ["PORTS"].split(",")]
hs = []
for p in ports:
    for _ in range(2):
        h = nbd.NBD()
        h.connect_uri(f"nbd://127.0.0.1:{p}/add")
        assert h.can_multi_conn() and h.can_flush() and h.can_fua()
        hs.append(h)
fails = 0
S = 4096
for rnd in range(20):
    w = hs[rnd % len(hs)]
    val = bytes([(rnd * 37 + 1) % 256]) * (8 * S)
    off = (rnd % 4) * 8 * S
    # aio writes on one handle, then FLUSH on it before they are waited for
    done = []

    def cb(err, i=None):
        done.append((i, err.value if hasattr(err, "value") else err))
        return 1  # retire the command

    for i in range(8):
        w.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(val[i * S:(i + 1) * S])), off + i * S,
                     completion=lambda err, i=i: cb(err, i))
    w.aio_flush(completion=lambda err: cb(err, "flush"))
    while not any(d[0] == "flush" for d in done):
        w.poll(-1)
    # the flush came back: every write before it has too
    if len(done) != 9 or any(e != 0 for _, e in done):
        print(f"FAIL round {rnd}: FLUSH answered before the writes it follows: {done}")
        fails += 1
    for r in hs:
        if r.pread(8 * S, off) != val:
            print(f"FAIL round {rnd}: a handle did not see the flushed write")
            fails += 1
    # FUA write on another handle, read by all
    o = hs[(rnd + 3) % len(hs)]
    o.pwrite(bytes([rnd]) * S, 100 * S + rnd * S, nbd.CMD_FLAG_FUA)
    for r in hs:
        if r.pread(S, 100 * S + rnd * S) != bytes([rnd]) * S:
            print(f"FAIL round {rnd}: a FUA write not seen by every handle")
            fails += 1
for h in hs:
    h.shutdown()
print("ok   nbdsh_multiconn_interleaving" if fails == 0 else f"FAIL nbdsh_multiconn_interleaving ({fails})")
if fails:
    raise SystemExit(1)
