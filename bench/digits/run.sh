#!/usr/bin/env bash
# Throughput, latency and per-stage time of the digits ensemble (examples/digits), the whole graph
# served by `digits serve`: Digits -> Preprocessing -> [XGBoost, LogReg, SVM, MLP] -> Aggregator
# -> Postprocessing, eight processes, the dependencies on unix sockets.
#
#   make all && bench/digits/run.sh        # expects build/examples/digits and the trained models
#
# 1. Starts `build/examples/digits serve --port 0`, pinned to CPU $SERVER_CPU (every service
#    process inherits the pinning), and waits for "ready".
# 2. wrk -t1 pinned to CPU $CLIENT_CPU, ${DURATION}s --latency, at each concurrency of $CONNS,
#    $RUNS runs each, interleaved:
#      classify        POST /classify with the first held-out image as 64 pixels (a lua script);
#      classify_batch  POST /classify_batch with the first 64 held-out images (one batched call
#                      per model).
#    Also the CPU time of all eight processes (/proc/PID/task/*/schedstat) around every run.
# 3. Stage times: $SAMPLES sequential requests with "timings": true, one at a time on a
#    keep-alive connection; the entry reports the milliseconds of each stage as it saw them
#    (preprocess, the parallel model stage, aggregate, postprocess, total) and each model's own
#    inference time (model_compute). Medians and p99.
# 4. Prints the tables (medians over runs). A non-2xx answer, a degraded one (a model in
#    "missing", counted by the lua script) or a socket error fails the run.
#
# Environment: DURATION (seconds, 5), RUNS (3), CONNS ("1 64"), SERVER_CPU (0), CLIENT_CPU (1),
# SAMPLES (300), SETTLE (seconds of pause after each run, 1: the graph finishes the requests wrk
# left in flight), DIGITS (the program; build/examples/digits), KEEP=1 keeps the temporary folder.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-"1 64"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SAMPLES=${SAMPLES:-300}
SETTLE=${SETTLE:-1}
KEEP=${KEEP:-0}
DIGITS=${DIGITS:-"$ROOT/build/examples/digits"}
TEST_CSV=$(dirname "$(dirname "$DIGITS")")/digits/test.csv

for tool in wrk taskset python3 timeout; do
    command -v "$tool" >/dev/null || { echo "bench/digits: $tool is required (scripts/install-deps.sh bench)" >&2; exit 1; }
done
[ -x "$DIGITS" ] || { echo "bench/digits: $DIGITS is missing: run 'make all' first" >&2; exit 1; }
[ -s "$TEST_CSV" ] || { echo "bench/digits: $TEST_CSV is missing: run 'make all' first" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-bench-digits.XXXXXX")
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "$KEEP" = 1 ]; then echo "kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the request bodies ----------------------------------------------------------------------
python3 - "$TEST_CSV" "$WORK" <<'PY'
import csv, json, sys
rows = [[int(v) for v in r[:64]] for r in csv.reader(open(sys.argv[1]))]
open(sys.argv[2] + "/one.json", "w").write(json.dumps({"pixels": rows[0]}, separators=(",", ":")))
open(sys.argv[2] + "/batch.json", "w").write(json.dumps({"images": rows[:64]}, separators=(",", ":")))
for name in ("one", "batch"):
    body = open(sys.argv[2] + "/" + name + ".json").read()
    api = "classify" if name == "one" else "classify_batch"
    with open(sys.argv[2] + "/" + name + ".lua", "w") as f:
        f.write('wrk.method = "POST"\nwrk.path = "/%s"\nwrk.headers["Content-Type"] = '
                '"application/json"\nwrk.body = [==[%s]==]\n' % (api, body))
        # Counts answers that are 200 but degraded (a model missing): wrk only counts non-2xx.
        f.write('''local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) degraded = 0 end
function response(status, headers, body)
  if not string.find(body, '"missing":[]', 1, true) then degraded = degraded + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("degraded") end
  io.write(string.format("degraded: %d\\n", n))
end
''')
PY

# ---- the graph -------------------------------------------------------------------------------
taskset -c "$SERVER_CPU" "$DIGITS" serve --host 127.0.0.1 --port 0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 600); do
    grep -qx ready "$WORK/serve.out" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
done
if ! grep -qx ready "$WORK/serve.out"; then
    echo "bench/digits: the graph did not start:" >&2
    cat "$WORK/serve.out" "$WORK/serve.err" >&2
    exit 1
fi
PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/serve.out" | head -1)
# The supervisor and every service (the PID column of the table).
PIDS="$SERVER_PID $(awk '$1 == "SERVICE" {t = 1; next} t && $2 ~ /^[0-9]+$/ {print $2}' "$WORK/serve.out" | tr '\n' ' ')"

cpu_ns() { # total on-CPU ns of every thread of the given processes
    for p in $PIDS; do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done | awk '{s += $1} END {printf "%.0f", s}'
}

run_wrk() { # api conns duration out
    local lua=one
    [ "$1" = classify_batch ] && lua=batch
    timeout $(($3 + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$2" -d"$3s" --latency --timeout 10s \
        -s "$WORK/$lua.lua" "http://127.0.0.1:$PORT/$1" >"$4" 2>&1 || true
}

RAW="$WORK/raw.tsv"
: >"$RAW"
for api in classify classify_batch; do run_wrk "$api" 8 1 /dev/null; done # warm-up
sleep "$SETTLE"
failed=0
for r in $(seq "$RUNS"); do
    for c in $CONNS; do
        for api in classify classify_batch; do
            out="$WORK/wrk-$api-c$c-r$r.txt"
            t0=$(cpu_ns)
            run_wrk "$api" "$c" "$DURATION" "$out"
            t1=$(cpu_ns)
            # When wrk stops, the requests it leaves in flight are still being answered (at 64
            # connections of classify_batch, about 64 x 5 ms of SVM work): let the graph drain,
            # or the next run's first request waits behind them.
            sleep "$SETTLE"
            rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
            p50=$(awk '$1 == "50%" {print $2}' "$out")
            p99=$(awk '$1 == "99%" {print $2}' "$out")
            reqs=$(awk '/requests in/ {print $1}' "$out")
            max=$(awk '$1 == "Latency" {print $4}' "$out")
            degraded=$(awk '$1 == "degraded:" {print $2}' "$out")
            if [ -z "$rps" ] || [ -z "$p99" ] || [ -z "$reqs" ] || [ "${degraded:-x}" != 0 ] ||
               grep -qE 'Socket errors|Non-2xx' "$out"; then
                echo "bench/digits: run $r c=$c $api failed or saw errors:" >&2
                sed 's/^/    /' "$out" >&2
                failed=1
                continue
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$api" "$c" "$r" "$rps" "$p50" "$p99" \
                "$((t1 - t0))" "$reqs" "$max" >>"$RAW"
            echo "run $r c=$c $api: $rps req/s p50 $p50 p99 $p99 max $max" >&2
        done
    done
done

# ---- stage times -----------------------------------------------------------------------------
python3 - "$PORT" "$WORK" "$SAMPLES" >"$WORK/stages.txt" <<'PY' || failed=1
import http.client, json, statistics, sys
port, work, samples = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
table = {}
for api, name in (("classify", "one"), ("classify_batch", "batch")):
    body = json.loads(open(work + "/" + name + ".json").read())
    body["timings"] = True
    data = json.dumps(body)
    stages = {}
    for i in range(samples + 10):
        conn.request("POST", "/" + api, data, {"Content-Type": "application/json"})
        r = conn.getresponse()
        answer = json.loads(r.read())
        if r.status != 200 or answer.get("missing"):
            sys.exit("bad answer %d: %s" % (r.status, answer))
        if i < 10:
            continue  # warm-up
        t = answer["timings_ms"]
        for k, v in t.items():
            if k == "model_compute":
                for m, ms in v.items():
                    stages.setdefault("  " + m + " (inference)", []).append(ms)
            else:
                stages.setdefault(k, []).append(v)
    table[api] = stages
order = ["preprocess", "models", "  xgboost (inference)", "  logreg (inference)",
         "  svm (inference)", "  mlp (inference)", "aggregate", "postprocess", "total"]
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]
print("%-24s %12s %12s %14s %14s" % ("stage (ms)", "1 image p50", "1 image p99", "64 images p50", "64 images p99"))
for k in order:
    a, b = table["classify"].get(k, [0]), table["classify_batch"].get(k, [0])
    print("%-24s %12.3f %12.3f %14.3f %14.3f" % (k, statistics.median(a), pct(a, 0.99),
                                                 statistics.median(b), pct(b, 0.99)))
PY
kill -0 "$SERVER_PID" 2>/dev/null || { echo "bench/digits: the graph died during the benchmark" >&2; failed=1; }

# ---- report ----------------------------------------------------------------------------------
echo
echo "# tiffin digits ensemble: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(uname -r), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "# $DIGITS serve: 8 processes on CPU $SERVER_CPU; wrk -t1 on CPU $CLIENT_CPU; ${DURATION}s x $RUNS interleaved runs, medians"
echo "# classify: one image (64 pixels); classify_batch: 64 images, one batched call per model"
python3 - "$RAW" <<'PY'
import re, statistics, sys

def ms(v):
    m = re.match(r"([0-9.]+)(us|ms|s)$", v)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]

rows = {}
for line in open(sys.argv[1]):
    api, c, r, rps, p50, p99, cpu_ns, reqs, mx = line.rstrip("\n").split("\t")
    d = rows.setdefault((api, int(c)), {"rps": [], "p50": [], "p99": [], "cpu": [], "max": []})
    d["rps"].append(float(rps))
    d["p50"].append(ms(p50))
    d["p99"].append(ms(p99))
    d["max"].append(ms(mx))
    d["cpu"].append(int(cpu_ns) / 1e6 / max(1, int(reqs)))
med = statistics.median
out = [["api", "conns", "req/s", "images/s", "p50_ms", "p99_ms", "max_ms", "cpu_ms/req", "runs_req/s", "runs_p99_ms"]]
for (api, c), d in sorted(rows.items()):
    n = 64 if api == "classify_batch" else 1
    out.append([api, str(c), f"{med(d['rps']):.0f}", f"{med(d['rps']) * n:.0f}", f"{med(d['p50']):.2f}",
                f"{med(d['p99']):.2f}", f"{med(d['max']):.2f}", f"{med(d['cpu']):.2f}",
                " ".join(f"{x:.0f}" for x in d["rps"]), " ".join(f"{x:.2f}" for x in d["p99"])])
w = [max(len(r[k]) for r in out) for k in range(len(out[0]))]
for r in out:
    print("  ".join(x.ljust(w[k]) for k, x in enumerate(r)).rstrip())
print("# cpu_ms/req: CPU time of all eight processes (all threads, user + kernel) per request.")
print("# wrk corrects its percentiles for coordinated omission: at conns=1 one stall of S ms adds")
print("#   about S / (mean latency) samples, so a single 200 ms pause moves p99; see max_ms.")
print("# Every answer was checked to have \"missing\": [] (no model left out), besides wrk's non-2xx check.")
PY
echo
echo "# stages, as the entry measured them (\"timings\": true), $SAMPLES sequential requests each:"
cat "$WORK/stages.txt"
echo "# models: the parallel stage, from the first call out to the last answer in (the hops, the"
echo "#   binary encoding and the slowest model); (inference): each model's own predict_proba time."
exit "$failed"
