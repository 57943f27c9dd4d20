#!/usr/bin/env bash
# Whole-network private inference benchmark (`peregrine bench net`): ResNet-20 and ResNet-32 on
# CIFAR-10 test image 0 (the lossless batch), as two processes over loopback TCP (fork; the child is
# the client), one thread per party, each model quantised on the last 16 images of that batch, with
# --verify (the client's logits must equal nn::run_fixed bit for bit; exit 3 otherwise).
# Writes the JSON lines to OUT_JSON (truncated first) and prints a markdown table; MB = 10^6 bytes.
# Usage: scripts/bench_network.sh [OUT_JSON]      (default bench_network.json, relative to the
#        current directory; BUILD=build, DATA=../shared/data, NET=none|lan|wan, OTS="silent iknp"
#        (the OT back-ends to run) in the environment)
set -euo pipefail
OUT=${1:-bench_network.json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-../shared/data}
NET=${NET:-none}
OTS=${OTS:-silent iknp}
P="$BUILD/apps/peregrine/peregrine"
IMAGES="$DATA/cifar10/test_batch_first1017_lossless.bin"
MODELS=(resnet20_cifar10 resnet32_cifar10)

[ -x "$P" ] || { echo "bench_network.sh: no $P (build first, or set BUILD)" >&2; exit 1; }
[ -f "$IMAGES" ] || { echo "bench_network.sh: no $IMAGES (set DATA)" >&2; exit 1; }

: > "$OUT"
for m in "${MODELS[@]}"; do
  for ot in $OTS; do
    echo "bench_network.sh: $m ($ot OT) ..." >&2
    "$P" bench net --model "$DATA/onnx/$m.onnx" --input "$IMAGES" --index 0 --net "$NET" --threads 1 \
      --ot "$ot" --verify --json "$OUT" > /dev/null
  done
done

python3 - "$OUT" <<'PY'
import json, os, sys
runs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
MB = 1e6
print("| model | OT | ℓ / f | setup s | setup MB | online s | MB c→s | MB s→c | rounds | peak RSS server / client MB "
      "| prepare s | top-1 (label) | verified |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    name = os.path.splitext(os.path.basename(r["model"]))[0]
    rss = r["peak_rss_bytes"]
    setup_mb = (r["setup_bytes_client_to_server"] + r["setup_bytes_server_to_client"]) / MB
    print(f"| {name} | {r['ot']} | {r['ring_bits']} / {r['frac_bits']} | {r['setup_seconds']:.3f} | {setup_mb:.1f} "
          f"| {r['online_seconds']:.3f} "
          f"| {r['bytes_client_to_server'] / MB:.1f} | {r['bytes_server_to_client'] / MB:.1f} | {r['rounds']} "
          f"| {rss['server'] / MB:.0f} / {rss['client'] / MB:.0f} | {r['prepare_seconds']:.3f} "
          f"| {r['top1']} ({r['label']}) | {r.get('verified')} |")
net = {r["net"] for r in runs}
print(f"\nOne run per model, net = {', '.join(sorted(net))}, {runs[0]['threads']} thread per party; "
      f"seconds and bytes are the client's view of the online phase (set-up: HE public key + base OTs).")
PY
