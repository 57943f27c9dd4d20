#!/usr/bin/env bash
# The ImageNet networks of issue 16 (torchvision at 224×224, random weights with recalibrated
# BatchNorm: python/export_imagenet.py --out DIR), `peregrine bench net --verify` (two processes
# over loopback TCP, private logits compared with the fixed-point reference), image 0 of
# DIR/cifar10_224_u8.npy, once per thread count; prints a markdown table (seconds, MiB each way,
# rounds, peak RSS of each party, the planner's LAN and WAN estimates).
# Usage: scripts/bench_imagenet.sh DIR [OUT_JSON]   (BUILD=build, MODELS="resnet50 ...",
#        THREADS="1 2", REPORT_ONLY=1 to print the table of an earlier OUT_JSON)
set -euo pipefail
DIR=${1:?usage: scripts/bench_imagenet.sh DIR [OUT_JSON]}
OUT=${2:-bench_imagenet.json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
P="$BUILD/apps/peregrine/peregrine"
MODELS=${MODELS:-"squeezenet1_1 resnet18 resnet50 mobilenet_v2 densenet121 efficientnet_b0"}
THREADS=${THREADS:-"1 2"}
IMAGES="$DIR/cifar10_224_u8.npy"
[ -x "$P" ] || { echo "bench_imagenet.sh: no $P (build first, or set BUILD)" >&2; exit 1; }

[ "${REPORT_ONLY:-0}" = 1 ] || : > "$OUT"
[ "${REPORT_ONLY:-0}" = 1 ] || for m in $MODELS; do
  [ -f "$DIR/$m.onnx" ] || { echo "bench_imagenet.sh: no $DIR/$m.onnx, skipped" >&2; continue; }
  # A model the importer or planner refuses (EfficientNet-B0: Sigmoid) is reported and skipped.
  for net in lan wan; do
    "$P" inspect "$DIR/$m.onnx" --calib "$IMAGES" --net "$net" --json "$OUT.$m.$net.plan" > /dev/null ||
      { echo "bench_imagenet.sh: $m refused (above), skipped" >&2; continue 2; }
  done
  for t in $THREADS; do
    echo "bench_imagenet.sh: $m, $t thread(s)" >&2
    line=$("$P" bench net --model "$DIR/$m.onnx" --input "$IMAGES" --calib "$IMAGES" --index 0 --threads "$t" --verify)
    printf '%s\t%s\t%s\n' "$m" "$t" "$line" >> "$OUT"
  done
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = [l.rstrip("\n").split("\t", 2) for l in open(out, encoding="utf-8")]
print("| network | threads | online s | MiB c→s | MiB s→c | MiB both | rounds | peak RSS server / client MB | LAN est. s | WAN est. s | private = fixed |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for m, t, js in rows:
    j = json.loads(js)
    est = []
    for net in ("lan", "wan"):
        try:
            plan = json.load(open(f"{out}.{m}.{net}.plan", encoding="utf-8"))
            est.append("%.1f" % plan["estimate"]["est_seconds"])
        except (OSError, KeyError, ValueError):
            est.append("")
    c2s, s2c = j["bytes_client_to_server"] / 2**20, j["bytes_server_to_client"] / 2**20
    print(f"| {m} | {t} | {j['online_seconds']:.1f} | {c2s:.0f} | {s2c:.0f} | {c2s + s2c:.0f} | {j['rounds']} | "
          f"{j['peak_rss_bytes']['server'] / 1e6:.0f} / {j['peak_rss_bytes']['client'] / 1e6:.0f} | "
          f"{est[0]} | {est[1]} | {j.get('verified')} |")
PY
