#!/usr/bin/env bash
# Adaptive batching on int8 MiniLM (ONNX), in one run on the same cores: tiffin with and without
# --batch, BentoML 1.4.40's adaptive batching and Triton 2.51's dynamic batcher, against the
# model's own limit in a plain C loop. Results: docs/benchmarks.md, "Adaptive batching on MiniLM".
#
#   make bench-batch-minilm                  # builds, then this (also part of `make bench`)
#   bench/batch-minilm/run.sh                # expects `make all` done
#   DURATION=3 CONNS="1 64" bench/batch-minilm/run.sh   # quick look
#
# 1. Once: a venv build/batch-minilm/venv with BentoML and onnxruntime (requirements.txt, every
#    package pinned: bench/vs-bentoml's set plus onnxruntime 1.31.1 and its deps); PyPI's
#    nvidia-pytriton 0.7.0 wheel fetched with `pip download --no-deps` and unpacked into
#    build/batch-minilm/triton (its tritonserver binary, python backend and the Python 3.11 stub),
#    and numpy 1.26.4 + onnxruntime 1.31.1 under build/batch-minilm/triton-site for the stub
#    (pytriton's python backend needs numpy < 2: with numpy 2 every output came back empty).
#    If any of that fails, the peer is left out of the tables with the reason.
# 2. The offline limit: build/bench/batch-minilm pinned to CPU $SERVER_CPU, 1 intra-op thread
#    (the session options of tiffin's backend), sequence 16, rows/s at batch 1..32.
# 3. For each concurrency of CONNS and each server (the order rotates per concurrency, so a
#    shared machine's slow periods fall on all alike): the server started pinned to CPU
#    $SERVER_CPU (setsid + taskset; every process of BentoML or Triton shares that core), one
#    answer checked, 1 s of warm-up, then wrk -t1 pinned to CPU $CLIENT_CPU for DURATION s with
#    --latency --timeout 60s; then the server is stopped (its whole session).
#      tiffin        build/tiffin serve MODEL --workers 1 --threads 1
#      tiffin+batch  the same with --batch $MAX_SIZE --max-latency-ms $LATENCY
#      bentoml       bento_service.py: @bentoml.api(batchable=True, max_batch_size=$MAX_SIZE,
#                    max_latency_ms=$LATENCY), onnxruntime from PyPI, 1 worker
#      bentoml-long  the same with max_latency_ms=$BENTOML_LONG_MS: BentoML's dispatcher answers
#                    503 to a request it predicts would exceed max_latency_ms, which at 10 ms
#                    on a ~10 ms-a-row model is most of them under load
#      triton        python backend (triton/model.py, onnxruntime), max_batch_size $MAX_SIZE,
#                    dynamic_batching { max_queue_delay_microseconds: $LATENCY * 1000 }
#    The request: one sentence of 16 token ids. tiffin and Triton get input_ids, attention_mask
#    and token_type_ids ([1, 16] each; Triton in its KServe v2 JSON form); BentoML's batchable
#    APIs take one argument, so it gets input_ids alone and builds the other two (ones, zeros).
#    Every answer is last_hidden_state [1, 16, 384] as JSON.
# 4. Prints the tables and the issue's targets; raw output stays in $OUT.
#    The CPU time of the server's processes (it and its descendants) is read from /proc before
#    and after: rows per CPU second, a measure that other sessions' load on the core hardly
#    moves.
#    "offline" in that rotation runs the C loop again at the best batch size for DURATION s
#    (rows over wall time): the limit of the moment, since the machine's load changes.
# req/s counts 200 answers only (errors: non-2xx and socket errors, a column of their own; wrk's
# percentiles include the errors' latencies).
# Environment: DURATION (5), CONNS ("1 8 32 64 128"), SERVERS ("offline tiffin tiffin+batch
# bentoml bentoml-long triton"), BENTOML_LONG_MS (1000), MAX_SIZE (32), LATENCY (10),
# SERVER_CPU (0), CLIENT_CPU (1), OUT (build/batch-minilm/results).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 8 32 64 128"}
SERVERS=${SERVERS:-"offline tiffin tiffin+batch bentoml bentoml-long triton"}
BENTOML_LONG_MS=${BENTOML_LONG_MS:-1000}
MAX_SIZE=${MAX_SIZE:-32}
LATENCY=${LATENCY:-10}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT=${OUT:-"$ROOT/build/batch-minilm/results"}
CACHE="$ROOT/build/batch-minilm"
VENV="$CACHE/venv"
MODEL="$ROOT/build/deps/models/minilm-int8.onnx"
TIFFIN="$ROOT/build/tiffin"
OFFLINE="$ROOT/build/bench/batch-minilm"
PYTRITON=nvidia-pytriton==0.7.0

say() { echo "batch-minilm: $*" >&2; }
die() { say "$*"; exit 1; }
for tool in wrk taskset setsid timeout curl python3; do
    command -v "$tool" >/dev/null || die "$tool is required (scripts/install-deps.sh bench)"
done
for f in "$TIFFIN" "$OFFLINE" "$MODEL"; do
    [ -e "$f" ] || die "$f is missing: run 'make all' first"
done

# ---- peers, installed once under build/batch-minilm --------------------------------------------
mkdir -p "$CACHE" "$OUT"
declare -A SKIP=()
REQ_SUM=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$REQ_SUM" ]; then
    say "installing BentoML and onnxruntime into $VENV"
    rm -rf "$VENV"
    if timeout 120 python3 -m venv "$VENV" &&
        timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"; then
        echo "$REQ_SUM" >"$VENV/.requirements"
    else
        SKIP[bentoml]="its venv could not be installed"
    fi
fi
TRITON="$CACHE/triton/pytriton/tritonserver"
if [ ! -x "$TRITON/backends/python/triton_python_backend_stub" ] || [ ! -d "$CACHE/triton-site/numpy" ]; then
    say "fetching $PYTRITON (tritonserver) and the stub's numpy/onnxruntime"
    rm -rf "$CACHE/triton" "$CACHE/triton-site" "$CACHE/wheels"
    if timeout 600 "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps \
        --only-binary=:all: -d "$CACHE/wheels" "$PYTRITON" &&
        "$VENV/bin/python" -c 'import glob, sys, zipfile
zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]).extractall(sys.argv[2])' "$CACHE/wheels" "$CACHE/triton" &&
        timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check --target "$CACHE/triton-site" \
            numpy==1.26.4 onnxruntime==1.31.1; then
        chmod +x "$TRITON/bin/tritonserver" "$TRITON"/python_backend_stubs/*/triton_python_backend_stub
        cp "$TRITON/python_backend_stubs/3.11/triton_python_backend_stub" "$TRITON/backends/python/"
    else
        SKIP[triton]="the $PYTRITON wheel or the stub's packages could not be fetched"
    fi
fi
[ "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = 3.11 ] ||
    SKIP[triton]="the python backend stub used here is built for Python 3.11"
REPO="$CACHE/repo"
rm -rf "$REPO"
mkdir -p "$REPO/minilm/1"
sed "s|@SITE@|$CACHE/triton-site|" "$HERE/triton/model.py" >"$REPO/minilm/1/model.py"
sed -e "s|@MODEL@|$MODEL|" -e "s|@MAX_SIZE@|$MAX_SIZE|" -e "s|@DELAY_US@|$((LATENCY * 1000))|" \
    "$HERE/triton/config.pbtxt.in" >"$REPO/minilm/config.pbtxt"

# ---- request bodies -----------------------------------------------------------------------------
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
ids = [101] + [1000 + (i * 7919) % 20000 for i in range(14)] + [102]
full = {"input_ids": [ids], "attention_mask": [[1] * 16], "token_type_ids": [[0] * 16]}
v2 = {"inputs": [{"name": k, "shape": [1, 16], "datatype": "INT64", "data": v[0]}
                 for k, v in full.items()]}
for name, body in (("tiffin", full), ("bentoml", {"input_ids": [ids]}), ("triton", v2)):
    open("%s/%s.json" % (out, name), "w").write(json.dumps(body, separators=(",", ":")))
PY
for name in tiffin bentoml triton; do
    cat >"$OUT/$name.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$OUT/$name.json"); wrk.body = f:read("*a"); f:close()
EOF
done

# ---- servers ---------------------------------------------------------------------------------------
PID=""
stop_server() {
    [ -n "$PID" ] || return 0
    kill -TERM -- "-$PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}
trap stop_server EXIT
# cpu_seconds PID: user + system CPU time of process PID and all its descendants (BentoML's
# workers, which leave the session, Triton's python stub), from /proc.
cpu_seconds() {
    python3 - "$1" <<'PY'
import os, sys
root, stat = int(sys.argv[1]), {}
for p in os.listdir("/proc"):
    if not p.isdigit(): continue
    try: f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    except OSError: continue
    stat[int(p)] = (int(f[1]), int(f[11]) + int(f[12]))  # ppid, utime + stime
def under(p):
    while p > 1:
        if p == root: return True
        p = stat[p][0] if p in stat else 0
    return False
print(sum(t for p, (_, t) in stat.items() if under(p)) / os.sysconf("SC_CLK_TCK"))
PY
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server NAME: starts it in a session of its own; sets PID, URL (the predict route), BODY
# (the body name), READY (seconds from start to a first good answer).
start_server() {
    local name=$1 port log="$OUT/$1.log" t0
    port=$(free_port)
    t0=$(date +%s.%N)
    case $name in
    tiffin | tiffin+batch)
        local args=(--workers 1 --threads 1)
        [ "$name" = tiffin+batch ] && args+=(--batch "$MAX_SIZE" --max-latency-ms "$LATENCY")
        setsid taskset -c "$SERVER_CPU" "$TIFFIN" serve "$MODEL" --port "$port" "${args[@]}" \
            >"$log" 2>&1 </dev/null &
        URL="http://127.0.0.1:$port/predict" BODY=tiffin READYZ="http://127.0.0.1:$port/readyz" ;;
    bentoml | bentoml-long)
        local lat=$LATENCY
        [ "$name" = bentoml-long ] && lat=$BENTOML_LONG_MS
        (cd "$HERE" && BENTOML_HOME="$OUT/bentoml-home" BENTOML_DO_NOT_TRACK=true \
            PYTHONDONTWRITEBYTECODE=1 MINILM_MODEL="$MODEL" MINILM_MAX_SIZE="$MAX_SIZE" \
            MINILM_MAX_LATENCY_MS="$lat" exec setsid taskset -c "$SERVER_CPU" \
            "$VENV/bin/bentoml" serve bento_service:MiniLM --host 127.0.0.1 --port "$port") \
             >"$log" 2>&1 </dev/null &
        URL="http://127.0.0.1:$port/predict" BODY=bentoml READYZ="http://127.0.0.1:$port/readyz" ;;
    triton)
        LD_LIBRARY_PATH="$CACHE/triton/nvidia_pytriton.libs" setsid taskset -c "$SERVER_CPU" \
            "$TRITON/bin/tritonserver" --model-repository="$REPO" \
            --backend-directory="$TRITON/backends" --http-port "$port" --allow-grpc=false \
            --allow-metrics=false >"$log" 2>&1 </dev/null &
        URL="http://127.0.0.1:$port/v2/models/minilm/infer" BODY=triton
        READYZ="http://127.0.0.1:$port/v2/health/ready" ;;
    esac
    PID=$!
    for _ in $(seq 1200); do
        kill -0 "$PID" 2>/dev/null || { tail -5 "$log" >&2; return 1; }
        curl -sf "$READYZ" >/dev/null 2>&1 && break
        sleep 0.05
    done
    curl -sf -H 'Content-Type: application/json' --data @"$OUT/$BODY.json" "$URL" >"$OUT/answer.json" ||
        { tail -5 "$log" >&2; return 1; }
    python3 - "$OUT/answer.json" <<'PY' || return 1
import json, sys
a = json.load(open(sys.argv[1]))
if isinstance(a, dict) and "outputs" in a:  # Triton: flat data and a shape
    o = a["outputs"][0]; n, shape = len(o["data"]), o["shape"]
else:
    a = a.get("last_hidden_state", a) if isinstance(a, dict) else a
    shape = []
    while isinstance(a, list): shape.append(len(a)); a = a[0]
    n = shape[0] * shape[1] * shape[2]
if shape != [1, 16, 384] or n != 16 * 384:
    sys.exit("batch-minilm: unexpected answer shape %s" % shape)
PY
    READY=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
}

# ---- 1. the offline limit -------------------------------------------------------------------------
echo "# bench/batch-minilm — $(date -u +%FT%RZ), $(nproc) CPUs ($(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg) (machine shared with other work)"
echo
taskset -c "$SERVER_CPU" "$OFFLINE" "$MODEL" 16 1 0.3 5 >"$OUT/offline.txt"
LIMIT=$(awk '$1 == "best" {print $3}' "$OUT/offline.txt")
BEST=$(awk '$1 == "best" {print $2}' "$OUT/offline.txt")
MS_MAX=$(awk -v s="$MAX_SIZE" '$1 == s {print $3}' "$OUT/offline.txt")
echo "## Offline limit: ONNX Runtime C API in a C loop, 1 intra-op thread, CPU $SERVER_CPU, sequence 16"
echo
echo "| batch | rows/s | ms per batch | of best |"
echo "|---:|---:|---:|---:|"
awk -v l="$LIMIT" '$1 ~ /^[0-9]+$/ {printf "| %s | %.1f | %.1f | %.0f%% |\n", $1, $2, $3, 100 * $2 / l}' "$OUT/offline.txt"
echo
echo "limit: $LIMIT rows/s at batch $BEST; one batch of $MAX_SIZE: ${MS_MAX:-?} ms"
echo

# ---- 2. served ---------------------------------------------------------------------------------------
: >"$OUT/results.tsv"
read -ra servers <<<"$SERVERS"
rot=0
for c in $CONNS; do
    n=${#servers[@]}
    for k in $(seq 0 $((n - 1))); do
        s=${servers[$(((k + rot) % n))]}
        [ -z "${SKIP[$s]:-}" ] || continue
        if [ "$s" = offline ]; then # the limit again, over a window like a served run's
            read -r _ _ r rc < <(taskset -c "$SERVER_CPU" "$OFFLINE" "$MODEL" run "$BEST" "$DURATION")
            printf 'offline\t%s\t%s\tnan\tnan\t0\t%s\t-\t-\t%s\n' "$c" "$r" "$BEST" "$rc" >>"$OUT/results.tsv"
            continue
        fi
        if ! start_server "$s"; then
            SKIP[$s]="did not start or answer (log: $OUT/$s.log)"
            stop_server
            continue
        fi
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d1s --timeout 60s -s "$OUT/$BODY.lua" "$URL" >/dev/null
        cpu0=$(cpu_seconds "$PID")
        taskset -c "$CLIENT_CPU" wrk -t1 -c"$c" -d"${DURATION}s" --timeout 60s --latency \
            -s "$OUT/$BODY.lua" "$URL" >"$OUT/wrk-$s-$c.txt"
        cpu=$(python3 -c "print($(cpu_seconds "$PID") - $cpu0)")
        health="{}"
        case $s in tiffin*) health=$(curl -sf "${URL%/predict}/healthz" || echo '{}') ;; esac
        stop_server
        python3 - "$OUT/wrk-$s-$c.txt" "$s" "$c" "$READY" "$health" "$cpu" >>"$OUT/results.tsv" <<'PY'
import json, re, sys
wrk = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)\b" % label, wrk, re.M)
    if not m: return float("nan")
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
bad = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", wrk))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wrk)
if m: bad += sum(int(x) for x in m.groups())
m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", wrk)
secs = float(m.group(2)) * {"ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
ok = max(int(m.group(1)) - bad, 0)
rps = ok / secs  # answered with 200 only
cpu = float(sys.argv[6])
b = json.loads(sys.argv[5]).get("batch", {}).get("predict") or {}
size = "%.1f" % b["mean_size"] if "mean_size" in b else "-"
wait = "%.1f" % b["wait_ms"]["mean"] if "wait_ms" in b else "-"
print("\t".join([sys.argv[2], sys.argv[3], "%.1f" % rps, "%.1f" % ms("50%"), "%.1f" % ms("99%"),
                 str(bad), size, wait, sys.argv[4], "%.1f" % (ok / cpu) if cpu > 0 else "nan"]))
PY
    done
    rot=$((rot + 1))
done

# ---- 3. tables -------------------------------------------------------------------------------------
echo "## Served: wrk -t1 ${DURATION}s per point (CPU $CLIENT_CPU), server on CPU $SERVER_CPU; batching: max $MAX_SIZE rows, $LATENCY ms"
echo
for s in $SERVERS; do [ -z "${SKIP[$s]:-}" ] || echo "$s: left out: ${SKIP[$s]}"; done
python3 - "$OUT/results.tsv" "$LIMIT" "$LATENCY" "${MS_MAX:-0}" "$MAX_SIZE" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
limit, lat, ms_max, max_size = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
r = {(x[0], int(x[1])): x for x in rows}
def window(c):  # the offline loop's rows/s in this concurrency's rotation, else the best case
    x = r.get(("offline", c)); return float(x[2]) if x else limit
order = {"offline": 0, "tiffin": 1, "tiffin+batch": 2, "bentoml": 3, "bentoml-long": 4, "triton": 5}
def cpu_window(c):
    x = r.get(("offline", c)); return float(x[9]) if x and x[9] != "nan" else None
print("| server | conns | req/s (200) | p50 ms | p99 ms | errors | of limit (same window) | of best-case limit | rows per CPU-s | of limit (CPU) | mean batch | mean wait ms | ready s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for x in sorted(rows, key=lambda x: (int(x[1]), order.get(x[0], 9))):
    f = lambda v: "-" if v == "nan" else v
    cw = cpu_window(int(x[1]))
    of_cpu = "%.0f%%" % (100 * float(x[9]) / cw) if cw and x[9] != "nan" else "-"
    print("| %s | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %s | %s | %s | %s | %s |" % (x[0],
          x[1], x[2], f(x[3]), f(x[4]), x[5], 100 * float(x[2]) / window(int(x[1])),
          100 * float(x[2]) / limit, f(x[9]), of_cpu, x[6], x[7], x[8]))
print()
print("(offline rows: the C loop at the best batch size, run in the rotation; its mean batch column is that size.")
print("rows per CPU-s: 200 answers over the CPU time of the server's processes during the run, any thread;")
print("of limit (CPU): against the offline loop's rows per CPU second in the same rotation)")
print()
print("Targets (issue 11), tiffin+batch:")
def get(s, c, i=2):
    x = r.get((s, c)); return float(x[i]) if x else None
t64 = get("tiffin+batch", 64)
if t64 is not None:
    w, cw, c64 = window(64), cpu_window(64), get("tiffin+batch", 64, 9)
    print("- 64 connections: %.0f%% of the offline loop in the same window, %.0f%% of its best case (target >= 90%%): %s"
          % (100 * t64 / w, 100 * t64 / limit, "met" if t64 >= 0.9 * w else "NOT met"))
    if cw and c64 == c64:
        print("  per CPU second of the server's core: %.0f%% of the offline loop's rows per CPU second: %s"
              % (100 * c64 / cw, "met" if c64 >= 0.9 * cw else "NOT met"))
bound = lat + ms_max
for c in sorted({int(x[1]) for x in rows}):
    p99 = get("tiffin+batch", c, 4)
    if p99 is None: continue
    note = "" if c <= max_size else " (more connections than a batch holds: a request can wait several batches)"
    print("- p99 at %d connections: %.1f ms vs max_latency_ms + one batch of %d = %.1f ms: %s%s"
          % (c, p99, max_size, bound, "met" if p99 <= bound else "NOT met", note))
for peer in ("bentoml", "bentoml-long", "triton"):
    ratios = []
    for c in sorted({int(x[1]) for x in rows}):
        a, b = get("tiffin+batch", c), get(peer, c)
        if a is not None and b: ratios.append("%d: %.2fx" % (c, a / b))
    if ratios:
        print("- req/s against %s (tiffin+batch / %s) at each concurrency: %s" % (peer, peer, ", ".join(ratios)))
a, b = get("tiffin+batch", 1), get("tiffin", 1)
if a is not None and b:
    print("- 1 connection: %.1f%% %s than without batching (target: at most 10%% slower): %s"
          % (abs(100 * (1 - a / b)), "slower" if a < b else "faster", "met" if a >= 0.9 * b else "NOT met"))
PY
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw results in $OUT"
