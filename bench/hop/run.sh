#!/usr/bin/env bash
# What one hop between services costs: Relay -> Echo -> Relay, timed inside Relay (its /measure
# API makes N calls in a row), against the raw unix-socket round trip of the same payload
# (bench/floor/unix_rtt.c: write, echo, read; no HTTP, no encoding) measured in the same run.
#
#   bench/hop/run.sh            (after `make all`)
#
# Environment: N (calls per measurement, 2000; 200 for the 1 MB payload), RUNS (3; the median run
# is shown), BUILD (build). Relay and Echo run as separate processes under `hop serve`; pinning
# is left to the scheduler (2 cores here: Relay and Echo each get one when the machine is idle).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${N:-2000}
RUNS=${RUNS:-3}
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

"$HOP" serve --port 0 > "$WORK/out" 2> "$WORK/err" &
PID=$!
for _ in $(seq 100); do grep -q '^ready' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$WORK/out" || { cat "$WORK/err" >&2; exit 1; }
URL=$(sed -n 's/.* listening on \(http:[^ ]*\).*/\1/p' "$WORK/out" | head -1)

# A 1 MiB float32 tensor (262144 values) as the JSON body of /measure.
python3 -c 'import json; print(json.dumps({"n": 0, "t": [i * 0.5 for i in range(262144)]}))' \
    > "$WORK/big.json"

measure() { # NAME BYTES CALLS BODYFILE -> "floor_p50 floor_p99 hop_p50 hop_p99" (median run)
    local bytes=$2 calls=$3 body=$4 i
    for i in $(seq "$RUNS"); do
        local f h
        f=$("$WORK/unix_rtt" "$bytes" "$calls")
        sed "s/\"n\": 0/\"n\": $calls/" "$body" > "$WORK/req.json"
        h=$(curl -sf -m 300 "$URL/measure" -H 'Content-Type: application/json' \
            --data-binary @"$WORK/req.json")
        python3 - "$f" "$h" <<'PY'
import json, sys
f, h = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f["p50_us"], f["p99_us"], h["p50_us"], h["p99_us"])
PY
    done | sort -n -k3 | sed -n "$(( (RUNS + 1) / 2 ))p"
}

echo '{"n": 0}' > "$WORK/tiny.json"
tiny=$(measure tiny 64 "$N" "$WORK/tiny.json")
# The hop's wire body for 1 MiB of float32 is 1 MiB plus a small header.
big=$(measure 1mib 1048640 "$(( N / 10 ))" "$WORK/big.json")

printf '\none hop (Relay -> Echo -> Relay over a unix socket), %s runs, median run shown\n' "$RUNS"
printf '%-12s %12s %12s %12s %12s %10s %10s\n' payload floor_p50us floor_p99us hop_p50us hop_p99us \
    p50_ratio p99_ratio
for row in "tiny:$tiny" "1MiB:$big"; do
    name=${row%%:*}
    read -r fp50 fp99 hp50 hp99 <<<"${row#*:}"
    awk -v n="$name" -v a="$fp50" -v b="$fp99" -v c="$hp50" -v d="$hp99" 'BEGIN {
        printf "%-12s %12.1f %12.1f %12.1f %12.1f %9.2fx %9.2fx\n", n, a, b, c, d, c / a, d / b }'
done
