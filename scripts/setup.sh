#!/usr/bin/env bash
# Installs every Debian package Peregrine needs (apt-get) and builds it in Release under build/.
# Usage: scripts/setup.sh            (idempotent; skips apt-get when everything is installed)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential g++ cmake ninja-build pkg-config
      libsodium-dev libssl-dev libcli11-dev libfmt-dev
      libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev python3
      libonnx-dev libprotobuf-dev protobuf-compiler libstb-dev zlib1g-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
