#!/usr/bin/env bash
# Fails when a file of a lower layer includes a higher one (DESIGN.md §2), or when library code
# uses non-cryptographic randomness or exit()/abort(). Usage: check_layers.sh [SRC_DIR]
set -u
src=${1:-"$(dirname "$0")/../src/peregrine"}
order=(core math he net ot mpc linear nn engine)
rank() { local i=0; for l in "${order[@]}"; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i+1)); done; echo 99; }
bad=0
for dir in "${order[@]}"; do
  [ -d "$src/$dir" ] || continue
  r=$(rank "$dir")
  while IFS= read -r line; do
    inc=$(printf '%s' "$line" | sed -n 's/.*#include *[<"]peregrine\/\([a-z_]*\)\/.*/\1/p')
    [ -n "$inc" ] || continue
    ri=$(rank "$inc")
    if [ "$ri" = 99 ] || [ "$ri" -gt "$r" ]; then
      echo "layering: ${line%%:*} ($dir) includes peregrine/$inc"; bad=1
    fi
  done < <(grep -rn '#include' "$src/$dir")
done
if grep -rnE '\bstd::rand\b|\bsrand\(|std::mt19937|std::random_device' "$src"; then
  echo "non-cryptographic randomness in library code"; bad=1
fi
# Secrets come only from the secure PRG (core/prg): no other file may reach an OS or library
# randomness source directly (libsodium randombytes / *_random, OpenSSL RAND_*, getrandom,
# /dev/urandom, arc4random) or a standard-library engine.
if grep -rnE 'randombytes|_random\(|RAND_(bytes|priv_bytes)|getrandom|/dev/u?random|arc4random|std::(minstd_rand|ranlux|knuth_b|default_random_engine)' \
    "$src" | grep -v "^$src/core/prg\.\(cpp\|hpp\):"; then
  echo "randomness outside core/prg (the secure PRG is the only source)"; bad=1
fi
if grep -rnE '(^|[^_a-zA-Z:.])(std::)?(exit|abort|quick_exit|_Exit)\(' "$src"; then
  echo "exit/abort in library code"; bad=1
fi
[ $bad = 0 ] && echo "layers ok"
exit $bad
