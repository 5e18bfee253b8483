#!/usr/bin/env bash
# The main job (`make demo`): a local 3-process ADD cluster on loopback with
# fresh keys in a temporary directory; a verified workload (addctl bench:
# every READ checked against the last acknowledged WRITE of its sector);
# rank 2 killed with SIGKILL in the middle and restarted; at the end every
# written sector is read back through every process and must hold its last
# acknowledged write. Prints a summary; removes everything it made; exit 0
# only on success.
#   DEMO_SECONDS=12 DEMO_SECTORS=16384 scripts/demo.sh
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster-lib.sh
CL_BIN=${BUILD:-build}
seconds=${DEMO_SECONDS:-12}
sectors=${DEMO_SECTORS:-16384}
victim=2

dir=$(mktemp -d "${TMPDIR:-/tmp}/add-demo.XXXXXX")
bench_pid=
cleanup() {
  [[ -n "$bench_pid" ]] && kill "$bench_pid" 2>/dev/null && wait "$bench_pid" 2>/dev/null
  cl_stop_all
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

for b in addd addctl; do
  [[ -x "$CL_BIN/$b" ]] || { echo "demo: $CL_BIN/$b missing (run make)"; exit 1; }
done
ts() { date +%H:%M:%S.%3N; }
t0=$(date +%s.%N)
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$(date +%s.%N)" "$t0"; }

cl_init "$dir" 3 "$sectors"
echo "== ADD demo: 3 processes on 127.0.0.1 ($CL_PEERS), $sectors sectors, keys in $dir (mode 600)"
for r in 1 2 3; do cl_start "$r"; done
for r in 1 2 3; do
  cl_wait_listening "$r" || { echo "demo: rank $r did not start:"; cat "$dir/addd-$r.log"; exit 1; }
done
echo "[$(ts)] cluster up (pids ${CL_PIDS[*]})"

echo "[$(ts)] workload: ${seconds}s, 12 connections x 4 in flight, 30% reads, verified"
"$CL_BIN/addctl" bench --peers "$CL_PEERS" --client-key-file "$dir/client.key" \
  --connections 12 --depth 4 --read-ratio 0.3 --sectors "$sectors" \
  --duration "$seconds" --verify --fresh > "$dir/bench.out" 2> "$dir/bench.err" &
bench_pid=$!
t0=$(date +%s.%N)  # times below: seconds into the workload

sleep "$(python3 -c "print($seconds / 3)")"
kill_at=$(since)
echo "[$(ts)] kill -9 rank $victim (pid ${CL_PIDS[$victim]}) at t=${kill_at}s"
cl_kill "$victim" KILL
sleep 2
restart_at=$(since)
cl_start "$victim"
cl_wait_listening "$victim" || { echo "demo: rank $victim did not restart"; exit 1; }
echo "[$(ts)] rank $victim restarted (pid ${CL_PIDS[$victim]}) at t=${restart_at}s"

wait "$bench_pid"; bench_rc=$?; bench_pid=
echo "[$(ts)] workload done; read back through every process:"
grep -E '^\[' "$dir/bench.err" | sed 's/^/    /'
grep -vE '^\[' "$dir/bench.err" | sed 's/^/    /'
sed 's/^/    /' "$dir/bench.out"

writes=$(sed -nE 's/^writes: ([0-9]+).*/\1/p' "$dir/bench.out")
reads=$(sed -nE 's/^reads: ([0-9]+).*/\1/p' "$dir/bench.out")
vline=$(grep '^verify:' "$dir/bench.out")
echo
echo "== summary"
echo "acknowledged writes: ${writes:-?}, verified reads: ${reads:-?} in ${seconds}s"
echo "rank $victim: SIGKILL at t=${kill_at}s, restarted at t=${restart_at}s"
echo "${vline:-verify: missing}"
if ((bench_rc == 0)) && [[ "$vline" == *" 0 failures" ]]; then
  echo "RESULT: OK - no acknowledged write was lost"
  exit 0
fi
echo "RESULT: FAILED (addctl exit $bench_rc); process logs:"
tail -n 20 "$dir"/addd-*.log
exit 1
