#!/usr/bin/env bash
# The benchmark table of the HE linear-layer issue (issue 4): Cheetah-layout convolution, depthwise
# convolution (run as Cheetah runs it: a dense conv with a block-diagonal kernel), batch norm and
# fully connected layers, each as two processes over loopback TCP (`peregrine bench conv|bn|fc`),
# one thread per party, l = 37, weights |w| < 2^12, with the ratios to the Cheetah reference
# figures of the issue. Every row runs with --verify; seconds are the median of REPS runs (the
# bytes are deterministic).
# Usage: scripts/bench_linear.sh [BUILD_DIR] [OUT_TSV]   (REPS=3 by default; after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-$BUILD/bench_linear.tsv}
REPS=${REPS:-3}
P="$BUILD/apps/peregrine/peregrine"

# label | Cheetah seconds | Cheetah MiB both ways | kind (dense, bn, dw, fc) | bench arguments
ROWS=(
  "conv 3×3 64→64 on 56×56 (pad 1)|0.665|6.9|dense|conv --c 64 --h 56 --w 56 --m 64 --k 3 --pad 1"
  "conv 3×3 64→64 on 32×32 (pad 1)|0.246|3.6|dense|conv --c 64 --h 32 --w 32 --m 64 --k 3 --pad 1"
  "conv 3×3 16→16 on 32×32 (pad 1)|0.031|0.93|dense|conv --c 16 --h 32 --w 32 --m 16 --k 3 --pad 1"
  "conv 3×3 32→32 on 16×16 (pad 1)|||dense|conv --c 32 --h 16 --w 16 --m 32 --k 3 --pad 1"
  "conv 3×3 64→64 on 8×8 (pad 1)|||dense|conv --c 64 --h 8 --w 8 --m 64 --k 3 --pad 1"
  "batch norm 64×56×56|0.128|6.9|bn|bn --c 64 --h 56 --w 56"
  "depthwise 3×3 on 96×16×16 (pad 1)|0.259|8.7|dw|conv --c 96 --h 16 --w 16 --m 96 --k 3 --pad 1 --groups 96"
  "depthwise 3×3 on 32×112×112 (pad 1)|0.324|13.8|dw|conv --c 32 --h 112 --w 112 --m 32 --k 3 --pad 1 --groups 32"
  "depthwise 3×3 on 144×16×16 (pad 1)|||dw|conv --c 144 --h 16 --w 16 --m 144 --k 3 --pad 1 --groups 144"
  "depthwise 3×3 on 192×8×8 (pad 1)|||dw|conv --c 192 --h 8 --w 8 --m 192 --k 3 --pad 1 --groups 192"
  "depthwise 3×3 on 384×4×4 (pad 1)|||dw|conv --c 384 --h 4 --w 4 --m 384 --k 3 --pad 1 --groups 384"
  "depthwise 3×3 on 960×2×2 (pad 1)|||dw|conv --c 960 --h 2 --w 2 --m 960 --k 3 --pad 1 --groups 960"
  "FC 2048→1000|0.142|1.95|fc|fc --in 2048 --out 1000"
  "FC 64→10|||fc|fc --in 64 --out 10"
)

: > "$OUT"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label ref_s ref_mib kind args <<< "$row"
  for _ in $(seq "$REPS"); do
    # shellcheck disable=SC2086  # the arguments are meant to split
    line=$("$P" bench $args --bits 37 --threads 1 --verify)
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$ref_s" "$ref_mib" "$kind" "$line" >> "$OUT"
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = {}
for l in open(sys.argv[1], encoding="utf-8"):
    label, ref_s, ref_mib, kind, js = l.rstrip("\n").split("\t", 4)
    rows.setdefault(label, (ref_s, ref_mib, kind, []))[3].append(json.loads(js))
print("| layer | seconds | MiB both ways | n_in/n_out | tile / block | time vs Cheetah | bytes vs Cheetah "
      "| bar (≤ 1.0× both) | model bytes = measured | prepare s | verified |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for label, (ref_s, ref_mib, kind, runs) in rows.items():
    r = runs[0]
    t = statistics.median(x["seconds"] for x in runs)
    prep = statistics.median(x["prepare_seconds"] for x in runs)
    b = r["bytes_client_to_server"] + r["bytes_server_to_client"]
    mib = b / 2**20
    model_ok = all(x["bytes_client_to_server"] == x["model_bytes_client_to_server"] and
                   x["bytes_server_to_client"] == x["model_bytes_server_to_client"] for x in runs)
    verified = all(x.get("verified") is True for x in runs)
    if "tile" in r:
        tl = r["tile"]
        layout = f"{tl['Hw']}×{tl['Ww']}, Cw {tl['Cw']}, Mw {tl['Mw']}"
    elif "block" in r:
        layout = f"{r['block']['rows']} rows × {r['block']['cols']} cols"
    else:
        layout = "one channel block per ct"
    tr = br = bar = ""
    if ref_s:
        rt, rb = t / float(ref_s), mib / float(ref_mib)
        tr, br = f"{rt:.2f}×", f"{rb:.2f}×"
        if kind in ("dense", "bn"):
            bar = "met" if rt <= 1.0 and rb <= 1.0 else "MISSED"
        elif kind == "dw":
            bar = "Falcon baseline"
        else:
            bar = "report"
    print(f"| {label} | {t:.3f} | {mib:.2f} | {r['n_in']}/{r['n_out']} | {layout} | {tr} | {br} | {bar} "
          f"| {'yes' if model_ok else 'NO'} | {prep:.3f} | {verified} |")
setup = max(x["setup_seconds"] for _, _, _, runs in rows.values() for x in runs)
print(f"\nHE key set-up (client key generation + public key transfer), worst row: {setup:.3f} s; "
      f"seconds = median of {len(next(iter(rows.values()))[3])} runs.")
PY
