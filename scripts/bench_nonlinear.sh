#!/usr/bin/env bash
# The benchmark table of the nonlinear-protocol issue on the IKNP back-end (--ot iknp; the silent
# back-end has its own table, scripts/bench_silent.sh): IKNP COT, ReLU, truncation, ReLU+truncation,
# each as two processes over loopback TCP, one thread per party, l = 37, f = 12, with the ratios to
# the CrypTFlow2 reference figures measured on this kind of machine (TECHNIQUES.md §7; issue 3).
# Usage: scripts/bench_nonlinear.sh [BUILD_DIR] [JSON_OUT]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-$BUILD/bench_nonlinear.jsonl}
P="$BUILD/apps/peregrine/peregrine"
: > "$OUT"
"$P" bench cot --n 10000000 --ot iknp --json "$OUT" > /dev/null
"$P" bench relu --n 65536 --ot iknp --verify --json "$OUT" > /dev/null
for op in relu trunc relutrunc; do
  "$P" bench "$op" --n 1048576 --bits 37 --shift 12 --ot iknp --verify --json "$OUT" > /dev/null
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
# CrypTFlow2 (IKNP) reference: seconds, bytes (issue 3; ReLU alone: 971 MiB).
ref = {("relu", 1 << 20): (10.4, 971 * 2**20), ("trunc", 1 << 20): (15.1, 1451e6),
       ("relutrunc", 1 << 20): (18.4, 1502e6)}
print("| op | n | seconds | MB both ways | bytes/elem | rounds | time vs CrypTFlow2 | bytes vs CrypTFlow2 | verified |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    b = r["bytes_client_to_server"] + r["bytes_server_to_client"]
    if r["op"] == "cot":
        print(f"| cot | {r['n']} | {r['seconds']:.3f} | {b/1e6:.1f} | {r['bytes_per_cot']:.1f} B/COT, "
              f"{r['cots_per_second']/1e6:.1f} M COT/s | {r['rounds']} | | | |")
        continue
    t, rb = ref.get((r["op"], r["n"]), (None, None))
    tr = f"{r['seconds']/t:.2f}x" if t else ""
    br = f"{b/rb:.2f}x" if rb else ""
    print(f"| {r['op']} | {r['n']} | {r['seconds']:.3f} | {b/1e6:.1f} | {b/r['n']:.1f} | {r['rounds']} | {tr} | {br} | {r.get('verified', '')} |")
print(f"\nbase-OT set-up (both directions): {rows[0]['setup_seconds']:.3f} s")
PY
