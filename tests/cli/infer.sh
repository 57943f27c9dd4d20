#!/usr/bin/env bash
# End-to-end tests of `peregrine run | serve | query | inspect | eval` (apps/peregrine/infer.hpp)
# through the real binary, with the server and the client as separate processes over loopback TCP.
# Usage: infer.sh PEREGRINE_BINARY MODE
#   run_default  `run --json` on the default model and sample image: exit 0, every report key; the
#                per-layer table names every layer whole or, when longer than its column, by its
#                start and end joined by "…" (checked on a copy of the model with long names)
#   serve_query  serve --sessions 4 --threads 2: good query (= `run` top-1 and logits), garbage
#                client, stalled client (timed out), good query again with --threads 3; the server
#                survives both and exits 0
#   bad_input    missing/corrupt/unsupported model, missing/corrupt/wrong-shape image, --index out
#                of range, query to a closed port / a garbage / a closing / a silent server: each
#                exits 1 with exactly one stderr line "peregrine: ..."
#   resnet20     `run` ResNet-20 on CIFAR-10 record 0 (needs ../shared/data beside the repo)
#   eval_small   `eval --limit 20` on the digits test set
#   inspect      `inspect` prints the quantisation and protocol plans
#   quantised    the quantised ResNet-20 (models/resnet20_cifar10_quant.onnx, QDQ): `inspect` names the
#                integer program; `serve` + `query` on CIFAR-10 record 0 give `run`'s logits, equal
#                to the integer reference (needs ../shared/data beside the repo)
# Every process runs under `timeout`; background processes are killed on exit.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 PEREGRINE_BINARY MODE" >&2
  exit 2
fi
bin=$1
mode=$2
[ -x "$bin" ] || { echo "infer.sh: '$bin' is not an executable" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
models=$repo/models
shared=$repo/../shared/data
model=$models/digits_cnn.onnx
digits=$models/digits-test-images-idx3-ubyte
sample=$models/digit_sample.png
py=python3

dir=$(mktemp -d "${TMPDIR:-/tmp}/peregrine-infer.XXXXXX")
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; fi
  done
  for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

fail() {
  echo "infer.sh [$mode]: FAILED: $*" >&2
  exit 1
}
show() {  # show NAME: the captured stdout/stderr of a command
  local f
  for f in "$dir/$1.out" "$dir/$1.err"; do
    if [ -s "$f" ]; then echo "--- $(basename "$f")"; cat "$f"; fi
  done
}
now_ms() { date +%s%3N; }

# run_ok NAME SECONDS ARGS...: runs the binary, output to $dir/NAME.{out,err}; must exit 0.
run_ok() {
  local name=$1 secs=$2 rc=0
  shift 2
  timeout "$secs" "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    show "$name"
    fail "$name: 'peregrine $*' exited with $rc (expected 0)"
  fi
  echo "ok: $name (peregrine $*)"
}

# expect_error NAME SECONDS REGEX ARGS...: the binary must exit with 1 within SECONDS and write
# exactly one line on stderr, starting with "peregrine: " and matching the extended REGEX.
expect_error() {
  local name=$1 secs=$2 regex=$3 rc=0
  shift 3
  timeout "$secs" "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
  local err=$dir/$name.err
  if [ "$rc" -ne 1 ]; then
    show "$name"
    fail "$name: 'peregrine $*' exited with $rc (expected 1; 124 = hung past ${secs} s)"
  fi
  local lines
  lines=$(wc -l <"$err")
  if [ "$lines" -ne 1 ] || [ -n "$(tail -c 1 "$err")" ]; then
    show "$name"
    fail "$name: expected exactly one newline-terminated line on stderr, got $lines line(s)"
  fi
  if grep -Eqi 'terminate called|abort|core dumped|segmentation|what\(\)' "$err"; then
    show "$name"
    fail "$name: stderr looks like a crash"
  fi
  grep -Eq '^peregrine: ' "$err" || { show "$name"; fail "$name: stderr does not start with 'peregrine: '"; }
  grep -Eq -- "$regex" "$err" || { show "$name"; fail "$name: stderr does not match /$regex/"; }
  echo "ok: $name -> $(cat "$err")"
}

# wait_port_file FILE PID: waits (30 s at most) until FILE holds a port number; prints it.
wait_port_file() {
  local f=$1 pid=$2
  for _ in $(seq 300); do
    if [ -f "$f" ] && grep -Eq '^[0-9]+$' "$f"; then
      head -n 1 "$f"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

# A throw-away TCP listener (python) for the client-side tests: writes its port to PORTFILE, accepts
# one connection, then per MODE: garbage = sends 1000 random bytes and closes; close = closes at
# once; silent = says nothing for 30 s.
fake_server_py='
import os, socket, sys, time
mode, pf = sys.argv[1], sys.argv[2]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
open(pf + ".tmp", "w").write("%d\n" % s.getsockname()[1])
os.rename(pf + ".tmp", pf)
s.settimeout(60)
c, _ = s.accept()
if mode == "garbage":
    c.sendall(os.urandom(1000))
    time.sleep(0.5)
elif mode == "silent":
    time.sleep(30)
c.close()
'

# check_layer_table OUT JSON [MIN_ELIDED]: the per-layer table in OUT (stdout of `run`) has one row
# per non-local layer of the JSON report, in order, each naming its layer in the 32-character column
# either whole or, when the name is longer, as its first 15 and last 16 characters joined by "…"
# (never cut at one end); at least MIN_ELIDED names are elided.
check_layer_table() {
  $py - "$1" "$2" "${3:-0}" <<'EOF' || { cat "$1"; fail "per-layer table check ($1)"; }
import json, sys
W = 32
out = open(sys.argv[1], encoding="utf-8").read().splitlines()
d = json.load(open(sys.argv[2]))
names = [l["name"] for l in d["layers"] if l["strategy"] != "local"]
head = [i for i, s in enumerate(out) if s.split()[:3] == ["layer", "op", "strategy"]]
assert len(head) == 1, "expected one table header, found %d" % len(head)
assert out[head[0]].startswith("  layer" + " " * (W - 5) + " op"), "header: %r" % out[head[0]]
rows = out[head[0] + 1:head[0] + 1 + len(names)]
assert len(rows) == len(names), "%d rows for %d layers" % (len(rows), len(names))
elided = 0
for row, name in zip(rows, names):
    shown, rest = row[2:2 + W], row[2 + W:]
    assert row.startswith("  ") and rest.startswith(" ") and not rest.startswith("  "), "column: %r" % row
    if len(name) <= W:
        want = name.ljust(W)
    else:
        h = (W - 1) // 2
        want = name[:h] + "\u2026" + name[len(name) - (W - 1 - h):]
        elided += 1
    assert shown == want, "layer %r shown as %r, expected %r" % (name, shown, want)
assert elided >= int(sys.argv[3]), "only %d names elided" % elided
print("layer table: %d rows, %d long names elided in the middle" % (len(rows), elided))
EOF
}

# ---- modes --------------------------------------------------------------------------------------

mode_run_default() {
  local f=$dir/run.json
  # No MODEL: the binary finds models/digits_cnn.onnx and models/digit_sample.png beside itself.
  (cd "$dir" && run_ok run_default 120 run --json "$f")
  [ -s "$f" ] || fail "run --json did not write $f"
  $py - "$f" <<'EOF' || fail "run --json report check"
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["model", "input", "top1", "logits", "float_top1", "fixed_top1", "matches_fixed", "setup_seconds",
        "online_seconds", "bytes_client_to_server", "bytes_server_to_client", "rounds", "peak_rss_bytes", "layers"]
missing = [k for k in keys if k not in d]
assert not missing, "missing keys %s" % missing
assert d["matches_fixed"] is True, "matches_fixed = %r" % d["matches_fixed"]
assert d["model"].endswith("digits_cnn.onnx"), d["model"]
assert "digit_sample.png" in d["input"], d["input"]
assert isinstance(d["logits"], list) and len(d["logits"]) == 10, d["logits"]
assert isinstance(d["top1"], int) and 0 <= d["top1"] < 10
assert d["top1"] == max(range(10), key=lambda i: d["logits"][i])
assert d["fixed_top1"] == d["top1"], (d["fixed_top1"], d["top1"])
for k in ["bytes_client_to_server", "bytes_server_to_client", "rounds"]:
    assert isinstance(d[k], int) and d[k] > 0, (k, d[k])
for k in ["setup_seconds", "online_seconds"]:
    assert isinstance(d[k], (int, float)) and d[k] > 0, (k, d[k])
L = d["layers"]
assert isinstance(L, list) and L, "layers is empty"
for l in L:
    for k in ["op", "strategy", "seconds", "bytes_client_to_server", "bytes_server_to_client", "rounds"]:
        assert k in l, "layer %r lacks %s" % (l, k)
assert sum(l["bytes_client_to_server"] for l in L) > 0
print("run report: top1 %d, %d layers, %d rounds, %d + %d bytes" % (d["top1"], len(L), d["rounds"],
      d["bytes_client_to_server"], d["bytes_server_to_client"]))
EOF
  check_layer_table "$dir/run_default.out" "$f"

  # The same model with every node and value name that starts with "/" made 25 characters longer
  # (decoded with protoc, renamed, encoded again): the table elides them in the middle.
  local proto=/usr/include/onnx/onnx.proto long=$dir/long_names.onnx
  if command -v protoc >/dev/null && [ -f "$proto" ]; then
    protoc --proto_path="$(dirname "$proto")" --decode=onnx.ModelProto onnx.proto <"$model" |
      sed 's#"/#"/features/stage.0/block.1/#g' |
      protoc --proto_path="$(dirname "$proto")" --encode=onnx.ModelProto onnx.proto >"$long" ||
      fail "could not rename the model's nodes with protoc"
    run_ok run_long_names 120 run "$long" --input "$sample" --json "$dir/long.json"
    check_layer_table "$dir/run_long_names.out" "$dir/long.json" 5
  else
    echo "skipped: long layer names (no protoc or $proto)"
  fi
}

mode_serve_query() {
  local pf=$dir/port srv_err=$dir/server.err
  run_ok run_index3 120 run "$model" --input "$digits" --index 3 --json "$dir/r.json"
  [ -s "$dir/r.json" ] || fail "run --json did not write r.json"

  timeout 180 "$bin" serve "$model" --listen 127.0.0.1:0 --port-file "$pf" --sessions 4 --timeout 10 --threads 2 \
    >"$dir/server.out" 2>"$srv_err" &
  local server_pid=$!
  bg_pids+=("$server_pid")
  local port
  port=$(wait_port_file "$pf" "$server_pid") || { cat "$srv_err"; fail "the server did not write its port file"; }
  echo "server on port $port"

  # (a) a good client.
  run_ok query1 120 query --connect "127.0.0.1:$port" --input "$digits" --index 3 --json "$dir/q1.json"
  [ -s "$dir/q1.json" ] || fail "query --json did not write q1.json"

  # (b) a garbage client: random bytes, then close. The server logs the failure and goes on.
  timeout 30 $py -c '
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(os.urandom(1000))
s.close()' "$port" || fail "the garbage client could not connect"
  local ok=0
  for _ in $(seq 200); do
    if grep -q 'session 2 failed' "$srv_err"; then ok=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ $ok = 1 ] || { cat "$srv_err"; fail "the server did not log 'session 2 failed' for the garbage client"; }
  kill -0 "$server_pid" 2>/dev/null || { cat "$srv_err"; fail "the server died after the garbage client"; }

  # (c) a client that connects and stays silent for up to 15 s (> --timeout 10); it records when the
  # server closed the connection.
  timeout 40 $py -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
open(sys.argv[2] + ".connected", "w").close()
t0 = time.monotonic()
s.settimeout(15)
closed = False
try:
    while True:
        b = s.recv(65536)   # never sends anything
        if not b:
            closed = True
            break
except socket.timeout:
    pass
except OSError:
    closed = True
open(sys.argv[2], "w").write("%s %.1f\n" % ("closed" if closed else "open", time.monotonic() - t0))
s.close()' "$port" "$dir/stall" &
  local stall_pid=$!
  bg_pids+=("$stall_pid")
  for _ in $(seq 100); do [ -f "$dir/stall.connected" ] && break; sleep 0.1; done
  [ -f "$dir/stall.connected" ] || fail "the stalling client did not connect"

  # (d) another good client, while the stalled session is still open, with worker threads (the
  # server runs 2 per session): the same logits as the one-thread run.
  run_ok query2 120 query --connect "127.0.0.1:$port" --input "$digits" --index 3 --threads 3 --json "$dir/q2.json"
  [ -s "$dir/q2.json" ] || fail "query --json did not write q2.json"

  # The server stops by itself after 4 sessions, once the stalled one has timed out (10 s).
  local t0 server_rc=0 done_ok=0
  t0=$(now_ms)
  for _ in $(seq 600); do
    if ! kill -0 "$server_pid" 2>/dev/null; then done_ok=1; break; fi
    sleep 0.1
  done
  [ $done_ok = 1 ] || { cat "$srv_err"; fail "the server did not exit within 60 s after 4 sessions"; }
  wait "$server_pid" || server_rc=$?
  echo "server exited with $server_rc, $(( ($(now_ms) - t0) )) ms after the last query"
  echo "--- server stderr"; cat "$srv_err"
  [ "$server_rc" -eq 0 ] || fail "the server exited with $server_rc (expected 0)"
  local stall_rc=0
  wait "$stall_pid" || stall_rc=$?
  [ "$stall_rc" -eq 0 ] || fail "the stalling client exited with $stall_rc"
  echo "stalling client: $(cat "$dir/stall")"
  # No timing assertion (DESIGN.md §7): the server closed the silent connection before the client's
  # own 15 s wait ended, and logged the session as a read timeout.
  grep -Eq '^closed ' "$dir/stall" ||
    fail "the server did not close the stalled connection: $(cat "$dir/stall")"

  [ "$(grep -c 'failed' "$srv_err")" -eq 2 ] || fail "expected exactly 2 failed sessions in the server log"
  grep -Eq 'session 3 failed: timeout: no data from the peer within the read timeout' "$srv_err" ||
    fail "the stalled session was not logged as a read timeout"
  [ "$(grep -Ec 'session [0-9]+ done' "$srv_err")" -eq 2 ] || fail "expected exactly 2 completed sessions"

  $py - "$dir/r.json" "$dir/q1.json" "$dir/q2.json" <<'EOF' || fail "query vs run check"
import json, sys
r, q1, q2 = (json.load(open(p)) for p in sys.argv[1:])
assert r["matches_fixed"] is True
for name, q in (("query 1", q1), ("query 2", q2)):
    assert q["top1"] == r["top1"], "%s top1 %r != run top1 %r" % (name, q["top1"], r["top1"])
    assert q["logits"] == r["logits"], "%s logits %r != run logits %r" % (name, q["logits"], r["logits"])
    assert q["label"] == 9 and q["top1"] == 9, (q["label"], q["top1"])
    assert q["bytes_client_to_server"] > 0 and q["rounds"] > 0
assert q1["threads"] == 1 and q2["threads"] == 3, (q1["threads"], q2["threads"])
for k in ("bytes_client_to_server", "bytes_server_to_client", "rounds"):
    assert q1[k] == q2[k], "%s: %r with 1 thread, %r with 3" % (k, q1[k], q2[k])
print("query top1 %d = run top1; logits equal exactly (%d values); 3 threads: same bytes and rounds"
      % (q1["top1"], len(r["logits"])))
EOF
}

mode_bad_input() {
  local t="$dir/in"
  mkdir -p "$t"
  # Inputs: corrupt model and PNGs (fixed seeds: deterministic), a 4x4 grey PNG.
  $py - "$t" "$sample" <<'EOF'
import random, struct, sys, zlib
t, sample = sys.argv[1], sys.argv[2]
rng = random.Random(20240601)
open(t + "/corrupt.onnx", "wb").write(rng.randbytes(4096))
open(t + "/random.png", "wb").write(rng.randbytes(2048))
png = open(sample, "rb").read()
open(t + "/truncated.png", "wb").write(png[: len(png) // 2])
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
w = h = 4
raw = b"".join(b"\x00" + bytes((x * 60 + y * 10) % 256 for x in range(w)) for y in range(h))
open(t + "/tiny4x4.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF

  expect_error missing_model 60 "nope\\.onnx" run "$t/nope.onnx" --input "$sample"
  expect_error missing_model_serve 60 "nope\\.onnx" serve "$t/nope.onnx" --listen 127.0.0.1:0
  expect_error missing_model_inspect 60 "nope\\.onnx" inspect "$t/nope.onnx"
  expect_error missing_model_eval 60 "nope\\.onnx" eval "$t/nope.onnx" --dataset "$digits" --limit 1
  expect_error corrupt_model 60 "ONNX|onnx|malformed" run "$t/corrupt.onnx" --input "$sample"
  expect_error corrupt_model_serve 60 "ONNX|onnx|malformed" serve "$t/corrupt.onnx" --listen 127.0.0.1:0

  if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
    /usr/bin/python3 - "$t/tanh.onnx" <<'EOF'
import sys
import onnx
from onnx import TensorProto, helper
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 8, 8])
g = helper.make_graph([helper.make_node("Tanh", ["x"], ["y"], name="tanh0")], "tanh", [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
EOF
    expect_error unsupported_model 60 "Tanh" run "$t/tanh.onnx" --input "$sample"
    expect_error unsupported_model_inspect 60 "Tanh" inspect "$t/tanh.onnx"
  else
    echo "skipped: unsupported_model (/usr/bin/python3 has no onnx package)"
  fi

  expect_error missing_image 60 "nope\\.png" run "$model" --input "$t/nope.png"
  expect_error random_png 60 "random\\.png" run "$model" --input "$t/random.png"
  expect_error truncated_png 60 "truncated\\.png" run "$model" --input "$t/truncated.png"
  expect_error wrong_shape_png 60 "4x4.*8x8" run "$model" --input "$t/tiny4x4.png"
  expect_error index_out_of_range 60 "out of range" run "$model" --input "$digits" --index 100000

  # query to a port where nothing listens: one line within ~10 s.
  local free t0 ms
  free=$($py -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  t0=$(now_ms)
  expect_error query_closed_port 10 "connect" query --connect "127.0.0.1:$free" --input "$sample" --timeout 2
  ms=$(( $(now_ms) - t0 ))
  echo "   (failed after $ms ms)"

  # query against fake servers: garbage, immediate close, silence (--timeout 2 must fire).
  local fake regex pid port
  for fake in garbage close silent; do
    case $fake in
      garbage) regex="." ;;
      close) regex="." ;;
      silent) regex="timeout" ;;
    esac
    timeout 90 $py -c "$fake_server_py" "$fake" "$dir/fake_$fake.port" >/dev/null 2>&1 &
    pid=$!
    bg_pids+=("$pid")
    port=$(wait_port_file "$dir/fake_$fake.port" "$pid") || fail "the fake $fake server did not start"
    t0=$(now_ms)
    expect_error "query_fake_$fake" 20 "$regex" query --connect "127.0.0.1:$port" --input "$sample" --timeout 2
    ms=$(( $(now_ms) - t0 ))
    echo "   (failed after $ms ms)"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done

  # serve cannot write its --port-file: an error, not a server that never announces its port.
  expect_error serve_port_file_unwritable 60 "port file" serve "$model" --listen 127.0.0.1:0 \
    --port-file "$t/no/such/dir/port" --sessions 1 --timeout 1
}

mode_resnet20() {
  if [ ! -d "$shared" ]; then
    echo "skipped: $shared not found"
    exit 0
  fi
  local onnx=$shared/onnx/resnet20_cifar10.onnx data=$shared/cifar10/test_batch_first1017_lossless.bin
  [ -f "$onnx" ] && [ -f "$data" ] || fail "$shared exists but lacks $onnx or $data"
  run_ok resnet20 280 run "$onnx" --input "$data" --index 0 --json "$dir/res.json"
  [ -s "$dir/res.json" ] || fail "run --json did not write res.json"
  cat "$dir/resnet20.out"
  check_layer_table "$dir/resnet20.out" "$dir/res.json"
  $py - "$dir/res.json" <<'EOF' || fail "resnet20 report check"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["matches_fixed"] is True, d["matches_fixed"]
assert d["top1"] == 3, "top1 %r (expected 3, cat)" % d["top1"]
assert len(d["logits"]) == 10 and d["layers"]
print("resnet20: top1 3 (cat), matches the fixed-point reference")
EOF
}

mode_eval_small() {
  run_ok eval 280 eval "$model" --dataset "$digits" --limit 20 --json "$dir/e.json"
  [ -s "$dir/e.json" ] || fail "eval --json did not write e.json"
  cat "$dir/eval.out"
  $py - "$dir/e.json" <<'EOF' || fail "eval report check"
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["n", "private_correct", "float_correct", "private_equals_float", "private_equals_fixed", "online_seconds",
        "bytes_client_to_server", "bytes_server_to_client"]
missing = [k for k in keys if k not in d]
assert not missing, "missing keys %s" % missing
assert d["n"] == 20, d["n"]
assert d["private_equals_fixed"] == 20, d["private_equals_fixed"]
assert d["private_correct"] >= 18, d["private_correct"]
assert d["online_seconds"] > 0 and d["bytes_client_to_server"] > 0 and d["bytes_server_to_client"] > 0
print("eval: %d/%d private correct, %d/%d = fixed-point" % (d["private_correct"], d["n"], d["private_equals_fixed"], d["n"]))
EOF
}

mode_inspect() {
  run_ok inspect 120 inspect "$model"
  grep -q "quantisation plan" "$dir/inspect.out" || { show inspect; fail "no 'quantisation plan' in the output"; }
  grep -q "protocol plan" "$dir/inspect.out" || { show inspect; fail "no 'protocol plan' in the output"; }
  grep -q "Conv" "$dir/inspect.out" || { show inspect; fail "no Conv node listed"; }
}

mode_quantised() {
  if [ ! -d "$shared" ]; then
    echo "skipped: $shared not found"
    exit 0
  fi
  local onnx=$models/resnet20_cifar10_quant.onnx data=$shared/cifar10/test_batch_first1017_lossless.bin
  local pf=$dir/qport
  run_ok qinspect 120 inspect "$onnx"
  grep -q "quantised model (QDQ): integer program" "$dir/qinspect.out" || { show qinspect; fail "inspect does not name the integer program"; }
  # With the HEQuant families only, `inspect --json` reports each conv's packing (the per-layer table
  # of docs/BENCHMARKS.md): orientation (the strategy), b, B, ℓ_t, the split and q.
  local registered hq
  registered=$("$bin" inspect "$onnx" --strategies nope 2>&1 | sed -n 's/.*(registered: \(.*\))$/\1/p' || true)
  hq=$($py -c "import sys; print(','.join(n for n in sys.argv[1].split(', ') if not n.startswith(('cheetah-conv', 'falcon-'))))" \
       "$registered")
  run_ok qinspect_packed 120 inspect "$onnx" --strategies "$hq" --json "$dir/qi.json"
  $py - "$dir/qi.json" <<'EOF' || fail "packed layout report check"
import json, sys
d = json.load(open(sys.argv[1]))
convs = [l for l in d["protocol"] if l["op"] == "Conv"]
assert len(convs) == 19, len(convs)
for l in convs:
    assert l["strategy"].startswith("hequant-conv"), l["strategy"]
    p = l["layout"]["pack"]
    assert p["digits"] >= 1 and p["plain_bits"] >= p["digits"] * p["digit_bits"] and p["split"] >= 1, p
    assert 60 <= l["layout"]["q_bits"] <= 109, l["layout"]
print("quantised: packed plan reported for %d convs" % len(convs))
EOF
  run_ok qrun 280 run "$onnx" --input "$data" --index 0 --json "$dir/qr.json"
  timeout 280 "$bin" serve "$onnx" --listen 127.0.0.1:0 --port-file "$pf" --sessions 1 --timeout 60 \
    >"$dir/qserver.out" 2>"$dir/qserver.err" &
  local server_pid=$!
  bg_pids+=("$server_pid")
  local port
  port=$(wait_port_file "$pf" "$server_pid") || { cat "$dir/qserver.err"; fail "the server did not write its port file"; }
  run_ok qquery 280 query --connect "127.0.0.1:$port" --input "$data" --index 0 --json "$dir/qq.json"
  wait "$server_pid" || { cat "$dir/qserver.err"; fail "the server did not exit 0"; }
  $py - "$dir/qr.json" "$dir/qq.json" <<'EOF' || fail "quantised report check"
import json, sys
r, q = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["matches_fixed"] is True, r["matches_fixed"]
assert q["logits"] == r["logits"], (q["logits"], r["logits"])
assert q["bytes_client_to_server"] == r["bytes_client_to_server"], (q["bytes_client_to_server"], r["bytes_client_to_server"])
print("quantised: serve/query logits = run's = the integer reference; top-1 %d" % r["top1"])
EOF
}

case $mode in
  run_default | serve_query | bad_input | resnet20 | eval_small | inspect | quantised) "mode_$mode" ;;
  *) echo "infer.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
echo "infer.sh [$mode]: ok"
