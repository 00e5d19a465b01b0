#!/usr/bin/env bash
# Adds up the totals tests/run.sh wrote for each build folder and prints the closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
passed=0 failed=0
for b in "$@"; do
    read -r p f < "$b/test-results.txt"
    passed=$((passed + p)); failed=$((failed + f))
done
echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
