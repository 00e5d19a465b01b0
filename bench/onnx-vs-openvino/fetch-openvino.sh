#!/usr/bin/env bash
# Fetches OpenVINO's C API for the ONNX Runtime vs OpenVINO bench into a cache (default
# build/deps), once; only the bench uses it (never `make test`, never libtiffin):
#
#   DEST/openvino/wheel/openvino-2026.4.1-*.whl   PyPI's wheel, kept to report its size
#   DEST/openvino/lib/                            the libraries a C program needs to run an ONNX
#                                                 model on the CPU: libopenvino_c, libopenvino,
#                                                 the ONNX frontend, the CPU plugin, TBB
#   DEST/openvino/include/openvino/c/*.h          the C API headers
#
# `pip download --no-deps` (never installed), unpacked with python's zipfile; the item lands
# atomically (a folder renamed into place).
# Usage: bench/onnx-vs-openvino/fetch-openvino.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-build/deps}
ov="$dest/openvino"
OV_VERSION=2026.4.1
# The minimal set, found by trial (the bench runs with these alone): the C API and the core,
# the ONNX reader, the CPU plugin and TBB (the core's thread pool). The wheel's other 15
# libraries (GPU/NPU plugins, other frontends, AUTO/HETERO/batching) are left packed.
LIBS="libopenvino_c.so.2641 libopenvino.so.2641 libopenvino_onnx_frontend.so.2641
      libopenvino_intel_cpu_plugin.so libtbb.so.12"

[ -s "$ov/lib/libopenvino_c.so.2641" ] && [ -s "$ov/include/openvino/c/openvino.h" ] && exit 0

if [ -x .venv/bin/pip ]; then pip=(.venv/bin/pip); else pip=(python3 -m pip); fi
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
mkdir -p "$ov/wheel"
if ! ls "$ov"/wheel/openvino-$OV_VERSION-*.whl >/dev/null 2>&1; then
    echo "fetch-openvino: pip download --no-deps openvino==$OV_VERSION" >&2
    "${pip[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$ov/wheel" "openvino==$OV_VERSION" >&2
fi
tmp="$ov/unpack.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086 # LIBS is a list of names
"$py" - "$ov/wheel" "$tmp" $LIBS <<'PY'
import glob, os, sys, zipfile
folder, out, libs = sys.argv[1], sys.argv[2], sys.argv[3:]
whl = sorted(glob.glob(folder + "/openvino-*.whl"))[-1]
os.makedirs(out + "/lib")
os.makedirs(out + "/include/openvino/c")
with zipfile.ZipFile(whl) as z:
    names = set(z.namelist())
    for lib in libs:
        name = "openvino/libs/" + lib
        if name not in names:
            sys.exit("fetch-openvino: %s not in %s" % (name, whl))
        with z.open(name) as src, open(out + "/lib/" + lib, "wb") as dst:
            dst.write(src.read())
    for name in names:
        if name.startswith("openvino/include/openvino/c/") and name.endswith(".h"):
            path = out + "/include/" + name[len("openvino/include/"):]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with z.open(name) as src, open(path, "wb") as dst:
                dst.write(src.read())
PY
rm -rf "${ov:?}/lib" "${ov:?}/include"
mv "$tmp/lib" "$ov/lib"
mv "$tmp/include" "$ov/include"
echo "fetch-openvino: ready under $ov"
