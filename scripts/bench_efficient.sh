#!/usr/bin/env bash
# The efficient networks of the Falcon issue (issue 17), each saving measured alone: MobileNetV2
# and the EfficientNet-B0-style network trained here (models/), CIFAR-10 test image 0 of the
# lossless batch, `peregrine bench net --verify` (two processes over loopback TCP, one thread per
# party; exact plans must equal nn::run_fixed bit for bit), once per plan:
#   dense+relu2     the dense block-diagonal conv and ReLU6 as two ReLUs (the baseline)
#   falcon+relu2    + falcon-dw (depthwise packing alone)
#   dense+clip      + clip-millionaire (one-pass ReLU6 alone)
#   falcon+clip     falcon-dw + clip-millionaire
#   all             every strategy, exact (+ falcon-pw: the latency-aware pointwise tile alone)
#   approx-trunc    --fidelity approx without clip-highbits (the approximate truncation alone)
#   approx          --fidelity approx, every strategy (+ clip-highbits)
# Seconds: median of REPS runs (bytes are deterministic up to Ferret refills). Prints a markdown
# table per network with the bytes and time of each kind of layer.
# Usage: scripts/bench_efficient.sh [OUT_JSON]   (BUILD=build, DATA=../shared/data, REPS=1,
#        REPORT_ONLY=1 to print the tables of an earlier OUT_JSON)
set -euo pipefail
OUT=${1:-bench_efficient.json}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DATA:-../shared/data}
REPS=${REPS:-1}
P="$BUILD/apps/peregrine/peregrine"
IMAGES="$DATA/cifar10/test_batch_first1017_lossless.bin"
[ -x "$P" ] || { echo "bench_efficient.sh: no $P (build first, or set BUILD)" >&2; exit 1; }

BASE=cheetah-conv,cheetah-fc,cheetah-bn,relu-millionaire,trunc-exact,trunc-exact-msb0,maxpool-tree,square-gilboa,mul-gilboa,extend-signed,extend-msb0,local
PLANS=(
  "dense+relu2|exact|$BASE,clip-relu2"
  "falcon+relu2|exact|$BASE,clip-relu2,falcon-dw"
  "dense+clip|exact|$BASE,clip-millionaire"
  "falcon+clip|exact|$BASE,falcon-dw,clip-millionaire"
  "all|exact|"
  "approx-trunc|approx|$BASE,falcon-dw,falcon-pw,clip-millionaire,trunc-approx,relu-highbits"
  "approx|approx|"
)
# REPORT_ONLY=1: print the tables of an earlier OUT_JSON without running.
[ "${REPORT_ONLY:-0}" = 1 ] || : > "$OUT"
[ "${REPORT_ONLY:-0}" = 1 ] || for m in mobilenetv2_cifar10 efficientnet_b0_cifar10; do
  "$P" inspect "models/$m.onnx" --calib "$IMAGES" --json "$OUT.$m.plan" > /dev/null
  for _ in $(seq "$REPS"); do
    for row in "${PLANS[@]}"; do
      IFS='|' read -r name fid strategies <<< "$row"
      echo "bench_efficient.sh: $m $name" >&2
      args=()
      [ -n "$strategies" ] && args=(--strategies "$strategies")
      line=$("$P" bench net --model "models/$m.onnx" --input "$IMAGES" --index 0 --threads 1 --verify \
               --fidelity "$fid" "${args[@]}")
      printf '%s\t%s\t%s\n' "$m" "$name" "$line" >> "$OUT"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys, collections
runs = collections.OrderedDict()
for l in open(sys.argv[1], encoding="utf-8"):
    m, name, js = l.rstrip("\n").split("\t", 2)
    runs.setdefault(m, collections.OrderedDict()).setdefault(name, []).append(json.loads(js))
for m, plans in runs.items():
    plan = json.load(open(sys.argv[1] + "." + m + ".plan", encoding="utf-8"))["plan"]["nodes"]
    dw = {n["name"] for n in plan if n["op"] == "Conv" and n.get("groups", 1) > 1}
    def kind(node):
        if node["op"] == "Conv":
            return "depthwise conv" if node["name"] in dw else "other conv"
        return {"Clip": "ReLU6 / clip", "Trunc": "truncations", "Mul": "SE products"}.get(node["op"], "rest")
    kinds = ["depthwise conv", "other conv", "ReLU6 / clip", "truncations", "SE products", "rest"]
    print(f"\n{m}: image 0, one thread per party, loopback TCP (MB = 10^6 bytes both ways; s = median online)")
    print("| plan | fidelity | MB | s online | rounds | " + " | ".join(kinds) + " | verified / max diff LSB |")
    print("|---|---|---|---|---|" + "---|" * len(kinds) + "---|")
    base = None
    for name, rs in plans.items():
        r = rs[0]
        mb = (r["bytes_client_to_server"] + r["bytes_server_to_client"]) / 1e6
        s = statistics.median(x["online_seconds"] for x in rs)
        base = base or mb
        per = collections.defaultdict(lambda: [0.0, []])
        for node in r["layers"]:
            k = kind(node)
            per[k][0] += (node["bytes_client_to_server"] + node["bytes_server_to_client"]) / 1e6
        for x in rs:
            acc = collections.defaultdict(float)
            for node in x["layers"]:
                acc[kind(node)] += node["seconds"]
            for k, v in acc.items():
                per[k][1].append(v)
        cells = [f"{per[k][0]:.2f} MB, {statistics.median(per[k][1]) if per[k][1] else 0:.2f} s" if per[k][0] else "–"
                 for k in kinds]
        print(f"| {name} | {r['fidelity']} | {mb:.2f} ({mb / base:.2f}×) | {s:.2f} | {r['rounds']} | " + " | ".join(cells)
              + f" | {r.get('verified')} / {r.get('max_logit_diff_lsb', 0)} |")
PY
