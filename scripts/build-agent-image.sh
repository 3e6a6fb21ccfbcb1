#!/usr/bin/env bash
# Build the agent's own image, rehearse_agent_i:<version> (and :latest), with no
# container registry: a Debian root filesystem made by mmdebstrap, imported with
# `docker import`, the agent installed into /opt/rehearse from wheels.
#
#   1. base rootfs  build/agent-image/base-<key>.tar   mmdebstrap (Debian mirror only);
#                   cached: <key> hashes the suite, mirrors, packages and this recipe.
#   2. base image   rehearse_agent_base_i:<key>         `docker import` of (1), cached.
#   3. wheels       build/agent-image/wheels/           the project's wheel and its
#                   dependencies (offline from ../shared/wheels when it exists).
#   4. agent image  rehearse_agent_i:<version>          a throwaway container of (2)
#                   installs (3) into a venv; `docker export | docker import --change`
#                   adds ENTRYPOINT/USER/ENV. Skipped when the image already carries
#                   the same inputs hash (label rehearse.agent.inputs).
#
# A warm build (nothing changed) re-does only step 3's `pip wheel` and a hash.
# Env: REHEARSE_DEBIAN_MIRROR, REHEARSE_DEBIAN_SECURITY (default: the host's apt
# sources, else deb.debian.org), REHEARSE_WHEELS (a wheelhouse directory),
# REHEARSE_AGENT_IMAGE (default rehearse_agent_i), FORCE=1 (rebuild step 4).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { echo "agent-image: $*" >&2; }
die() { say "error: $*"; exit 1; }

IMAGE=${REHEARSE_AGENT_IMAGE:-rehearse_agent_i}
PYTHON=${PYTHON:-python3}
OUT=$ROOT/build/agent-image
SUITE=bookworm
UID_GID=10001:10001 # the agent's user inside the image (no name needed by Docker)
# python3-venv: `python3 -m venv` with pip, used once at build time then removed.
PACKAGES=python3,python3-venv,ca-certificates
RECIPE=3 # bump when the base rootfs recipe below changes

command -v docker >/dev/null || die "the Docker CLI is missing"
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

# --- mirrors: what the host's apt uses, so the build needs nothing else -----------
host_uri() { # $1: a regex the URI must match (and not match "security" unless asked)
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -oE '(URIs:|^deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' \
    | grep -oE 'https?://[^[:space:]]+' | grep -E "$1" | head -n1 || true
}
MIRROR=${REHEARSE_DEBIAN_MIRROR:-$(host_uri '/debian/?$')}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${REHEARSE_DEBIAN_SECURITY:-$(host_uri 'debian-security/?$')}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

mkdir -p "$OUT"
key=$(printf '%s\n' "$RECIPE" "$SUITE" "$MIRROR" "$SECURITY" "$PACKAGES" "$UID_GID" | sha256sum | cut -c1-16)
BASE_TAR=$OUT/base-$key.tar
BASE_IMAGE=rehearse_agent_base_i:$key

# --- 1. the base root filesystem --------------------------------------------------
if [ ! -s "$BASE_TAR" ]; then
  command -v mmdebstrap >/dev/null \
    || die "mmdebstrap is missing (Debian/Ubuntu: apt-get install -y mmdebstrap)"
  say "base rootfs: mmdebstrap $SUITE from $MIRROR (cold: about a minute)"
  rm -rf "$OUT"/base-*.tar "$OUT"/partial-base.tar
  # No docs, man pages, locales; no apt lists or caches left in the image. The
  # agent's user and its state directory (a named volume mounted there inherits
  # the ownership) are written directly: no useradd in the essential set.
  mmdebstrap --variant=essential --format=tar --include="$PACKAGES" \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='echo "rehearse:x:10001:10001:rehearse agent:/var/lib/rehearse:/usr/sbin/nologin" >> "$1/etc/passwd"' \
    --customize-hook='echo "rehearse:x:10001:" >> "$1/etc/group"' \
    --customize-hook='mkdir -p "$1/var/lib/rehearse" "$1/etc/rehearse" && chown 10001:10001 "$1/var/lib/rehearse"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    --customize-hook='find "$1/usr/lib/python3.11" -name __pycache__ -prune -exec rm -rf {} +' \
    "$SUITE" "$OUT/partial-base.tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY $SUITE-security main" \
    >"$OUT/mmdebstrap.log" 2>&1 || { tail -n 20 "$OUT/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
  mv "$OUT/partial-base.tar" "$BASE_TAR"
fi

# --- 2. the base image --------------------------------------------------------------
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "base image: docker import $BASE_IMAGE"
  docker import --message "rehearse agent base ($SUITE, $PACKAGES)" "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

# --- 3. the wheels: the project's own and its dependencies ----------------------------
WHEELS=${REHEARSE_WHEELS:-$(cd "$ROOT/.." && pwd)/shared/wheels}
pip_env=()
if [ -d "$WHEELS" ]; then
  pip_env=(PIP_NO_INDEX=1 "PIP_FIND_LINKS=$WHEELS")
fi
rm -rf "$OUT/wheels.tmp"
# Build isolation takes hatchling from the wheelhouse (or the index without one).
env "${pip_env[@]}" "$PYTHON" -m pip wheel -q --disable-pip-version-check \
  --wheel-dir "$OUT/wheels.tmp" "$ROOT" >"$OUT/pip-wheel.log" 2>&1 \
  || { tail -n 20 "$OUT/pip-wheel.log" >&2; die "pip wheel failed"; }
rm -rf "$OUT/wheels" && mv "$OUT/wheels.tmp" "$OUT/wheels"

# The agent image's inputs: the base, the wheels' contents (the project's wheel
# holds its sources; its own archive timestamps are normalised by hatchling) and
# the image settings of step 4.
IMAGE_CONFIG=(
  --change 'ENTRYPOINT ["/opt/rehearse/bin/rehearse"]'
  --change 'CMD ["watch", "--config", "/etc/rehearse/config.toml"]'
  --change "USER $UID_GID"
  --change 'WORKDIR /var/lib/rehearse'
  --change 'ENV PATH=/opt/rehearse/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change 'ENV HOME=/var/lib/rehearse'
  --change 'ENV PYTHONUNBUFFERED=1'
  --change 'ENV PYTHONDONTWRITEBYTECODE=1'
  --change "ENV REHEARSE_AGENT_VERSION=$VERSION"
)
inputs=$( (echo "$BASE_IMAGE"; printf '%s\n' "${IMAGE_CONFIG[@]}"; cd "$OUT/wheels" && sha256sum ./*.whl) \
  | sha256sum | cut -c1-16)
have=$(docker image inspect --format '{{index .Config.Labels "rehearse.agent.inputs"}}' \
  "$IMAGE:$VERSION" 2>/dev/null || true)
if [ "$have" = "$inputs" ] && [ "${FORCE:-}" != 1 ]; then
  docker tag "$IMAGE:$VERSION" "$IMAGE:latest"
  say "$IMAGE:$VERSION is up to date ($inputs)"
  exit 0
fi

# --- 4. the agent image -----------------------------------------------------------------
builder=rehearse-agent-build-$$
cleanup() { docker rm -f "$builder" >/dev/null 2>&1 || true; }
trap cleanup EXIT
say "agent image: installing $(cd "$OUT/wheels" && ls rehearse-*.whl) into /opt/rehearse"
docker run --name "$builder" --label rehearse.agent.build=1 --network none \
  -v "$OUT/wheels:/wheels:ro" "$BASE_IMAGE" /bin/sh -euc '
    python3 -m venv /opt/rehearse
    /opt/rehearse/bin/pip install -q --no-index --find-links /wheels --disable-pip-version-check \
      --no-warn-script-location rehearse
    /opt/rehearse/bin/pip uninstall -q -y pip setuptools 2>/dev/null || true
    rm -rf /root/.cache /tmp/*
    /opt/rehearse/bin/rehearse --help >/dev/null
  ' >"$OUT/install.log" 2>&1 || { tail -n 20 "$OUT/install.log" >&2; die "install failed"; }
docker export "$builder" | docker import \
  --message "rehearse $VERSION" \
  --change "LABEL rehearse.agent.inputs=$inputs" \
  --change "LABEL org.opencontainers.image.version=$VERSION" \
  --change "LABEL org.opencontainers.image.title=rehearse" \
  "${IMAGE_CONFIG[@]}" - "$IMAGE:$VERSION" >/dev/null
docker tag "$IMAGE:$VERSION" "$IMAGE:latest"
say "built $IMAGE:$VERSION ($(docker image inspect --format '{{.Size}}' "$IMAGE:$VERSION" | awk '{printf "%.0f MB", $1/1e6}'))"
