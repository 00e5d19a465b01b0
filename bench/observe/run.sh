#!/usr/bin/env bash
# What metrics and tracing cost: the same service served with observability off
# (TFN_OBSERVE=off), on (the default: /metrics counters, traceparent in and out, trace headers on
# every dependency call, Server-Timing), and on with --access-log to a file, in one run.
#
#   bench/observe/run.sh        # expects `make all` done: build/examples/hello and sequential
#
# Targets: hello's POST /greet {"name":"Ada"} and the sequential pipeline's POST /classify
# (Pipeline -> Preprocessing -> InferenceModel -> Postprocessing: four processes, three calls a
# request). For each target the three servers run side by side (each on a free port); wrk -t1
# runs -d${DURATION}s at ${CONNS} connections against each in turn, ${RUNS} rounds interleaved
# (off, on, log, off, on, log, ...) so that the slow periods of a shared machine hit all alike.
# Prints, per target and setting, the median req/s and the servers' CPU time per request (all
# processes and threads of the graph, from /proc/PID/task/*/schedstat: less sensitive to the
# other load of a shared machine than req/s), each as a ratio to off.
#
# Where perf can count instructions (a machine with a PMU, perf_event_paranoid permitting), also
# the instructions per request of the graph (user and kernel, `perf stat -e instructions -p` over
# all its processes during each round): the steadiest figure on a shared machine. Where it cannot
# (most VMs), bench/observe/instructions.sh counts user-space instructions under callgrind.
#
# Environment: DURATION (3), RUNS (5), CONNS (32), CLIENT_CPU (1). Servers are stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-3}
RUNS=${RUNS:-5}
CONNS=${CONNS:-32}
CLIENT_CPU=${CLIENT_CPU:-1}
for tool in wrk taskset python3 timeout; do
    command -v "$tool" >/dev/null || { echo "bench/observe: $tool is required" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-bench-observe.XXXXXX")
PIDS=()
declare -A SERVER_PID
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do timeout 20 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME PROGRAM ENV... -- ARGS...: serves PROGRAM on a free port; sets PORT_<NAME>.
start() {
    local name=$1 program=$2; shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$program" serve --port 0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    SERVER_PID[$name]=$!
    for _ in $(seq 100); do
        grep -q '^ready$' "$WORK/$name.out" 2>/dev/null && break # both are supervised
        sleep 0.1
    done
    local port
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/$name.out" | head -1)
    [ -n "$port" ] || { echo "bench/observe: $name did not start" >&2; cat "$WORK/$name.err" >&2; exit 1; }
    printf -v "PORT_$name" '%s' "$port"
}

cat >"$WORK/greet.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"Ada"}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$WORK/classify.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"values":[0.1,0.4,0.35,0.8]}'
wrk.headers["Content-Type"] = "application/json"
LUA

for t in hello sequential; do
    prog="$ROOT/build/examples/$t"
    [ -x "$prog" ] || { echo "bench/observe: $prog is missing: run 'make all'" >&2; exit 1; }
    start "${t}_off" "$prog" TFN_OBSERVE=off --
    start "${t}_on" "$prog" TFN_OBSERVE=on --
    start "${t}_log" "$prog" TFN_OBSERVE=on -- --access-log "$WORK/$t.access.jsonl"
done

PERF=0
if command -v perf >/dev/null &&
    perf stat -x, -e instructions -- true 2>&1 | grep -q '^[0-9][0-9]*,'; then
    PERF=1
fi

# The processes of a server, comma-separated: the supervisor and its children.
graph_pids() {
    local pids=$1 child
    for child in $(ps -o pid= --ppid "$1"); do pids="$pids,$child"; done
    echo "$pids"
}

# CPU time (ns) of a server: the supervisor and its workers, every thread (schedstat).
cpu_ns() {
    python3 - "$1" <<'PY'
import glob, sys
pids, total = [sys.argv[1]], 0
for path in glob.glob("/proc/[0-9]*/stat"):
    try:
        fields = open(path).read().rsplit(")", 1)[1].split()
        if fields[1] == sys.argv[1]:
            pids.append(path.split("/")[2])
    except OSError:
        pass
for pid in pids:
    for f in glob.glob("/proc/%s/task/*/schedstat" % pid):
        try:
            total += int(open(f).read().split()[0])
        except (OSError, ValueError):
            pass
print(total)
PY
}
run_wrk() { # TARGET SETTING ROUND
    local t=$1 s=$2 r=$3 port_var="PORT_${1}_${2}" api=greet
    [ "$t" = sequential ] && api=classify
    local before after perf_pid=
    if [ "$PERF" = 1 ]; then
        perf stat -x, -e instructions -o "$WORK/perf.$t.$s.$r" \
            -p "$(graph_pids "${SERVER_PID[${t}_$s]}")" 2>/dev/null &
        perf_pid=$!
    fi
    before=$(cpu_ns "${SERVER_PID[${t}_$s]}")
    timeout $((DURATION + 20)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
        --latency -s "$WORK/$api.lua" "http://127.0.0.1:${!port_var}/$api" \
        >"$WORK/wrk.$t.$s.$r" 2>&1 || true
    after=$(cpu_ns "${SERVER_PID[${t}_$s]}")
    echo "server_cpu_ns $((after - before))" >>"$WORK/wrk.$t.$s.$r"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        # (counted a little past the last request: the ratio to off is what matters)
        echo "instructions $(grep -m1 ',instructions' "$WORK/perf.$t.$s.$r" | cut -d, -f1)" \
            >>"$WORK/wrk.$t.$s.$r"
    fi
}
for t in hello sequential; do run_wrk "$t" on warmup; done
for r in $(seq "$RUNS"); do
    for t in hello sequential; do
        for s in off on log; do run_wrk "$t" "$s" "$r"; done
    done
done
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK" "$RUNS" "$CONNS" "$DURATION" "$load" "$PERF" <<'PY'
import re, statistics, sys
work, runs, conns, duration, load = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
perf = sys.argv[6] == "1"
def parse(path):
    text = open(path).read()
    if "Non-2xx" in text or "Socket errors" in text:
        sys.exit("bench/observe: errors in %s:\n%s" % (path, text))
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    n = int(re.search(r"([0-9]+) requests in", text).group(1))
    cpu = int(re.search(r"server_cpu_ns (-?[0-9]+)", text).group(1))
    m = re.search(r"^instructions ([0-9]+)$", text, re.M)
    return rps, cpu / 1e3 / n, (int(m.group(1)) / n if m else None)
print("observability cost: wrk -t1 -c%s -d%ss, %d interleaved rounds, medians; load average "
      "at the end %s (machine shared with other work)" % (conns, duration, runs, load))
print()
print("| target | setting | req/s (median) | req/s vs off | server CPU µs/request (median) | "
      "CPU vs off | %sreq/s of each round |"
      % ("instructions/request (median) | instructions vs off | " if perf else ""))
print("|---|---|---:|---:|---:|---:|%s---|" % ("---:|---:|" if perf else ""))
for t in ("hello", "sequential"):
    base = None
    for s, label in (("off", "TFN_OBSERVE=off"), ("on", "metrics + tracing (default)"),
                     ("log", "+ --access-log FILE")):
        res = [parse("%s/wrk.%s.%s.%d" % (work, t, s, r)) for r in range(1, runs + 1)]
        rps = statistics.median(r[0] for r in res)
        cpu = statistics.median(r[1] for r in res)
        ins = statistics.median(r[2] for r in res) if perf and None not in [r[2] for r in res] else None
        base = base or (rps, cpu, ins)
        extra = ""
        if perf:
            extra = ("%.0f | %.3f | " % (ins, ins / base[2])) if ins and base[2] else "? | ? | "
        print("| %s | %s | %.0f | %.3f | %.1f | %.3f | %s%s |" % (
            t, label, rps, rps / base[0], cpu, cpu / base[1], extra,
            " ".join("%.0f" % r[0] for r in res)))
if not perf:
    print()
    print("(instructions/request: perf cannot count instructions on this machine; "
          "bench/observe/instructions.sh counts user-space instructions under callgrind)")
PY
