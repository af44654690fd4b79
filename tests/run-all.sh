#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh Debian 12 machine:
#   1. install dependencies (deploy/install-deps.sh, idempotent),
#   2. Release build in build/ and every ctest test,
#   3. Debug build with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/, the unit
#      and corpus tests again (the end-to-end tests run once, against the release binary),
#   4. the fuzz targets (parser, then the whole packet path) for a bounded time each
#      (SIPLINE_FUZZ_SECONDS per target, default 50), then the control plane's readers of
#      outside input and the DPDK packet layer's frames for a third of that each: the fuzz
#      stage stays near two and a half minutes.
# Benchmarks are built in step 2 and smoke-run once (never timed here).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
fuzz_seconds=${SIPLINE_FUZZ_SECONDS:-50}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
./deploy/install-deps.sh

step "release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"

step "release tests: unit and corpus"
ctest --test-dir build --output-on-failure -j "$jobs" -LE e2e

step "release tests: end to end (SIPp, Linphone; one at a time)"
ctest --test-dir build --output-on-failure -L e2e

step "benchmark smoke run (one short iteration each, not a measurement)"
./build/bench_parser --benchmark_min_time=0.001 --benchmark_format=console > /dev/null
./build/bench_control --benchmark_filter='/10000/' --benchmark_min_time=0.001 > /dev/null
./build/bench_pipeline --workers 1 --inline --seconds 0.2 > /dev/null
./build/bench_pipeline --workers 1 --inline --accounting --seconds 0.2 > /dev/null
./build/bench_pipeline --workers 1 --inline --call-limits --seconds 0.2 > /dev/null
./build/bench_pipeline --workers 1 --inline --capture --seconds 0.2 > /dev/null

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIPLINE_SANITIZE=ON -DSIPLINE_BENCH=OFF
cmake --build build-asan -j "$jobs"

step "sanitizer tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE e2e

step "fuzzing the parser and the packet path for ${fuzz_seconds}s each, the control plane's inputs and the DPDK frames for a third of that"
./tests/fuzz/run.sh "$fuzz_seconds" all

step "all tests passed"
