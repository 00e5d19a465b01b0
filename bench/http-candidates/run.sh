#!/usr/bin/env bash
# Compare candidate HTTP server libraries for Tiffin against a raw epoll floor.
#
#   bench/http-candidates/run.sh
#
# 1. Builds every server into a temporary directory (never into the tree).
# 2. Starts each one on a unix domain socket, checks GET / over it, stops it.
# 3. Starts all of them on TCP ports PORT, PORT+1, ... pinned to CPU
#    $SERVER_CPU and runs the functional checks (http_check.py: keep-alive,
#    Content-Length, pipelining, async responses, async + pipelining order).
# 4. Runs wrk pinned to CPU $CLIENT_CPU: wrk -t1 -c{1,64} -d5s --latency,
#    $RUNS runs each, interleaved (run 1 of every candidate, then run 2, ...)
#    so that slow periods of a shared/virtual machine hit all candidates alike.
#    Also samples each server's CPU time (/proc/PID/task/*/schedstat) around
#    every run: CPU µs per request and busy % are steadier than req/s when
#    wrk, not the server, is the bottleneck.
# 5. Prints one table of medians, with ratios to the floor.
#
# Environment: PORT (18080; uses PORT..PORT+4), DURATION (seconds, 5),
# RUNS (3), CONNS ("1 64"), SERVER_CPU (0), CLIENT_CPU (1), CC (cc),
# KEEP=1 keeps the build/results directory (raw wrk output included).
# Every server is killed on exit (trap); every step runs under a time limit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PORT=${PORT:-18080}
DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"1 64"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
CC=${CC:-cc}
KEEP=${KEEP:-0}

for tool in wrk taskset python3 curl pkg-config ss; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

# name:binary:source — the floor first.
CANDIDATES=(
    "floor:floor:bench/floor/floor_server.c"
    "libuv+http-parser:uv_httpparser:bench/http-candidates/uv_httpparser.c"
    "h2o-evloop:h2o_evloop:bench/http-candidates/h2o_evloop.c"
    "libevent-evhttp:evhttp:bench/http-candidates/evhttp.c"
    "libmicrohttpd:mhd:bench/http-candidates/mhd.c"
)
N=${#CANDIDATES[@]}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-http-candidates.XXXXXX")
declare -a PIDS=()

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "  (pid $pid ignored SIGTERM; killing)" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        [ -n "$pid" ] && stop_pid "$pid"
    done
    PIDS=()
}

cleanup() {
    stop_all
    if [ "$KEEP" = 1 ]; then
        echo "kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for i in $(seq 0 $((N - 1))); do
    if ss -Hltn "sport = :$((PORT + i))" | grep -q .; then
        echo "run.sh: port $((PORT + i)) is already in use; set PORT=" >&2
        exit 1
    fi
done

# ---- build ---------------------------------------------------------------
CFLAGS="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra"
echo "building into $WORK" >&2
# shellcheck disable=SC2086,SC2046 # CFLAGS and pkg-config output are word lists
{
    $CC $CFLAGS -o "$WORK/floor" "$ROOT/bench/floor/floor_server.c"
    $CC $CFLAGS -o "$WORK/uv_httpparser" "$HERE/uv_httpparser.c" $(pkg-config --cflags --libs libuv) -lhttp_parser
    $CC $CFLAGS -o "$WORK/h2o_evloop" "$HERE/h2o_evloop.c" $(pkg-config --cflags --libs libh2o-evloop)
    $CC $CFLAGS -o "$WORK/evhttp" "$HERE/evhttp.c" $(pkg-config --cflags --libs libevent)
    $CC $CFLAGS -o "$WORK/mhd" "$HERE/mhd.c" $(pkg-config --cflags --libs libmicrohttpd) -lpthread
}

field() { cut -d: -f"$2" <<<"${CANDIDATES[$1]}"; }

start_server() { # index args... -> PIDS[index]
    local bin
    bin=$(field "$1" 2)
    taskset -c "$SERVER_CPU" "$WORK/$bin" "${@:2}" >>"$WORK/$bin.log" 2>&1 &
    PIDS[$1]=$!
}

wait_ready() { # index curl-args...
    for _ in $(seq 50); do
        curl -s -o /dev/null --max-time 1 "${@:2}" && return 0
        kill -0 "${PIDS[$1]}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

cpu_ns() { # total on-CPU ns of all threads of a process
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

# ---- unix domain socket listeners --------------------------------------------
declare -a UNIXRES CHECKS
for i in $(seq 0 $((N - 1))); do
    bin=$(field "$i" 2)
    flag=""
    [ "$bin" = floor ] && flag=--floor
    sock="$WORK/$bin.sock"
    start_server "$i" --unix "$sock"
    if wait_ready "$i" --unix-socket "$sock" http://localhost/; then
        UNIXRES[i]=$(timeout 15 python3 "$HERE/http_check.py" --unix "$sock" $flag || echo "unix=no(check_failed)")
    else
        UNIXRES[i]="unix=no(did_not_start)"
    fi
    stop_pid "${PIDS[$i]}"
    PIDS[i]=""
done

# ---- TCP: start all, functional checks -----------------------------------------
for i in $(seq 0 $((N - 1))); do
    start_server "$i" --port $((PORT + i))
done
for i in $(seq 0 $((N - 1))); do
    bin=$(field "$i" 2)
    flag=""
    [ "$bin" = floor ] && flag=--floor
    if wait_ready "$i" "http://127.0.0.1:$((PORT + i))/"; then
        CHECKS[i]=$(timeout 30 python3 "$HERE/http_check.py" --port $((PORT + i)) $flag || echo "keepalive=no(check_failed)")
    else
        CHECKS[i]="started=no"
        echo "$(field "$i" 1) did not start; log:" >&2
        cat "$WORK/$bin.log" >&2
    fi
    echo "$(field "$i" 1): ${CHECKS[$i]} ${UNIXRES[$i]}" >&2
done

# ---- wrk ------------------------------------------------------------------------
RAW="$WORK/raw.tsv"
printf 'idx\tconns\trun\trps\tp50\tp99\tcpu_ns\twall_s\trequests\terrors\n' >"$RAW"
run_wrk() { # index conns duration out
    local i=$1 c=$2 d=$3 out=$4
    timeout $((d + 20)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$c" -d"${d}s" --latency "http://127.0.0.1:$((PORT + i))/" >"$out" 2>&1 || true
}
for i in $(seq 0 $((N - 1))); do # warm-up, not recorded
    [ "${CHECKS[$i]}" = started=no ] || run_wrk "$i" 64 1 /dev/null
done
for r in $(seq "$RUNS"); do
    for c in $CONNS; do
        for i in $(seq 0 $((N - 1))); do
            [ "${CHECKS[$i]}" = started=no ] && continue
            out="$WORK/wrk-$(field "$i" 2)-c$c-r$r.txt"
            t0=$(cpu_ns "${PIDS[$i]}")
            run_wrk "$i" "$c" "$DURATION" "$out"
            t1=$(cpu_ns "${PIDS[$i]}")
            rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
            p50=$(awk '$1 == "50%" {print $2}' "$out")
            p99=$(awk '$1 == "99%" {print $2}' "$out")
            reqs=$(awk '/requests in/ {print $1; sub(/s,$/, "", $4); print $4}' "$out" | paste -sd' ')
            errs=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr ' ' '_' | paste -sd';' || true)
            if [ -z "$rps" ] || [ -z "$p99" ]; then
                echo "wrk failed ($out):" >&2
                sed 's/^/    /' "$out" >&2
                continue
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$c" "$r" "$rps" "$p50" "$p99" \
                "$((t1 - t0))" "${reqs#* }" "${reqs%% *}" "${errs:--}" >>"$RAW"
            echo "run $r c=$c $(field "$i" 1): $rps req/s p50 $p50 p99 $p99" >&2
        done
    done
done
stop_all

# ---- report ----------------------------------------------------------------
{
    for i in $(seq 0 $((N - 1))); do
        printf '%s\t%s\t%s\t%s\n' "$i" "$(field "$i" 1)" "$ROOT/$(field "$i" 3)" "${CHECKS[$i]} ${UNIXRES[$i]}"
    done
} >"$WORK/meta.tsv"

echo
echo "# HTTP server candidates: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "# server on CPU $SERVER_CPU, wrk -t1 on CPU $CLIENT_CPU, GET / -> 17-byte JSON, ${DURATION}s x $RUNS interleaved runs, medians"
python3 - "$WORK/meta.tsv" "$RAW" <<'EOF'
import re, statistics, sys

def us(v):
    m = re.match(r"([0-9.]+)(us|ms|s)$", v)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]

def sloc(path):
    src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), open(path).read(), flags=re.S)
    return sum(1 for l in src.splitlines() if l.strip() and not l.strip().startswith("//"))

meta = {}
for line in open(sys.argv[1]):
    i, name, src, checks = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in checks.split() if "=" in x)
    meta[int(i)] = (name, sloc(src), kv)

rows = {}
lines = open(sys.argv[2]).read().splitlines()[1:]
for line in lines:
    i, c, r, rps, p50, p99, cpu_ns, wall, reqs, errs = line.split("\t")
    d = rows.setdefault((int(i), int(c)), {"rps": [], "p50": [], "p99": [], "cpu": [], "busy": [], "errs": set()})
    d["rps"].append(float(rps))
    d["p50"].append(us(p50))
    d["p99"].append(us(p99))
    d["cpu"].append(int(cpu_ns) / 1e3 / max(1, int(reqs)))
    d["busy"].append(int(cpu_ns) / 1e9 / float(wall) * 100)
    if errs != "-":
        d["errs"].add(errs)

med = statistics.median
hdr = ["candidate", "conns", "req/s", "p50_us", "p99_us", "vs_floor", "cpu_us/req", "cpu_vs_floor", "srv_busy%",
       "keepalive", "content-len", "pipeline", "async", "async+pipe", "unix", "SLOC"]
out = [hdr]
for (i, c) in sorted(rows, key=lambda k: (k[1], k[0])):
    d = rows[(i, c)]
    name, loc, kv = meta[i]
    f = rows.get((0, c))
    rps, cpu = med(d["rps"]), med(d["cpu"])
    out.append([name, str(c), f"{rps:.0f}", f"{med(d['p50']):.0f}", f"{med(d['p99']):.0f}",
                f"{rps / med(f['rps']):.2f}" if f else "-", f"{cpu:.1f}",
                f"{cpu / med(f['cpu']):.2f}" if f else "-", f"{med(d['busy']):.0f}",
                kv.get("keepalive", "?"), kv.get("content_length", "?"), kv.get("pipeline", "?"),
                kv.get("async", "?"), kv.get("async_pipeline", "?"), kv.get("unix", "?"),
                str(loc) + (" ERR:" + ",".join(sorted(d["errs"])) if d["errs"] else "")])
w = [max(len(r[k]) for r in out) for k in range(len(hdr))]
for r in out:
    print("  ".join(x.ljust(w[k]) for k, x in enumerate(r)).rstrip())
print()
print("# vs_floor: median req/s / floor median req/s; cpu_us/req: server CPU time (all threads, user+kernel,")
print("#   incl. loopback TCP work done in its context) per request; srv_busy%: that CPU time / wall time.")
print("# pipeline: GET /, POST /echo one, POST /echo two in one write -> 3 responses in order.")
print("# async: GET /async answered from a 1 ms timer; async+pipe: GET /async + POST /echo in one write, in order.")
print("# unix: GET / over a unix domain socket listener. SLOC: non-blank, non-comment lines of the server.")
print("# per-run values (req/s):")
for (i, c) in sorted(rows, key=lambda k: (k[1], k[0])):
    print(f"#   {meta[i][0]:<18} c={c:<3} " + " ".join(f"{x:.0f}" for x in rows[(i, c)]["rps"]))
EOF

for i in $(seq 0 $((N - 1))); do
    if ss -Hltn "sport = :$((PORT + i))" | grep -q .; then
        echo "WARNING: something is still listening on port $((PORT + i))" >&2
    fi
done
