#!/usr/bin/env bash
# Runs every test against one build folder: the C unit tests, then the integration tests (real
# server processes on real sockets, driven by pytest). Writes BUILD/test-results.txt with the
# totals, which tests/summary.sh adds up. Usage: tests/run.sh BUILD
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: tests/run.sh BUILD}
passed=0 failed=0

# Sanitizers: fail on the first report, and LeakSanitizer on exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed' | tail -n1)
    p=$(sed -nE 's/.*: ([0-9]+) passed.*/\1/p' <<<"$line"); f=$(sed -nE 's/.*, ([0-9]+) failed.*/\1/p' <<<"$line")
    p=${p:-0}; f=${f:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or leaked after its summary
    if [ $rc -ne 0 ]; then printf '%s\n' "$out"; fi
    echo "unit ${t##*/}: $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
done

export TFN_BUILD=$build
junit="$build/pytest.xml"
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$junit" tests/integration; rc=$?
read -r p f < <(.venv/bin/python - "$junit" <<'PY' 2>/dev/null || echo "0 0"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = lambda k: sum(int(s.get(k, 0)) for s in suites)
bad = n("failures") + n("errors")
print(n("tests") - bad - n("skipped"), bad)
PY
)
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
echo "integration: $p passed, $f failed"
passed=$((passed + p)); failed=$((failed + f))

echo "$passed $failed" > "$build/test-results.txt"
echo "$build: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
