#!/usr/bin/env bash
# Service soak of `peregrine serve` (issue 7): one server process, many `peregrine query` clients.
#
# Usage: scripts/soak.sh [SEQUENTIAL] [CONCURRENT] [options]     (defaults 1000 and 8)
#   --bin PATH          the peregrine binary (default $PEREGRINE_BIN, else build/apps/peregrine/peregrine)
#   --rounds R          rounds of CONCURRENT simultaneous queries after the sequential ones (default 10)
#   --images K          distinct digits test images, used round-robin (default 4; query i gets image
#                       i mod K, so concurrent sessions hold different inputs at the same time)
#   --allocator A       strict (default): the server runs with glibc's mmap and trim thresholds
#                       fixed at 128 KiB (GLIBC_TUNABLES), so freed memory goes back to the kernel
#                       at once and RSS follows live memory; glibc: glibc's defaults, as deployed
#   --rss-slack-mb MB   allowed VmRSS growth from the warm start to the idle end (default 16 with
#                       strict, 64 with glibc; see below); not checked for sanitizer builds, whose
#                       allocator keeps a quarantine (LeakSanitizer checks the exit instead)
#   --steady-slack-mb MB  allowed VmRSS growth over the sequential sessions (default 8)
#   --sample-every N    sample the server every N sequential queries (default SEQUENTIAL/10, >= 1)
#   --json FILE         also write the summary line to FILE
#
# What it does. It computes, with `peregrine run` (both parties in one process), the reference
# top-1 and logits of each of the K images; starts `serve` on an ephemeral port with
# --max-sessions max(8, CONCURRENT) and --sessions exactly SEQUENTIAL + CONCURRENT*R + 1; runs
# SEQUENTIAL queries one after another, then R rounds of CONCURRENT queries started at once. Every
# query must exit 0 and its top-1 and logits must equal the `run` reference of its image exactly.
# The server's /proc/PID/status (VmRSS, VmHWM, Threads) and its open descriptors (/proc/PID/fd)
# are sampled after the first session (warm start, idle), every N sequential sessions, during and
# after each concurrent round, and at the end (all soak sessions done, server idle). One last
# "closing" query then makes the server reach its --sessions count and exit; its exit status must
# be 0 and its stderr must hold no sanitizer report and no failed session.
#
# It fails (exit 1) when a query fails or disagrees with the reference, a session fails, the server
# dies or exits non-zero, a sanitizer report appears (server or client), threads or descriptors at
# the end exceed those at the start, or VmRSS grows by more than the slacks (all samples idle):
#   end - start               > --rss-slack-mb     (16 MB strict, 64 MB glibc)
#   sequential end - start    > --steady-slack-mb  (8 MB)
#
# The slacks. The start sample is taken after one session, so the model, the plan, the prepared
# weights and one session's worth of allocator state are resident. Sessions run on their own
# threads; concurrent ones get separate glibc malloc arenas, and with glibc's defaults the mmap and
# trim thresholds rise after the first large free (up to 32 / 64 MB), so big session buffers come
# from the arenas and each arena keeps a free top chunk below the raised trim threshold. `serve`
# calls malloc_trim(0) whenever it becomes idle, which returns the free pages inside the arenas but
# not those top chunks. That residue depends on which session freed last in which arena: it varies
# from burst to burst and does not grow. Measured on the digits model (docs/BENCHMARKS.md, "Service
# soak"): idle RSS ~15 MB after one session and flat over 1000 sequential sessions in both modes;
# after a burst of 8 at once, 15-22 MB with strict and 47-61 MB with glibc's defaults (66-72 MB
# without the malloc_trim). Hence 16 MB (strict) and 64 MB (glibc) from start to end, and 8 MB
# over the sequential phase, which is steady from its first session: over 1000 sequential sessions
# that catches a leak of 8 KB per session, over the whole soak one of 16 KB (strict).
#
# Prints progress lines, then one JSON line: sessions, sequential, concurrent, rounds, allocator, seconds
# (wall time of the soak's queries), server_online_mean_s (the server's logged online time per
# session), rss_start_kb, rss_seq_end_kb, rss_round1_kb, rss_end_kb, rss_max_kb (largest sample, in flight
# included), hwm_end_kb (VmHWM: the true peak), rss_slack_kb, steady_slack_kb, rss_check,
# threads_start, threads_end, threads_max, fds_start, fds_end, server_exit, ok. Times are reported,
# never checked against a bar.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

seq_n=""
conc=""
rounds=10
images=4
slack_mb=""
steady_mb=8
allocator=strict
sample_every=""
json_out=""
bin=${PEREGRINE_BIN:-$repo/build/apps/peregrine/peregrine}

usage() { awk 'NR >= 4 && /^#$/ {exit} NR >= 4 {sub(/^# ?/, ""); print}' "$0" >&2; exit "${1:-2}"; }
need_int() { [[ $2 =~ ^[0-9]+$ ]] || { echo "soak.sh: $1 must be a non-negative integer, got '$2'" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=${2:?}; shift 2 ;;
    --rounds) need_int --rounds "${2:-}"; rounds=$2; shift 2 ;;
    --images) need_int --images "${2:-}"; images=$2; shift 2 ;;
    --allocator) allocator=${2:-}; shift 2 ;;
    --rss-slack-mb) need_int --rss-slack-mb "${2:-}"; slack_mb=$2; shift 2 ;;
    --steady-slack-mb) need_int --steady-slack-mb "${2:-}"; steady_mb=$2; shift 2 ;;
    --sample-every) need_int --sample-every "${2:-}"; sample_every=$2; shift 2 ;;
    --json) json_out=${2:?}; shift 2 ;;
    -h | --help) usage 0 ;;
    -*) echo "soak.sh: unknown option '$1'" >&2; usage ;;
    *)
      if [ -z "$seq_n" ]; then need_int SEQUENTIAL "$1"; seq_n=$1
      elif [ -z "$conc" ]; then need_int CONCURRENT "$1"; conc=$1
      else echo "soak.sh: unexpected argument '$1'" >&2; usage; fi
      shift ;;
  esac
done
seq_n=${seq_n:-1000}
conc=${conc:-8}
[ "$seq_n" -ge 1 ] || { echo "soak.sh: SEQUENTIAL must be at least 1 (the first session is the warm start)" >&2; exit 2; }
[ "$images" -ge 1 ] || { echo "soak.sh: --images must be at least 1" >&2; exit 2; }
[ "$conc" -le 256 ] || { echo "soak.sh: CONCURRENT must be at most 256 (serve --max-sessions)" >&2; exit 2; }
[ "$conc" -ge 1 ] || rounds=0
[ -n "$sample_every" ] && [ "$sample_every" -ge 1 ] || sample_every=$(( seq_n / 10 > 0 ? seq_n / 10 : 1 ))
case $allocator in
  strict) srv_env=(env GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072)
          slack_mb=${slack_mb:-16} ;;
  glibc) srv_env=(env); slack_mb=${slack_mb:-64} ;;
  *) echo "soak.sh: --allocator must be strict or glibc, got '$allocator'" >&2; exit 2 ;;
esac
[ -x "$bin" ] || { echo "soak.sh: '$bin' is not an executable (build first, or give --bin)" >&2; exit 1; }

model=$repo/models/digits_cnn.onnx
digits=$repo/models/digits-test-images-idx3-ubyte
max_sessions=$(( conc > 8 ? conc : 8 ))
soak_sessions=$(( seq_n + conc * rounds ))
total_sessions=$(( soak_sessions + 1 ))  # + the closing query
# A hung or orphaned server dies by itself (3 s per session, at least 2 hours).
server_limit=$(( total_sessions * 3 > 7200 ? total_sessions * 3 : 7200 ))
slack_kb=$(( slack_mb * 1024 ))
steady_kb=$(( steady_mb * 1024 ))
py=python3

dir=$(mktemp -d "${TMPDIR:-/tmp}/peregrine-soak.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
log() { echo "soak: $*"; }
fail() {
  echo "soak.sh: FAILED: $*" >&2
  if [ -s "$dir/server.err" ]; then
    echo "--- server stderr (last 40 lines)" >&2
    tail -n 40 "$dir/server.err" >&2
  fi
  exit 1
}
now_ms() { date +%s%3N; }
sanitizer_re='Sanitizer|runtime error:|LeakSanitizer|AddressSanitizer|UndefinedBehaviorSanitizer'

# ---- references: `run` on each image ------------------------------------------------------------
mkdir -p "$dir/ref" "$dir/q"
for ((k = 0; k < images; k++)); do
  rc=0
  timeout 300 "$bin" run "$model" --input "$digits" --index "$k" --json "$dir/ref/$k.json" \
    >"$dir/ref/$k.out" 2>"$dir/ref/$k.err" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$dir/ref/$k.out" "$dir/ref/$k.err" >&2; fail "run on image $k exited with $rc"; }
  ! grep -Eq "$sanitizer_re" "$dir/ref/$k.err" || { cat "$dir/ref/$k.err" >&2; fail "sanitizer report from run"; }
done
log "references: $images image(s) from 'peregrine run' (private = fixed-point reference)"

# Checks every query JSON in $dir/q against its image's reference, then deletes the batch.
check_batch() {
  local files=("$dir"/q/*.json)
  [ -e "${files[0]}" ] || return 0
  if grep -Elq "$sanitizer_re" "$dir"/q/*.err 2>/dev/null; then
    cat $(grep -El "$sanitizer_re" "$dir"/q/*.err) >&2
    fail "sanitizer report from a query"
  fi
  $py - "$dir/ref" "${files[@]}" <<'EOF' || fail "a query disagrees with the reference"
import json, os, sys
refdir, files = sys.argv[1], sys.argv[2:]
refs = {}
for f in files:
    name = os.path.basename(f)                 # q<N>_i<K>.json
    k = int(name.rsplit("_i", 1)[1].split(".")[0])
    if k not in refs:
        r = json.load(open(os.path.join(refdir, "%d.json" % k)))
        assert r["matches_fixed"] is True, "run reference %d does not match the fixed-point reference" % k
        refs[k] = r
    q, r = json.load(open(f)), refs[k]
    assert q["top1"] == r["top1"], "%s: top1 %r != run top1 %r" % (name, q["top1"], r["top1"])
    assert q["logits"] == r["logits"], "%s: logits %r != run logits %r" % (name, q["logits"], r["logits"])
EOF
  rm -f "$dir"/q/*
}

# query N: one client for image N mod K (foreground); the exit status is checked.
query() {
  local n=$1 k=$(( $1 % images )) rc=0
  local base=$dir/q/q${n}_i${k}
  timeout 180 "$bin" query --connect "127.0.0.1:$port" --input "$digits" --index "$k" --json "$base.json" \
    >"$base.out" 2>"$base.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$base.out" "$base.err" >&2
    kill -0 "$server_pid" 2>/dev/null || fail "query $n exited with $rc: the server died"
    fail "query $n exited with $rc"
  fi
}

# ---- the server ---------------------------------------------------------------------------------
"${srv_env[@]}" timeout "$server_limit" "$bin" serve "$model" --listen 127.0.0.1:0 --port-file "$dir/port" --sessions "$total_sessions" \
  --max-sessions "$max_sessions" --timeout 120 >"$dir/server.out" 2>"$dir/server.err" &
server_pid=$!
# `timeout` forks: the server is its child. /proc is read from the real server process.
port=""
for _ in $(seq 600); do
  if [ -f "$dir/port" ] && grep -Eq '^[0-9]+$' "$dir/port"; then port=$(head -n 1 "$dir/port"); break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || fail "the server did not write its port file"
# (procps' pgrep is not assumed: the children file, else a scan of /proc/*/stat.)
srv=""
for _ in $(seq 50); do
  srv=$(awk '{print $1}' "/proc/$server_pid/task/$server_pid/children" 2>/dev/null || true)
  if [ -z "$srv" ]; then
    for st in /proc/[0-9]*/stat; do
      if [ "$(awk '{print $4}' "$st" 2>/dev/null)" = "$server_pid" ]; then srv=${st#/proc/}; srv=${srv%/stat}; break; fi
    done
  fi
  [ -z "$srv" ] || break
  sleep 0.1
done
[ -n "$srv" ] && [ -r "/proc/$srv/status" ] || fail "cannot find the server process (child of timeout $server_pid)"
# Sanitizer builds: the RSS bounds do not apply (ASan keeps freed memory in a quarantine).
sanitized=0
if grep -qE 'lib(asan|ubsan)' "/proc/$srv/maps" 2>/dev/null || grep -aqE '__asan_init|__ubsan_handle' "$bin"; then
  sanitized=1
  allocator="sanitizer"  # GLIBC_TUNABLES do not apply: ASan has its own allocator
fi
log "server pid $srv on port $port: --sessions $total_sessions --max-sessions $max_sessions, allocator $allocator ($bin)"

rss_max=0
threads_max=0
# sample LABEL: prints and records VmRSS, VmHWM, Threads and the descriptor count.
sample() {
  local st
  st=$(cat "/proc/$srv/status" 2>/dev/null) || fail "the server died (at sample '$1')"
  s_rss=$(awk '/^VmRSS:/ {print $2}' <<<"$st")
  s_hwm=$(awk '/^VmHWM:/ {print $2}' <<<"$st")
  s_thr=$(awk '/^Threads:/ {print $2}' <<<"$st")
  s_fds=$(ls "/proc/$srv/fd" 2>/dev/null | wc -l)
  [ "$s_rss" -gt "$rss_max" ] && rss_max=$s_rss
  [ "$s_thr" -gt "$threads_max" ] && threads_max=$s_thr
  log "$(printf '%-26s rss %7d kB  hwm %7d kB  threads %3d  fds %3d' "$1" "$s_rss" "$s_hwm" "$s_thr" "$s_fds")"
}
# wait_idle DONE: waits (60 s at most) until the server has logged DONE finished sessions and is
# back to one thread; fails on a failed session.
wait_idle() {
  local want=$1 done_n thr
  for _ in $(seq 600); do
    ! grep -Eq 'session [0-9]+ failed' "$dir/server.err" || fail "a session failed on the server"
    done_n=$(grep -Ec 'session [0-9]+ done' "$dir/server.err" || true)
    thr=$(awk '/^Threads:/ {print $2}' "/proc/$srv/status" 2>/dev/null) || fail "the server died"
    if [ "$done_n" -ge "$want" ] && [ "$thr" -le 1 ]; then return 0; fi
    sleep 0.1
  done
  log "warning: after 60 s the server logged $done_n/$want sessions done and has $thr threads"
}

t0=$(now_ms)
# ---- sequential ---------------------------------------------------------------------------------
n=0
query "$n"; n=$((n + 1))
wait_idle 1
sample "start (1 session, idle)"
rss_start=$s_rss threads_start=$s_thr fds_start=$s_fds
for ((i = 1; i < seq_n; i++)); do
  query "$n"; n=$((n + 1))
  if (( (i + 1) % sample_every == 0 )); then
    check_batch
    wait_idle "$n"
    sample "sequential $((i + 1))/$seq_n"
  fi
done
check_batch
wait_idle "$n"
sample "sequential done ($seq_n)"
rss_seq_end=$s_rss
rss_round1=""

# ---- concurrent rounds --------------------------------------------------------------------------
for ((r = 1; r <= rounds; r++)); do
  pids=()
  for ((j = 0; j < conc; j++)); do
    query "$((n + j))" &
    pids+=($!)
  done
  sleep 0.2
  sample "round $r/$rounds in flight"
  rc_any=0
  for p in "${pids[@]}"; do wait "$p" || rc_any=1; done
  [ "$rc_any" -eq 0 ] || fail "a query of concurrent round $r failed"
  n=$((n + conc))
  check_batch
  wait_idle "$n"
  sample "round $r/$rounds done (x$conc)"
  [ "$r" -ne 1 ] || rss_round1=$s_rss
done
[ "$n" -eq "$soak_sessions" ] || fail "internal: ran $n sessions, expected $soak_sessions"
seconds=$(( $(now_ms) - t0 ))

# ---- end: idle sample, then the closing session -------------------------------------------------
wait_idle "$n"
sample "end ($n sessions, idle)"
rss_end=$s_rss hwm_end=$s_hwm threads_end=$s_thr fds_end=$s_fds
query "$n"; n=$((n + 1))
check_batch
server_rc=0
exited=0
for _ in $(seq 1200); do
  if ! kill -0 "$server_pid" 2>/dev/null; then exited=1; break; fi
  sleep 0.1
done
[ "$exited" = 1 ] || fail "the server did not exit within 120 s of its last (--sessions $total_sessions) session"
wait "$server_pid" || server_rc=$?
server_pid=""
log "server exited with status $server_rc"

failures=()
[ "$server_rc" -eq 0 ] || failures+=("the server exited with $server_rc")
if grep -Eq "$sanitizer_re" "$dir/server.err"; then
  grep -E -A30 "$sanitizer_re" "$dir/server.err" | head -n 60 >&2
  failures+=("sanitizer report in the server's stderr")
fi
grep -Eq 'session [0-9]+ failed' "$dir/server.err" && failures+=("a session failed on the server")
done_n=$(grep -Ec 'session [0-9]+ done' "$dir/server.err" || true)
online_mean=$(awk '/session [0-9]+ done: online/ {s += $6; n++} END {printf "%.4f", n ? s / n : 0}' "$dir/server.err")
[ "$done_n" -eq "$total_sessions" ] || failures+=("the server logged $done_n sessions done, expected $total_sessions")
[ "$threads_end" -le "$threads_start" ] || failures+=("threads grew: $threads_start -> $threads_end")
[ "$fds_end" -le "$fds_start" ] || failures+=("descriptors grew: $fds_start -> $fds_end")
rss_check=enforced
if [ "$sanitized" = 1 ]; then
  rss_check="skipped (sanitizer build)"
else
  [ $(( rss_end - rss_start )) -le "$slack_kb" ] ||
    failures+=("VmRSS grew by $(( rss_end - rss_start )) kB from start to end (> $slack_kb kB): $rss_start -> $rss_end kB")
  [ $(( rss_seq_end - rss_start )) -le "$steady_kb" ] ||
    failures+=("VmRSS grew by $(( rss_seq_end - rss_start )) kB over the sequential sessions (> $steady_kb kB)")
fi

ok=true
[ ${#failures[@]} -eq 0 ] || ok=false
summary=$(printf '{"sessions": %d, "sequential": %d, "concurrent": %d, "rounds": %d, "allocator": "%s", "seconds": %.1f, "server_online_mean_s": %s, "rss_start_kb": %d, "rss_seq_end_kb": %d, "rss_round1_kb": %s, "rss_end_kb": %d, "rss_max_kb": %d, "hwm_end_kb": %d, "rss_slack_kb": %d, "steady_slack_kb": %d, "rss_check": "%s", "threads_start": %d, "threads_end": %d, "threads_max": %d, "fds_start": %d, "fds_end": %d, "server_exit": %d, "ok": %s}' \
  "$n" "$seq_n" "$conc" "$rounds" "$allocator" "$(awk -v ms="$seconds" 'BEGIN {print ms / 1000}')" "$online_mean" "$rss_start" "$rss_seq_end" \
  "${rss_round1:-null}" "$rss_end" "$rss_max" "$hwm_end" "$slack_kb" "$steady_kb" "$rss_check" "$threads_start" "$threads_end" "$threads_max" \
  "$fds_start" "$fds_end" "$server_rc" "$ok")
echo "$summary"
[ -z "$json_out" ] || echo "$summary" >"$json_out"
if [ "$ok" != true ]; then
  for f in "${failures[@]}"; do echo "soak.sh: FAILED: $f" >&2; done
  exit 1
fi
echo "soak.sh: ok"
