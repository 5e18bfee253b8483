#!/usr/bin/env bash
# `make sim-soak SECONDS=N`: swarm seeds (addsim --swarm) from a random
# start, 50 at a time, until N seconds of wall-clock time are up; every
# failure (a violation, LIVENESS, HANG) is printed with its replay command.
# Exit 1 if any seed failed. Usage: scripts/sim-soak.sh SECONDS [BUILD]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
secs=${1:?usage: sim-soak.sh SECONDS [BUILD]}
build=${2:-build}
sim=$build/addsim
[[ $secs =~ ^[0-9]+$ ]] || { echo "sim-soak: SECONDS must be a number, not '$secs'" >&2; exit 2; }
[[ -x $sim ]] || { echo "sim-soak: $sim is missing (make $sim)" >&2; exit 2; }
# A random start (printed, so the soak itself can be repeated).
start=$(( ($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 1000000000) + 1000 ))
echo "sim-soak: swarm seeds from $start for $secs s"
end=$(( $(date +%s) + secs ))
seed=$start failures=0 runs=0
while (( $(date +%s) < end )); do
  out=$(nice "$sim" --swarm --seeds "$seed..$((seed + 49))" --keep-going --quiet --budget 120 \
        --report-dir build/sim-reports 2>&1); rc=$?
  runs=$((runs + 50))
  if ((rc != 0)); then
    failures=$((failures + $(grep -cE '^(FAILED|HANG|SETUP ERROR|NOT DETERMINISTIC)' <<<"$out")))
    grep -E '^(FAILED|HANG|SETUP ERROR)|^  (replay|  replay as)' <<<"$out"
  fi
  grep -E '^scenario swarm' <<<"$out"
  seed=$((seed + 50))
done
echo "sim-soak: $runs seeds ($start..$((seed - 1))), $failures failed"
((failures == 0))
