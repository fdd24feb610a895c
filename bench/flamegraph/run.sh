#!/usr/bin/env bash
# A flame graph of the server under fan-out load: where its CPU goes, kernel included,
# sampled by perf and drawn by inferno (`cargo install inferno`).
#
#   bench/flamegraph/run.sh [OUT.svg]
#
# Environment: ROOMS and MEMBERS (default 100 x 100, one sender per room), RATE in messages
# per second over all senders (default 1000, so 100,000 deliveries/s), SECS of load (20),
# FREQ samples per second per CPU (199), BINARY (default: a release build of this checkout).
#
# Starts `dchat serve` on a fresh data folder, drives it with `dchat-bench fanout --url` (the one next to BINARY),
# and once deliveries flow records the server's stacks for half the run, user space
# unwound from the release build's debug information (`--call-graph dwarf`). Writes the SVG
# (default docs/bench/flamegraph-fanout.svg) and prints the load generator's result line.
# Needs perf, curl and inferno-collapse-perf / inferno-flamegraph on the PATH, and root (or
# kernel.perf_event_paranoid at 1 or below) for the kernel's frames. FOLDED=path also keeps
# the folded stacks there.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$HERE/../.."
OUT="${1:-$REPO/docs/bench/flamegraph-fanout.svg}"
ROOMS="${ROOMS:-100}" MEMBERS="${MEMBERS:-100}" RATE="${RATE:-1000}" SECS="${SECS:-20}" FREQ="${FREQ:-199}"
for tool in perf curl inferno-collapse-perf inferno-flamegraph; do
    command -v "$tool" >/dev/null || { echo "needs $tool on the PATH" >&2; exit 1; }
done
if [ -z "${BINARY:-}" ]; then
    (cd "$REPO" && cargo build --release --locked -p dchat -p dchat-bench)
    BINARY="$REPO/target/release/dchat"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dchat-flamegraph.XXXXXX")"
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT
# 100 x 100 members and their server hold more sockets than the default limit allows.
ulimit -n 20000
PORT=$((20000 + RANDOM % 10000))
"$BINARY" --log warn serve --http-bind "127.0.0.1:$PORT" --grpc-bind 127.0.0.1:0 --data-dir "$WORK/data" \
    --rate-limit off >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 240); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.25; done
"$(dirname "$BINARY")/dchat-bench" --log warn fanout --url "http://127.0.0.1:$PORT" --server-pid "$SERVER" --rooms "$ROOMS" \
    --members "$MEMBERS" --senders "$ROOMS" --rate "$RATE" --duration-secs "$SECS" --warmup-secs 2 \
    >"$WORK/bench.out" 2>&1 &
BENCH=$!
# Setting up users and sockets is not fan-out: sample once deliveries flow.
for _ in $(seq 1200); do
    grep -qE ' [1-9][0-9]* deliveries in all' "$WORK/bench.out" && break
    sleep 0.1
done
perf record -q -F "$FREQ" --call-graph dwarf,16384 -p "$SERVER" -o "$WORK/perf.data" -- sleep $((SECS / 2))
wait "$BENCH"
grep -E '^fanout ' "$WORK/bench.out" | head -1
perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf --kernel >"$WORK/folded"
# Frames narrower than a pixel are left out: they are not readable, and they would make the
# file several megabytes.
inferno-flamegraph --title "dchat serve, fan-out $ROOMS rooms x $MEMBERS members at $RATE messages/s" \
    --width 1600 --minwidth 1 <"$WORK/folded" >"$OUT"
echo "wrote $OUT"
# The server's samples by thread, and how many of each thread's were in the kernel.
awk '{ count = $NF; stack = $0; sub(/ [0-9]+$/, "", stack); thread = stack; sub(/;.*/, "", thread)
       all += count; by[thread] += count; if (stack ~ /_\[k\]/) kernel[thread] += count }
     END { for (t in by) printf "%-20s %5.1f %% of samples, %5.1f %% of them in the kernel\n",
           t, 100 * by[t] / all, 100 * kernel[t] / by[t] }' "$WORK/folded" | sort -k2 -nr
if [ -n "${FOLDED:-}" ]; then cp "$WORK/folded" "$FOLDED"; fi
