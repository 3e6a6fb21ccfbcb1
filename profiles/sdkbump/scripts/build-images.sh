#!/usr/bin/env bash
# Build the three sdkbump images from the host-built static binaries:
#   bumpd_i:v1, bumpd_i:v2, cosmovisor_bump_i:v1tov2
# busybox and cosmovisor are prod-sim's (prod-sim/build/), shared, not rebuilt.
# Each image gets its own small build context of hard links (as prod-sim does),
# so an unchanged rebuild is a pure cache hit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROFILE="$(cd "$HERE/.." && pwd)"
REPO="$(cd "$PROFILE/../.." && pwd)"
BUILD="$PROFILE/build"
SHARED="$REPO/prod-sim/build"
IMAGES="$PROFILE/images"
CTX="$BUILD/ctx"

die() { echo "sdkbump build-images.sh: error: $*" >&2; exit 1; }

for f in "$BUILD/bumpd-v1" "$BUILD/bumpd-v2" "$SHARED/busybox" "$SHARED/cosmovisor"; do
    [[ -x "$f" ]] || die "missing $f (run 'make profile-sdkbump')"
done

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
    echo "sdkbump build-images.sh: building $tag"
    if ! docker build -q -t "$tag" -f "$dockerfile" "$ctx" >/dev/null 2>&1; then
        docker build -t "$tag" -f "$dockerfile" "$ctx" || die "docker build of $tag failed"
    fi
    echo "sdkbump build-images.sh: $tag built in $((SECONDS - t0))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
}

stage "$CTX/bumpd-v1" "$SHARED/busybox:busybox" "$BUILD/bumpd-v1:bumpd"
stage "$CTX/bumpd-v2" "$SHARED/busybox:busybox" "$BUILD/bumpd-v2:bumpd"
stage "$CTX/cosmovisor" "$SHARED/busybox:busybox" "$SHARED/cosmovisor:cosmovisor" \
    "$BUILD/bumpd-v1:bumpd-v1" "$BUILD/bumpd-v2:bumpd-v2"

build bumpd_i:v1 "$IMAGES/Dockerfile-bumpd" "$CTX/bumpd-v1"
build bumpd_i:v2 "$IMAGES/Dockerfile-bumpd" "$CTX/bumpd-v2"
build cosmovisor_bump_i:v1tov2 "$IMAGES/Dockerfile-cosmovisor" "$CTX/cosmovisor"
