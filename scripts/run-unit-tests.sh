#!/usr/bin/env bash
# Runs every Criterion unit-test binary in BUILD (default build/), shows each
# one's summary line, and ends with "N passed, N failed" over all of them.
set -uo pipefail
build=${1:-build}
passed=0 failed=0
shopt -s nullglob
for t in "$build"/test_*; do
  [[ -x "$t" && -f "$t" ]] || continue
  out=$("$t" --jobs 2 2>&1); rc=$?
  line=$(grep -E "Synthesis: Tested:" <<<"$out" | tail -n 1)
  if [[ -z "$line" ]]; then
    echo "$out" | tail -n 20
    echo "$(basename "$t"): no Criterion summary (exit $rc)"
    failed=$((failed + 1)); continue
  fi
  echo "$(basename "$t"): ${line#*Synthesis: }"
  p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
  c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
  if ((f + c > 0 || rc != 0)); then
    grep -E "\[(FAIL|----)\]|Assertion|crash|signal" <<<"$out" | head -n 40
    ((f + c == 0)) && f=1
  fi
  passed=$((passed + p)); failed=$((failed + f + c))
done
echo "$passed passed, $failed failed"
((failed == 0))
