#!/usr/bin/env bash
# The benchmark table of the silent-OT issue: Ferret COT against IKNP, and ReLU, truncation and
# ReLU+truncation on 2^20 elements at l = 37, f = 12 on the silent back-end, each as two processes
# over loopback TCP, one thread per party, with --verify, and the ratios to the Cheetah figures of
# the issue (public Cheetah code, silent OT, this kind of machine: ReLU+truncation 3.27 s and
# 33.8 MB; truncation 0.124 s and 2.5 MB — Cheetah's truncation after a ReLU: sign known,
# approximate). MB = 10^6 bytes, both directions; "larger way" = the bytes of the direction that
# carries more (Cheetah's own harness, e.g. SCI/tests/test_ring_relu.cpp, prints the bytes one
# party sent, its io->counter, so its figures may count one direction only: both ratios shown).
# Usage: scripts/bench_silent.sh [BUILD_DIR] [JSON_OUT]   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=${2:-$BUILD/bench_silent.jsonl}
P="$BUILD/apps/peregrine/peregrine"
N=1048576
: > "$OUT"
"$P" bench cot --n 10000000 --ot silent --verify --json "$OUT" > /dev/null
"$P" bench cot --n 10000000 --ot iknp --verify --json "$OUT" > /dev/null
"$P" bench relu --n $N --bits 37 --verify --json "$OUT" > /dev/null
"$P" bench trunc --n $N --bits 37 --shift 12 --msb zero --trunc-mode approx --verify --json "$OUT" > /dev/null
"$P" bench trunc --n $N --bits 37 --shift 12 --msb zero --trunc-mode exact --verify --json "$OUT" > /dev/null
"$P" bench trunc --n $N --bits 37 --shift 12 --msb unknown --trunc-mode exact --verify --json "$OUT" > /dev/null
"$P" bench relutrunc --n $N --bits 37 --shift 12 --trunc-mode approx --verify --json "$OUT" > /dev/null
"$P" bench relutrunc --n $N --bits 37 --shift 12 --trunc-mode exact --verify --json "$OUT" > /dev/null
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cheetah = {"relutrunc": (3.27, 33.8e6), "trunc": (0.124, 2.5e6)}
print("| op | OT | mode | n | seconds | MB both ways | MB larger way | bits/elem | rounds | set-up s / MB | time vs Cheetah | bytes vs Cheetah (both ways / larger way) | verified |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    b = r["bytes_client_to_server"] + r["bytes_server_to_client"]
    big = max(r["bytes_client_to_server"], r["bytes_server_to_client"])
    sb = r["setup_bytes_client_to_server"] + r["setup_bytes_server_to_client"]
    setup = f"{r['setup_seconds']:.3f} / {sb/1e6:.2f}"
    if r["op"] == "cot":
        print(f"| cot | {r['ot']} | {'random' if r['ot'] == 'silent' else 'chosen'} choices | {r['n']} | {r['seconds']:.3f} "
              f"| {b/1e6:.2f} | {big/1e6:.2f} | {r['bits_per_cot']:.3f} bit/COT ({r['bits_per_cot_with_setup']:.3f} with set-up), "
              f"{r['cots_per_second']/1e6:.1f} M COT/s | {r['rounds']} | {setup} | | | {r.get('verified', '')} |")
        continue
    mode = r.get("trunc_mode", "")
    if r["op"] == "trunc":
        mode += ", sign " + ("known" if r.get("msb") == "zero" else "unknown")
    t, rb = cheetah.get(r["op"], (None, None))
    tr = f"{r['seconds']/t:.2f}x" if t else ""
    br = f"{b/rb:.2f}x / {big/rb:.2f}x" if rb else ""
    print(f"| {r['op']} | {r['ot']} | {mode} | {r['n']} | {r['seconds']:.3f} | {b/1e6:.2f} | {big/1e6:.2f} | {8*b/r['n']:.0f} | {r['rounds']} "
          f"| {setup} | {tr} | {br} | {r.get('verified', '')} |")
PY
