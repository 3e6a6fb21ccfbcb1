#!/usr/bin/env bash
# Run a full rehearsal on the bundled prod-sim (what `make rehearse` calls).
# The keyring password comes from REHEARSE_KEYRING_PASSWORD; when unset, a
# random one is created once in prod-sim/.keyring-password (mode 600,
# gitignored) and reused. It is handed on in the environment, never in argv.
set -euo pipefail
cd "$(dirname "$0")/.."

pwfile=prod-sim/.keyring-password
if [ -z "${REHEARSE_KEYRING_PASSWORD:-}" ]; then
  if [ ! -s "$pwfile" ] && [ -f prod-sim/node-carol/config/genesis.json ]; then
    # A new random password cannot open keyrings made with another one.
    echo "rehearse: a prod-sim testnet exists but not its password: set REHEARSE_KEYRING_PASSWORD" \
         "to the one it was generated with, or regenerate it: make testnet FORCE=1" >&2
    exit 2
  fi
  if [ ! -s "$pwfile" ]; then
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
  fi
  REHEARSE_KEYRING_PASSWORD="$(cat "$pwfile")"
  export REHEARSE_KEYRING_PASSWORD
fi

# A testnet is generated once; every rehearsal resets it to v1 genesis itself.
if [ ! -f prod-sim/node-carol/config/genesis.json ]; then
  python3 prod-sim/testnet.py generate
fi

exec .venv/bin/rehearse run --config config.toml "$@"
