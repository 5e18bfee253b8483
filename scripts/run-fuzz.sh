#!/usr/bin/env bash
# Runs each build/fuzz_* target for SECONDS on a copy of its seed corpus
# (fuzz/corpus/<target>/). A crash, leak or UB report fails the target; the
# reproducer is kept in build/fuzz-artifacts/.
set -uo pipefail
build=${1:-build}; seconds=${2:-30}
passed=0 failed=0
mkdir -p "$build/fuzz-artifacts"
shopt -s nullglob
for f in "$build"/fuzz_*; do
  [[ -x "$f" ]] || continue
  name=${f##*/fuzz_}
  work="$build/fuzz-work/$name"; mkdir -p "$work"
  [[ -d fuzz/corpus/$name ]] && cp -n fuzz/corpus/$name/* "$work"/ 2>/dev/null
  if "$f" -max_total_time="$seconds" -print_final_stats=0 -rss_limit_mb=2048 \
      -artifact_prefix="$build/fuzz-artifacts/$name-" "$work" >"$build/fuzz-$name.log" 2>&1; then
    echo "fuzz_$name: ok ($(grep -oE '#[0-9]+' "$build/fuzz-$name.log" | tail -n1 | tr -d '#') runs in ${seconds}s)"
    passed=$((passed + 1))
  else
    echo "fuzz_$name: FAILED"; tail -n 30 "$build/fuzz-$name.log"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
