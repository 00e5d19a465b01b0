#!/usr/bin/env bash
# Time to first piece and whole-stream time through the 3-service streaming pipeline, tiffin and
# BentoML 1.4.40 in one run (see ttfp.py). BentoML comes from build/venv-bentoml, made on first use
# by tests/integration/bentoml_venv.sh; NO_BENTOML=1 runs tiffin alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
[ -x "$BUILD/examples/streaming" ] || { echo "run.sh: build $BUILD/examples/streaming first (make all)" >&2; exit 1; }
BENTOML_BIN=
if [ -z "${NO_BENTOML:-}" ]; then
    py=$(tests/integration/bentoml_venv.sh | tail -1)
    BENTOML_BIN="$(cd "$(dirname "$py")" && pwd)/bentoml"
fi
BUILD=$BUILD BENTOML_BIN=$BENTOML_BIN exec python3 bench/streaming/ttfp.py
