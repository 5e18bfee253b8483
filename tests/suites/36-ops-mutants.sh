#!/usr/bin/env bash
# The operations code's known bugs (core/mutants.h, ids 40..43 and 57, and 31: the daemon's tick policy) are caught:
# each is compiled into the few sources its unit test needs (a few seconds
# each, not a whole build) and that test must fail; built clean, it passes.
# Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}/ops-mutants
mkdir -p "$build"
passed=0 failed=0
cflags=(-std=c11 -O1 -g -D_GNU_SOURCE -Icore -Wall -Wextra -Werror)
wire=(core/wire.c core/wire_decoder.c core/wire_hmac.c)
# id  test  sources (besides the test)
table=(
  "40 test_status  runtime-real/status.c"
  "41 test_optrack runtime-real/optrack.c runtime-real/histogram.c"
  "42 test_status  runtime-real/status.c"
  "43 test_link_log runtime-real/link_log.c"
  "57 test_metrics runtime-real/metrics.c runtime-real/histogram.c runtime-real/ckpt_timer.c"
  "31 test_tick_policy"
)
for row in "${table[@]}"; do
  read -r id t srcs <<<"$row"
  for m in 0 "$id"; do
    bin=$build/$t-$m
    # shellcheck disable=SC2086
    if ! cc "${cflags[@]}" -DADD_MUTANT="$m" "tests/unit/$t.c" $srcs "${wire[@]}" \
         -lcriterion -lcrypto -o "$bin" 2>"$bin.log"; then
      echo "FAIL mutant $id: $t does not build (MUTANT=$m)"; cat "$bin.log"
      failed=$((failed + 1)); continue
    fi
    "$bin" --jobs 1 >"$bin.out" 2>&1; rc=$?
    if [[ $m == 0 && $rc == 0 ]]; then
      echo "ok   $t passes with the clean code"; passed=$((passed + 1))
    elif [[ $m != 0 && $rc != 0 ]]; then
      echo "ok   mutant $id caught by $t ($(grep -m1 -oE 'Synthesis: .*' "$bin.out"))"
      passed=$((passed + 1))
    else
      echo "FAIL $t with MUTANT=$m: exit $rc"; tail -n 5 "$bin.out"; failed=$((failed + 1))
    fi
  done
done
echo "$passed passed, $failed failed"
((failed == 0))
