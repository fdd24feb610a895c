#!/usr/bin/env bash
# Runs the seed's two Locust workloads unchanged in shape (load/locustfile.py: variant 1's
# JSON API; load/locustfile_forms.py: variant 2's forms, twice against the same data)
# against a fresh `dchat serve` and a fresh split topology (one process per role, the ui
# in front), and fails if any request failed. CI runs it; so can you:
#
#   cargo build && load/smoke.sh                 # or DCHAT_BIN=target/release/dchat
#
# USERS, SPAWN_RATE and RUN_TIME set the load (default 50 users, 5/s, 20 s per run).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${DCHAT_BIN:-target/debug/dchat}
users=${USERS:-50}
spawn_rate=${SPAWN_RATE:-5}
run_time=${RUN_TIME:-20s}
work=$(mktemp -d)
pids=()

stop_all() {
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# The workloads' passwords are "secret" and "pass", and they register dozens of users a
# second from one address.
export DCHAT_PASSWORD_MIN_CHARS=4 DCHAT_RATE_LIMIT=off DCHAT_LOG=warn

# start NAME ARGS...: runs the binary and sets $addr to the address it reports once its
# listener is bound ("dchat http on http://..." for HTTP roles, "dchat listening on ..."
# for gRPC ones). The line is printed after binding, so nothing is raced.
start() {
  local name=$1 pattern
  shift
  "$bin" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  pids+=("$pid")
  case "$1" in
    serve | gateway | ui) pattern='^dchat http on ' ;;
    *) pattern='^dchat listening on ' ;;
  esac
  for _ in $(seq 600); do
    addr=$(grep -m1 "$pattern" "$work/$name.out" | awk '{print $NF}') || true
    [ -n "$addr" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited before listening:" >&2
      cat "$work/$name.err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$name did not report its address in 60 s" >&2
  return 1
}

# workload NAME FILE URL: one headless Locust run; Locust exits non-zero on any failure.
workload() {
  echo "== $1: $users users at $spawn_rate/s for $run_time against $3"
  local status=0
  python3 -m locust -f "$2" --host "$3" --headless -u "$users" -r "$spawn_rate" -t "$run_time" \
    --only-summary --exit-code-on-error 1 --loglevel WARNING >"$work/locust.log" 2>&1 || status=$?
  sed '/Response time percentiles/,$d' "$work/locust.log" | grep -v '^\s*$'
  return "$status"
}

both_variants() {
  local url=$1 topology=$2
  workload "variant 1 ($topology)" load/locustfile.py "$url"
  workload "variant 2 ($topology)" load/locustfile_forms.py "$url"
  workload "variant 2 again, same data ($topology)" load/locustfile_forms.py "$url"
}

echo "== dchat serve"
DCHAT_DATA_DIR="$work/serve" start serve serve --grpc-bind 127.0.0.1:0 --http-bind 127.0.0.1:0
both_variants "$addr" serve
stop_all

echo "== split topology"
export DCHAT_DATA_DIR="$work/split"
start room room --bind 127.0.0.1:0
export ROOM_ADDR=$addr
start auth auth --bind 127.0.0.1:0
export AUTH_ADDR=$addr
start message message --bind 127.0.0.1:0
export MESSAGE_ADDR=$addr
start presence presence --bind 127.0.0.1:0
export PRESENCE_ADDR=$addr
start gateway gateway --bind 127.0.0.1:0
export GATEWAY_ADDR=$addr
start ui ui --bind 127.0.0.1:0
both_variants "$addr" split
stop_all
echo "== the seed's workloads ran with no failed request"
