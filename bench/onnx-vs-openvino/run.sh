#!/usr/bin/env bash
# ONNX Runtime 1.31.1 against OpenVINO 2026.4.1, each through its C API, on int8 MiniLM
# (build/deps/models/minilm-int8.onnx), sequence 16, 1 and 2 threads: load time, latency at
# batch 1, 8 and 32 (median, p90), throughput, peak RSS, install size, and whether the two give
# the same embeddings. One process per runtime and configuration (compare.c); the runtimes
# alternate, and their order flips every round, so a shared machine's noise falls on both;
# the table gives the median over ROUNDS rounds and the ratio OpenVINO / ONNX Runtime.
#
#   make bench-onnx-vs-openvino      (fetches OpenVINO's wheel into build/deps/openvino once)
#
# Environment: BUILD (build), ROUNDS (5), THREADS ("1 2"), SEQ (16),
# BATCHES (the compare.c list, "1:100,8:30,32:20").
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-"1 2"}
SEQ=${SEQ:-16}
BATCHES=${BATCHES:-"1:100,8:30,32:20"}
BIN=$BUILD/bench/onnx-vs-openvino
MODEL=build/deps/models/minilm-int8.onnx
for f in "$BIN" "$MODEL"; do
    [ -e "$f" ] || { echo "run.sh: $f missing (make bench-onnx-vs-openvino)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-ovort.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Install sizes: each wheel as PyPI serves it (ONNX Runtime's is fetched here only to weigh
# it; fetch-onnx.sh keeps just the library) and the libraries a C program needs from it.
wheels=build/deps/bench-wheels
mkdir -p "$wheels"
if ! ls "$wheels"/onnxruntime-1.31.1-*.whl >/dev/null 2>&1; then
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$wheels" onnxruntime==1.31.1 >&2
fi
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ort_whl=$(stat -c %s "$wheels"/onnxruntime-1.31.1-*.whl)
ov_whl=$(stat -c %s build/deps/openvino/wheel/openvino-*.whl)
ort_lib=$(stat -L -c %s build/deps/onnxruntime/lib/libonnxruntime.so.1)
ov_lib=$(find build/deps/openvino/lib -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
ov_all=$(python3 - build/deps/openvino/wheel/openvino-*.whl <<'PY'
import sys, zipfile
print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()
          if i.filename.startswith("openvino/libs/") and ".so" in i.filename))
PY
)

echo "# bench/onnx-vs-openvino: $(date -u +%FT%RZ), $(nproc) CPUs ($(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg); machine shared with other work"
echo "# model $MODEL, sequence $SEQ, batches $BATCHES, $ROUNDS rounds"
# ov = OpenVINO with the CPU plugin's default precision for this processor (printed below);
# ov-f32 = INFERENCE_PRECISION_HINT f32, the same arithmetic as ONNX Runtime's.
for r in $(seq "$ROUNDS"); do
    for t in $THREADS; do
        if [ $((r % 2)) -eq 1 ]; then order="ort ov ov-f32"; else order="ov-f32 ov ort"; fi
        for rt in $order; do
            case $rt in
                ov-f32) env OV_PRECISION=f32 "$BIN" ov "$MODEL" "$t" "$SEQ" "$BATCHES" "$WORK/$rt-$t.bin" ;;
                *) "$BIN" "$rt" "$MODEL" "$t" "$SEQ" "$BATCHES" "$WORK/$rt-$t.bin" ;;
            esac > "$WORK/$rt.$t.$r"
        done
    done
    echo "# round $r done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

python3 - "$WORK" "$ROUNDS" "$THREADS" <<'PY'
import statistics, sys
work, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def read(rt, t, r):
    m = {}
    for line in open("%s/%s.%s.%d" % (work, rt, t, r)):
        f = line.split()
        if f[0] == "batch":
            b = f[1]
            m["b%s_p50" % b], m["b%s_p90" % b], m["b%s_tput" % b] = map(float, (f[5], f[7], f[9]))
        elif f[0] == "precision":
            m["precision"] = f[1]
        else:
            m[f[0]] = float(f[1])
    return m
rows = [("load_ms", "load, file to ready (ms)"), ("first_ms", "first inference, batch 1 (ms)")]
for b in ("1", "8", "32"):
    rows += [("b%s_p50" % b, "batch %s median (ms)" % b), ("b%s_p90" % b, "batch %s p90 (ms)" % b),
             ("b%s_tput" % b, "batch %s throughput (sent/s)" % b)]
rows += [("rss_load_mib", "RSS after load (MiB)"), ("peak_rss_mib", "peak RSS (MiB)")]
for t in threads:
    runs = {rt: [read(rt, t, r) for r in range(1, rounds + 1)] for rt in ("ort", "ov", "ov-f32")}
    med = {rt: {k: statistics.median(m[k] for m in runs[rt]) for k, _ in rows} for rt in runs}
    print("\n## %s thread(s): medians of %d rounds; OpenVINO precision: ov = %s, ov-f32 = %s"
          % (t, rounds, runs["ov"][0]["precision"], runs["ov-f32"][0]["precision"]))
    print("%-32s %10s %10s %9s %10s %9s" % ("metric", "ORT", "OV", "OV/ORT", "OV-f32", "f32/ORT"))
    for k, label in rows:
        a, b, c = med["ort"][k], med["ov"][k], med["ov-f32"][k]
        print("%-32s %10.1f %10.1f %9.2f %10.1f %9.2f" % (label, a, b, b / a, c, c / a))
PY
echo
echo "## Install size (MiB)"
printf '%-44s %8s %8s %7s\n' item ORT OV OV/ORT
printf '%-44s %8s %8s %7.2f\n' "wheel (PyPI)" "$(mib "$ort_whl")" "$(mib "$ov_whl")" "$(awk -v a="$ov_whl" -v b="$ort_whl" 'BEGIN { print a / b }')"
printf '%-44s %8s %8s %7.2f\n' "libraries a C program needs (unpacked)" "$(mib "$ort_lib")" "$(mib "$ov_lib")" "$(awk -v a="$ov_lib" -v b="$ort_lib" 'BEGIN { print a / b }')"
printf '%-44s %8s %8s %7.2f\n' "all the wheel's libraries (unpacked)" "$(mib "$ort_lib")" "$(mib "$ov_all")" "$(awk -v a="$ov_all" -v b="$ort_lib" 'BEGIN { print a / b }')"
echo
echo "## Same embeddings? Mean-pooled, 8 sentences x 384, the last round's files, ORT as reference"
for t in $THREADS; do
    echo "threads $t, ov:     $("$BIN" diff "$WORK/ort-$t.bin" "$WORK/ov-$t.bin")"
    echo "threads $t, ov-f32: $("$BIN" diff "$WORK/ort-$t.bin" "$WORK/ov-f32-$t.bin")"
done
# shellcheck disable=SC2086 # THREADS is a list
set -- $THREADS
[ $# -gt 1 ] && echo "ort $1 vs $2 threads: $("$BIN" diff "$WORK/ort-$1.bin" "$WORK/ort-$2.bin")"
echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
