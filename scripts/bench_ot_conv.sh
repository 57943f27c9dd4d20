#!/usr/bin/env bash
# The OT-convolution rows of the EQO issue (issue 19): the 3×3 convolutions of ResNet-32 (16, 32, 64
# channels at 32, 16, 8 spatial) at W2A6 and W4A6 (`peregrine bench conv --act-bits A --weight-bits
# W`: inputs in [0, 2^A), weights within W bits), each as two processes over loopback TCP, one thread
# per party, silent OT, --verify, in the conv ring the integer program would give it (39 bits):
#   ot-conv      direct conv as one OT GEMM with server-known weights (im2col; the baseline);
#   ot-conv-f2   Winograd F(2×2,3×3), exact integer transforms, one OT GEMM per position;
#   ot-conv-f4   Winograd F(4×4,3×3), the same.
# Bytes are both directions (GEMMs, COTs, the signed extension to the program ring); the last
# column sums each strategy's bytes over the three layers against the direct GEMM's.
# Usage: scripts/bench_ot_conv.sh [BUILD_DIR] [OUT_TSV]   (REPS=1, BITS="2:6 4:6" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-$BUILD/bench_ot_conv.tsv}
REPS=${REPS:-1}
BITS=${BITS:-"2:6 4:6"}
P="$BUILD/apps/peregrine/peregrine"
ROWS=("16|32" "32|16" "64|8")  # C = M | H = W

: > "$OUT"
for bw in $BITS; do
  W=${bw%%:*}
  A=${bw##*:}
  for row in "${ROWS[@]}"; do
    IFS='|' read -r C H <<< "$row"
    for strategy in ot-conv ot-conv-f2 ot-conv-f4; do
      for _ in $(seq "$REPS"); do
        line=$("$P" bench conv --c "$C" --h "$H" --w "$H" --m "$C" --k 3 --pad 1 --act-bits "$A" --weight-bits "$W" \
               --bits 39 --strategy "$strategy" --threads 1 --verify)
        printf 'W%sA%s\tResNet-32 conv %s→%s on %s×%s\t%s\t%s\n' "$W" "$A" "$C" "$C" "$H" "$H" "$strategy" "$line" >> "$OUT"
      done
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows, totals = {}, {}
for l in open(sys.argv[1], encoding="utf-8"):
    bw, label, strategy, js = l.rstrip("\n").split("\t", 3)
    rows.setdefault((bw, label, strategy), []).append(json.loads(js))
print("| bits | layer | strategy | MiB c→s / s→c (both) | vs direct | seconds | ring ℓ, GEMMs, COTs | rounds | verified |")
print("|---|---|---|---|---|---|---|---|---|")
direct = {}
for (bw, label, strategy), runs in rows.items():
    r = runs[0]
    both = (r["bytes_client_to_server"] + r["bytes_server_to_client"]) / 2**20
    if strategy == "ot-conv":
        direct[(bw, label)] = both
    t = totals.setdefault((bw, strategy), [0.0, 0.0])
    t[0] += both
    t[1] += direct[(bw, label)]
    ot = r["ot"]
    print("| %s | %s | %s | %.3f / %.3f (%.3f) | %.2f× | %.3f | %d, %d, %d | %d | %s |" % (
        bw, label, strategy, r["bytes_client_to_server"] / 2**20, r["bytes_server_to_client"] / 2**20, both,
        both / direct[(bw, label)], statistics.median(x["seconds"] for x in runs), ot["ring_bits"], ot["gemms"],
        ot["cots"], r["rounds"], "yes" if all(x.get("verified") for x in runs) else "NO"))
print()
print("| bits | strategy | MiB over the three layers | vs direct |")
print("|---|---|---|---|")
for (bw, strategy), (s, d) in totals.items():
    print("| %s | %s | %.2f | %.2f× |" % (bw, strategy, s, s / d))
PY
