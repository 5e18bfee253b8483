#!/usr/bin/env bash
# A short libFuzzer run of every target (FUZZ_SMOKE_SECONDS each, default 10).
cd "$(dirname "$0")/../.." || exit 1
make --no-print-directory -s fuzz-build >/dev/null || { echo "fuzz build failed"; echo "0 passed, 1 failed"; exit 1; }
exec scripts/run-fuzz.sh build "${FUZZ_SMOKE_SECONDS:-10}"
