#!/usr/bin/env bash
# Build the static prod-sim binaries into prod-sim/build/ (what `make binaries` runs):
#   checkersd-v1, checkersd-v2 (build tag v2) and cosmovisor (the version in cosmovisor/go.mod)
# Usage: build-binaries.sh [checkersd-v1|checkersd-v2|cosmovisor ...]   (default: all three)
# Needs Go >= 1.24 (scripts/check-prereqs.sh checks it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROD_SIM="$(cd "$HERE/.." && pwd)"
BUILD="$PROD_SIM/build"
VERSION_PKG=github.com/cosmos/cosmos-sdk/version
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

die() { echo "build-binaries.sh: error: $*" >&2; exit 1; }
command -v go >/dev/null || die "go not found (Go >= 1.24 builds the binaries)"

checkersd() {
    local v="$1" tags=()
    [[ "$v" == v2 ]] && tags=(-tags v2)
    echo "build-binaries.sh: building $BUILD/checkersd-$v"
    (cd "$PROD_SIM/chain" && go build -trimpath "${tags[@]}" \
        -ldflags "-s -w -X $VERSION_PKG.Name=checkers -X $VERSION_PKG.AppName=checkersd -X $VERSION_PKG.Version=$v" \
        -o "$BUILD/checkersd-$v" ./cmd/checkersd)
}

cosmovisor() {
    echo "build-binaries.sh: building $BUILD/cosmovisor"
    (cd "$PROD_SIM/cosmovisor" && go build -trimpath -ldflags '-s -w' \
        -o "$BUILD/cosmovisor" cosmossdk.io/tools/cosmovisor/cmd/cosmovisor)
}

mkdir -p "$BUILD"
targets=("$@")
(( ${#targets[@]} )) || targets=(checkersd-v1 checkersd-v2 cosmovisor)
for t in "${targets[@]}"; do
    case "$t" in
        checkersd-v1) checkersd v1 ;;
        checkersd-v2) checkersd v2 ;;
        cosmovisor) cosmovisor ;;
        *) die "unknown binary '$t' (checkersd-v1, checkersd-v2 or cosmovisor)" ;;
    esac
done
