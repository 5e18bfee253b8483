#!/usr/bin/env bash
# Cluster benchmark (`make bench` runs it as `bash bench/cluster.sh build`):
# N=3 and N=4 addd processes on loopback, durable storage, HMAC on; addctl
# bench with 16 connections x 8 in flight over 65,536 sectors: a write-only
# run, then a read-only run over what it wrote. Beside the figures, the
# machine's limits measured in the same run: fdatasync/s and HMAC-SHA256
# bytes/s; and N=3 writes with the storage on tmpfs (no flush latency, reference
# only; BENCH_TMPFS=0 skips it). Every process is stopped by pid.
#   BENCH_SECONDS=10 BENCH_NS="3 4" bash bench/cluster.sh build
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster-lib.sh
CL_BIN=${1:-build}
seconds=${BENCH_SECONDS:-10}
ns=${BENCH_NS:-3 4}
sectors=65536
conns=16
depth=8

dir=$(mktemp -d "${TMPDIR:-/tmp}/add-bench.XXXXXX")
trap 'cl_stop_all; rm -rf "$dir" "${CL_DIR:-$dir}"' EXIT
trap 'exit 130' INT TERM

for b in addd addctl; do
  [[ -x "$CL_BIN/$b" ]] || { echo "cluster.sh: $CL_BIN/$b missing"; exit 1; }
done

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
fsync1=""
if [[ -x "$CL_BIN/bench_fdatasync" ]]; then
  fl=$("$CL_BIN/bench_fdatasync" "$dir" 2)
  echo "limit: $fl"
  fsync1=$(sed -nE 's/.*: 1 writer ([0-9]+);.*/\1/p' <<<"$fl")
fi
# One loopback TCP round trip (64-byte ping-pong, median of 2000), in us.
rtt_us=$(/usr/bin/python3 - <<'PY'
import socket, threading, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def echo():
    c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = c.recv(64)
        if not b: break
        c.sendall(b)
threading.Thread(target=echo, daemon=True).start()
s = socket.create_connection(srv.getsockname()); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ts = []
for _ in range(2000):
    t = time.perf_counter(); s.sendall(b"x" * 64); n = 0
    while n < 64: n += len(s.recv(64 - n))
    ts.append(time.perf_counter() - t)
ts.sort(); print("%.0f" % (ts[len(ts) // 2] * 1e6))
PY
)
echo "limit: loopback TCP round trip (64 bytes, median): ${rtt_us:-?} us"
hmac=$(openssl speed -bytes 4096 -seconds 2 -hmac sha256 2>/dev/null | awk '/^hmac\(sha256\)/ {print $2}')
[[ -n "$hmac" ]] && echo "limit: HMAC-SHA256 (openssl, 4096-byte messages, 1 core): ${hmac%k} kB/s"

# CPU seconds (user + system) used so far by the running addd processes.
cpu_addd() {
  local r t=0 tck; tck=$(getconf CLK_TCK)
  for r in "${!CL_PIDS[@]}"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/${CL_PIDS[$r]}/stat" 2>/dev/null || echo 0)))
  done
  echo "$t $tck"
}
timer=()
command -v /usr/bin/time >/dev/null && timer=(/usr/bin/time -f "%U %S" -o "$dir/client.cpu")

results=()
qd1_p50="" qd1_p99=""
run_bench() { # N label ratio
  local n=$1 label=$2 ratio=$3 out="$dir/bench-$1-$2.out" c0 c1 tck
  read -r c0 tck <<< "$(cpu_addd)"
  rm -f "$dir/client.cpu"
  "${timer[@]}" "$CL_BIN/addctl" bench --peers "$CL_PEERS" --client-key-file "$CL_DIR/client.key" \
    --connections $conns --depth $depth --read-ratio "$ratio" --sectors $sectors \
    --duration "$seconds" --quiet --prior-writes > "$out" 2> "$dir/bench-$1-$2.err"
  local rc=$? rate lat cpu ops
  read -r c1 tck <<< "$(cpu_addd)"
  if [[ $label == w* ]]; then rate=$(sed -nE 's/^writes: .* = ([0-9]+) sectors.*/\1/p' "$out")
  else rate=$(sed -nE 's/^reads: .* = ([0-9]+) sectors.*/\1/p' "$out"); fi
  lat=$(sed -nE 's/^latency_us: p50 ([0-9]+) p99 ([0-9]+) p99.9 ([0-9]+).*/\1 \2 \3/p' "$out")
  read -r p50 p99 p999 <<< "${lat:-? ? ?}"
  # CPU per operation (all addd + the client): with the machine shared, this
  # is the figure that says what 2 idle cores would sustain if CPU-bound.
  cpu=$(python3 - "$c0" "$c1" "$tck" "${rate:-0}" "$seconds" "$dir/client.cpu" <<'PY'
import sys, os
c0, c1, tck, rate, secs, f = sys.argv[1:]
cpu = (int(c1) - int(c0)) / int(tck)
if os.path.exists(f):
    u, s = open(f).read().split()[-2:]
    cpu += float(u) + float(s)
ops = float(rate) * float(secs)
print("%6.0f %8.0f" % (1e6 * cpu / ops, 2 * ops / cpu) if ops > 0 and cpu > 0 else "     ?        ?")
PY
)
  results+=("$(printf '%-3s %-6s %10s %9s %9s %9s %s  %s' "$n" "$label" "${rate:-?}" \
    "$p50" "$p99" "$p999" "$cpu" "$( ((rc == 0)) && echo ok || echo "FAILED (see below)")")")
  ((rc == 0)) || { cat "$out" "$dir/bench-$1-$2.err" | tail -n 8; }
}

start_cluster() { # N STORAGE_PARENT
  local n=$1 r ok=1
  cl_init "$2/add-bench-cluster.$$" "$n" "$sectors"
  for ((r = 1; r <= n; r++)); do cl_start "$r"; done
  for ((r = 1; r <= n; r++)); do cl_wait_listening "$r" || ok=0; done
  ((ok)) || { echo "N=$n: the cluster did not start"; tail -n 5 "$CL_DIR"/addd-*.log; }
  ((ok))
}

# Wake-ups of an idle addd: voluntary context switches of its event-loop
# thread (the main thread: /proc/PID/status) over BENCH_IDLE_SECONDS, after
# the cluster has connected and settled. Printed per process, per second.
idle_line=""
idle_wakeups() {
  local secs=${BENCH_IDLE_SECONDS:-10} r a=() b=() out=""
  sleep 2
  for r in "${!CL_PIDS[@]}"; do
    a[r]=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/${CL_PIDS[$r]}/status")
  done
  sleep "$secs"
  for r in "${!CL_PIDS[@]}"; do
    b[r]=$(awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/${CL_PIDS[$r]}/status")
    out+=" rank $r: $(( b[r] - a[r] )) ($(awk -v d=$(( b[r] - a[r] )) -v s="$secs" 'BEGIN {printf "%.1f", d / s}')/s)"
  done
  idle_line="idle addd wake-ups over ${secs}s:$out   target: at most a few per second"
  echo "$idle_line"
}

for n in $ns; do
  if start_cluster "$n" "$dir"; then
    [[ $n == 3 && "${BENCH_IDLE:-1}" == 1 ]] && idle_wakeups
    echo "N=$n: ${seconds}s write-only, then ${seconds}s read-only ($conns connections x $depth in flight, $sectors sectors)"
    run_bench "$n" write 0
    run_bench "$n" read 1
    if [[ $n == 3 ]]; then
      # queue depth 1: one connection, one command in flight
      conns=1 depth=1 run_bench "$n" w-qd1 0
      qd1_p50=$p50 qd1_p99=$p99
    fi
  fi
  cl_stop_all
  rm -rf "$CL_DIR"
done

# The same writes with the storage in memory (tmpfs): what the cluster does
# without flush latency, i.e. how much of the gap the disk accounts for.
if [[ "${BENCH_TMPFS:-1}" == 1 && -d /dev/shm && -w /dev/shm ]]; then
  if start_cluster 3 /dev/shm; then
    echo "N=3 on tmpfs (not durable; reference only): ${seconds}s write-only"
    run_bench 3 w-tmpfs 0
  fi
  cl_stop_all
  rm -rf "$CL_DIR"
fi

echo
printf '%-3s %-6s %10s %9s %9s %9s %6s %8s\n' N op sectors/s p50_us p99_us p99.9_us \
  cpu_us 2cpu_cap
echo "(cpu_us: CPU time per operation, every addd + the client; 2cpu_cap: operations/s"
echo " that much CPU allows on 2 otherwise idle cores)"
printf '%s\n' "${results[@]}"
echo "targets (issue 15; N=3, 16 x 8): writes >= 25000/s, p99 < 10000 us, p99.9 < 25000 us;"
echo "  reads >= 100000/s, p99 < 5000 us (figures above: N=3 write, N=3 read)"
if [[ -n "$qd1_p50" && -n "$fsync1" && "$fsync1" -gt 0 && -n "$rtt_us" ]]; then
  lim=$(( 2 * 1000000 / fsync1 + rtt_us ))
  echo "queue depth 1: write p50 ${qd1_p50} us, p99 ${qd1_p99} us; limit: coordinator flush + replica"
  echo "  flush (2 x $((1000000 / fsync1)) us, 1 writer above) + loopback round trip ${rtt_us} us = ${lim} us;"
  echo "  target: p50 <= 1.3 x limit = $(( lim * 13 / 10 )) us, p99 < 5000 us"
fi
[[ -n "$idle_line" ]] && echo "$idle_line"
