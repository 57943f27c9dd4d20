#!/usr/bin/env bash
# Long fuzzing runs for releases (SECURITY.md): builds the libFuzzer binaries with clang
# (ASan + UBSan + libFuzzer), seeds each corpus with real messages from the plain driver, and runs
# every target for SECONDS (default 600). CI instead runs the plain drivers briefly under ctest.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]     (targets: frame he base_ot input handshake onnx)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-600}
shift || true
TARGETS=${*:-frame he base_ot input handshake onnx}
command -v clang++ > /dev/null || { echo "fuzz.sh: clang++ is needed (apt-get install clang)"; exit 1; }
# The library is built with ASan + UBSan and libFuzzer's coverage instrumentation too (else only
# the target file is guided and checked).
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPEREGRINE_LIBFUZZER=ON -DPEREGRINE_SANITIZE=ON -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DPEREGRINE_BUILD_BENCH=OFF -DPEREGRINE_BUILD_TESTS=OFF > /dev/null
for t in $TARGETS; do
  cmake --build build-fuzz --target "fuzz_$t" "libfuzz_$t"
  mkdir -p "build-fuzz/corpus/$t"
  "build-fuzz/fuzz/fuzz_$t" --write-corpus "build-fuzz/corpus/$t"
  "build-fuzz/fuzz/libfuzz_$t" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
    "build-fuzz/corpus/$t"
done
