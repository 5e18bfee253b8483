#!/usr/bin/env bash
# NBD benchmark (`make bench` runs it as `bash bench/nbd.sh build`): a 3-process
# cluster on loopback (durable storage), process 1 serving NBD. fio's nbd
# engine (4 KiB randwrite QD32, 4 KiB randread QD32, 1 MiB sequential write
# QD8) beside `addctl bench` on the same cluster in the same run, 32 commands
# in flight through process 1 (4 connections x 8), alternating, twice: IOPS,
# MB/s, p50 and p99 completion latency, and the NBD / raw ratio at 4 KiB.
#   BENCH_SECONDS=10 bash bench/nbd.sh build
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH=/usr/bin:/bin:$PATH
source scripts/cluster-lib.sh
CL_BIN=${1:-build}
seconds=${BENCH_SECONDS:-10}
sectors=65536 # 256 MiB

command -v fio >/dev/null || { echo "nbd.sh: fio is not installed (scripts/install-deps.sh)"; exit 0; }
for b in addd addctl; do
  [[ -x "$CL_BIN/$b" ]] || { echo "nbd.sh: $CL_BIN/$b missing"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/add-nbd-bench.XXXXXX")
trap 'cl_stop_all; [[ -n ${KEEP:-} ]] || rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

cl_init "$dir" 3 "$sectors"
nbd_port=$(cl_free_port)
cl_start 1 --nbd-listen "127.0.0.1:$nbd_port"
cl_start 2
cl_start 3
for r in 1 2 3; do cl_wait_listening "$r" || { echo "nbd.sh: rank $r did not start"; exit 1; }; done
sleep 0.5
uri="nbd://127.0.0.1:$nbd_port/add"
rows=()
tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/${CL_PIDS[1]}/stat"; } # addd 1's CPU
timer=()
command -v /usr/bin/time >/dev/null && timer=(/usr/bin/time -f "%U %S" -o "$dir/client.cpu")
# us_per_op T0 OPS: CPU microseconds per operation of addd 1 and of the client
us_per_op() {
  local t1 cu=0; t1=$(ticks)
  [[ -s $dir/client.cpu ]] && cu=$(tail -n 1 "$dir/client.cpu" | awk '{print $1 + $2}')
  awk -v t0="$1" -v t1="$t1" -v tck="$tck" -v ops="$2" -v cu="$cu" \
    'BEGIN{ if (ops > 0) printf "%6.1f %6.1f", 1e6 * (t1 - t0) / tck / ops, 1e6 * cu / ops; else print "     ?      ?" }'
}

raw() { # label read-ratio
  local out="$dir/raw-$1" rate lat t0; t0=$(ticks); rm -f "$dir/client.cpu"
  "${timer[@]}" "$CL_BIN/addctl" bench --peers "127.0.0.1:${CL_PORTS[1]}" --client-key-file "$dir/client.key" \
    --connections 4 --depth 8 --read-ratio "$2" --sectors "$sectors" --duration "$seconds" \
    --quiet >"$out" 2>"$out.err" || { rows+=("$(printf '%-30s FAILED: %s' "$1" "$(tail -n 2 "$out" "$out.err")")"); return; }
  if [[ $2 == 0 ]]; then rate=$(sed -nE 's/^writes: .* = ([0-9]+) sectors.*/\1/p' "$out")
  else rate=$(sed -nE 's/^reads: .* = ([0-9]+) sectors.*/\1/p' "$out"); fi
  lat=$(sed -nE 's/^latency_us: p50 ([0-9]+) p99 ([0-9]+).*/\1 \2/p' "$out")
  read -r p50 p99 <<<"${lat:-? ?}"
  eval "raw_$3=${rate:-0}"
  rows+=("$(printf '%-30s %9s %8.1f %9s %9s %s' "$1" "${rate:-?}" \
    "$(awk -v r="${rate:-0}" 'BEGIN{print r*4096/1e6}')" "$p50" "$p99" \
    "$(us_per_op "$t0" $(( ${rate:-0} * seconds )))")")
}

nbdfio() { # label rw bs iodepth key
  local out="$dir/fio-$5.json" line t0; t0=$(ticks); rm -f "$dir/client.cpu"
  "${timer[@]}" fio --name="$5" --ioengine=nbd --uri="$uri" --rw="$2" --bs="$3" --iodepth="$4" \
    --size=$((sectors * 4096)) --time_based --runtime="$seconds" --ramp_time=1 \
    --output-format=json >"$out" 2>"$dir/fio-$5.err" ||
    { rows+=("$(printf '%-30s FAILED: %s' "$1" "$(tail -n 2 "$dir/fio-$5.err")")"); return; }
  line=$(/usr/bin/python3 - "$out" <<'PY'
import json, sys
t = open(sys.argv[1]).read()
j = json.loads(t[t.index("{"):])["jobs"][0]  # fio's nbd engine prints a line first
d = j["write"] if j["write"]["io_bytes"] > 0 else j["read"]
pct = d["clat_ns"]["percentile"]
print("%d %.1f %d %d" % (d["iops"], d["bw_bytes"] / 1e6, pct["50.000000"] / 1e3, pct["99.000000"] / 1e3))
PY
)
  read -r iops mbs p50 p99 <<<"${line:-0 ? ? ?}"
  eval "nbd_$5=${iops:-0}"
  # fio also runs a 1 s ramp: its operations are counted over seconds + 1
  rows+=("$(printf '%-30s %9s %8s %9s %9s %s' "$1" "$iops" "$mbs" "$p50" "$p99" \
    "$(us_per_op "$t0" $(( ${iops:-0} * (seconds + 1) )))")")
}

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/'); ${seconds}s per run"
# The machine may be shared: raw and NBD runs alternate, twice each, and the
# better run of each is kept (the ratio compares like with like).
best() { # best VAR VALUE: VAR = max(VAR, VALUE)
  local cur=${!1:-0}
  awk -v a="$cur" -v b="$2" 'BEGIN{exit !(b > a)}' && eval "$1=$2"
}
for round in 1 2; do
  raw "addctl bench 4k write QD32 #$round" 0 w$round
  nbdfio "fio nbd 4k randwrite QD32 #$round" randwrite 4k 32 w$round
  raw "addctl bench 4k read QD32 #$round" 1 r$round
  nbdfio "fio nbd 4k randread QD32 #$round" randread 4k 32 r$round
done
nbdfio "fio nbd 1M seq write QD8" write 1m 8 seq
printf '%-30s %9s %8s %9s %9s %6s %6s\n' "what (through process 1)" "IOPS" "MB/s" "p50 us" "p99 us" \
  "srv us" "cli us"
echo "(srv us / cli us: CPU time per operation of addd 1 / of the client program)"
printf '%s\n' "${rows[@]}"
for k in w r; do
  for round in 1 2; do
    v=raw_$k$round; best raw_$k "${!v:-0}"
    v=nbd_$k$round; best nbd_$k "${!v:-0}"
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "?" }'; }
echo "NBD / raw protocol at 4 KiB (best of 2 each): writes ${nbd_w:-0}/${raw_w:-0} = $(ratio "${nbd_w:-0}" "${raw_w:-0}"), reads ${nbd_r:-0}/${raw_r:-0} = $(ratio "${nbd_r:-0}" "${raw_r:-0}") (target >= 0.80)"
