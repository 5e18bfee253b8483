#!/usr/bin/env bash
# The unit tests again, built with ASan+UBSan under build/asan.
cd "$(dirname "$0")/../.." || exit 1
make --no-print-directory -s BUILD=build/asan SAN=1 OPT="-O1 -g" \
	$(ls tests/unit/test_*.c 2>/dev/null | sed 's|tests/unit/|build/asan/|; s|\.c$||') >/dev/null || {
	echo "asan build failed"; echo "0 passed, 1 failed"; exit 1; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	exec scripts/run-unit-tests.sh build/asan
