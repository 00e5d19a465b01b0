#!/usr/bin/env bash
# Hello-world throughput and latency of a tiffin service against the loopback floor.
#
#   make bench                # installs wrk if missing, builds, runs this
#   bench/hello/run.sh        # expects `make all` done: uses build/examples/hello
#
# 1. Compiles bench/floor/floor_server.c (an epoll server that parses no HTTP and answers every
#    request head with a canned 17-byte JSON response) into a temporary directory. Builds nothing
#    else: build/examples/hello must exist.
# 2. Starts `build/examples/hello serve --port 0` (the port it prints) and the floor server on a
#    free port, both pinned to CPU $SERVER_CPU, and checks one answer from each.
# 3. Runs wrk -t1 pinned to CPU $CLIENT_CPU, -d${DURATION}s --latency, at each concurrency of
#    $CONNS, $RUNS runs each, interleaved (run 1 of every target and concurrency, then run 2, ...)
#    so that slow periods of a shared machine hit both alike:
#      tiffin: POST /greet, Content-Type: application/json, body {"name":"Ada"} (a wrk lua script);
#              the answer is {"message":"Hello, Ada!"}: a full request through http-parser,
#              routing, JSON decode, input validation, a coroutine running the handler, output
#              validation and JSON encode.
#      floor:  GET / (the floor does not understand request bodies).
#    Also samples each server's CPU time (/proc/PID/task/*/schedstat) around every run.
# 4. Prints one table of medians: req/s, p50, p99, server CPU per request, and tiffin/floor.
#
# Environment: DURATION (seconds, 5), RUNS (3), CONNS ("1 64"), SERVER_CPU (0), CLIENT_CPU (1),
# HELLO (the program to serve; build/examples/hello), CC (cc), KEEP=1 keeps the temporary directory (raw wrk output). Both servers are killed on exit
# (trap); every step runs under a time limit. A non-2xx answer or a socket error fails the run.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"1 64"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CC=${CC:-cc}
KEEP=${KEEP:-0}
HELLO=${HELLO:-"$ROOT/build/examples/hello"}

for tool in wrk taskset python3 timeout; do
    command -v "$tool" >/dev/null || { echo "bench/hello: $tool is required (scripts/install-deps.sh bench)" >&2; exit 1; }
done
[ -x "$HELLO" ] || { echo "bench/hello: $HELLO is missing: run 'make all' first" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-bench-hello.XXXXXX")
TIFFIN_PID="" FLOOR_PID=""

stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench/hello: pid $pid ignored SIGTERM for 5 s; killing" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pid "$TIFFIN_PID"
    stop_pid "$FLOOR_PID"
    TIFFIN_PID="" FLOOR_PID=""
    if [ "$KEEP" = 1 ]; then echo "kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- servers ---------------------------------------------------------------------------------
timeout 60 "$CC" -O2 -std=c11 -D_GNU_SOURCE -o "$WORK/floor_server" "$ROOT/bench/floor/floor_server.c"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Sends one request; succeeds if the answer is 200 and its body contains $3.
check_answer() { # port method body expect
    timeout 10 python3 - "$@" <<'PY'
import http.client, sys
port, method, body, expect = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
if method == "POST":
    c.request("POST", "/greet", body, {"Content-Type": "application/json"})
else:
    c.request("GET", "/")
r = c.getresponse()
data = r.read().decode()
if r.status != 200 or expect not in data:
    sys.exit(f"unexpected answer {r.status}: {data}")
PY
}

# tiffin: port 0, the port comes from the banner "Hello listening on http://127.0.0.1:PORT".
taskset -c "$SERVER_CPU" "$HELLO" serve --port 0 >"$WORK/hello.out" 2>"$WORK/hello.err" &
TIFFIN_PID=$!
TIFFIN_PORT=""
for _ in $(seq 100); do
    TIFFIN_PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/hello.out")
    [ -n "$TIFFIN_PORT" ] && break
    kill -0 "$TIFFIN_PID" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$TIFFIN_PORT" ]; then
    echo "bench/hello: hello did not start:" >&2
    cat "$WORK/hello.out" "$WORK/hello.err" >&2
    exit 1
fi
# Ready once its init has finished: the first API call may otherwise get 503.
ok=0
for _ in $(seq 50); do
    if check_answer "$TIFFIN_PORT" POST '{"name":"Ada"}' 'Hello, Ada!' 2>/dev/null; then ok=1; break; fi
    sleep 0.1
done
[ "$ok" = 1 ] || { check_answer "$TIFFIN_PORT" POST '{"name":"Ada"}' 'Hello, Ada!'; exit 1; }

for _attempt in 1 2 3; do # the free port may be taken between the probe and the bind
    FLOOR_PORT=$(free_port)
    taskset -c "$SERVER_CPU" "$WORK/floor_server" --port "$FLOOR_PORT" >"$WORK/floor.log" 2>&1 &
    FLOOR_PID=$!
    ok=0
    for _ in $(seq 50); do
        if check_answer "$FLOOR_PORT" GET "" '"hello"' 2>/dev/null; then ok=1; break; fi
        kill -0 "$FLOOR_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ "$ok" = 1 ] && break
    stop_pid "$FLOOR_PID"
    FLOOR_PID=""
done
[ -n "$FLOOR_PID" ] || { echo "bench/hello: the floor server did not start:" >&2; cat "$WORK/floor.log" >&2; exit 1; }

cat >"$WORK/greet.lua" <<'LUA'
wrk.method = "POST"
wrk.path = "/greet"
wrk.body = '{"name":"Ada"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# ---- wrk --------------------------------------------------------------------------------------
tree() { # a process and all its descendants (`serve` may supervise: the worker is a child)
    local pid=$1 child
    echo "$pid"
    for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree "$child"; done
}

cpu_ns() { # total on-CPU ns of all threads of a process and its descendants
    local pid
    for pid in $(tree "$1"); do cat /proc/"$pid"/task/*/schedstat 2>/dev/null; done |
        awk '{s += $1} END {printf "%.0f", s}'
}

run_wrk() { # target conns duration out
    local args=(-t1 -c"$2" -d"$3s" --latency)
    if [ "$1" = tiffin ]; then
        args+=(-s "$WORK/greet.lua" "http://127.0.0.1:$TIFFIN_PORT/greet")
    else
        args+=("http://127.0.0.1:$FLOOR_PORT/")
    fi
    timeout $(($3 + 20)) taskset -c "$CLIENT_CPU" wrk "${args[@]}" >"$4" 2>&1 || true
}

pid_of() { if [ "$1" = tiffin ]; then echo "$TIFFIN_PID"; else echo "$FLOOR_PID"; fi; }

RAW="$WORK/raw.tsv"
: >"$RAW"
for target in tiffin floor; do run_wrk "$target" 64 1 /dev/null; done # warm-up, not recorded
failed=0
for r in $(seq "$RUNS"); do
    for c in $CONNS; do
        for target in tiffin floor; do
            out="$WORK/wrk-$target-c$c-r$r.txt"
            pid=$(pid_of "$target")
            t0=$(cpu_ns "$pid")
            run_wrk "$target" "$c" "$DURATION" "$out"
            t1=$(cpu_ns "$pid")
            rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
            p50=$(awk '$1 == "50%" {print $2}' "$out")
            p99=$(awk '$1 == "99%" {print $2}' "$out")
            reqs=$(awk '/requests in/ {print $1}' "$out")
            wall=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$out")
            if [ -z "$rps" ] || [ -z "$p99" ] || [ -z "$reqs" ] || grep -qE 'Socket errors|Non-2xx' "$out"; then
                echo "bench/hello: run $r c=$c $target failed or saw errors:" >&2
                sed 's/^/    /' "$out" >&2
                failed=1
                continue
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$c" "$r" "$rps" "$p50" "$p99" \
                "$((t1 - t0))" "$reqs" "$wall" >>"$RAW"
            echo "run $r c=$c $target: $rps req/s p50 $p50 p99 $p99" >&2
        done
    done
done
kill -0 "$TIFFIN_PID" 2>/dev/null || { echo "bench/hello: hello died during the benchmark" >&2; failed=1; }

# ---- report -----------------------------------------------------------------------------------
echo
echo "# tiffin hello vs loopback floor: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(uname -r), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "# $HELLO"
echo "# servers on CPU $SERVER_CPU, wrk -t1 on CPU $CLIENT_CPU, ${DURATION}s x $RUNS interleaved runs, medians"
echo "# tiffin: POST /greet {\"name\":\"Ada\"} -> {\"message\":\"Hello, Ada!\"}; floor: GET / -> 17-byte JSON, no HTTP parsing"
python3 - "$RAW" <<'PY'
import re, statistics, sys

def us(v):
    m = re.match(r"([0-9.]+)(us|ms|s)$", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]

rows = {}
for line in open(sys.argv[1]):
    target, c, r, rps, p50, p99, cpu_ns, reqs, wall = line.rstrip("\n").split("\t")
    d = rows.setdefault((int(c), target), {"rps": [], "p50": [], "p99": [], "cpu": [], "busy": []})
    d["rps"].append(float(rps))
    d["p50"].append(us(p50))
    d["p99"].append(us(p99))
    d["cpu"].append(int(cpu_ns) / 1e3 / max(1, int(reqs)))
    d["busy"].append(int(cpu_ns) / 1e9 / float(wall) * 100)

med = statistics.median
out = [["conns", "target", "req/s", "p50_us", "p99_us", "cpu_us/req", "srv_busy%", "req/s_vs_floor", "p50_vs_floor", "runs_req/s"]]
for c in sorted({k[0] for k in rows}):
    f = rows.get((c, "floor"))
    for target in ("tiffin", "floor"):
        d = rows.get((c, target))
        if not d:
            continue
        ratio = lambda k: f"{med(d[k]) / med(f[k]):.2f}" if f else "-"
        out.append([str(c), target, f"{med(d['rps']):.0f}", f"{med(d['p50']):.0f}", f"{med(d['p99']):.0f}",
                    f"{med(d['cpu']):.1f}", f"{med(d['busy']):.0f}", ratio("rps"), ratio("p50"), " ".join(f"{x:.0f}" for x in d["rps"])])
w = [max(len(r[k]) for r in out) for k in range(len(out[0]))]
for r in out:
    print("  ".join(x.ljust(w[k]) for k, x in enumerate(r)).rstrip())
print("# cpu_us/req: the server's CPU time (all threads, user + kernel, incl. loopback TCP work done in its")
print("#   context) per request; srv_busy%: that CPU time / wall time (near 100: the server is the bottleneck).")
PY
exit "$failed"
