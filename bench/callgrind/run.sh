#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a measure of the server's own work that
# does not move with the machine's noise (the same binary and inputs give the same count
# within about 1 %, whatever else runs; timers and batching still differ a little). It
# leaves out the kernel (system calls, TCP, fsync), so it complements wall-clock figures
# and does not replace them.
#
#   bench/callgrind/run.sh [BINARY ...]     default: a release build of this checkout
#
# For each binary: a fresh all-in-one server under callgrind, then N (default 300)
# history pages of 50 messages (GET /api/message/list) one at a time over one connection,
# and, on another fresh server, N appends; prints instructions per request. Needs
# valgrind, python3 and curl.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
N="${N:-300}"
if [ $# -eq 0 ]; then
    (cd "$HERE/../.." && cargo build --release --locked -p dchat)
    set -- "$HERE/../../target/release/dchat"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dchat-callgrind.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

measure() { # binary kind -> instructions per request
    local binary=$1 kind=$2 port=$((20000 + RANDOM % 10000)) dir
    dir="$(mktemp -d "$WORK/run.XXXXXX")"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.%p" "$binary" --log warn serve \
        --http-bind "127.0.0.1:$port" --grpc-bind 127.0.0.1:0 --data-dir "$dir/data" --rate-limit off \
        >"$dir/valgrind.log" 2>&1 &
    local pid=$!
    for _ in $(seq 240); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.5; done
    python3 "$HERE/drive.py" "$port" "$pid" "$kind" "$N"
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    local total
    total="$(grep '^summary:' "$dir"/callgrind.*.1 | awk '{print $2}')"
    echo $((total / N))
}

printf '%-50s %16s %16s\n' "binary" "list Ir/request" "append Ir/request"
for binary in "$@"; do
    printf '%-50s %16s %16s\n' "$binary" "$(measure "$binary" list)" "$(measure "$binary" append)"
done
