#!/usr/bin/env bash
# Re-trains the project's default model (models/digits_cnn.onnx and its test files) from the
# scikit-learn digits data bundled in Debian's python3-sklearn, with Debian's python3-torch and
# python3-onnx (installed here with apt-get when missing). Deterministic on one machine; see
# models/README.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/apt_install.sh" python3-sklearn python3-torch python3-onnx python3-pil
cd "$root"
exec /usr/bin/python3 python/train_digits.py "$@"
