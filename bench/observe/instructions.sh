#!/usr/bin/env bash
# What metrics and tracing cost in instructions: user-space instructions per request of hello's
# POST /greet and of the sequential pipeline's POST /classify, observability off and on, counted
# exactly by valgrind (callgrind) in every process of the graph. For machines where perf cannot
# count instructions (most VMs: no PMU), and steady where req/s and CPU time are not: the count
# does not depend on the other load of the machine.
#
#   bench/observe/instructions.sh      # expects `make all` done: build/examples/hello, sequential
#
# Each service runs in its own process under callgrind (`serve --service NAME`, the entry given
# the others' unix sockets with --depends: the processes `serve` would start, without the
# supervisor, which valgrind cannot follow through /proc/self/exe). After ${WARMUP} requests the
# counters are zeroed (callgrind_control -z), `ab -k -c4` sends ${REQUESTS} requests, and the
# counters are dumped: instructions/request is their sum over the processes / ${REQUESTS}.
# Kernel instructions are not counted (callgrind sees user space only); the syscalls a request
# makes are the same with observability on and off (strace -c: 7 read, 7 writev, ~3.5
# epoll_wait a sequential request either way), so the kernel's share is not part of the cost.
# Prints a table, and the functions whose counts differ most between off and on.
#
# Environment: REQUESTS (2000), WARMUP (300). Servers are stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-300}
for tool in valgrind callgrind_control callgrind_annotate ab curl python3; do
    command -v "$tool" >/dev/null || { echo "bench/observe: $tool is required" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-bench-instructions.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do timeout 30 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# measure TARGET SETTING: serves TARGET under callgrind with TFN_OBSERVE=SETTING, loads it, and
# leaves the dumps in $WORK/TARGET.SETTING/.
measure() {
    local t=$1 s=$2 dir="$WORK/$1.$2" prog="$ROOT/build/examples/$1" entry deps=() api body
    mkdir -p "$dir"
    local vg=(valgrind --tool=callgrind "--callgrind-out-file=$dir/cg.%p")
    if [ "$t" = hello ]; then
        entry=Hello api=greet body='{"name":"Ada"}'
    else
        entry=Pipeline api=classify body='{"values":[0.1,0.4,0.35,0.8]}'
        for d in Preprocessing InferenceModel Postprocessing; do
            TFN_OBSERVE=$s "${vg[@]}" "$prog" serve --service "$d" --unix "$dir/$d.sock" \
                >"$dir/$d.out" 2>"$dir/$d.err" &
            PIDS+=($!)
            deps+=(--depends "$d=unix:$dir/$d.sock")
        done
    fi
    TFN_OBSERVE=$s "${vg[@]}" "$prog" serve --service "$entry" --port 0 "${deps[@]}" \
        >"$dir/entry.out" 2>"$dir/entry.err" &
    PIDS+=($!)
    local port=""
    for _ in $(seq 600); do
        port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$dir/entry.out")
        [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        port=""
        sleep 0.2
    done
    [ -n "$port" ] || { echo "bench/observe: $t did not start" >&2; cat "$dir"/*.err >&2; exit 1; }
    printf '%s' "$body" >"$dir/body.json"
    local url="http://127.0.0.1:$port/$api" ab=(ab -q -k -c4 -p "$dir/body.json" -T application/json)
    "${ab[@]}" -n "$WARMUP" "$url" >/dev/null
    callgrind_control -z >/dev/null 2>&1
    "${ab[@]}" -n "$REQUESTS" "$url" >"$dir/ab.txt"
    callgrind_control -d >/dev/null 2>&1
    grep -q "^Failed requests: *0" "$dir/ab.txt" && ! grep -q "Non-2xx" "$dir/ab.txt" ||
        { echo "bench/observe: errors in $t $s:" >&2; cat "$dir/ab.txt" >&2; exit 1; }
    cleanup_servers
}
cleanup_servers() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do timeout 30 tail --pid="$pid" -f /dev/null 2>/dev/null || true; done
    PIDS=()
}

for t in hello sequential; do
    [ -x "$ROOT/build/examples/$t" ] || { echo "bench/observe: build/examples/$t is missing: run 'make all'" >&2; exit 1; }
    for s in off on; do measure "$t" "$s"; done
done
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK" "$REQUESTS" "$load" <<'PY'
import collections, glob, re, subprocess, sys
work, n, load = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def profile(t, s):
    """Instructions by function, and in all, over the dumps taken after zeroing (*.1)."""
    funcs, total = collections.Counter(), 0
    for f in glob.glob("%s/%s.%s/cg.*.1" % (work, t, s)):
        out = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no",
                              "--threshold=100", f], capture_output=True, text=True).stdout
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S+)", line)
            if not m:
                continue
            count = int(m.group(1).replace(",", ""))
            if m.group(2) == "PROGRAM":
                total += count
            else:
                funcs[m.group(2).split(":", 1)[-1]] += count
    return funcs, total
print("observability cost in user-space instructions (callgrind, every process of the graph), "
      "%d requests after warm-up, ab -k -c4; load average %s (the count does not depend on it)"
      % (n, load))
print()
print("| target | setting | instructions/request | vs off |")
print("|---|---|---:|---:|")
diffs = {}
for t in ("hello", "sequential"):
    off_f, off = profile(t, "off")
    on_f, on = profile(t, "on")
    print("| %s | TFN_OBSERVE=off | %.0f | 1.000 |" % (t, off / n))
    print("| %s | metrics + tracing (default) | %.0f | %.3f |" % (t, on / n, on / off))
    diffs[t] = sorted(((on_f[k] - off_f[k]) / n, k) for k in set(on_f) | set(off_f))
for t in ("hello", "sequential"):
    print()
    print("%s: functions that cost most more with observability on (instructions/request)" % t)
    outer = ("main", "tfn_main", "cmd_serve", "tfn__serve", "(below")  # whole-program frames
    top = [(d, k) for d, k in diffs[t][::-1] if d > 0 and not k.startswith(("0x", "__libc_start"))
           and k not in outer]
    for d, k in top[:10]:
        print("  %+7.0f  %s" % (d, k))
PY
