#!/usr/bin/env bash
# The docsearch pipeline served by tiffin (build/examples/docsearch) and by BentoML 1.4.40
# (bench/docsearch/service.py), measured in the same run through the same HTTP API with
# bench/docsearch/measure.py:
#
#   bench/docsearch/run.sh                       # a few minutes after the first install
#   N1=20 N16=48 SKIP_BENTOML=1 bench/docsearch/run.sh
#
# 1. Installs bench/docsearch/requirements.txt (BentoML and everything it pulls in, plus
#    onnxruntime, tokenizers, OpenCV and Pillow for RapidOCR's code, every package pinned) into
#    build/docsearch-bench/venv, once; fetches the model files (scripts/fetch-docsearch-data.sh).
# 2. For each server: starts it in a session of its own (taskset to SERVER_CPUS), waits for
#    GET /readyz, checks one answer (examples/docsearch/request.json, "how much did the milk
#    cost", must rank line 2, "Whole milk 2 L ... 3.49", first), then measure.py latency: N1
#    requests at 1 connection, N16 at 16 (on CLIENT_CPU), each with k=3: p50, p99, requests/s,
#    degraded and failed answers; for tiffin also the entry's per-stage timings (timings_ms).
# 3. Prints markdown tables with the load average (a shared machine); raw output in $OUT.
# Every server is killed on exit (trap); every step runs under a time limit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N1=${N1:-20}
N16=${N16:-48}
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

for tool in taskset timeout setsid; do
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
    for _ in $(seq 150); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# measure NAME FLAGS COMMAND...: starts a server on a free port (in $PORT), waits until ready, checks
# the answer, then measures it (its tables appended to $OUT/NAME.md).
measure() {
    local name=$1 extra=$2
    shift 2
    PORT=$(python3 "$BENCH_PY" port)
    local log="$OUT/$name.log" t0
    t0=$(date +%s%N)
    (cd "${CWD:-$ROOT}" && exec setsid taskset -c "$SERVER_CPUS" "$@" --host 127.0.0.1 \
        --port "$PORT") >"$log" 2>&1 </dev/null &
    PID=$!
    if ! timeout 200 python3 "$BENCH_PY" ready "$t0" "$PORT" 180 "$PID" >"$OUT/$name-ready.txt"; then
        tail -30 "$log" >&2
        die "$name did not get ready"
    fi
    say "$name ready in $(cat "$OUT/$name-ready.txt") ms"
    timeout 120 python3 "$BENCH_PY" check "$PORT" /search "$REQUEST" \
        '^\{"results": ?\[\{"line": ?2,.*"text": ?"Whole ?milk ?2 ?L ?3\.49"' ||
        { tail -30 "$log" >&2; die "$name answered wrong"; }
    # shellcheck disable=SC2086 # extra is a list of flags
    timeout 1800 taskset -c "$CLIENT_CPU" "$VENV/bin/python" "$HERE/measure.py" latency \
        --url "http://127.0.0.1:$PORT" --n1 "$N1" --n16 "$N16" --name "$name" $extra \
        --json "$OUT/$name.json" | tee "$OUT/$name.md"
    cleanup
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
[ -x "$ROOT/build/examples/docsearch" ] || die "build/examples/docsearch is missing (make examples)"
# The OCR call may wait as long as the load makes it: no degraded answers in a throughput run.
DOCSEARCH_OCR_TIMEOUT_MS=300000 measure tiffin --timings "$ROOT/build/examples/docsearch" serve
if [ "${SKIP_BENTOML:-0}" != 1 ]; then
    BV=$("$VENV/bin/python" -c 'import bentoml; print(bentoml.__version__)')
    CWD=$HERE measure "BentoML-$BV" "" "$VENV/bin/bentoml" serve service:Search \
        --working-dir "$HERE"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "docsearch, 10-line request (examples/docsearch/request.json, k=3), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, servers on CPUs $SERVER_CPUS, client on CPU $CLIENT_CPU; load average before $LOAD_BEFORE, after $LOAD_AFTER (a shared machine)"
    echo
    for f in "$OUT"/*.md; do [ "$f" = "$OUT/report.md" ] || { cat "$f"; echo; }; done
} | tee "$OUT/report.md"
