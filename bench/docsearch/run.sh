#!/usr/bin/env bash
# The docsearch pipeline in BentoML 1.4.40 (bench/docsearch/service.py): installs it, serves it,
# checks a real answer and measures it with wrk. The tiffin side joins this script once the C
# pipeline exists (issue 12); until then it measures BentoML alone.
#
#   bench/docsearch/run.sh                     # about 2 minutes after the first install
#   CONNS="1 16" DURATION=10 bench/docsearch/run.sh
#
# 1. Installs bench/docsearch/requirements.txt (BentoML and everything it pulls in, plus
#    onnxruntime, tokenizers, OpenCV and Pillow for RapidOCR's code, every package pinned) into
#    build/docsearch-bench/venv, once; fetches the model files (scripts/fetch-docsearch-data.sh).
# 2. Starts `bentoml serve service:Search` in a session of its own (taskset to SERVER_CPUS), waits
#    for GET /readyz, checks one answer: examples/docsearch/request.json ("how much did the milk
#    cost" and the ten lines of a receipt) must rank line 2, "Whole milk 2 L ... 3.49", first.
# 3. wrk -t1 (on CLIENT_CPU) for DURATION s at each of CONNS connections, --latency; prints a
#    markdown table (requests/s, p50, p99) with the load average (a shared machine) and keeps the
#    raw output in $OUT.
# Every server is killed on exit (trap); every step runs under a time limit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-10}
CONNS=${CONNS:-"1 16"}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-"$ROOT/build/docsearch-bench/results"}
VENV="$ROOT/build/docsearch-bench/venv"
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$PYTHON" ] || PYTHON=python3
BENCH_PY="$ROOT/bench/vs-bentoml/bench.py" # port, ready, check: standard library only
REQUEST="$ROOT/examples/docsearch/request.json"

say() { echo "docsearch-bench: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in wrk taskset timeout setsid; do
    command -v "$tool" >/dev/null || die "$tool is required (scripts/install-deps.sh bench)"
done
"$ROOT/scripts/fetch-docsearch-data.sh" "$ROOT/build/deps"

REQ_SUM=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQ_SUM" ]; then
    say "installing BentoML and onnxruntime into $VENV (requirements.txt)"
    rm -rf "$VENV"
    timeout 120 "$PYTHON" -m venv "$VENV"
    timeout 1200 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$REQ_SUM" >"$VENV/.requirements"
fi

mkdir -p "$OUT"
export BENTOML_HOME="$OUT/bentoml-home" BENTOML_DO_NOT_TRACK=true PYTHONDONTWRITEBYTECODE=1
export DOCSEARCH_DATA="$ROOT/build/deps/docsearch"
printf 'local f = assert(io.open("%s", "rb"))\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\nwrk.headers["Content-Type"] = "application/json"\n' \
    "$REQUEST" >"$OUT/request.lua"

PID=""
cleanup() {
    [ -n "$PID" ] || return 0
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 "$BENCH_PY" port)
LOG="$OUT/bentoml.log"
t0=$(date +%s%N)
(cd "$HERE" && exec setsid taskset -c "$SERVER_CPUS" "$VENV/bin/bentoml" serve service:Search \
    --working-dir "$HERE" --host 127.0.0.1 --port "$PORT") >"$LOG" 2>&1 </dev/null &
PID=$!
if ! timeout 200 python3 "$BENCH_PY" ready "$t0" "$PORT" 180 "$PID" >"$OUT/ready.txt"; then
    tail -30 "$LOG" >&2
    die "BentoML did not get ready"
fi
say "ready in $(cat "$OUT/ready.txt") ms"
timeout 120 python3 "$BENCH_PY" check "$PORT" /search "$REQUEST" '^\{"results": ?\[\{"line": ?2,.*"text": ?"Whole ?milk ?2 ?L ?3\.49"' ||
    { tail -30 "$LOG" >&2; die "BentoML answered wrong"; }
curl -s "http://127.0.0.1:$PORT/search" -H 'Content-Type: application/json' -d @"$REQUEST" >"$OUT/answer.json" || true
timeout 120 taskset -c "$CLIENT_CPU" wrk -t1 -c2 -d3s --timeout 30s -s "$OUT/request.lua" \
    "http://127.0.0.1:$PORT/search" >/dev/null 2>&1 || true # warm-up

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rows=()
for c in $CONNS; do
    out="$OUT/wrk-c$c.txt"
    timeout $((DURATION + 90)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d"${DURATION}s" --timeout 30s \
        --latency -s "$OUT/request.lua" "http://127.0.0.1:$PORT/search" >"$out" 2>&1 || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    errors=$(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' ' || true)
    rows+=("| BentoML $("$VENV/bin/python" -c 'import bentoml; print(bentoml.__version__)') | $c | ${rps:-?} | ${p50:-?} | ${p99:-?} | ${errors:-none} |")
    say "c=$c: ${rps:-?} req/s, p50 ${p50:-?}, p99 ${p99:-?} ${errors}"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "docsearch, 10-line request (examples/docsearch/request.json), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, server on CPUs $SERVER_CPUS, wrk -t1 on CPU $CLIENT_CPU, ${DURATION} s per load; load average before $LOAD_BEFORE, after $LOAD_AFTER (a shared machine)"
    echo
    echo "| server | connections | requests/s | p50 | p99 | errors |"
    echo "|---|---:|---:|---:|---:|---|"
    printf '%s\n' "${rows[@]}"
} | tee "$OUT/report.md"
