#!/usr/bin/env bash
# Fails when a file of one layer includes a layer it may not use (DESIGN.md §2, the "may use"
# column: the dependency graph, not only an order), when a folder under SRC_DIR is not a layer of
# that table, or when library code uses non-cryptographic randomness or exit()/abort().
# The command line (apps/peregrine, beside src/) may include every library layer.
# Usage: check_layers.sh [SRC_DIR]      (SRC_DIR = src/peregrine)
set -u
src=${1:-"$(dirname "$0")/../src/peregrine"}
apps="$(cd "$src/../.." 2>/dev/null && pwd)/apps/peregrine"
# DESIGN.md §2: layer -> the layers it may include besides itself.
declare -A may_use=(
  [core]=""
  [math]="core"
  [he]="math core"
  [net]="core"
  [ot]="core net"
  [mpc]="ot he core net"
  [linear]="he mpc ot core net"
  [nn]="core"
  [engine]="core math he net ot mpc linear nn"
)
bad=0
allowed() {  # allowed LAYER INCLUDED_LAYER
  [ "$1" = "$2" ] && return 0
  local l
  for l in ${may_use[$1]}; do [ "$l" = "$2" ] && return 0; done
  return 1
}
# check_includes DIR LAYER: every #include "peregrine/X/..." under DIR must name a layer LAYER may use.
check_includes() {
  local dir=$1 layer=$2 line inc
  while IFS= read -r line; do
    inc=$(printf '%s' "$line" | sed -n 's/.*#include *[<"]peregrine\/\([a-z_]*\)\/.*/\1/p')
    [ -n "$inc" ] || continue
    if [ -z "${may_use[$inc]+x}" ]; then
      echo "layering: ${line%%:*} ($layer) includes peregrine/$inc, which is no layer of DESIGN.md §2"; bad=1
    elif ! allowed "$layer" "$inc"; then
      echo "layering: ${line%%:*} ($layer) includes peregrine/$inc; $layer may use: ${may_use[$layer]:-nothing}"; bad=1
    fi
  done < <(grep -rn '#include' "$dir")
}
[ -d "$src" ] || { echo "layering: no source folder $src"; exit 1; }
for path in "$src"/*/; do
  dir=$(basename "$path")
  if [ -z "${may_use[$dir]+x}" ]; then
    echo "layering: $src/$dir is not a layer of DESIGN.md §2 (add it to the table here and there)"; bad=1
    continue
  fi
  check_includes "$src/$dir" "$dir"
done
# apps use the engine and may reach any layer below it (every layer is in engine's row).
if [ -d "$apps" ]; then
  may_use[apps]=${may_use[engine]}" engine"
  check_includes "$apps" apps
fi
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
