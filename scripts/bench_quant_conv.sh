#!/usr/bin/env bash
# The conv rows of the quantised-network issue (issue 18): the 3×3 convolutions of ResNet-32 (16, 32,
# 64 channels at 32, 16, 8 spatial) and the Cheetah anchor shapes, at integer bit widths (inputs in
# [0, 2^A), weights within W bits: `peregrine bench conv --act-bits A --weight-bits W`), each as two
# processes over loopback TCP, one thread per party, --verify. Three ways per row:
#   cheetah-conv @ program ring  the Cheetah layout in the ring the integer program gives the conv
#                                (its output feeds a 24-bit requantisation multiplier: 39 bits here);
#   cheetah-conv @ accumulator   the same layout in the accumulator's own ring (B bits: lowering ℓ
#                                alone, TECHNIQUES.md §3.2; the result would still need an extension);
#   hequant-conv @ program ring  HEQuant's spatial packing + digit extraction into the program ring
#                                (b, the channel split and q chosen by the planner's cost);
#   hequant-conv-k / -c          the same with output-channel (K) and input-channel (C) packing
#                                (WAYS="..." picks a subset).
# Bytes are both directions; seconds the median of REPS runs; the ratios use the anchor figures of
# ../shared/anchors/cheetah.md (ℓ = 37, Zen 4 column) where the shape has one.
# Usage: scripts/bench_quant_conv.sh [BUILD_DIR] [OUT_TSV]   (REPS=3, BITS="4:4 2:2" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-$BUILD/bench_quant_conv.tsv}
REPS=${REPS:-3}
BITS=${BITS:-"4:4 2:2"}
PROGRAM_RING=${PROGRAM_RING:-39}
P="$BUILD/apps/peregrine/peregrine"

# label | Cheetah seconds (Zen 4) | Cheetah MiB both ways | C | H | M
ROWS=(
  "ResNet-32 conv 16→16 on 32×32|0.0305|0.93|16|32|16"
  "ResNet-32 conv 32→32 on 16×16|||32|16|32"
  "ResNet-32 conv 64→64 on 8×8|||64|8|64"
  "conv 64→64 on 32×32|0.246|3.58|64|32|64"
  "conv 64→64 on 56×56|0.665|6.91|64|56|64"
)

# The accumulator's signed width B for C input channels, 3×3, A-bit inputs and W-bit weights.
acc_bits() { python3 -c "import math,sys; a,w,c=map(int,sys.argv[1:]); print(math.ceil(math.log2((2**a-1)*2**(w-1)*c*9+1))+1)" "$@"; }

: > "$OUT"
for bw in $BITS; do
  A=${bw%%:*}
  W=${bw##*:}
  for row in "${ROWS[@]}"; do
    IFS='|' read -r label ref_s ref_mib C H M <<< "$row"
    acc=$(acc_bits "$A" "$W" "$C")
    [ "$acc" -lt 13 ] && acc=13
    ways=${WAYS:-"cheetah-conv:$PROGRAM_RING:program ring|cheetah-conv:$acc:accumulator|hequant-conv:$PROGRAM_RING:program ring|hequant-conv-k:$PROGRAM_RING:program ring|hequant-conv-c:$PROGRAM_RING:program ring"}
    IFS='|' read -r -a way_list <<< "$ways"
    for way in "${way_list[@]}"; do
      IFS=':' read -r strategy bits where <<< "$way"
      for _ in $(seq "$REPS"); do
        # a packing that fits no candidate of this shape (K/C kernels too wide to flood) is skipped
        line=$("$P" bench conv --c "$C" --h "$H" --w "$H" --m "$M" --k 3 --pad 1 --act-bits "$A" --weight-bits "$W" \
               --bits "$bits" --strategy "$strategy" --threads 1 --verify 2>/dev/null) || { echo "skip: $label $strategy W${W}A${A}" >&2; break; }
        printf '%s\t%s\t%s\tW%sA%s\t%s @ %s (ℓ = %s)\t%s\n' "$label" "$ref_s" "$ref_mib" "$W" "$A" "$strategy" "$where" \
          "$bits" "$line" >> "$OUT"
      done
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = {}
for l in open(sys.argv[1], encoding="utf-8"):
    label, ref_s, ref_mib, bw, way, js = l.rstrip("\n").split("\t", 5)
    rows.setdefault((bw, label, way), (ref_s, ref_mib, []))[2].append(json.loads(js))
print("| bits | layer | strategy | MiB c→s / s→c (both) | seconds | packing, q | bytes vs Cheetah | time vs Cheetah | verified |")
print("|---|---|---|---|---|---|---|---|---|")
for (bw, label, way), (ref_s, ref_mib, runs) in rows.items():
    r = runs[0]
    t = statistics.median(x["seconds"] for x in runs)
    c2s, s2c = r["bytes_client_to_server"] / 2**20, r["bytes_server_to_client"] / 2**20
    pack = r.get("pack")
    pk = "b = %d, B = %d, ℓ_t = %d" % (pack["digits"], pack["digit_bits"], pack["plain_bits"]) if pack else ""
    if pack and pack.get("split", 1) > 1:
        pk += ", split %d" % pack["split"]
    pk = (pk + ", " if pk else "") + "q = %d bits" % r["q_bits"]
    vb = "%.2f×" % ((c2s + s2c) / float(ref_mib)) if ref_mib else ""
    vt = "%.2f×" % (t / float(ref_s)) if ref_s else ""
    ok = all(x.get("verified") for x in runs)
    print("| %s | %s | %s | %.3f / %.3f (%.3f) | %.4f | %s | %s | %s | %s |" %
          (bw, label, way, c2s, s2c, c2s + s2c, t, pk, vb, vt, "yes" if ok else "NO"))
PY
