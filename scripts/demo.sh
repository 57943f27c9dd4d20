#!/usr/bin/env bash
# The main job: private inference end to end. With ../shared/data beside the repository, ResNet-20
# on a real CIFAR-10 test image (lossless record 0, a cat); otherwise the project's own digits model
# (models/, trained by python/train_digits.py) on its sample image. Both parties run in this process
# over an in-memory channel; `peregrine serve` / `peregrine query` split them over TCP.
# Usage: scripts/demo.sh [extra options for `peregrine run`, e.g. --json report.json]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build/apps/peregrine/peregrine"
data="$root/../shared/data"
[ -x "$bin" ] || { echo "demo: $bin not built (run scripts/setup.sh)" >&2; exit 1; }
if [ -f "$data/onnx/resnet20_cifar10.onnx" ] && [ -f "$data/cifar10/test_batch_first1017_lossless.bin" ]; then
  exec "$bin" run "$data/onnx/resnet20_cifar10.onnx" \
    --input "$data/cifar10/test_batch_first1017_lossless.bin" --index 0 "$@"
fi
echo "demo: ../shared/data not found; running the project's own digits model" >&2
exec "$bin" run "$@"
