#!/usr/bin/env bash
# NBD interoperability: addd --nbd-listen against real clients nobody here
# wrote (qemu-io, qemu-img, nbdinfo, nbdcopy, nbdsh, fio's nbd engine,
# libnbd), three processes on loopback, each serving NBD. Also the refusals
# (unaligned, out of range, FAST_ZERO), malformed input, and kill -9 of a
# replica during I/O and of the NBD-serving process itself. About 1-2 min.
# Installs nothing (scripts/install-deps.sh does); a test whose tool is
# missing is skipped with a message saying which. Ends "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# Debian's python3 (with python3-libnbd), also for nbdsh's "env python3".
export PATH=/usr/bin:/bin:$PATH
CL_BIN=${BUILD:-build}
source scripts/cluster-lib.sh
passed=0 failed=0 skipped=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
need() {
  local t
  for t in "$@"; do
    if [[ $t == python3-libnbd ]]; then
      /usr/bin/python3 -c 'import nbd' 2>/dev/null && continue
    elif command -v "$t" >/dev/null 2>&1; then
      continue
    fi
    echo "SKIP $CUR: '$t' is not installed (scripts/install-deps.sh installs it)"
    skipped=$((skipped + 1))
    return 1
  done
}

[[ -x $CL_BIN/addd ]] || make -s -j2 "$CL_BIN/addd" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
dir=$(mktemp -d /tmp/add-nbd.XXXXXX)
trap 'cl_stop_all; rm -rf "$dir"' EXIT
SECTORS=32768 # 128 MiB
cl_init "$dir" 3 "$SECTORS"
declare -A NP MP
for r in 1 2 3; do NP[$r]=$(cl_free_port); MP[$r]=$(cl_free_port); done
start() { cl_start "$1" --nbd-listen "127.0.0.1:${NP[$1]}" --metrics-listen "127.0.0.1:${MP[$1]}"; }
wait_nbd() { # rank: the NBD port answers
  local i
  for ((i = 0; i < 300; i++)); do
    /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', ${NP[$1]}), 0.2).close()" \
      2>/dev/null && return 0
    sleep 0.02
  done
  return 1
}
for r in 1 2 3; do start "$r"; done
for r in 1 2 3; do cl_wait_listening "$r" && wait_nbd "$r" || { fail "start rank $r"; }; done
uri() { echo "nbd://127.0.0.1:${NP[$1]}/add"; }
checks=tests/integration/nbd_checks.py

# ---- the contract: flags, block sizes, export names ---------------------
CUR=nbdinfo_json_flags_and_block_sizes
if need nbdinfo; then
  if out=$(timeout 20 nbdinfo --json "$(uri 1)" 2>&1) && /usr/bin/python3 -c '
import json, sys
e = json.loads(sys.argv[1])["exports"][0]
want = {"export-size": int(sys.argv[2]) * 4096, "block_size_minimum": 4096,
        "block_size_preferred": 4096, "block_size_maximum": 32 * 1024 * 1024,
        "can_flush": True, "can_fua": True, "can_multi_conn": True, "can_zero": True,
        "can_trim": True, "can_fast_zero": True, "is_read_only": False}
bad = {k: e.get(k) for k, v in want.items() if e.get(k) != v}
sys.exit("mismatch: %r" % bad if bad else 0)' "$out" "$SECTORS"; then pass $CUR; else fail $CUR "$out"; fi
fi
CUR=nbdinfo_list_and_default_export
if need nbdinfo; then
  l=$(timeout 20 nbdinfo --list --json "nbd://127.0.0.1:${NP[2]}" 2>&1)
  s=$(timeout 20 nbdinfo --size "nbd://127.0.0.1:${NP[2]}" 2>&1)
  if grep -q '"export-name": "add"' <<<"$l" && [[ $s == $((SECTORS * 4096)) ]]; then pass $CUR
  else fail $CUR "list: $l size: $s"; fi
fi
CUR=nbd_listen_refuses_non_loopback
out=$("$CL_BIN/addd" --rank 1 --peers 127.0.0.1:1 --storage-dir "$dir/remote" --sectors 8 \
  --client-key-file "$dir/client.key" --system-key-file "$dir/system.key" \
  --nbd-listen "0.0.0.0:$(cl_free_port)" 2>&1); rc=$?
if ((rc != 0)) && grep -q -- '--nbd-allow-remote' <<<"$out" &&
   "$CL_BIN/addd" --help 2>&1 | grep -q -- '--nbd-allow-remote'; then pass $CUR; else fail $CUR "rc $rc: $out"; fi

# ---- data through real clients -------------------------------------------
CUR=qemu_io_patterns_read_back_through_another_process
if need qemu-io; then
  w=() rd=()
  for spec in "0xa1 0 4k" "0xb2 12k 8k" "0xc3 1M 1M" "0xd4 5M 64k" "0xe5 127M 1M"; do
    read -r p o l <<<"$spec"; w+=(-c "write -P $p $o $l"); rd+=(-c "read -P $p $o $l")
  done
  if timeout 60 qemu-io -f raw "${w[@]}" "$(uri 1)" >"$dir/qio-w" 2>&1 &&
     timeout 60 qemu-io -f raw "${rd[@]}" "$(uri 2)" >"$dir/qio-r" 2>&1 &&
     ! grep -qi 'pattern verification failed\|error' "$dir/qio-r" "$dir/qio-w"; then pass $CUR
  else fail $CUR "$(tail -n 3 "$dir/qio-w" "$dir/qio-r")"; fi
fi

# ---- the add_nbd_* figures of /metrics move with the traffic ------------
CUR=metrics_nbd_counters_move_after_a_qemu_io_write_and_read
if need qemu-io curl; then
  if curl -sf "http://127.0.0.1:${MP[3]}/metrics" >"$dir/m-before" &&
     timeout 60 qemu-io -f raw -c "write -P 0x5a 2M 64k" "$(uri 3)" >"$dir/qio-mw" 2>&1 &&
     timeout 60 qemu-io -f raw -c "read -P 0x5a 2M 64k" "$(uri 3)" >"$dir/qio-mr" 2>&1 &&
     ! grep -qi 'pattern verification failed\|error' "$dir/qio-mw" "$dir/qio-mr" &&
     curl -sf "http://127.0.0.1:${MP[3]}/metrics" >"$dir/m-after" &&
     out=$(/usr/bin/python3 -c '
import sys
def load(p):
    return {l.split(" ")[0]: float(l.split(" ")[1]) for l in open(p) if l.startswith("add_nbd_")}
a, b = load(sys.argv[1]), load(sys.argv[2])
d = lambda k: b[k] - a[k]
want = [("add_nbd_connections_accepted_total", 2), ("add_nbd_requests_total{cmd=\"write\"}", 1),
        ("add_nbd_requests_total{cmd=\"read\"}", 1), ("add_nbd_written_bytes_total", 65536),
        ("add_nbd_read_bytes_total", 65536)]
bad = [(k, d(k)) for k, n in want if d(k) < n]
if b["add_nbd_requests_einval_total"] != a["add_nbd_requests_einval_total"]:
    bad.append(("einval moved", d("add_nbd_requests_einval_total")))
sys.exit("did not move enough: %r" % bad if bad else 0)' "$dir/m-before" "$dir/m-after" 2>&1); then pass $CUR
  else fail $CUR "${out:-$(tail -n 3 "$dir/qio-mw" "$dir/qio-mr")}"; fi
fi
head -c $((64 << 20)) /dev/urandom >"$dir/in.img"
CUR=qemu_img_convert_64MiB_in_and_out
if need qemu-img; then
  if timeout 120 qemu-img convert -n -f raw -O raw "$dir/in.img" "$(uri 1)" 2>"$dir/qimg" &&
     timeout 120 qemu-img convert -f raw -O raw "$(uri 3)" "$dir/out.img" 2>>"$dir/qimg" &&
     cmp -n $((64 << 20)) "$dir/in.img" "$dir/out.img"; then pass $CUR
  else fail $CUR "$(cat "$dir/qimg")"; fi
  CUR=qemu_img_info_size
  sz=$(timeout 20 qemu-img info --output=json "$(uri 2)" 2>&1 | /usr/bin/python3 -c \
       'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>&1)
  if [[ $sz == $((SECTORS * 4096)) ]]; then pass $CUR; else fail $CUR "$sz"; fi
fi
rm -f "$dir/out.img"
CUR=nbdcopy_4_connections_round_trip
if need nbdcopy; then
  head -c $((48 << 20)) /dev/urandom >"$dir/in2.img"
  if timeout 120 nbdcopy --connections=4 "$dir/in2.img" "$(uri 2)" 2>"$dir/nbdcopy" &&
     timeout 120 nbdcopy --connections=4 "$(uri 1)" "$dir/out2.img" 2>>"$dir/nbdcopy" &&
     cmp -n $((48 << 20)) "$dir/in2.img" "$dir/out2.img"; then pass $CUR
  else fail $CUR "$(cat "$dir/nbdcopy")"; fi
  rm -f "$dir/out2.img"
fi
CUR=nbdsh_multiconn_interleaving
if need nbdsh python3-libnbd; then
  if out=$(PORTS="${NP[1]},${NP[2]},${NP[3]}" timeout 120 nbdsh -c \
           "exec(open('tests/integration/nbd_multiconn.py').read())" 2>&1); then pass $CUR
  else fail $CUR "$out"; fi
fi
CUR=fio_nbd_randrw_4k_qd32_verify_crc32c
if need fio; then
  if timeout 120 fio --name=nbd-randrw --ioengine=nbd --uri="$(uri 3)" --rw=randrw --bs=4k \
       --iodepth=32 --size=16m --verify=crc32c --verify_fatal=1 --verify_state_save=0 --offset=64m \
       >"$dir/fio" 2>&1 && grep -q 'err= 0' "$dir/fio"; then pass $CUR
  else fail $CUR "$(tail -n 5 "$dir/fio")"; fi
fi

# ---- refusals and bad input ----------------------------------------------
CUR=nbd_refusals_and_zeroes
if need python3-libnbd; then
  if out=$(timeout 60 /usr/bin/python3 $checks refuse "${NP[1]}" 2>&1); then pass $CUR
  else fail $CUR "$(grep -v '^ok' <<<"$out")"; fi
fi
CUR=nbd_large_request_does_not_hold_back_others
if need python3-libnbd; then
  if out=$(timeout 60 /usr/bin/python3 $checks fair "${NP[2]}" 2>&1); then pass $CUR
  else fail $CUR "$(grep -v '^ok' <<<"$out")"; fi
fi
CUR=nbd_raw_handshake_and_malformed_input
if out=$(timeout 60 /usr/bin/python3 $checks raw "${NP[2]}" 2>&1); then pass $CUR
else fail $CUR "$(grep -v '^ok' <<<"$out")"; fi
CUR=nbd_connections_bounded
if out=$(timeout 30 /usr/bin/python3 - "${NP[3]}" <<'EOF' 2>&1
import socket, sys
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(16)]
for s in socks:
    s.settimeout(5)
    assert len(s.recv(18)) == 18, "a connection within the bound got no greeting"
extra = socket.create_connection(("127.0.0.1", port), 5)
extra.settimeout(5)
assert extra.recv(18) == b"", "connection beyond the bound was served"
for s in socks:
    s.close()
EOF
); then pass $CUR; else fail $CUR "$out"; fi

# ---- faults ---------------------------------------------------------------
CUR=kill9_replica_during_fio_acknowledged_writes_survive
if need fio; then
  timeout 120 fio --name=nbd-kill --ioengine=nbd --uri="$(uri 1)" --rw=randwrite --bs=4k \
    --iodepth=32 --size=32m --offset=32m --verify=crc32c --verify_fatal=1 --verify_state_save=0 \
    >"$dir/fio-kill" 2>&1 &
  fio_pid=$!
  sleep 1
  alive=0; kill -0 "$fio_pid" 2>/dev/null && alive=1 # the kill lands during the run
  cl_kill 3 KILL
  wait "$fio_pid"; frc=$?
  if ((alive == 1 && frc == 0)) && grep -q 'err= 0' "$dir/fio-kill"; then pass $CUR
  else fail $CUR "fio alive at the kill: $alive, rc $frc: $(tail -n 5 "$dir/fio-kill")"; fi
  start 3; cl_wait_listening 3; wait_nbd 3
fi
CUR=kill9_nbd_server_restart_reconnect_data_intact
if need python3-libnbd; then
  /usr/bin/python3 $checks write "${NP[1]}" $((100 << 20)) $((1 << 20)) 0x6b >/dev/null 2>&1
  cl_kill 1 KILL
  start 1
  if cl_wait_listening 1 && wait_nbd 1 &&
     out=$(timeout 60 /usr/bin/python3 $checks pattern "${NP[1]}" $((100 << 20)) $((1 << 20)) 0x6b 2>&1) &&
     out2=$(timeout 60 /usr/bin/python3 $checks pattern "${NP[2]}" $((100 << 20)) $((1 << 20)) 0x6b 2>&1); then
    pass $CUR
  else fail $CUR "${out:-} ${out2:-}"; fi
fi
CUR=nbdcopy_data_intact_after_kills
if need qemu-img nbdcopy; then
  # bytes 1..32 MiB hold what nbdcopy wrote (the tests since wrote elsewhere)
  if timeout 120 qemu-img convert -f raw -O raw "$(uri 1)" "$dir/out.img" 2>"$dir/qimg2" &&
     cmp -i $((1 << 20)) -n $((31 << 20)) "$dir/in2.img" "$dir/out.img"; then pass $CUR
  else fail $CUR "$(cat "$dir/qimg2")"; fi
fi

# The known NBD bug of core/mutants.h (50: a length that is not whole sectors
# accepted) is caught by the decoder's unit tests.
CUR=mutant_40_nbd_accept_unaligned_caught_by_unit_tests
if nice make -s -j2 BUILD=build/mutant-50 MUTANT=50 build/mutant-50/test_nbd_proto >/dev/null 2>&1; then
  if build/mutant-50/test_nbd_proto >/dev/null 2>&1; then fail $CUR "the unit tests pass with the bug"
  elif "$CL_BIN/test_nbd_proto" >/dev/null 2>&1 || { make -s "build/test_nbd_proto" >/dev/null 2>&1 &&
       build/test_nbd_proto >/dev/null 2>&1; }; then pass $CUR
  else fail $CUR "the clean unit tests fail"; fi
else fail $CUR "build failed"; fi

# 51: FLUSH answered before the writes it follows: the nbdsh test catches it
# (an addd built with the bug, on a cluster of its own).
CUR=mutant_41_nbd_flush_early_caught_by_nbdsh
if need nbdsh python3-libnbd; then
  if nice make -s -j2 BUILD=build/mutant-51 MUTANT=51 build/mutant-51/addd >/dev/null 2>&1; then
    cl_stop_all
    mdir=$dir/mutant-51; mkdir -p "$mdir"
    CL_BIN=build/mutant-51 cl_init "$mdir" 3 "$SECTORS"
    for r in 1 2 3; do NP[$r]=$(cl_free_port); CL_BIN=build/mutant-51 start "$r"; done
    for r in 1 2 3; do cl_wait_listening "$r"; wait_nbd "$r"; done
    if PORTS="${NP[1]},${NP[2]},${NP[3]}" timeout 120 nbdsh -c \
         "exec(open('tests/integration/nbd_multiconn.py').read())" >"$dir/m41" 2>&1; then
      fail $CUR "the nbdsh test passes with the bug"
    elif grep -q "FLUSH answered before" "$dir/m41"; then pass $CUR
    else fail $CUR "failed otherwise: $(tail -n 3 "$dir/m41")"; fi
    cl_stop_all
  else fail $CUR "build failed"; fi
fi

# Every process stops cleanly on SIGTERM, and (with BUILD=build/asan) no
# sanitizer reported anything.
CUR=addd_logs_clean_after_sigterm
cl_stop_all
if grep -lE 'Sanitizer|runtime error|assert' "$dir"/addd-*.log >/dev/null 2>&1; then
  fail $CUR "$(grep -hE -m3 'Sanitizer|runtime error|assert' "$dir"/addd-*.log)"
else pass $CUR; fi

((skipped > 0)) && echo "($skipped skipped: tools missing)"
echo "$passed passed, $failed failed"
((failed == 0))
