#!/usr/bin/env bash
# Runs the installed-binary path a third party uses: builds bin/gotrickle,
# starts `gotrickle server` and `gotrickle serve` as separate processes, and
# points `gotrickle conformance server|processor --url` at them. Reports go
# to $REPORTS/server-external and $REPORTS/processor-external.
set -euo pipefail
cd "$(dirname "$0")/.."
reports=${REPORTS:-reports}
mkdir -p bin "$reports"
go build -o bin/gotrickle ./cmd/gotrickle

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME ARGS...: runs bin/gotrickle ARGS in the background and waits
# for its "listening URL" line; sets $url and $pid.
start() {
  local name=$1; shift
  bin/gotrickle "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening //p' "$work/$name.out" | head -1)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "gotrickle $* did not start:"; cat "$work/$name.err"
  return 1
}

status=0
echo "== gotrickle conformance server --url (a separate gotrickle server)"
start server server --addr 127.0.0.1:0 --idle-timeout 3s --keepalive 1s
bin/gotrickle conformance server --url "$url" --idle-timeout 3s --idle-slack 2s --keepalive 1s \
  --report-dir "$reports/server-external" || status=1

echo "== gotrickle conformance processor --url (a separate gotrickle serve)"
start processor serve --addr 127.0.0.1:0 --log-level warn
bin/gotrickle conformance processor --url "$url" --features passthrough,effects --processor-pid "$pid" \
  --report-dir "$reports/processor-external" || status=1
exit $status
