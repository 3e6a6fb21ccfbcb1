#!/usr/bin/env bash
# Obtain a static busybox for the FROM-scratch images, without installing
# anything system-wide: download Debian's busybox-static .deb, unpack it in a
# temp dir and copy bin/busybox to prod-sim/build/busybox.
# Idempotent: does nothing if the binary is already there and runs.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${BUSYBOX_OUT:-$HERE/../build/busybox}"

die() { echo "busybox.sh: error: $*" >&2; exit 1; }

if [[ -x "$OUT" ]] && "$OUT" true 2>/dev/null; then
    echo "busybox.sh: $OUT already present"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found; put a static busybox at $OUT by hand"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found; put a static busybox at $OUT by hand"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# `apt-get download` needs no root for the download itself and installs nothing.
# The package lists may be missing or stale (fresh container): only then refresh them.
if ! apt-get download busybox-static >/dev/null 2>"$work/err1"; then
    echo "busybox.sh: apt-get download failed, running apt-get update once" >&2
    apt-get update >/dev/null 2>"$work/err2" || die "apt-get update failed: $(tail -3 "$work/err2")"
    apt-get download busybox-static >/dev/null 2>"$work/err1" \
        || die "cannot download busybox-static: $(tail -3 "$work/err1")"
fi

deb="$(ls busybox-static_*.deb 2>/dev/null | head -1)"
[[ -n "$deb" ]] || die "no busybox-static .deb after download"
dpkg-deb -x "$deb" extracted || die "dpkg-deb -x $deb failed"
[[ -f extracted/bin/busybox ]] || die "$deb has no bin/busybox"

# A dynamically linked busybox would not run FROM scratch.
if command -v file >/dev/null && ! file extracted/bin/busybox | grep -q 'statically linked'; then
    die "extracted busybox is not statically linked"
fi

mkdir -p "$(dirname "$OUT")"
install -m 0755 extracted/bin/busybox "$OUT.tmp"
mv -f "$OUT.tmp" "$OUT"
echo "busybox.sh: wrote $OUT ($deb)"
