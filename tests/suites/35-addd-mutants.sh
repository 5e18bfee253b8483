#!/usr/bin/env bash
# addd's own known bugs (core/mutants.h, ids 52..55) are caught: addd (or a
# unit test) built with each one, one at a time, must fail the test aimed at
# it, and the clean build must pass that same test. Some store and node
# mutants (their own suites catch them with unit tests) are run here too:
# the end-to-end storage tests with real files must catch them as well.
# About 2-3 minutes (each mutant is a build of its own under
# build/mutant-<id>).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=${BUILD:-build}
# id  name                        how it is caught
#     "it:<substring>" = tests/integration/test_storage.py -k <substring>
#     "unit:<binary>"  = a Criterion unit test
table=(
  "52 ADDD_STORE_RANK_UNCHECKED   it:storage_directory_of_another_rank"
  "53 ADDD_NO_SCRUB               it:rot_under_a_running_process"
  "54 ADDD_STORE_ERROR_WITHOUT_PATH it:a_full_disk_stops_one_process"
  "55 SPACE_BOUND_DATA_ONLY       unit:test_storage_policy"
  "7  STORE_SKIP_FLUSH            it:a_failed_flush_stops"
  "10 STORE_NO_READ_CHECKSUM      it:sigterm_flip_data"
  "12 STORE_RECREATES_PARTIAL     it:sigterm_delete_each_file"
  "13 STORE_CORRUPT_AS_TORN       it:sigkill_flip_journal_mid"
  "20 READ_DATA_ERROR_IGNORED     it:sigterm_flip_data"
)
passed=0 failed=0

# run BUILD_DIR HOW: 0 when the test passes
run() {
  local dir=$1 how=$2
  case $how in
    it:*) timeout 300 python3 tests/integration/test_storage.py "$dir" -k "${how#it:}" ;;
    unit:*) timeout 120 "$dir/${how#unit:}" ;;
  esac
}
target() {
  local dir=$1 how=$2
  case $how in
    it:*) echo "$dir/addd" ;;
    unit:*) echo "$dir/${how#unit:}" ;;
  esac
}

for row in "${table[@]}"; do
  read -r id name how <<<"$row"
  dir=$build/mutant-$id
  if ! nice make -s -j2 BUILD="$dir" MUTANT="$id" OPT="-O1 -g" "$(target "$dir" "$how")" \
      >/dev/null 2>&1; then
    echo "FAIL mutant $id $name: build failed"; failed=$((failed + 1)); continue
  fi
  out=$(run "$dir" "$how" 2>&1); rc=$?
  skipped=$(grep -c '^skip ' <<<"$out")
  if ((rc != 0)); then
    echo "ok   mutant $id $name caught by $how"; passed=$((passed + 1))
  elif ((skipped > 0)); then
    echo "skip mutant $id $name: $(grep -m1 '^skip ' <<<"$out")"
  else
    echo "FAIL mutant $id $name: $how passes with the bug"; failed=$((failed + 1))
  fi
  # The clean build passes the same test.
  nice make -s -j2 "$(target "$build" "$how")" >/dev/null 2>&1
  if out=$(run "$build" "$how" 2>&1); then
    echo "ok   clean build passes $how"; passed=$((passed + 1))
  else
    echo "$out" | tail -n 5
    echo "FAIL clean build fails $how"; failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
