#!/usr/bin/env bash
# Run a full rehearsal of the bundled chain (what `make rehearse` calls): the kit
# profile prod-sim/rehearse.toml, whose network the chain kit builds from the
# chain's sources (prod-sim/chain) on the first run and reuses after.
# The keyring password comes from REHEARSE_KEYRING_PASSWORD; when unset, a random
# one is created once in the kit directory's .keyring-password (mode 600,
# gitignored) and reused. It is handed on in the environment, never in argv.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=prod-sim/rehearse.toml
kit=prod-sim/.kit
pwfile=$kit/.keyring-password
if [ -z "${REHEARSE_KEYRING_PASSWORD:-}" ]; then
  if [ ! -s "$pwfile" ] && [ -f "$kit/node-carol/config/genesis.json" ]; then
    # A new random password cannot open keyrings made with another one.
    echo "rehearse: the kit's homes exist but not their password: set REHEARSE_KEYRING_PASSWORD" \
         "to the one they were made with, or remove $kit to make them anew" >&2
    exit 2
  fi
  if [ ! -s "$pwfile" ]; then
    mkdir -p "$kit"
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
  fi
  REHEARSE_KEYRING_PASSWORD="$(cat "$pwfile")"
  export REHEARSE_KEYRING_PASSWORD
fi

exec .venv/bin/rehearse run --config "$profile" "$@"
