#!/usr/bin/env bash
# The sector store's unit tests have teeth: the core built with each known
# storage bug of core/mutants.h (ids 9..13 and 30, one at a time) must make
# build/test_crash_sector_store, build/test_sector_store_damage or
# build/test_sector_store fail, and the clean build must pass all three. (These mutants need a crash inside
# recovery or an injected corruption that no shipped addsim scenario makes,
# so they are checked here rather than in 60-mutants.)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
tests=(test_crash_sector_store test_sector_store_damage test_sector_store)
# id  name
table=(
  "9  STORE_SETTLE_FIXED_ORDER"
  "10 STORE_NO_READ_CHECKSUM"
  "11 STORE_REPLAY_ANY_TAG"
  "12 STORE_RECREATES_PARTIAL"
  "13 STORE_CORRUPT_AS_TORN"
  "14 STORE_HEADERLESS_SKIPPED"
  "30 STORE_FLUSH_OUT_OF_ORDER"
)
passed=0 failed=0
run_tests() { # build dir -> 0 if every test passed
  local dir=$1 t rc=0
  for t in "${tests[@]}"; do
    timeout 600 "$dir/$t" -j2 >"$dir/$t.log" 2>&1 || rc=1
  done
  return $rc
}
if make -s -j2 "${tests[@]/#/build/}" >/dev/null 2>&1 && run_tests build; then
  echo "clean core: store unit tests pass"; passed=$((passed + 1))
else
  echo "clean core: store unit tests FAIL (see build/test_*.log)"; failed=$((failed + 1))
fi
for row in "${table[@]}"; do
  read -r id name <<<"$row"
  dir=build/mutant-$id
  if ! make -s -j2 BUILD="$dir" MUTANT="$id" "${tests[@]/#/$dir/}" >/dev/null 2>&1; then
    printf '%-2s %-26s BUILD FAILED\n' "$id" "$name"; failed=$((failed + 1)); continue
  fi
  if run_tests "$dir"; then
    printf '%-2s %-26s NOT CAUGHT\n' "$id" "$name"; failed=$((failed + 1))
  else
    who=$(grep -l '\[FAIL\]' "$dir"/test_*.log 2>/dev/null | xargs -n1 basename 2>/dev/null \
          | sed 's/\.log$//' | tr '\n' ' ')
    printf '%-2s %-26s caught by %s\n' "$id" "$name" "$who"; passed=$((passed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
