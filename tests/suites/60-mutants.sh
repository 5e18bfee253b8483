#!/usr/bin/env bash
# The simulator has teeth: the core built with each known bug of
# core/mutants.h (one at a time) must be caught by addsim within
# MUTANT_SEEDS (default 200) seeds of the scenario aimed at it, and the
# unmodified core must pass every seed used. Each mutant stops at its first
# catching seed; an assertion of the simulated core that aborts addsim
# (e.g. the node's "store completions in order") counts as caught.
# `make mutants` runs this.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
max=${MUTANT_SEEDS:-200}
# id  name                      scenario aimed at it (scenarios/NAME.txt)
table=(
  "1 ACK_BEFORE_STORE           writer-crash"
  "2 SKIP_WRITE_BACK            contention"
  "3 TS_WITHOUT_RANK            contention"
  "4 ACCEPT_STALE_REPLY         chaos"
  "5 WRITER_NO_STORE_FIRST      writer-crash"
  "6 MAJORITY_GE_HALF           minority-partition-5"
  "7 STORE_SKIP_FLUSH           full-crash"
  "8 RECOVERY_IGNORES_JOURNAL   full-crash"
  "10 STORE_NO_READ_CHECKSUM    rot"
  "12 STORE_RECREATES_PARTIAL   lost-file"
  "20 READ_DATA_ERROR_IGNORED   read-errors"
  "22 REPAIR_COUNTS_SELF        rot"
  "44 REJOIN_SERVES_UNKNOWN     amnesia"
  "46 REJOIN_SKIPS_SECTOR       amnesia"
  "47 REJOIN_NO_FLOOR           amnesia"
  "30 STORE_FLUSH_OUT_OF_ORDER  clean"
  "60 NODE_BAD_HMAC_EXECUTED    chaos"
  "61 NODE_VALUE_OWN_RANK       contention"
  "62 MAP_DEL_NO_SHIFT          -"
  "63 NODE_READ_REPLY_OFFSET    clean"
  "64 NODE_PENDING_LEAK         -"
  "66 NODE_SECTOR_RANGE_OFF_BY_ONE chaos"
  "67 NODE_VALUE_STALE_TS       contention"
  "68 NODE_READ_PROC_BYPASSES_REGISTER contention"
)
# Scenario "-": swarm mode only (no fixed scenario caught 62 and 64 within
# 200 seeds: chaos has too few client reconnects and sector-map collisions).
# Not here: 65 (MAP_SHRINK_OLD_CAP): swarm missed it in 200 seeds (a node's
# sector map rarely grows past its first 64 slots, so it rarely shrinks): a
# weakness left open. A swarm miss fails the suite for swarm's own mutants
# (60..69); for the older ones it is reported (4 is missed by swarm today).
# Each mutant is also run in swarm mode (addsim --swarm, seeds 1..MUTANT_SEEDS):
# the row shows the first catching seed of both.
first_seed() { grep -oE 'first failure: seed [0-9]+|^(FAILED|HANG): scenario [^,]*, seed [0-9]+' <<<"$1" | head -n1 | grep -oE '[0-9]+$'; }
# Not here: the storage mutants 9, 11, 13 and 14 (their unit tests catch
# them: tests/suites/65-store-mutants.sh; DURABLE TAG WENT BACK with
# scenarios/journal-faults.txt (9, 11, 14) and journal-rot.txt (13) missed
# them in 200 seeds), 18, 19 (61-unit-mutants.sh), 21, 23, 24
# and 25 (test_node_damage): no scenario caught them within 25-200 seeds (21, a
# damaged sector answering READ_PROC_META with its tag, does no harm while
# damage stays on one replica at a time, as the nemesis keeps it).
# A mutant changes core/*.c only (no header and no simulator file reads
# ADD_MUTANT), so each mutant's addsim is its own core library linked with
# the one simulator library: one build of the core per mutant, not of all.
make -s -j2 build/addsim build/libaddsim.a >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
build_mutant_addsim() { # id
  local dir=build/mutant-$1
  make -s -j2 BUILD="$dir" MUTANT="$1" "$dir/libaddcore.a" >/dev/null 2>&1 &&
    ${CC:-cc} build/obj/runtime-sim/addsim_main.o build/libaddsim.a "$dir/libaddcore.a" \
      -lcrypto -lpthread -lm -o "$dir/addsim"
}
passed=0 failed=0
declare -A need   # scenario -> highest seed the clean core must pass
rows=()
swarm_need=0
for row in "${table[@]}"; do
  read -r id name scn <<<"$row"
  bin=build/mutant-$id/addsim
  if ! build_mutant_addsim "$id"; then
    rows+=("$(printf '%-2s %-26s %-22s %s' "$id" "$name" "$scn" "BUILD FAILED")")
    failed=$((failed + 1)); continue
  fi
  start=$(date +%s)
  if [[ $scn == - ]]; then out="(swarm only)"; rc=-1; else
  out=$(timeout 900 "$bin" --scenario "scenarios/$scn.txt" --seeds "1..$max" --quiet --budget 120 \
        --report-dir "build/sim-reports/mutant-$id" 2>&1); rc=$?; fi
  secs=$(( $(date +%s) - start ))
  sout=$(timeout 900 "$bin" --swarm --seeds "1..$max" --quiet --budget 120 \
        --report-dir "build/sim-reports/mutant-$id" 2>&1); src=$?
  sseed=$(first_seed "$sout")
  swhy=$(grep -m1 -oE '^(FAILED|HANG): .*: [A-Z][A-Z ]+' <<<"$sout" | sed -E 's/.*: //')
  if ((src == 1)) && [[ -n $sseed ]]; then swarm="swarm: seed $sseed $swhy"; passed=$((passed + 1))
    ((sseed > swarm_need)) && swarm_need=$sseed
  elif ((id >= 60)); then swarm="swarm: MISSED (exit $src)"; failed=$((failed + 1))
  else swarm="swarm: missed (exit $src; not counted below id 60)"; fi
  if ((rc == -1)); then
    rows+=("$(printf '%-2s %-28s %-20s fixed: -                                 %s (%ss)' "$id" "$name" "$scn" "$swarm" "$secs")")
  elif ((rc == 1)); then
    seed=$(first_seed "$out")
    why=$(grep -m1 -oE '^(FAILED|HANG): .*: [A-Z][A-Z ]+' <<<"$out" | sed -E 's/.*: //')
    rows+=("$(printf '%-2s %-28s %-20s fixed: seed %-4s %-24s %s (%ss)' "$id" "$name" "$scn" "$seed" "$why" "$swarm" "$secs")")
    passed=$((passed + 1))
    [[ -z "${need[$scn]:-}" || ${need[$scn]} -lt $seed ]] && need[$scn]=$seed
  elif ((rc == 134)) && grep -q 'Assertion .* failed' <<<"$out"; then
    # An assertion of the simulated core stopped addsim (SIGABRT): caught,
    # at the first seed that aborts on its own.
    seed=""
    for ((s = 1; s <= max && ${#seed} == 0; s++)); do
      (timeout 300 "$bin" --scenario "scenarios/$scn.txt" --seed "$s" --quiet >/dev/null 2>&1) 2>/dev/null
      (($? == 134)) && seed=$s
    done
    rows+=("$(printf '%-2s %-26s %-22s caught at seed %-4s %-28s (%ss)' "$id" "$name" "$scn" "${seed:-?}" "ASSERTION IN THE CORE" "$secs")")
    passed=$((passed + 1))
    [[ -n "$seed" ]] && [[ -z "${need[$scn]:-}" || ${need[$scn]} -lt $seed ]] && need[$scn]=$seed
  else
    rows+=("$(printf '%-2s %-28s %-20s fixed: MISSED (exit %s, %s seeds) %s' "$id" "$name" "$scn" "$rc" "$max" "$swarm")")
    echo "$out" | tail -n 5
    failed=$((failed + 1))
  fi
done
echo "mutant results (scenario seeds 1..$max, stop at the first catch):"
printf '%s\n' "${rows[@]}"
# The unmodified core passes the very seeds that caught the mutants (the
# swarm seeds too: up to the highest first catch).
[[ -x build/addsim ]] || make -s build/addsim >/dev/null
if ((swarm_need > 0)); then
  out=$(timeout 900 build/addsim --swarm --seeds "1..$swarm_need" --quiet --budget 120 2>&1); rc=$?
  if ((rc == 0)); then passed=$((passed + 1)); echo "clean core: swarm seeds 1..$swarm_need pass"
  else failed=$((failed + 1)); echo "$out" | tail -n 30; echo "FAIL: the clean core fails swarm seeds 1..$swarm_need"; fi
fi
[[ -x build/addsim ]] || make -s build/addsim >/dev/null
for scn in "${!need[@]}"; do
  out=$(timeout 900 build/addsim --scenario "scenarios/$scn.txt" --seeds "1..${need[$scn]}" --quiet 2>&1); rc=$?
  if ((rc == 0)); then
    passed=$((passed + 1)); echo "clean core: $scn seeds 1..${need[$scn]} pass"
  else
    failed=$((failed + 1)); echo "$out" | tail -n 30; echo "FAIL: the clean core fails $scn"
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
