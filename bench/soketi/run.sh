#!/usr/bin/env bash
# dchat next to Soketi, with the Soketi kit from ../shared/peers/soketi: the same load
# client, workload, pinning (server on CPU 0, client on CPU 1) and points for both, in one
# invocation; dchat runs with storage (SQLite, synchronous=FULL) and auth (a real token,
# membership checked) on. Prints the kit's side-by-side table at the end.
#
#   bench/soketi/run.sh [bench.py options]      e.g. --points "1000:50,100" --reps 3
#
# The kit is copied to $SCRATCH (it is read-only where it is kept), with this folder's
# dchat.rs as its dchat protocol layer; nothing of the kit is committed here.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KIT="${KIT:-$REPO/../shared/peers/soketi}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/peers}"
WORK="$SCRATCH/soketi-kit"
OUT="${OUT:-$REPO/bench/soketi/results/$(date +%Y%m%d-%H%M)}"
PORT=7001
GRPC=127.0.0.1:7051

echo "== kit copy in $WORK, with dchat's protocol layer"
rm -rf "$WORK" && mkdir -p "$SCRATCH" && cp -r "$KIT" "$WORK" && chmod -R u+w "$WORK"
cp "$REPO/bench/soketi/dchat.rs" "$WORK/loadgen/src/proto/dchat.rs"
# Its own target folder: the kit's lock file pins its own dependency versions.
PEER_DIR="$SCRATCH/soketi" CARGO_TARGET_DIR="$SCRATCH/target-dchat" "$WORK/install.sh" >/dev/null
LOADGEN="$SCRATCH/target-dchat/release/fanout"
SOKETI_DIR="$SCRATCH/soketi/node_modules"

echo "== dchat release build"
(cd "$REPO" && cargo build --release --locked -p dchat)
DCHAT="$REPO/target/release/dchat"

echo "== dchat data: one user, room bench-room"
DATA="$SCRATCH/dchat-data"
rm -rf "$DATA"
export TOKEN_TTL_SECS=604800 DCHAT_RATE_LIMIT=off DCHAT_LOG=warn
"$DCHAT" serve --data-dir "$DATA" --http-bind "127.0.0.1:$PORT" --grpc-bind "$GRPC" >/dev/null &
SETUP_PID=$!
trap 'kill $SETUP_PID 2>/dev/null || true' EXIT
TOKEN="$(python3 - "$PORT" <<'PY'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
def post(path, body, token=None):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"content-type": "application/json"})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    return json.load(urllib.request.urlopen(request))
for _ in range(300):
    try:
        token = post("/api/register", {"username": "bench", "password": "bench password"})["token"]
        break
    except OSError:
        time.sleep(0.05)
post("/api/room/create", {"room_id": "bench-room", "name": "bench room"}, token)
print(token)
PY
)"
kill $SETUP_PID && wait $SETUP_PID 2>/dev/null || true

mkdir -p "$OUT"
echo "== soketi -> $OUT/soketi"
python3 "$WORK/bench.py" --soketi-dir "$SOKETI_DIR" --loadgen "$LOADGEN" --out "$OUT/soketi" "$@"
echo "== dchat -> $OUT/dchat"
python3 "$WORK/bench.py" --server-name dchat --loadgen "$LOADGEN" --port "$PORT" --proto dchat \
  --server-cmd "$DCHAT serve --data-dir $DATA --http-bind 127.0.0.1:$PORT --grpc-bind $GRPC" \
  --loadgen-args "--ws-path /api/ws?access_token=$TOKEN --pub-conns 16" --out "$OUT/dchat" "$@"
python3 "$WORK/compare.py" "$OUT/soketi" "$OUT/dchat" | tee "$OUT/compare.md"
