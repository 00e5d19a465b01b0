#!/usr/bin/env bash
# tiffin vs BentoML, side by side on this machine, in one run: the same service graphs, the same
# load generator, the same CPU budget. Results: docs/benchmarks.md, "tiffin vs BentoML".
#
#   make bench                                # builds, runs bench/hello, then this
#   bench/vs-bentoml/run.sh                   # expects `make all` done
#   RUNS=1 DURATION=3 bench/vs-bentoml/run.sh # quick look (about 3 minutes)
#
# 1. Installs BentoML (bench/vs-bentoml/requirements.txt, every package pinned) from PyPI into
#    build/vs-bentoml/venv, once; installs wrk and gnuplot from Debian if missing.
# 2. For each run (RUNS), each case and each server (the order of the servers alternates between
#    runs, so that slow periods of a shared machine hit both alike):
#      - starts the server pinned to CPU $SERVER_CPU (taskset; its children inherit the mask, so
#        every process of the graph shares that one CPU), in a session of its own;
#      - start to ready: polls GET /readyz every 5 ms until 200 (time from the fork);
#      - checks one answer (200 and the expected label / tensor);
#      - 1 s of warm-up load (not recorded);
#      - samples VmRSS of the server and all its descendants every 50 ms during the load and
#        keeps the peak of the sum;
#      - wrk -t1 pinned to CPU $CLIENT_CPU for DURATION s at each concurrency of CONNS, --latency;
#      - SIGTERM, then SIGKILL of its session after 10 s if anything is left.
#    Cases (POST, Content-Type: application/json):
#      sequential  tiffin build/examples/sequential, BentoML sequential:Pipeline
#                  /classify {"values":[0.1,0.4,0.35,0.8]} -> {"label":"mid",...}
#      ensemble    tiffin build/examples/ensemble, BentoML ensemble:Ensemble
#                  /classify {"values":[0.9,0.8,0.95]} -> {"label":"high",...}
#      hop         relay: tiffin build/bench/hop, BentoML hop:Relay, /relay {"t": 512x512 floats}
#                  (2.6 MB of JSON, 1 MiB as float32; both declare `t` a float32 tensor, so it
#                  crosses the hop as one buffer); echo: the same request to Echo served alone
#                  (tiffin: hop serve --service Echo; BentoML: hop:Echo), /echo.
# 3. Prints the tables (markdown): medians over the runs with (min–max), ratio tiffin/BentoML,
#    per-hop overhead (p50 at 1 connection, Relay->Echo minus Echo alone, paired by run), the
#    targets; draws $OUT/chart.png (gnuplot). Raw wrk output and logs stay in $OUT.
#
# REPORT_ONLY=1 prints the tables and draws the chart again from the results in $OUT.
# Environment: RUNS (3), DURATION (seconds per load, 10; the 1 MiB cases at 64 connections get
# twice that), CONNS ("1 64"), CASES ("sequential ensemble hop"), SERVER_CPU (0),
# CLIENT_CPU (1), TIFFIN (the tiffin source tree to measure, this checkout), BUILD ($TIFFIN/build),
# TIFFIN_REV (its commit, for the report), OUT (build/vs-bentoml/results), PYTHON
# (/usr/bin/python3, for the venv).
# BentoML runs with BENTOML_DO_NOT_TRACK=true, its access log off (tiffin logs no requests),
# BENTOML_HOME under $OUT; otherwise with its defaults (1 worker per service, as tiffin).
# Every server is killed on exit (trap); every step runs under a time limit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 64"}
CASES=${CASES:-"sequential ensemble hop"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# The tiffin to measure: a source tree and its build (`make all` done). Default: this checkout.
# On a tree that others are editing, measure a committed state built apart:
#   git worktree add /tmp/tfn HEAD && make -C /tmp/tfn -j2 all
#   TIFFIN=/tmp/tfn TIFFIN_REV=$(git rev-parse --short HEAD) bench/vs-bentoml/run.sh
#   git worktree remove --force /tmp/tfn
TIFFIN=${TIFFIN:-"$ROOT"}
BUILD=${BUILD:-"$TIFFIN/build"}
TIFFIN_REV=${TIFFIN_REV:-$(git -C "$TIFFIN" describe --always --dirty 2>/dev/null || echo unknown)}
OUT=${OUT:-"$ROOT/build/vs-bentoml/results"}
VENV="$ROOT/build/vs-bentoml/venv"
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3
CC=${CC:-cc}

say() { echo "vs-bentoml: $*" >&2; }
die() { say "$*"; exit 1; }

# ---- tools and BentoML ------------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v gnuplot >/dev/null || need_apt+=(gnuplot-nox)
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    say "installing ${need_apt[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 $sudo apt-get update -qq
    timeout 600 $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
for tool in wrk gnuplot taskset timeout setsid; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
for prog in examples/sequential examples/ensemble bench/hop libtiffin.a; do
    [ -e "$BUILD/$prog" ] || die "$BUILD/$prog is missing: run 'make all' first"
done

REQ_SUM=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQ_SUM" ]; then
    say "installing BentoML into $VENV (requirements.txt)"
    rm -rf "$VENV"
    timeout 120 "$PYTHON" -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$REQ_SUM" >"$VENV/.requirements"
fi
BENTOML_VERSION=$("$VENV/bin/python" -c 'import bentoml; print(bentoml.__version__)')

mkdir -p "$OUT"
if [ "${REPORT_ONLY:-0}" != 1 ]; then # ---- measuring (to "fi # REPORT_ONLY") -----------------------
rm -f "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.tsv "$OUT"/*.rss "$OUT"/meta.env
export BENTOML_HOME="$OUT/bentoml-home" BENTOML_DO_NOT_TRACK=true
export PYTHONDONTWRITEBYTECODE=1

# ---- request bodies ---------------------------------------------------------------------------
printf '{"values":[0.1,0.4,0.35,0.8]}' >"$OUT/sequential.json"
printf '{"values":[0.9,0.8,0.95]}' >"$OUT/ensemble.json"
timeout 60 python3 "$HERE/bench.py" body "$OUT/tensor.json"
printf '{"t":[[0.5]]}' >"$OUT/tiny.json" # the hop's fixed cost: a 1 x 1 tensor
for body in sequential ensemble tensor; do
    # wrk reads the body from the file itself (2.6 MB would not fit a lua string literal nicely)
    printf 'local f = assert(io.open("%s", "rb"))\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\nwrk.headers["Content-Type"] = "application/json"\n' \
        "$OUT/$body.json" >"$OUT/$body.lua"
done

# ---- servers ----------------------------------------------------------------------------------
SERVER_PIDS=() # started and not yet stopped
RSS_PID=""

# Stops server PID: SIGTERM to its main process, then, after 10 s, SIGKILL to its whole session
# (start_server made the server the leader of a session and process group of its own, so its
# PID is the group's ID and nothing else is in the group).
stop_server() {
    local pid=$1 p rest=()
    for p in "${SERVER_PIDS[@]}"; do [ "$p" = "$pid" ] || rest+=("$p"); done
    SERVER_PIDS=("${rest[@]}")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "server $pid still busy 10 s after SIGTERM (requests in flight); killing its process group"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true # stragglers of the group, if any
    wait "$pid" 2>/dev/null || true
}

# bg_wait CMD...: runs CMD in the background and waits for it, so that a signal to this script is
# acted on at once (bash defers traps until a foreground command ends); cleanup stops it.
FG_PID=""
bg_wait() {
    "$@" &
    FG_PID=$!
    local rc=0
    wait "$FG_PID" || rc=$?
    FG_PID=""
    return "$rc"
}

stop_rss() {
    [ -n "$RSS_PID" ] || return 0
    kill -TERM "$RSS_PID" 2>/dev/null || true
    wait "$RSS_PID" 2>/dev/null || true
    RSS_PID=""
}

cleanup() {
    if [ -n "$FG_PID" ]; then kill -TERM "$FG_PID" 2>/dev/null || true; wait "$FG_PID" 2>/dev/null || true; fi
    stop_rss
    local p
    for p in "${SERVER_PIDS[@]}"; do stop_server "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# server_cmd SERVER CASE PORT -> the command line, one word per line
server_cmd() {
    local bin
    if [ "$1" = tiffin ]; then
        case "$2" in
            sequential) bin=("$BUILD/examples/sequential" serve) ;;
            ensemble) bin=("$BUILD/examples/ensemble" serve) ;;
            relay) bin=("$BUILD/bench/hop" serve) ;;
            echo) bin=("$BUILD/bench/hop" serve --service Echo) ;;
        esac
        printf '%s\n' "${bin[@]}" --host 127.0.0.1 --port "$3"
    else
        case "$2" in
            sequential) bin=sequential:Pipeline ;;
            ensemble) bin=ensemble:Ensemble ;;
            relay) bin=hop:Relay ;;
            echo) bin=hop:Echo ;;
        esac
        printf '%s\n' "$VENV/bin/bentoml" serve "$bin" --working-dir "$HERE" --host 127.0.0.1 --port "$3"
    fi
}

# case -> path body expect
case_path() { case "$1" in sequential | ensemble) echo /classify ;; relay) echo /relay ;; echo) echo /echo ;; esac; }
case_body() { case "$1" in sequential | ensemble) echo "$1" ;; *) echo tensor ;; esac; }
case_expect() {
    case "$1" in
        sequential) echo '"label": ?"mid"' ;;
        ensemble) echo '"label": ?"high".*"ModelA": ?"high"' ;;
        *) echo '^(\{"t": ?)?\[\[-0\.73127' ;; # the first element; BentoML writes float32 as double
    esac
}

# start_server SERVER CASE LOG: starts it pinned to SERVER_CPU, waits until /readyz says 200,
# checks one answer, warms it up (1 s of load, not recorded). Sets PID, PORT, READY_MS, URL.
start_server() {
    local server=$1 case=$2 log=$3 t0 cmd
    PORT=$(python3 "$HERE/bench.py" port)
    mapfile -t cmd < <(server_cmd "$server" "$case" "$PORT")
    t0=$(date +%s%N)
    # setsid: a session of its own, so that stop_server can reach every process it started.
    (cd "$HERE" && exec setsid taskset -c "$SERVER_CPU" "${cmd[@]}") >"$log" 2>&1 </dev/null &
    PID=$!
    SERVER_PIDS+=("$PID")
    if ! bg_wait taskset -c "$CLIENT_CPU" python3 "$HERE/bench.py" ready "$t0" "$PORT" 120 "$PID" >"$OUT/ready.txt"; then
        tail -20 "$log" >&2
        die "$server $case did not get ready"
    fi
    READY_MS=$(cat "$OUT/ready.txt")
    local path body
    path=$(case_path "$case") body=$(case_body "$case")
    bg_wait timeout 90 python3 "$HERE/bench.py" check "$PORT" "$path" "$OUT/$body.json" "$(case_expect "$case")" ||
        { tail -20 "$log" >&2; die "$server $case answered wrong"; }
    URL="http://127.0.0.1:$PORT$path"
    bg_wait timeout 60 taskset -c "$CLIENT_CPU" wrk -t1 -c8 -d1s --timeout 30s -s "$OUT/$body.lua" "$URL" >/dev/null 2>&1 || true
}

# measure SERVER CASE RUN: one start of the server, its loads, its stop; appends to load.tsv and
# start.tsv.
measure() {
    local server=$1 case=$2 run=$3
    local log="$OUT/$server-$case-r$run.log" body
    body=$(case_body "$case")
    start_server "$server" "$case" "$log"
    taskset -c "$CLIENT_CPU" python3 "$HERE/bench.py" rss "$PID" "$OUT/$server-$case-r$run.rss" 0.05 &
    RSS_PID=$!
    local c d out rps p50 p99 errors
    for c in $CONNS; do
        d=$DURATION
        # 64 requests of 2.6 MB at once on one CPU take seconds each and finish in waves: a
        # longer window makes the rate less coarse.
        [ "$body" = tensor ] && [ "$c" -gt 1 ] && d=$((2 * DURATION))
        out="$OUT/wrk-$server-$case-c$c-r$run.txt"
        bg_wait timeout $((d + 60)) taskset -c "$CLIENT_CPU" \
            wrk -t1 -c"$c" -d"${d}s" --timeout 30s --latency -s "$OUT/$body.lua" "$URL" >"$out" 2>&1 || true
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p50=$(awk '$1 == "50%" {print $2}' "$out")
        p99=$(awk '$1 == "99%" {print $2}' "$out")
        errors=0
        if [ -z "$rps" ] || [ -z "$p99" ] || grep -qE 'Socket errors|Non-2xx' "$out" ||
            [ "$(awk '/requests in/ {print $1}' "$out")" = 0 ]; then
            say "run $run $server $case c=$c failed, saw errors or completed no request (not counted):"
            sed 's/^/    /' "$out" >&2
            errors=1
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$case" "$c" "$run" "${rps:-0}" \
            "${p50:-0us}" "${p99:-0us}" "$errors" >>"$OUT/load.tsv"
        say "run $run $server $case c=$c: ${rps:-?} req/s p50 ${p50:-?} p99 ${p99:-?}"
    done
    stop_rss
    kill -0 "$PID" 2>/dev/null || die "$server $case died during the load (see $log)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$case" "$run" "$READY_MS" "$(cat "$OUT/$server-$case-r$run.rss")" \
        >>"$OUT/start.tsv"
    say "run $run $server $case: ready in $READY_MS ms, peak RSS $(cut -f1,2 "$OUT/$server-$case-r$run.rss" | awk '{printf "%.1f MB over %d processes", $1/1024, $2}')"
    stop_server "$PID"
}

# hop_pair SERVER RELAY_CASE ECHO_CASE RUN: the per-hop overhead with both servers up at once:
# one client alternates a request to Relay and one to Echo alone (1 connection each) for
# DURATION s, so that whatever else the machine does hits both alike; the overhead is the
# median latency through Relay minus that of Echo. Once with the 1 MiB tensor, once with a
# 1 x 1 tensor (the fixed cost of a hop). Appends to hop.tsv.
hop_pair() {
    local server=$1 relay=$2 echo=$3 run=$4 relay_pid relay_port echo_pid echo_port body result
    start_server "$server" "$relay" "$OUT/$server-pair-$relay-r$run.log"
    relay_pid=$PID relay_port=$PORT
    start_server "$server" "$echo" "$OUT/$server-pair-$echo-r$run.log"
    echo_pid=$PID echo_port=$PORT
    for body in tensor tiny; do
        bg_wait timeout $((DURATION + 120)) taskset -c "$CLIENT_CPU" python3 "$HERE/bench.py" pair \
            "$relay_port" /relay "$echo_port" /echo "$OUT/$body.json" "$DURATION" >"$OUT/pair.txt" ||
            die "run $run $server hop pair failed"
        result=$(cat "$OUT/pair.txt")
        printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$relay" "$body" "$run" "$result" >>"$OUT/hop.tsv"
        say "run $run $server $relay/$echo interleaved, $body: $(echo "$result" | awk '{printf "%d pairs, Relay %.3f ms, Echo %.3f ms, hop %.3f ms", $1, $2, $3, $4}')"
    done
    stop_server "$relay_pid"
    stop_server "$echo_pid"
}

{
    echo "# tiffin vs BentoML $BENTOML_VERSION: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
    echo "# tiffin $TIFFIN_REV ($BUILD)"
    echo "# servers on CPU $SERVER_CPU (every process of a graph), wrk -t1 and the samplers on CPU $CLIENT_CPU; RUNS=$RUNS x DURATION=${DURATION}s per load, CONNS=\"$CONNS\"; medians (min–max over runs)"
} >"$OUT/header.txt"
printf 'RUNS=%q\nDURATION=%q\nSERVER_CPU=%q\nCLIENT_CPU=%q\nCASES=%q\n' "$RUNS" "$DURATION" "$SERVER_CPU" "$CLIENT_CPU" "$CASES" >"$OUT/meta.env"

cases=()
for c in $CASES; do
    case "$c" in
        sequential | ensemble) cases+=("$c") ;;
        hop) cases+=(relay echo) ;;
        *) die "unknown case '$c' (sequential ensemble hop)" ;;
    esac
done

: >"$OUT/load.tsv"
: >"$OUT/start.tsv"
: >"$OUT/hop.tsv"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
for r in $(seq "$RUNS"); do
    if [ $((r % 2)) = 1 ]; then servers=(tiffin bentoml); else servers=(bentoml tiffin); fi
    for c in "${cases[@]}"; do
        for s in "${servers[@]}"; do measure "$s" "$c" "$r"; done
    done
    if [[ " $CASES " == *" hop "* ]]; then
        for s in "${servers[@]}"; do hop_pair "$s" relay echo "$r"; done
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# load average before: $LOAD_BEFORE, after: $LOAD_AFTER; took $(($(date +%s) - T_START)) s" >>"$OUT/header.txt"
fi # REPORT_ONLY
# REPORT_ONLY=1: the tables and the chart again, from the raw results of the last run in $OUT.
[ -f "$OUT/meta.env" ] || die "no results in $OUT"
. "$OUT/meta.env"

# ---- report -----------------------------------------------------------------------------------
{
    cat "$OUT/header.txt"
    echo
    python3 "$HERE/bench.py" report "$OUT"
} | tee "$OUT/report.md"

HOP=0
[ -s "$OUT/hop.tsv" ] && HOP=1
# The notes panel; "\\\\n" reaches gnuplot as \n, a new line in its string.
NOTES=$(printf '%s\\\\n' \
    "The same graphs and the same toy math in both;" \
    "1 worker (process) per service." \
    "Every process of a server pinned to CPU $SERVER_CPU," \
    "wrk -t1 on CPU $CLIENT_CPU; ${DURATION} s per load (1 MiB at" \
    "64 connections: $((2 * DURATION)) s); median of $RUNS runs." \
    "" \
    "1 MiB: 512 x 512 float32 sent as JSON (2.6 MB)." \
    "Between services: tiffin raw float32 (t typed)," \
    "BentoML numpy arrays as pickle 5." \
    "" \
    "A shared VM with other work running: read the" \
    "min-max bars. $(nproc) vCPUs, Linux $(uname -r)")
sed "s|@DATA@|$OUT/chart.dat|; s|@OUT@|$OUT/chart.png|; s|@HOP@|$HOP|; s|@NOTES@|$NOTES|; s|@TITLE@|tiffin vs BentoML $BENTOML_VERSION, $(nproc) CPUs, server on 1 CPU, $(date -u +%Y-%m-%d); median of $RUNS runs, bars: min–max|" \
    "$HERE/chart.gp" >"$OUT/chart.gp"
if timeout 60 gnuplot "$OUT/chart.gp" 2>"$OUT/gnuplot.log"; then
    say "chart: $OUT/chart.png (docs/bench-vs-bentoml.png is a copy of it)"
else
    say "no chart (a panel without data? see $OUT/gnuplot.log)"
fi
