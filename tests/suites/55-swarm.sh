#!/usr/bin/env bash
# Swarm mode (runtime-sim/swarm.h): SWARM_SEEDS (default 1..300) seeds, each
# drawing its own cluster, workload and fault mix, with the heal, scrub and
# final-read (liveness) phases and a wall-clock budget per run (HANG); then
# a drawn scenario written as a file replays the same run (same trace hash)
# and prints back the same file, a swarm seed is deterministic, and the
# summary reports simulated seconds per wall second; each half of the range
# must reach every required coverage point. About two minutes.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
seeds=${SWARM_SEEDS:-1..300}
sim=build/addsim
[[ -x $sim ]] || make -s "$sim" >/dev/null || { echo "cannot build $sim"; echo "0 passed, 1 failed"; exit 1; }
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
ko() { failed=$((failed + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# 1. the seed range, in two halves at once (the machine's two cores)
lo=${seeds%..*} hi=${seeds#*..}
mid=$(( (lo + hi) / 2 ))
# coverage points each half of the range must reach (else exit 1: COVERAGE)
req=node.retransmission,node.resend_on_reconnect,node.retransmission_at_max_interval
req+=,node.client_bad_hmac_refused,node.peer_bad_hmac_dropped,node.sector_repaired
req+=,sim.checkpoint_under_workload,sim.checkpoint_during_partition,sim.oneway_cut
req+=,sim.crash_during_partition,sim.crash_inside_recovery
req+=,buggify.node.retransmit_early,buggify.node.skip_resend_on_reconnect,buggify.sim.delay_store_completion
timeout 900 "$sim" --swarm --seeds "$lo..$mid" --keep-going --quiet --budget 120 \
  --coverage --require-coverage "$req" --report-dir build/sim-reports >"$tmp/a" 2>&1 & pa=$!
timeout 900 "$sim" --swarm --seeds "$((mid + 1))..$hi" --keep-going --quiet --budget 120 \
  --coverage --require-coverage "$req" --report-dir build/sim-reports >"$tmp/b" 2>&1 & pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
for h in a b; do
  grep -E '^scenario swarm' "$tmp/$h"
  grep -E '^COVERAGE' "$tmp/$h"
  grep -qE '[0-9.]+ simulated s per wall s' "$tmp/$h" || ko "the summary of $h has no simulated s per wall s"
done
if ((ra == 0 && rb == 0)); then ok "swarm seeds $seeds"; else
  cat "$tmp/a" "$tmp/b" | grep -vE '^scenario swarm' | head -n 120; ko "swarm seeds $seeds (exit $ra, $rb)"; fi
# 2. a drawn scenario as a file: same run, same text
"$sim" --swarm --seed 5 --print-scenario >"$tmp/s5.txt" || ko "--print-scenario"
h1=$("$sim" --swarm --seed 5 --verbose | grep -oE 'hash [0-9a-f]+')
h2=$("$sim" --scenario "$tmp/s5.txt" --seed 5 --verbose | grep -oE 'hash [0-9a-f]+')
if [[ -n $h1 && $h1 == "$h2" ]] && "$sim" --scenario "$tmp/s5.txt" --print-scenario | cmp -s - "$tmp/s5.txt"; then
  ok "swarm seed 5 replays from its scenario file ($h1)"; else ko "scenario file replay: '$h1' vs '$h2'"; fi
# 3. determinism of a swarm seed
out=$("$sim" --swarm --seed 11 --check-determinism 2>&1)
if grep -q '^deterministic' <<<"$out"; then ok "swarm seed 11 is deterministic"; else echo "$out" | tail -5; ko "determinism"; fi
# 4. the seeds really vary the cluster and the faults
sizes=$(for s in $(seq 1 40); do "$sim" --swarm --seed "$s" --print-scenario | awk '$1=="nodes"{print $2}'; done | sort -u | wc -l)
oneway=$(for s in $(seq 1 40); do "$sim" --swarm --seed "$s" --print-scenario | awk '$1=="rate" && $2=="oneway" && $3>0'; done | wc -l)
stall=$(for s in $(seq 1 40); do "$sim" --swarm --seed "$s" --print-scenario | grep -c 'expect no_completions'; done | grep -c 1)
if ((sizes == 7 && oneway > 0 && stall > 0)); then ok "40 seeds draw 7 cluster sizes, $oneway with one-way cuts, $stall must-stall runs";
else ko "40 seeds: $sizes sizes, $oneway one-way, $stall stall"; fi
# 5. a run over its wall-clock budget is a HANG with its seed
# (a run of a million ops: many seconds of wall-clock time on any machine)
printf 'name long\nnodes 3\nops 1000000\nduration 100000s\nthink 0\n' >"$tmp/long.txt"
out=$(timeout 60 "$sim" --scenario "$tmp/long.txt" --seed 1 --budget 1 2>&1); rc=$?
if ((rc == 1)) && grep -q '^HANG: scenario long, seed 1' <<<"$out"; then ok "HANG over budget";
else echo "$out" | tail -3; ko "a run over --budget 1 (exit $rc)"; fi
echo "$passed passed, $failed failed"
((failed == 0))
