#!/usr/bin/env bash
# `make test`: runs every suite in tests/suites/ in name order. Each suite is a
# script that ends its output with a line "N passed, N failed"; this sums
# them and ends with one overall "N passed, N failed". Exit 0 only if all pass.
#   SUITES="unit asan" make test     runs only suites whose name contains a word
set -uo pipefail
cd "$(dirname "$0")/.."
total_p=0 total_f=0
summary=()
for s in tests/suites/*.sh; do
  name=$(basename "$s" .sh)
  if [[ -n "${SUITES:-}" ]]; then
    keep=0; for w in $SUITES; do [[ "$name" == *"$w"* ]] && keep=1; done
    ((keep)) || continue
  fi
  echo "=== suite $name"
  start=$(date +%s)
  log=$(mktemp)
  bash "$s" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  rm -f "$log"
  if [[ -z "$line" ]]; then p=0; f=1; line="no summary line (exit $rc)";
  else
    p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
    f=$(sed -E 's/^([A-Za-z]+: )?[0-9]+ passed, ([0-9]+) failed.*/\2/' <<<"$line")
    ((rc != 0 && f == 0)) && f=1
  fi
  summary+=("$(printf '%-24s %s  (%ss)' "$name" "$line" $(( $(date +%s) - start )))")
  total_p=$((total_p + p)); total_f=$((total_f + f))
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "$total_p passed, $total_f failed"
((total_f == 0))
