#!/usr/bin/env bash
# Build the three prod-sim images from the host-built static binaries:
#   checkersd_i:v1, checkersd_i:v2, cosmovisor_i:v1tov2
# Each image gets its own tiny build context under prod-sim/build/ctx/ holding only
# the files its Dockerfile copies (hard links, so staging costs nothing). Sending the
# whole build/ dir would ship ~230 MB to the daemon for every image; with per-image
# contexts an unchanged rebuild is a pure cache hit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROD_SIM="$(cd "$HERE/.." && pwd)"
BUILD="$PROD_SIM/build"
IMAGES="$PROD_SIM/images"
CTX="$BUILD/ctx"

die() { echo "build-images.sh: error: $*" >&2; exit 1; }

for f in busybox checkersd-v1 checkersd-v2 cosmovisor; do
    [[ -x "$BUILD/$f" ]] || die "missing $BUILD/$f (run prod-sim/scripts/build-binaries.sh and prod-sim/scripts/busybox.sh, or just 'make prod-sim')"
done

# stage DIR SRC:NAME... — (re)link each SRC as DIR/NAME; fall back to a copy when
# the hard link is impossible (different filesystem).
stage() {
    local dir="$1"; shift
    rm -rf "$dir"
    mkdir -p "$dir"
    local spec src name
    for spec in "$@"; do
        src="${spec%%:*}"; name="${spec##*:}"
        ln "$src" "$dir/$name" 2>/dev/null || cp -p "$src" "$dir/$name"
    done
}

build() {
    local tag="$1" dockerfile="$2" ctx="$3"
    local t0=$SECONDS
    echo "build-images.sh: building $tag"
    # -q keeps make output readable; on failure rerun without it to show the steps.
    # (stderr only carries the legacy builder's deprecation notice then.)
    if ! docker build -q -t "$tag" -f "$dockerfile" "$ctx" >/dev/null 2>&1; then
        docker build -t "$tag" -f "$dockerfile" "$ctx" || die "docker build of $tag failed"
    fi
    echo "build-images.sh: $tag built in $((SECONDS - t0))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
}

stage "$CTX/checkersd-v1" "$BUILD/busybox:busybox" "$BUILD/checkersd-v1:checkersd"
stage "$CTX/checkersd-v2" "$BUILD/busybox:busybox" "$BUILD/checkersd-v2:checkersd"
stage "$CTX/cosmovisor" "$BUILD/busybox:busybox" "$BUILD/cosmovisor:cosmovisor" \
    "$BUILD/checkersd-v1:checkersd-v1" "$BUILD/checkersd-v2:checkersd-v2"

build checkersd_i:v1 "$IMAGES/Dockerfile-checkersd" "$CTX/checkersd-v1"
build checkersd_i:v2 "$IMAGES/Dockerfile-checkersd" "$CTX/checkersd-v2"
build cosmovisor_i:v1tov2 "$IMAGES/Dockerfile-cosmovisor" "$CTX/cosmovisor"
