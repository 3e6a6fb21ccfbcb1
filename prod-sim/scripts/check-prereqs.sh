#!/usr/bin/env bash
# Check the host tools prod-sim needs, with one clear message per problem.
#   Go      >= 1.24   (chain and cosmovisor go.mod say `go 1.24`)
#   Docker  >= 20.10, daemon reachable, API >= 1.41
#   Compose: `docker compose` v2, or `docker-compose` >= 1.27 (first with `extends` in the v3 format)
#   Python  >= 3.11   (the agent)
# Usage: check-prereqs.sh [--no-go]   (--no-go when the binaries are already built)
set -uo pipefail

need_go=1
[[ "${1:-}" == "--no-go" ]] && need_go=0

fail=0
err() { echo "check-prereqs: ERROR: $*" >&2; fail=1; }

# ver_ge A B: true if dotted version A >= B.
ver_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" == "$2" ]]; }

if (( need_go )); then
    if ! command -v go >/dev/null; then
        err "Go not found in PATH (need >= 1.24 to build checkersd and cosmovisor)"
    else
        gov="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
        if [[ -z "$gov" ]] || ! ver_ge "$gov" 1.24; then
            err "Go ${gov:-unknown} is too old (need >= 1.24)"
        fi
    fi
fi

if ! command -v docker >/dev/null; then
    err "docker CLI not found in PATH (need Docker Engine >= 20.10)"
else
    if ! sv="$(docker version --format '{{.Server.Version}} {{.Server.APIVersion}}' 2>&1)"; then
        err "cannot reach the Docker daemon: $(echo "$sv" | tail -1)"
    else
        read -r dv api <<<"$sv"
        ver_ge "${dv%%[-+]*}" 20.10 || err "Docker Engine $dv is too old (need >= 20.10)"
        ver_ge "$api" 1.41 || err "Docker API $api is too old (need >= 1.41)"
    fi
fi

# Prefer the v2 plugin; fall back to the v1 python docker-compose.
compose=""
if command -v docker >/dev/null && cv="$(docker compose version --short 2>/dev/null)" && [[ -n "$cv" ]]; then
    cv="${cv#v}"
    if ver_ge "$cv" 2.0; then compose="docker compose"; else err "docker compose $cv is too old"; fi
elif command -v docker-compose >/dev/null; then
    cv="$(docker-compose version --short 2>/dev/null)"; cv="${cv#v}"
    if [[ -n "$cv" ]] && ver_ge "$cv" 1.27; then
        compose="docker-compose"
    else
        err "docker-compose ${cv:-unknown} is too old (need >= 1.27 for 'extends', or the 'docker compose' v2 plugin)"
    fi
else
    err "neither 'docker compose' (v2 plugin) nor 'docker-compose' (>= 1.27) found"
fi

py="${PYTHON:-python3}"
if ! command -v "$py" >/dev/null; then
    err "$py not found (need Python >= 3.11 for the agent)"
elif ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    err "$py is $("$py" -V 2>&1), need >= 3.11"
fi

if (( fail )); then
    echo "check-prereqs: prerequisites missing, see above (prod-sim/README.md lists them)" >&2
    exit 1
fi
echo "check-prereqs: ok (compose: $compose)"
