#!/usr/bin/env bash
# Adaptive batching on the digits MLP (examples/digits, the MLP service alone: `digits serve
# --service MLP`), with and without `--batch`, against the offline limit.
#
#   make all && bench/batch/run.sh
#
# 1. The offline limit: build/bench/batch-offline, the model's own rows/s at each batch size in a
#    plain C loop, pinned to CPU $SERVER_CPU (the server's core); the best size is the limit.
# 2. For each mode (off: no batching; on: --batch $MAX_SIZE --max-latency-ms $LATENCY) and each
#    concurrency of $CONNS: the server pinned to CPU $SERVER_CPU (--threads 1: one model thread
#    beside the loop, on the same core), wrk -t1 pinned to CPU $CLIENT_CPU, ${DURATION}s
#    --latency, POST /predict_proba with one 64-pixel row. Requests/s, p50, p99, and the mean
#    batch size and queue wait from /healthz.
# Environment: DURATION (5), CONNS ("1 8 32 128"), MAX_SIZE (32), LATENCY (5), SERVER_CPU (0),
# CLIENT_CPU (1), DIGITS (build/examples/digits).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 8 32 128"}
MAX_SIZE=${MAX_SIZE:-32}
LATENCY=${LATENCY:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DIGITS=${DIGITS:-"$ROOT/build/examples/digits"}
OFFLINE="$ROOT/build/bench/batch-offline"
MODELS="$ROOT/build/digits/models"
for tool in wrk taskset python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/batch: $tool is required (scripts/install-deps.sh bench)" >&2; exit 1; }
done
for f in "$DIGITS" "$OFFLINE" "$MODELS/mlp.bin"; do
    [ -e "$f" ] || { echo "bench/batch: $f is missing: run 'make all' first" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-bench-batch.XXXXXX")
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
python3 - "$WORK/one.lua" <<'PY'
import json, sys
row = [round((i % 17) / 16, 4) for i in range(64)]
open(sys.argv[1], "w").write('wrk.method = "POST"\nwrk.path = "/predict_proba"\n'
    'wrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]\n'
    % json.dumps({"x": [row]}, separators=(",", ":")))
PY

echo "# bench/batch — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (machine shared)"
taskset -c "$SERVER_CPU" "$OFFLINE" "$MODELS/mlp.bin" 0.3 > "$WORK/offline.txt"
LIMIT=$(awk '/^best/ {print $3}' "$WORK/offline.txt")
BEST=$(awk '/^best/ {print $2}' "$WORK/offline.txt")
echo "offline limit: $LIMIT rows/s at batch $BEST (one thread, CPU $SERVER_CPU); rows/s by size:"
awk '!/^best|^size/ {printf "  %s: %s", $1, $2} END {print ""}' "$WORK/offline.txt"
echo
echo "| mode | conns | req/s | p50 ms | p99 ms | mean batch | mean wait ms | of limit |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for mode in off on; do
    args=(--threads 1)
    [ "$mode" = on ] && args+=(--batch "$MAX_SIZE" --max-latency-ms "$LATENCY")
    for c in $CONNS; do
        DIGITS_MODELS="$MODELS" taskset -c "$SERVER_CPU" "$DIGITS" serve --service MLP --port 0 \
            --max-concurrency 1024 "${args[@]}" > "$WORK/server.out" 2> "$WORK/server.err" &
        PID=$!
        for _ in $(seq 100); do grep -q listening "$WORK/server.out" && break; sleep 0.05; done
        PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/server.out" | head -1)
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d1s -s "$WORK/one.lua" "http://127.0.0.1:$PORT" >/dev/null  # warm-up
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$WORK/one.lua" \
            "http://127.0.0.1:$PORT" > "$WORK/wrk.txt"
        curl -sf "http://127.0.0.1:$PORT/healthz" > "$WORK/health.json"
        kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
        python3 - "$WORK/wrk.txt" "$WORK/health.json" "$mode" "$c" "$LIMIT" <<'PY'
import json, re, sys
wrk = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)" % label, wrk, re.M)
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
if re.search(r"Non-2xx|Socket errors", wrk):
    sys.exit("bench/batch: errors in the run:\n" + wrk)
b = json.load(open(sys.argv[2])).get("batch", {}).get("predict_proba")
size = "%.1f" % b["mean_size"] if b else "-"
wait = "%.3f" % b["wait_ms"]["mean"] if b else "-"
print("| %s | %s | %.0f | %.3f | %.3f | %s | %s | %.1f%% |" % (sys.argv[3], sys.argv[4], rps,
      ms("50%"), ms("99%"), size, wait, 100 * rps / float(sys.argv[5])))
PY
    done
done
