#!/usr/bin/env bash
# Time to first piece through the 3-service streaming pipeline (see ttfp.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
[ -x "$BUILD/examples/streaming" ] || { echo "run.sh: build $BUILD/examples/streaming first (make all)" >&2; exit 1; }
BUILD=$BUILD exec python3 bench/streaming/ttfp.py
