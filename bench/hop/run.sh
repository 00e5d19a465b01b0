#!/usr/bin/env bash
# What one hop between services costs: Relay -> Echo -> Relay, timed inside Relay (its /measure
# API makes N calls in a row), against the raw unix-socket round trip of the same payload
# (bench/floor/unix_rtt.c: write, echo, read; no HTTP, no encoding) measured in the same run.
#
#   bench/hop/run.sh            (after `make all`)
#
# Each payload is measured twice, with the tensors inline on the socket (TFN_SHM=off) and by
# the connection's shared memory (the default; docs/design.md "Shared memory on one host").
#
# Environment: N (calls per measurement, 2000; N/10 for 1 MiB), BIG_N (calls for 64 MiB, 10),
# RUNS (3; the median run is shown), BUILD (build). Relay and Echo run as separate processes
# under `hop serve`; pinning is left to the scheduler (2 cores here: Relay and Echo each get one
# when the machine is idle).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${N:-2000}
RUNS=${RUNS:-3}
BIG_N=${BIG_N:-10}
HOP=$BUILD/bench/hop
[ -x "$HOP" ] || { echo "run.sh: build $HOP first (make all)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-hop.XXXXXX")
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
cc -O2 -o "$WORK/unix_rtt" bench/floor/unix_rtt.c

start() { # TFN_SHM value: "off" (tensors inline on the socket) or "on" (by shared memory)
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    TFN_SHM=$1 "$HOP" serve --port 0 > "$WORK/out" 2> "$WORK/err" &
    PID=$!
    for _ in $(seq 100); do grep -q '^ready' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
    grep -q '^ready' "$WORK/out" || { cat "$WORK/err" >&2; exit 1; }
    URL=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$WORK/out" | head -1)
}

measure() { # BYTES CALLS BODY -> "floor_p50 floor_p99 hop_p50 hop_p99" (the median run)
    local bytes=$1 calls=$2 body=$3 i
    for i in $(seq "$RUNS"); do
        local f h
        f=$("$WORK/unix_rtt" "$bytes" "$calls")
        h=$(curl -sf -m 600 "$URL/measure" -H 'Content-Type: application/json' \
            --data-binary "${body/CALLS/$calls}")
        python3 - "$f" "$h" <<'PY'
import json, sys
f, h = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f["p50_us"], f["p99_us"], h["p50_us"], h["p99_us"])
PY
    done | sort -n -k3 | sed -n "$(( (RUNS + 1) / 2 ))p"
}

# Payloads: {"n": 1}; a 1 MiB and a 64 MiB float32 tensor, made inside Relay ("elems"). The
# floor is the raw round trip of the bytes the hop's request carries inline (value + header).
declare -A ROW
for mode in off on; do
    start "$mode"
    ROW[tiny-$mode]=$(measure 64 "$N" '{"n": CALLS}')
    ROW[1MiB-$mode]=$(measure 1048640 "$(( N / 10 ))" '{"n": CALLS, "elems": 262144}')
    ROW[64MiB-$mode]=$(measure 67108928 "$BIG_N" '{"n": CALLS, "elems": 16777216}')
done

printf '\nload average: %s (2 cores; say in any result whether they were shared)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'one hop (Relay -> Echo -> Relay over a unix socket), %s runs, median run shown;\n' "$RUNS"
printf '%s: tensors inline on the socket (TFN_SHM=off) or by shared memory (the default)\n' '-off/-on'
printf '%-12s %12s %12s %12s %12s %10s %10s\n' payload floor_p50us floor_p99us hop_p50us hop_p99us \
    p50_ratio p99_ratio
for name in tiny-off tiny-on 1MiB-off 1MiB-on 64MiB-off 64MiB-on; do
    read -r fp50 fp99 hp50 hp99 <<<"${ROW[$name]}"
    awk -v n="$name" -v a="$fp50" -v b="$fp99" -v c="$hp50" -v d="$hp99" 'BEGIN {
        printf "%-12s %12.1f %12.1f %12.1f %12.1f %9.2fx %9.2fx\n", n, a, b, c, d, c / a, d / b }'
done
