#!/usr/bin/env bash
# Criterion unit tests (build/test_*).
cd "$(dirname "$0")/../.." && exec scripts/run-unit-tests.sh build
