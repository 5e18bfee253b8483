#!/usr/bin/env bash
# Operating addd (tests/integration/test_ops.py): /metrics scraped from a live
# cluster (counters move, promtool accepts the page, the endpoint's bounds),
# addctl status verdicts and exit codes (healthy, one killed, two killed),
# link down/up log lines, time stamps, a wiped process shown recovering.
# About 15 s. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
out=$(mktemp)
timeout 300 python3 tests/integration/test_ops.py "$build" 2>&1 | tee "$out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
rm -f "$out"
if [[ -z "$line" ]]; then
  echo "FAIL test_ops.py: no summary line"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "$line"
[[ "$line" == *" 0 failed" ]]
