#!/usr/bin/env bash
# Builds an OCI image of one tiffin program with podman (Debian's podman, buildah and runc).
# Usage: scripts/image.sh BUILD APP TAG [DATA...]   (normally through `make image APP=NAME`)
#
#   base   localhost/tiffin-base:bookworm, made once with debootstrap (minbase) + podman import,
#          from the Debian mirror this machine's apt uses; kept in podman's storage (the cache:
#          `podman rmi localhost/tiffin-base:bookworm` makes it again)
#   image  the base, plus /app/bin/APP, the shared libraries ldd finds for it outside glibc in
#          /app/lib, and each DATA folder (relative to BUILD, e.g. digits/models) at /app/DATA,
#          where the program finds it relative to itself (../digits/models)
#
# podman runs with runc and nofile/nproc lowered to 1024 (a containers.conf under
# BUILD/image/, pointed to by CONTAINERS_CONF): on this kind of machine crun and the default
# ulimits do not work (docs/design.md, "Deployment"). Run the image with the same environment:
#   CONTAINERS_CONF=BUILD/image/containers.conf podman run --rm --network host TAG \
#       APP serve --host 127.0.0.1 --port 3000
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/image.sh BUILD APP TAG [DATA...]}
app=${2:?usage: scripts/image.sh BUILD APP TAG [DATA...]}
tag=${3:?usage: scripts/image.sh BUILD APP TAG [DATA...]}
shift 3
base=localhost/tiffin-base:bookworm
suite=bookworm
program="$build/examples/$app"
[ -x "$program" ] || { echo "image: no program $program (make examples)" >&2; exit 2; }

work="$build/image"
mkdir -p "$work"
export CONTAINERS_CONF="$(realpath "$work")/containers.conf"
cat > "$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
EOF

# ---- the base: debootstrap once, then podman's storage is the cache ----
if ! podman image exists "$base"; then
    mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
             | grep -v security | head -n1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb  *\(http[^ ]*\)  *bookworm .*/\1/p' \
                                 /etc/apt/sources.list 2>/dev/null | head -n1)
    [ -n "$mirror" ] || { echo "image: no Debian mirror in /etc/apt/sources.list.d/" >&2; exit 1; }
    rootfs="$work/rootfs.$$"
    trap 'rm -rf "$rootfs"' EXIT
    echo "image: making $base with debootstrap ($suite, minbase) from $mirror"
    start=$(date +%s)
    debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
        || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import -q - "$base" > /dev/null
    rm -rf "$rootfs"
    trap - EXIT
    echo "image: $base made in $(( $(date +%s) - start )) s"
fi

# ---- the context: the program, its libraries, its data ----
ctx="$work/$app"
rm -rf "$ctx"
mkdir -p "$ctx/app/bin" "$ctx/app/lib"
cp "$program" "$ctx/app/bin/$app"
# glibc comes from the base (the same Debian release); every other library goes along.
ldd "$program" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
    case "${lib##*/}" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;;
        *) cp -L "$lib" "$ctx/app/lib/" ;;
    esac
done
for data in "$@"; do
    [ -e "$build/$data" ] || { echo "image: no $build/$data" >&2; exit 2; }
    mkdir -p "$ctx/app/$(dirname "$data")"
    cp -r "$build/$data" "$ctx/app/$data"
done
cat > "$ctx/Containerfile" <<EOF
FROM $base
COPY app /app
ENV PATH=/app/bin:/usr/local/bin:/usr/bin:/bin LD_LIBRARY_PATH=/app/lib
EXPOSE 3000
CMD ["$app", "serve", "--host", "0.0.0.0", "--port", "3000"]
EOF
podman build -q -t "$tag" "$ctx" > /dev/null
echo "image: $tag ($(du -sh "$ctx/app" | cut -f1) of program, libraries and data on $base)"
