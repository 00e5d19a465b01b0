#!/usr/bin/env bash
# The ONNX backend, measured two ways on int8 MiniLM (build/deps/models/minilm-int8.onnx):
#
#  1. overhead: build/bench/onnx, the backend (tfn_onnx_run on tiffin tensors) against ONNX
#     Runtime called directly in a C loop, same model, input and threads, in one process;
#  2. served: `tiffin serve` under wrk at 1 and 16 connections, one request = one sentence of 16
#     tokens as JSON; p50 against the direct in-process latency (the floor) of step 1.
#
#   bench/onnx/run.sh          (after `make all`; wrk from scripts/install-deps.sh bench)
#
# Environment: BUILD (build), DURATION (seconds per wrk run, 10), CONFIGS (the serve options of
# each served configuration, separated by ';').
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-10}
CONFIGS=${CONFIGS:-"--workers 1;--workers 2 --cpu 1"}
MODEL=build/deps/models/minilm-int8.onnx
for f in "$BUILD/bench/onnx" "$BUILD/tiffin" "$MODEL"; do
    [ -e "$f" ] || { echo "run.sh: $f missing (make all)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "run.sh: wrk missing (scripts/install-deps.sh bench)" >&2; exit 1; }

echo "# bench/onnx: $(date -u +%FT%RZ), $(nproc) CPUs ($(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg); machine shared with other work"
echo
echo "## Backend overhead, batch 1 and 8, sequence 16, 1 intra-op thread"
"$BUILD/bench/onnx" "$MODEL" 1 16 1 150 5 | tee /tmp/tiffin-onnx-overhead.$$
floor=$(awk '$1 == "all" { print $2 }' /tmp/tiffin-onnx-overhead.$$)
rm -f /tmp/tiffin-onnx-overhead.$$
echo
"$BUILD/bench/onnx" "$MODEL" 8 16 1 30 3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-onnx.XXXXXX")
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
python3 - > "$WORK/body.json" <<'PY'
import json
ids = [101] + [1000 + (i * 7919) % 20000 for i in range(14)] + [102]
print(json.dumps({"input_ids": [ids], "attention_mask": [[1] * 16], "token_type_ids": [[0] * 16]}))
PY
cat > "$WORK/post.lua" <<EOF2
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/body.json"); wrk.body = f:read("*a"); f:close()
EOF2

echo
echo "## Served: tiffin serve MiniLM, wrk -t1 ${DURATION}s; floor = direct p50 ${floor} us"
printf '%-28s %6s %10s %10s %10s %10s\n' config conns req/s p50_ms p99_ms p50/floor
IFS=';' read -ra configs <<<"$CONFIGS"
for cfg in "${configs[@]}"; do
    # shellcheck disable=SC2086
    "$BUILD/tiffin" serve "$MODEL" --port 0 $cfg --max-concurrency 64 --max-queue 64 \
        > "$WORK/out" 2> "$WORK/err" &
    PID=$!
    url=""
    for _ in $(seq 100); do
        url=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$WORK/out" | head -1)
        [ -n "$url" ] && curl -sf "$url/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    # Supervised configurations print "ready" once every worker is.
    case "$cfg" in *workers\ 1*) ;; *) for _ in $(seq 100); do grep -q '^ready' "$WORK/out" && break; sleep 0.1; done ;; esac
    curl -sf -H 'Content-Type: application/json' --data @"$WORK/body.json" "$url/predict" >/dev/null \
        || { cat "$WORK/err" >&2; exit 1; }
    for c in 1 16; do
        wrk -t1 -c"$c" -d"${DURATION}s" --latency -s "$WORK/post.lua" "$url/predict" > "$WORK/wrk"
        rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk")
        ms() { awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 }
               else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }
               print v }' "$WORK/wrk"; }
        p50=$(ms 50%); p99=$(ms 99%)
        non2xx=$(awk '/Non-2xx/ { print $NF }' "$WORK/wrk")
        printf '%-28s %6d %10s %10.2f %10.2f %10.2f %s\n' "$cfg" "$c" "$rps" "$p50" "$p99" \
            "$(awk -v a="$p50" -v b="$floor" 'BEGIN { print a * 1000 / b }')" \
            "${non2xx:+($non2xx non-2xx)}"
    done
    # Memory per worker (RSS, MiB), after the load.
    for p in $(pgrep -P "$PID" || true) "$PID"; do
        [ -r /proc/$p/status ] || continue
        echo "   rss pid $p: $(awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' /proc/$p/status)" \
             "($(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-60))"
    done
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
