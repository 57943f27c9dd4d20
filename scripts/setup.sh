#!/usr/bin/env bash
# Installs every Debian package Peregrine needs (apt-get) and builds it in Release under build/.
# Usage: scripts/setup.sh            (idempotent; skips apt-get when everything is installed)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential g++ cmake ninja-build pkg-config
      libsodium-dev libssl-dev libcli11-dev libfmt-dev
      libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev python3
      libonnx-dev libprotobuf-dev protobuf-compiler libstb-dev zlib1g-dev)

scripts/apt_install.sh "${PKGS[@]}"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
