#!/usr/bin/env bash
# The deterministic simulator (build/addsim) over every scenario in
# scenarios/, on a fixed set of seeds (SIM_SEEDS, default 1..8; the slower
# storage-fault scenarios SIM_SEEDS_STORAGE, default 1..4), plus a
# determinism check (same seed twice => same trace hash) per scenario, and a
# check that each storage-fault scenario really injects its faults and that
# the nodes find and repair the damage; two scenarios at a time
# (SIM_JOBS). About two and a half minutes on this machine.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
seeds=${SIM_SEEDS:-1..8}
storage_seeds=${SIM_SEEDS_STORAGE:-1..4}
sim=build/addsim
[[ -x $sim ]] || make -s "$sim" >/dev/null || { echo "cannot build $sim"; echo "0 passed, 1 failed"; exit 1; }
# Scenarios with storage faults (slower per seed: a real store that
# checksums every sector, scrubs, repairs), and what a run of each must show
# in `--verbose` (a regex over its storage figures).
declare -A storage=(
  [rot-writer]='[1-9][0-9]* flips.* [1-9][0-9]* damaged found, [1-9][0-9]* repaired'
  [rot]='[1-9][0-9]* flips.* [1-9][0-9]* damaged found, [1-9][0-9]* repaired'
  [read-errors]='[1-9][0-9]* read errors.* [1-9][0-9]* damaged found, [1-9][0-9]* repaired'
  [disk-full]='[1-9][0-9]* full disks.* [1-9][0-9]* failed opens'
  [recovery-crash]='[1-9][0-9]* crashes in recovery'
  [storage-faults]='[1-9][0-9]* flips, [1-9][0-9]* read errors, [1-9][0-9]* full disks, [1-9][0-9]* crashes in recovery.* [1-9][0-9]* repaired'
)
# One scenario: its seeds, its determinism, its storage figures. Writes its
# report to $tmp/NAME.out and one "P F" line (checks passed, failed) to
# $tmp/NAME.res.
one() {
  local f=$1 name s out rc p=0 q=0
  name=$(basename "$f" .txt)
  s=$seeds
  [[ -n ${storage[$name]:-} ]] && s=$storage_seeds
  {
    out=$(timeout 600 "$sim" --scenario "$f" --seeds "$s" --quiet --report-dir build/sim-reports 2>&1); rc=$?
    if ((rc == 0)); then
      p=$((p + 1)); grep -E '^scenario' <<<"$out"
    else
      q=$((q + 1)); echo "$out" | tail -n 40; echo "FAIL: $name (exit $rc)"
    fi
    out=$(timeout 300 "$sim" --scenario "$f" --seed 1 --check-determinism --verbose 2>&1); rc=$?
    if ((rc == 0)) && grep -q '^deterministic' <<<"$out"; then
      p=$((p + 1))
    else
      q=$((q + 1)); echo "$out" | tail -n 20; echo "FAIL: $name is not deterministic (exit $rc)"
    fi
    if [[ -n ${storage[$name]:-} ]]; then
      if grep -qE "${storage[$name]}" <<<"$out"; then
        p=$((p + 1)); grep -oE 'storage: .* scrubbed' <<<"$out" | sed "s/^/  $name seed 1: /"
      else
        q=$((q + 1)); echo "$out" | head -n 3
        echo "FAIL: $name seed 1 does not show /${storage[$name]}/"
      fi
    fi
  } >"$tmp/$name.out" 2>&1
  echo "$p $q" >"$tmp/$name.res"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# SIM_JOBS scenarios at a time (default 2: the machine's cores).
jobs_max=${SIM_JOBS:-2}
for f in scenarios/*.txt; do
  while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n; done
  one "$f" &
done
wait
passed=0 failed=0
for f in scenarios/*.txt; do
  name=$(basename "$f" .txt)
  cat "$tmp/$name.out"
  if [[ -f $tmp/$name.res ]]; then
    read -r p q <"$tmp/$name.res"
  else
    p=0 q=1; echo "FAIL: $name gave no result"
  fi
  passed=$((passed + p)); failed=$((failed + q))
done
# A broken scenario file is refused with its line number.
bad=$(mktemp); printf 'nodes 3\nat 100ms explode 2\n' >"$bad"
out=$("$sim" --scenario "$bad" 2>&1); rc=$?
rm -f "$bad"
if ((rc == 2)) && grep -q 'line 2' <<<"$out"; then passed=$((passed + 1));
else failed=$((failed + 1)); echo "FAIL: a bad scenario was not refused: $out"; fi
# The command line: --opt=value as well as "--opt value"; a negative or missing
# seed and a missing --scenario are usage errors (exit 2, one line).
cli_ok=1
"$sim" --scenario=scenarios/clean.txt --seed=2 --quiet >/dev/null 2>&1 || cli_ok=0
for args in "--scenario scenarios/clean.txt --seed -1" "--scenario scenarios/clean.txt --seeds 1..-2" \
            "--seed 1"; do
  # shellcheck disable=SC2086
  out=$(timeout 20 "$sim" $args 2>&1); rc=$?
  ((rc == 2)) && [[ $(wc -l <<<"$out") -eq 1 ]] || { cli_ok=0; echo "addsim $args: exit $rc: $out"; }
done
if ((cli_ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: addsim command line"; fi
echo "$passed passed, $failed failed"
((failed == 0))
