#!/usr/bin/env bash
# Long fuzzing runs for releases (SECURITY.md): builds the libFuzzer binaries with clang
# (ASan + UBSan + libFuzzer), seeds each corpus with real messages from the plain driver, and runs
# every target for SECONDS (default 600). CI instead runs the plain drivers briefly under ctest,
# and `scripts/fuzz.sh --build-only` (scripts/test.sh) builds every target here without running
# it, so that this script keeps building.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]     (targets: frame he base_ot input handshake onnx)
#        scripts/fuzz.sh --build-only [TARGET ...]
# Environment: FUZZ_BUILD_DIR (default build-fuzz); CMAKE_BUILD_PARALLEL_LEVEL (build jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
  BUILD_ONLY=1
  shift
else
  SECONDS_PER=${1:-600}
  shift || true
fi
TARGETS=${*:-frame he base_ot input handshake onnx}
DIR=${FUZZ_BUILD_DIR:-build-fuzz}
# Debian's clang and its compiler-rt (the libFuzzer, ASan and UBSan runtimes; only recommended by
# clang, so --no-install-recommends leaves it out).
scripts/apt_install.sh clang libclang-rt-14-dev
# The library is built with ASan + UBSan and libFuzzer's coverage instrumentation too (else only
# the target file is guided and checked).
CC=clang CXX=clang++ cmake -S . -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPEREGRINE_LIBFUZZER=ON -DPEREGRINE_SANITIZE=ON -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DPEREGRINE_BUILD_BENCH=OFF -DPEREGRINE_BUILD_TESTS=OFF > /dev/null
bins=()
for t in $TARGETS; do bins+=("fuzz_$t" "libfuzz_$t"); done
cmake --build "$DIR" --target "${bins[@]}"
if [ "$BUILD_ONLY" = 1 ]; then
  echo "fuzz.sh: built ${bins[*]} in $DIR"
  exit 0
fi
for t in $TARGETS; do
  mkdir -p "$DIR/corpus/$t"
  "$DIR/fuzz/fuzz_$t" --write-corpus "$DIR/corpus/$t"
  "$DIR/fuzz/libfuzz_$t" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
    "$DIR/corpus/$t"
done
