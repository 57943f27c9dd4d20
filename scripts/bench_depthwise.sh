#!/usr/bin/env bash
# The depthwise table of the Falcon issue (issue 17): every depthwise 3×3 layer shape of
# MobileNetV2 at CIFAR sizes (torchvision's MobileNetV2, width 1.0, stem at stride 1 on 32×32) and
# at ImageNet sizes (224×224), each run with the planner's choice (falcon-dw) and with the dense
# block-diagonal baseline (--strategy cheetah-conv), alternating, as two processes over loopback
# TCP (`peregrine bench conv`), one thread per party, ℓ = 37, --verify. Seconds are the median of
# REPS runs (bytes are deterministic); the network sums weight each shape by its count.
# Usage: scripts/bench_depthwise.sh [BUILD_DIR] [OUT_TSV]   (REPS=3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-$BUILD/bench_depthwise.tsv}
REPS=${REPS:-3}
P="$BUILD/apps/peregrine/peregrine"

# network | count | C | H | stride | Cheetah seconds | Cheetah MiB (../shared/anchors/cheetah.md, Zen 4)
ROWS=(
  "cifar|1|32|32|1||" "cifar|1|96|32|2||" "cifar|1|144|16|1||" "cifar|1|144|16|2||" "cifar|2|192|8|1||"
  "cifar|1|192|8|2||" "cifar|4|384|4|1||" "cifar|2|576|4|1||" "cifar|1|576|4|2||" "cifar|3|960|2|1||"
  "imagenet|1|32|112|1|0.324|13.8" "imagenet|1|96|112|2||" "imagenet|1|144|56|1||" "imagenet|1|144|56|2||"
  "imagenet|2|192|28|1||" "imagenet|1|192|28|2||" "imagenet|4|384|14|1||" "imagenet|2|576|14|1||"
  "imagenet|1|576|14|2||" "imagenet|3|960|7|1||"
  "anchor|0|96|16|1|0.259|8.65"
)

: > "$OUT"
for row in "${ROWS[@]}"; do
  IFS='|' read -r net count c h s ref_s ref_mib <<< "$row"
  for _ in $(seq "$REPS"); do
    for strat in choice dense; do
      args=()
      [ "$strat" = dense ] && args=(--strategy cheetah-conv)
      line=$("$P" bench conv --c "$c" --h "$h" --w "$h" --m "$c" --groups "$c" --k 3 --pad 1 --stride "$s" \
               --bits 37 --threads 1 --verify "${args[@]}")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$net" "$count" "$c" "$h" "$s" "$ref_s" "$ref_mib" "$strat" "$line" >> "$OUT"
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = {}
for l in open(sys.argv[1], encoding="utf-8"):
    net, count, c, h, s, ref_s, ref_mib, which, js = l.rstrip("\n").split("\t", 8)
    key = (net, int(count), int(c), int(h), int(s), ref_s, ref_mib)
    rows.setdefault(key, {}).setdefault(which, []).append(json.loads(js))
print("| net | count | shape C×H×H, stride | strategy chosen | layout | n_in/n_out | MiB both ways | seconds "
      "| dense n_in/n_out | dense MiB | dense s | bytes vs dense | time vs dense | vs Cheetah (time / bytes) | verified |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
sums = {}
for key, by in rows.items():
    net, count, c, h, s, ref_s, ref_mib = key
    dense, fast = by["dense"], by["choice"]
    name = fast[0]["strategy"]
    def med(rs): return statistics.median(x["seconds"] for x in rs)
    def mib(r): return (r["bytes_client_to_server"] + r["bytes_server_to_client"]) / 2**20
    f, d = fast[0], dense[0]
    if "g" in f:
        layout = "g=%s %s, tile %sx%s" % (f["g"], ",".join(f.get("family", {}).keys()), f["tile"]["Hw"], f["tile"]["Ww"])
    else:
        layout = "tile %sx%s Cw=%s Mw=%s" % (f["tile"]["Hw"], f["tile"]["Ww"], f["tile"].get("Cw"), f["tile"].get("Mw"))
    ok = all(x["verified"] and x["bytes_client_to_server"] == x["model_bytes_client_to_server"] and
             x["bytes_server_to_client"] == x["model_bytes_server_to_client"] for x in fast + dense)
    vs = ""
    if ref_s:
        vs = "%.2f× / %.2f×" % (med(fast) / float(ref_s), mib(f) / float(ref_mib))
    print("| %s | %d | %d×%d×%d, s%d | %s | %s | %d/%d | %.2f | %.3f | %d/%d | %.2f | %.3f | %.2f× | %.2f× | %s | %s |" % (
        net, count, c, h, h, s, name, layout, f["n_in"], f["n_out"], mib(f), med(fast), d["n_in"], d["n_out"],
        mib(d), med(dense), mib(f) / mib(d), med(fast) / med(dense), vs, ok))
    acc = sums.setdefault(net, [0.0, 0.0, 0.0, 0.0])
    acc[0] += count * mib(f); acc[1] += count * med(fast); acc[2] += count * mib(d); acc[3] += count * med(dense)
print()
print("| network (sum over its depthwise layers) | MiB falcon-dw | s falcon-dw | MiB dense | s dense | bytes ratio | time ratio |")
print("|---|---|---|---|---|---|---|")
for net, (fb, ft, db, dt) in sums.items():
    if net == "anchor":
        continue
    print("| MobileNetV2 %s | %.1f | %.2f | %.1f | %.2f | %.2f× | %.2f× |" % (net, fb, ft, db, dt, fb / db, ft / dt))
PY
