#!/usr/bin/env bash
# `make bench`: every build/bench_* binary, then every bench/*.sh script.
set -uo pipefail
build=${1:-build}
shopt -s nullglob
for b in "$build"/bench_*; do
  [[ -x "$b" ]] || continue
  echo "=== ${b##*/}"; "$b" || echo "${b##*/} exited $?"
done
for s in bench/*.sh; do
  echo "=== ${s##*/}"; bash "$s" "$build" || echo "${s##*/} exited $?"
done
