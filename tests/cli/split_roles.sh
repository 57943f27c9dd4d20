#!/usr/bin/env bash
# Runs `peregrine bench OP` as two separately started processes over loopback TCP:
# `--role server --port 0 --port-file F` first, then `--role client --connect 127.0.0.1:$(cat F)`.
# Passes when both exit 0 and both print a JSON line with "verified": true.
# Usage: split_roles.sh PEREGRINE_BINARY OP [extra bench options...]
set -u
bin=$1; op=$2; shift 2
dir=$(mktemp -d "${TMPDIR:-/tmp}/peregrine-cli.XXXXXX") || exit 1
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid" 2>/dev/null; fi
  rm -rf "$dir"
}
trap cleanup EXIT

"$bin" bench "$op" --role server --bind 127.0.0.1 --port 0 --port-file "$dir/port" \
  --timeout 60 --verify "$@" >"$dir/server.out" 2>"$dir/server.err" &
server_pid=$!

# Wait (up to 30 s) for the server to publish its port.
for _ in $(seq 300); do
  [ -s "$dir/port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$dir/port" ]; then
  echo "split_roles: the server did not write its port file"; cat "$dir/server.err"; exit 1
fi
port=$(cat "$dir/port")

"$bin" bench "$op" --role client --connect "127.0.0.1:$port" --timeout 60 --verify "$@" \
  >"$dir/client.out" 2>"$dir/client.err"
client_rc=$?
wait "$server_pid"
server_rc=$?
server_pid=

echo "server (rc $server_rc): $(cat "$dir/server.out")"; cat "$dir/server.err"
echo "client (rc $client_rc): $(cat "$dir/client.out")"; cat "$dir/client.err"
ok=1
[ "$server_rc" = 0 ] && [ "$client_rc" = 0 ] || ok=0
grep -Eq '"verified": ?true' "$dir/server.out" || ok=0
grep -Eq '"verified": ?true' "$dir/client.out" || ok=0
if [ $ok = 1 ]; then echo "split_roles: ok"; exit 0; fi
echo "split_roles: FAILED"; exit 1
