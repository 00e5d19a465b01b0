#!/usr/bin/env bash
# Puts the handwritten digits data set (UCI optdigits, 8x8 images: 1797 rows of 64 pixel values
# 0-16 and a label 0-9, CSV without a header, gzip) at DESTDIR/digits.csv.gz.
#
# The file comes from the Debian package python3-sklearn (BSD-3), which ships it as
# sklearn/datasets/data/digits.csv.gz: the .deb is downloaded with `apt-get download` (about 2 MB,
# no root needed) and unpacked with `dpkg-deb -x` in a temporary folder; nothing is installed.
# Idempotent: does nothing if DESTDIR/digits.csv.gz is already there.
# Usage: scripts/fetch-digits.sh DESTDIR
set -euo pipefail

dest=${1:?usage: scripts/fetch-digits.sh DESTDIR}
out="$dest/digits.csv.gz"
[ -s "$out" ] && exit 0

for tool in apt-get dpkg-deb gzip; do
    command -v "$tool" >/dev/null || { echo "fetch-digits: '$tool' not found (Debian needed)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# apt-get download writes into the current folder (as root it warns that the _apt user cannot
# write there and downloads unsandboxed: harmless). On a fresh machine (a container) the package
# lists are empty and it cannot find the package: then update the lists once (as
# scripts/install-deps.sh does, with sudo unless root) and try again.
download() { (cd "$tmp" && apt-get download -qq python3-sklearn) >"$tmp/apt.log" 2>&1; }
if ! download; then
    echo "fetch-digits: 'apt-get download python3-sklearn' failed; updating the package lists" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! $sudo apt-get update -qq >"$tmp/update.log" 2>&1; then
        cat "$tmp/apt.log" "$tmp/update.log" >&2
        echo "fetch-digits: 'apt-get update' failed too" >&2
        exit 1
    fi
    if ! download; then
        cat "$tmp/apt.log" >&2
        echo "fetch-digits: 'apt-get download python3-sklearn' failed after 'apt-get update'" >&2
        exit 1
    fi
fi
deb=$(ls "$tmp"/python3-sklearn_*.deb)
dpkg-deb -x "$deb" "$tmp/root"
src=$(find "$tmp/root" -path '*/sklearn/datasets/data/digits.csv.gz' -print -quit)
[ -n "$src" ] || { echo "fetch-digits: digits.csv.gz not found in ${deb##*/}" >&2; exit 1; }

# Check before installing: 1797 rows of 65 comma-separated fields.
rows=$(gzip -dc "$src" | awk -F, 'NF != 65 { bad = 1 } END { print bad ? -1 : NR }')
[ "$rows" = 1797 ] || { echo "fetch-digits: unexpected contents in $src ($rows rows)" >&2; exit 1; }

mkdir -p "$dest"
cp "$src" "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"     # atomic: a reader never sees half a file
echo "fetch-digits: $out (1797 rows, from ${deb##*/})"
