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
# history pages of 50 messages (GET /api/message/list) one at a time over one connection;
# on another fresh server, N appends; on a third, fan-out: `dchat-bench fanout` with one
# room of 100 members and one sender at 10 messages/s for 15 s, counted from the first
# deliveries on (the bench client is the `dchat-bench` next to the first binary given);
# then the same fan-out with the server running natively and the `dchat-bench` next to
# the binary under callgrind instead, counted over the whole run. Prints instructions per
# request and per delivery. Needs valgrind, python3 and curl.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
N="${N:-300}"
if [ $# -eq 0 ]; then
    (cd "$HERE/../.." && cargo build --release --locked -p dchat -p dchat-bench)
    set -- "$HERE/../../target/release/dchat"
fi
CLIENT="${CLIENT:-$(dirname "$1")/dchat-bench}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dchat-callgrind.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

measure() { # binary kind -> instructions per request (or per delivery)
    local binary=$1 kind=$2 port=$((20000 + RANDOM % 10000)) dir
    dir="$(mktemp -d "$WORK/run.XXXXXX")"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.%p" "$binary" --log warn serve \
        --http-bind "127.0.0.1:$port" --grpc-bind 127.0.0.1:0 --data-dir "$dir/data" --rate-limit off \
        >"$dir/valgrind.log" 2>&1 &
    local pid=$!
    for _ in $(seq 240); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.5; done
    local count=$N
    if [ "$kind" = fanout ]; then
        "$CLIENT" --log warn fanout --url "http://127.0.0.1:$port" --rooms 1 --members 100 \
            --users-per-room 2 --senders 1 --rate 10 --duration-secs 15 --warmup-secs 0 >"$dir/bench.out" 2>&1 &
        local bench=$!
        # Zeroed once deliveries flow: setting up users and sockets is not fan-out.
        for _ in $(seq 1200); do
            grep -qE ' [1-9][0-9]* deliveries in all' "$dir/bench.out" && break
            sleep 0.1
        done
        callgrind_control -z "$pid" >/dev/null 2>&1
        local before
        before="$(grep -E 'deliveries in all' "$dir/bench.out" | tail -1 | sed -E 's/.* ([0-9]+) deliveries in all.*/\1/')"
        wait "$bench"
        callgrind_control -d "$pid" >/dev/null 2>&1
        local all
        all="$(grep -E '^fanout ' "$dir/bench.out" | head -1 | sed -E 's/.*ops +([0-9]+).*/\1/')"
        count=$((all - before))
    else
        python3 "$HERE/drive.py" "$port" "$pid" "$kind" "$N"
    fi
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    local total
    total="$(grep '^summary:' "$dir"/callgrind.*.1 | awk '{print $2}')"
    echo $((total / count))
}

measure_client() { # binary -> the load generator's instructions per delivery
    local binary=$1 port=$((20000 + RANDOM % 10000)) dir
    dir="$(mktemp -d "$WORK/client.XXXXXX")"
    "$binary" --log warn serve --http-bind "127.0.0.1:$port" --grpc-bind 127.0.0.1:0 --data-dir "$dir/data" \
        --rate-limit off >"$dir/server.log" 2>&1 &
    local pid=$!
    for _ in $(seq 240); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.5; done
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$(dirname "$binary")/dchat-bench" --log warn fanout \
        --url "http://127.0.0.1:$port" --rooms 1 --members 100 --users-per-room 2 --senders 1 --rate 10 \
        --duration-secs 15 --warmup-secs 0 >"$dir/bench.out" 2>"$dir/valgrind.log"
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    local total count
    total="$(grep '^summary:' "$dir/callgrind.out" | awk '{print $2}')"
    count="$(grep -E '^fanout ' "$dir/bench.out" | head -1 | sed -E 's/.*ops +([0-9]+).*/\1/')"
    echo $((total / count))
}

printf '%-50s %16s %16s %18s %18s\n' "binary" "list Ir/request" "append Ir/request" "fan-out Ir/delivery" \
    "client Ir/delivery"
for binary in "$@"; do
    printf '%-50s %16s %16s %18s %18s\n' "$binary" "$(measure "$binary" list)" "$(measure "$binary" append)" \
        "$(measure "$binary" fanout)" "$(measure_client "$binary")"
done
