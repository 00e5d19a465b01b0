#!/usr/bin/env bash
# Builds bench/json-candidates/json_bench.c into a temporary directory and runs it.
#   bench/json-candidates/run.sh
# Needs libjansson-dev and libcjson-dev; links build/libtiffin.a for the "tiffin" rows when it
# exists (run `make all` first). Environment: CC (cc), CPU (pin to this CPU; default 0).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CC=${CC:-cc}
CPU=${CPU:-0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tiffin-json-candidates.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
extra=()
if [ -f "$ROOT/build/libtiffin.a" ]; then
    # shellcheck disable=SC2207 # pkg-config output is a word list
    extra=(-DWITH_TIFFIN -I"$ROOT/include" -I"$ROOT/lib" "$ROOT/build/libtiffin.a"
        $(pkg-config --libs libuv) -lhttp_parser)
else
    echo "json-candidates: build/libtiffin.a missing; leaving out the tiffin rows" >&2
fi
# shellcheck disable=SC2046
$CC -O2 -std=c11 -Wall -Wextra -o "$WORK/json_bench" "$HERE/json_bench.c" "${extra[@]}" \
    $(pkg-config --cflags --libs jansson libcjson) -lm -lpthread
timeout 300 taskset -c "$CPU" "$WORK/json_bench"
