#!/usr/bin/env bash
# Known bugs (core/mutants.h) that a unit test catches rather than the
# simulator (damage the simulator's workload never produces, such as a value
# that passes its file's checksum but not its own): the core built with each
# one must fail the unit test aimed at it, and the clean build must pass it.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# id  name                        unit test (tests/unit/NAME.c)
table=(
  "18 SUPERBLOCK_SKIP_CHECKSUM    test_superblock"
  "19 SUPERBLOCK_ACCEPT_NEWER     test_superblock"
  "36 RUN_ABANDONED_PRE_TAG       test_node_abandon"
  "37 CP_SLOT_WITHOUT_SIGNATURE   test_conn_policy"
  "38 CP_PEER_NOT_REPLACED        test_conn_policy"
  "56 NODE_RETRANSMIT_WRONG_PEER  test_node"
  "44 REJOIN_SERVES_UNKNOWN       test_rejoin"
  "45 REJOIN_ACKS_UNKNOWN         test_rejoin"
  "46 REJOIN_SKIPS_SECTOR         test_rejoin"
)
# The rejoin mutants (44..46) are caught by test_rejoin; 44, 46 and 47 by the
# simulator too (scenarios/amnesia.txt, suite 60). 45 is caught here only:
# addsim did not catch it within 200 seeds of amnesia.txt nor 100 of
# amnesia-random.txt (its violation needs a WRITE_PROC lost to the one
# intact replica while the recovering one ACKs it).
passed=0 failed=0
declare -A clean
for row in "${table[@]}"; do
  read -r id name t <<<"$row"
  bin=build/mutant-$id/$t
  if ! nice make -s -j2 BUILD=build/mutant-$id MUTANT="$id" "$bin" >/dev/null 2>&1; then
    echo "$id $name: BUILD FAILED"; failed=$((failed + 1)); continue
  fi
  out=$(timeout 300 "$bin" 2>&1); rc=$?
  if ((rc != 0)); then
    why=$(sed -nE 's/^\[FAIL\] ([^ ]+): .*/\1/p' <<<"$out" | head -n 1)
    echo "$id $name: caught by $why"; passed=$((passed + 1))
  else
    echo "$id $name: MISSED by $t"; failed=$((failed + 1))
  fi
  clean[$t]=1
done
for t in "${!clean[@]}"; do
  make -s -j2 "build/$t" >/dev/null 2>&1
  if timeout 300 "build/$t" >/dev/null 2>&1; then
    echo "clean core: $t passes"; passed=$((passed + 1))
  else
    echo "FAIL: the clean core fails $t"; failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
