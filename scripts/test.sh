#!/usr/bin/env bash
# Sets up (scripts/setup.sh), runs every test in the Release build, then builds the unit tests with
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and runs them again, and checks that
# the libFuzzer targets of scripts/fuzz.sh still build with clang (build-fuzz/; no fuzzing run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

jobs=$(nproc)
echo "== ctest (Release)"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== ctest (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEREGRINE_SANITIZE=ON \
  -DPEREGRINE_BUILD_BENCH=OFF
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== libFuzzer targets (clang; build only)"
scripts/fuzz.sh --build-only
