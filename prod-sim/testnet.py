#!/usr/bin/env python3
"""Generate, reset and inspect the five-node checkers prod-sim testnet.

Stdlib only (Python >= 3.11). The node homes it writes are bind-mounted by the
Compose files next to this script:

    desk-alice, desk-bob          Alice's and Bob's "desktops": file keyrings in keys/
    val-alice, val-bob            validators (consensus keys live here)
    sentry-alice, sentry-bob      their sentries, the only peers of the validators
    node-carol                    a public full node (RPC + REST for users)

Subcommands:
    generate [--force] ...   create a fresh v1 testnet (refuses to overwrite without --force)
    reset                    back to the v1 genesis state (keeps keys and genesis);
                             bring the Compose stack down first
    ports-check              fail if a host port the stack publishes is already taken
    info                     print node ids, addresses and host ports as JSON

The keyring password is read from the environment variable
REHEARSE_KEYRING_PASSWORD (or --password-env NAME, or --password-file PATH). It
is handed to checkersd on stdin only: never printed, never in a command line.

The homes go to the directory REHEARSE_TESTNET_DIR (default: this script's
directory), which the Compose files also honour.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import errno
import fcntl
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHAIN_ID = "checkers-1"
DENOM = "upawn"
DESKS = {"alice": "desk-alice", "bob": "desk-bob"}
VALIDATORS = {"alice": "val-alice", "bob": "val-bob"}
NODES = ["val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"]
HOMES = ["desk-alice", "desk-bob", *NODES]

ACCOUNT_FUNDS = 1_000_000_000_000  # upawn per desk account
SELF_DELEGATION = 100_000_000_000  # upawn bonded by each validator
PLAYER_SEED = 20240611  # fixed: the seeded player infos are the same on every run
P2P_PORT = 26656
RPC_PORT = 26657

# Host ports published by docker-compose.yml, on 127.0.0.1 only:
# (node, what, environment variable, default). Keep in sync with the Compose file.
HOST_PORTS = [
    ("val-alice", "rpc", "REHEARSE_VAL_ALICE_RPC_PORT", 26601),
    ("sentry-alice", "rpc", "REHEARSE_SENTRY_ALICE_RPC_PORT", 26602),
    ("sentry-alice", "rest", "REHEARSE_SENTRY_ALICE_REST_PORT", 1318),
    ("val-bob", "rpc", "REHEARSE_VAL_BOB_RPC_PORT", 26603),
    ("sentry-bob", "rpc", "REHEARSE_SENTRY_BOB_RPC_PORT", 26604),
    ("sentry-bob", "rest", "REHEARSE_SENTRY_BOB_REST_PORT", 1319),
    ("node-carol", "rpc", "REHEARSE_CAROL_RPC_PORT", 26657),
    ("node-carol", "rest", "REHEARSE_CAROL_REST_PORT", 1317),
]

EXIT_USAGE = 2  # bad input / refused (testnet exists, missing, port taken)


class Refused(Exception):
    """A precondition failed; the message tells the user what to do."""


class Failed(Exception):
    """An external command failed."""


def log(msg: str) -> None:
    print(f"testnet: {msg}", file=sys.stderr)


def testnet_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir).resolve()


# --------------------------------------------------------------------------- running checkersd


class Checkersd:
    """Thin wrapper: runs the host checkersd binary, secrets on stdin only."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, *args: str, stdin: str | None = None) -> str:
        cmd = [str(self.binary), *args]
        proc = subprocess.run(
            cmd,
            input=stdin,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            # argv never holds the password, so showing it is safe.
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise Failed(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")
        return proc.stdout


# --------------------------------------------------------------------------- TOML edits
# tomllib can read but not write; the files checkersd writes are plain
# `key = value` lines under `[section]` headers, so a line edit is enough and keeps
# the comments.


def toml_set(path: Path, section: str, key: str, value: object) -> None:
    """Set `key` in `[section]` ("" = top level) of an existing TOML file."""
    if isinstance(value, bool):
        rendered = "true" if value else "false"
    elif isinstance(value, int):
        rendered = str(value)
    else:
        rendered = json.dumps(str(value))  # TOML basic strings share JSON's escapes here
    lines = path.read_text().splitlines(keepends=True)
    current = ""
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i, line in enumerate(lines):
        header = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if header:
            current = header.group(1).strip()
            continue
        if current == section and key_re.match(line):
            lines[i] = f"{key} = {rendered}\n"
            path.write_text("".join(lines))
            return
    raise Failed(f"{path}: no key {key!r} in section [{section}]")


# --------------------------------------------------------------------------- genesis content


def seeded_players(count: int) -> list[dict]:
    """Deterministic player infos for the v1 genesis.

    Wins are drawn from a small range so several players tie on wins (the
    leaderboard must break ties by index) and every 7th player has no win at all
    (they must not appear on the leaderboard).
    """
    rng = random.Random(PLAYER_SEED)
    width = max(2, len(str(max(count - 1, 0))))
    players = []
    for i in range(count):
        won = 0 if i % 7 == 3 else rng.randint(1, 9)
        players.append(
            {
                "index": f"player-{i:0{width}d}",
                "wonCount": won,
                "lostCount": rng.randint(0, 9),
                "forfeitedCount": rng.randint(0, 3),
            }
        )
    return players


def parse_duration(text: str) -> int:
    """'20s', '1m30s', '2h' -> seconds (what the gov params accept, integer seconds)."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not text.strip() or not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (use e.g. 20s, 1m30s)")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = h * 3600 + mi * 60 + s
    if total <= 0:
        raise argparse.ArgumentTypeError(f"duration {text!r} must be positive")
    return total


def edit_genesis(path: Path, args: argparse.Namespace) -> None:
    genesis = json.loads(path.read_text())
    app = genesis["app_state"]
    app["staking"]["params"]["bond_denom"] = DENOM
    gov = app["gov"]["params"]
    gov["voting_period"] = f"{args.voting_period}s"
    gov["expedited_voting_period"] = f"{args.expedited_voting_period}s"
    gov["max_deposit_period"] = f"{args.max_deposit_period}s"
    gov["min_deposit"] = [{"denom": DENOM, "amount": "10000000"}]
    gov["expedited_min_deposit"] = [{"denom": DENOM, "amount": "50000000"}]
    app["checkers"] = {"playerInfoList": seeded_players(args.players)}
    path.write_text(json.dumps(genesis, indent=2) + "\n")


# --------------------------------------------------------------------------- node config


def node_id(cd: Checkersd, home: Path) -> str:
    return cd.run("comet", "show-node-id", "--home", str(home)).strip()


def configure_node(home: Path, name: str, ids: dict[str, str]) -> None:
    """Production peering: validators talk only to their own sentry."""

    def peer(n: str) -> str:
        # Compose service names resolve as hostnames inside the project networks.
        return f"{ids[n]}@{n}:{P2P_PORT}"

    peering = {
        "val-alice": dict(peers=["sentry-alice"], pex=False, private=[]),
        "val-bob": dict(peers=["sentry-bob"], pex=False, private=[]),
        "sentry-alice": dict(peers=["val-alice", "sentry-bob", "node-carol"], pex=True,
                             private=["val-alice"]),
        "sentry-bob": dict(peers=["val-bob", "sentry-alice", "node-carol"], pex=True,
                           private=["val-bob"]),
        "node-carol": dict(peers=["sentry-alice", "sentry-bob"], pex=True, private=[]),
    }[name]

    cfg = home / "config" / "config.toml"
    toml_set(cfg, "", "moniker", name)
    toml_set(cfg, "rpc", "laddr", f"tcp://0.0.0.0:{RPC_PORT}")
    toml_set(cfg, "p2p", "persistent_peers", ",".join(peer(p) for p in peering["peers"]))
    toml_set(cfg, "p2p", "pex", peering["pex"])
    toml_set(cfg, "p2p", "private_peer_ids", ",".join(ids[p] for p in peering["private"]))
    # All containers share one host and Docker's address pool: without these,
    # CometBFT drops peers with private or duplicate IPs.
    toml_set(cfg, "p2p", "addr_book_strict", False)
    toml_set(cfg, "p2p", "allow_duplicate_ip", True)
    # Every node restarts at once when Cosmovisor swaps the binary: cap the dial
    # backoff to persistent peers, or a validator can wait minutes to redial its
    # sentry and the chain stays halted after a good upgrade.
    toml_set(cfg, "p2p", "persistent_peers_max_dial_period", "2s")
    toml_set(cfg, "consensus", "timeout_commit", "1s")

    app = home / "config" / "app.toml"
    toml_set(app, "", "minimum-gas-prices", f"0{DENOM}")
    toml_set(app, "api", "enable", True)
    toml_set(app, "api", "address", "tcp://0.0.0.0:1317")
    toml_set(app, "grpc", "enable", True)
    toml_set(app, "grpc", "address", "0.0.0.0:9090")

    client = home / "config" / "client.toml"
    toml_set(client, "", "chain-id", CHAIN_ID)


def configure_desk(home: Path) -> None:
    client = home / "config" / "client.toml"
    toml_set(client, "", "chain-id", CHAIN_ID)
    toml_set(client, "", "keyring-backend", "file")
    # The desks reach the chain through Carol's public node.
    toml_set(client, "", "node", f"tcp://node-carol:{RPC_PORT}")


# --------------------------------------------------------------------------- password


def read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        try:
            pw = Path(args.password_file).read_text()
        except OSError as e:
            raise Refused(f"cannot read password file {args.password_file}: {e.strerror}") from e
        pw = pw.removesuffix("\n").removesuffix("\r")
        source = f"file {args.password_file}"
    else:
        pw = os.environ.get(args.password_env, "")
        source = f"environment variable {args.password_env}"
        if not pw:
            raise Refused(
                f"keyring password missing: set {args.password_env} "
                "(or use --password-env NAME / --password-file PATH)"
            )
    if len(pw) < 8:
        raise Refused(f"keyring password from {source} is too short "
                      "(checkersd needs >= 8 characters)")
    if "\n" in pw or "\r" in pw:
        raise Refused(f"keyring password from {source} must be a single line")
    return pw


# --------------------------------------------------------------------------- generate


def existing_homes(root: Path) -> list[str]:
    return [h for h in HOMES if (root / h).exists()]


def cmd_generate(args: argparse.Namespace) -> int:
    root = testnet_dir(args)
    if args.expedited_voting_period >= args.voting_period:
        raise Refused(
            f"--expedited-voting-period ({args.expedited_voting_period}s) must be shorter "
            f"than --voting-period ({args.voting_period}s)"
        )
    if args.players < 0:
        raise Refused("--players must be >= 0")
    present = existing_homes(root)
    if present and not args.force:
        raise Refused(
            f"testnet already exists in {root} ({', '.join(present)}); "
            "use --force (make testnet FORCE=1) to replace it, or `reset` to rewind it"
        )
    binary = Path(args.binary).resolve()
    if not os.access(binary, os.X_OK):
        raise Refused(f"checkersd binary {binary} not found or not executable "
                      "(run `make binaries`)")
    password = read_password(args)
    cd = Checkersd(binary)

    root.mkdir(parents=True, exist_ok=True)
    # Build everything in a sibling temp dir (same filesystem, so the final moves
    # are renames) and only swap it in at the end: a failure leaves the previous
    # testnet, if any, untouched and nothing half-written.
    tmp = Path(tempfile.mkdtemp(prefix=".testnet-tmp-", dir=root))
    try:
        build_testnet(tmp, cd, password, args)
        if present:
            log(f"--force: removing old homes {', '.join(present)}")
            for h in present:
                shutil.rmtree(root / h)
        for h in HOMES:
            (tmp / h).rename(root / h)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"testnet ready in {root} (chain-id {CHAIN_ID}, {args.players} players, "
        f"voting period {args.voting_period}s, expedited {args.expedited_voting_period}s)")
    return 0


def build_testnet(tmp: Path, cd: Checkersd, password: str, args: argparse.Namespace) -> None:
    for h in HOMES:
        cd.run("init", h, "--chain-id", CHAIN_ID, "--default-denom", DENOM, "--home", str(tmp / h))

    # Keys: one file keyring per desk. A new file keyring asks the passphrase twice.
    addresses = {}
    for who, desk in DESKS.items():
        out = cd.run("keys", "add", who, "--keyring-backend", "file",
                     "--keyring-dir", str(tmp / desk / "keys"), "--output", "json",
                     stdin=f"{password}\n{password}\n")
        # The output also holds the mnemonic: keep only the address, print nothing.
        addresses[who] = json.loads(out)["address"]
        (tmp / desk / "desk.json").write_text(
            json.dumps({"name": who, "address": addresses[who]}, indent=2) + "\n")
        log(f"key {who}: {addresses[who]}")

    # Genesis is assembled in desk-alice, then copied everywhere.
    base = tmp / "desk-alice"
    genesis = base / "config" / "genesis.json"
    for who in DESKS:
        cd.run("genesis", "add-genesis-account", addresses[who], f"{ACCOUNT_FUNDS}{DENOM}",
               "--home", str(base))
    edit_genesis(genesis, args)

    # Gentxs: signed on each desk with the owner's account key, but for the
    # validator's consensus key, which never leaves the val-* home.
    gentx_dir = tmp / "gentx"
    gentx_dir.mkdir()
    for who, val in VALIDATORS.items():
        desk = tmp / DESKS[who]
        if desk != base:
            shutil.copy2(genesis, desk / "config" / "genesis.json")
        pubkey = cd.run("comet", "show-validator", "--home", str(tmp / val)).strip()
        cd.run("genesis", "gentx", who, f"{SELF_DELEGATION}{DENOM}",
               "--home", str(desk), "--keyring-backend", "file",
               "--keyring-dir", str(desk / "keys"), "--chain-id", CHAIN_ID,
               "--moniker", val, "--pubkey", pubkey, "--node-id", node_id(cd, tmp / val),
               "--ip", val, "--output-document", str(gentx_dir / f"{val}.json"),
               stdin=f"{password}\n")
    cd.run("genesis", "collect-gentxs", "--gentx-dir", str(gentx_dir), "--home", str(base))
    cd.run("genesis", "validate", str(genesis), "--home", str(base))
    shutil.rmtree(gentx_dir)

    ids = {n: node_id(cd, tmp / n) for n in NODES}
    for h in HOMES:
        if h != "desk-alice":
            shutil.copy2(genesis, tmp / h / "config" / "genesis.json")
    for n in NODES:
        configure_node(tmp / n, n, ids)
    for desk in DESKS.values():
        configure_desk(tmp / desk)
    # The desks never run a node: drop the consensus key init gave them, so the
    # only validator keys on disk are the two that sign.
    for desk in DESKS.values():
        (tmp / desk / "config" / "priv_validator_key.json").unlink()


# --------------------------------------------------------------------------- reset


def locked_by_running_node(home: Path) -> str | None:
    """Return a DB path whose LevelDB LOCK is held by another process, if any.

    goleveldb takes a BSD flock() (not a POSIX lock) on <db>/LOCK; flock is per
    inode and kernel-wide, so it is visible across the container boundary for
    bind-mounted homes.
    """
    for lock in sorted((home / "data").glob("*.db/LOCK")):
        try:
            with open(lock, "rb") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
                except OSError as e:
                    if e.errno in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK):
                        return str(lock.parent)
        except OSError:
            continue
    return None


def containers_using(root: Path) -> list[str]:
    """Names of running containers that mount one of the node homes under root.

    Best effort (empty if docker is not reachable); the flock check above
    catches the rest.
    """
    homes = {str((root / n).resolve()) for n in NODES}
    try:
        ids = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True,
                             timeout=20, check=True).stdout.split()
        if not ids:
            return []
        out = subprocess.run(
            ["docker", "inspect", "--format",
             "{{.Name}}{{range .Mounts}} {{.Source}}{{end}}", *ids],
            capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    users = []
    for line in out.splitlines():
        name, *sources = line.split()
        if homes.intersection(sources):
            users.append(name.lstrip("/"))
    return users


# What CometBFT's `unsafe-reset-all` leaves of a node's data directory: the
# validator's last-signed state at zero (its key stays in config/).
EMPTY_SIGN_STATE = {"height": "0", "round": 0, "step": 0}


def reset_home(home: Path) -> None:
    """`checkersd comet unsafe-reset-all --keep-addr-book`, as files: the data
    directory (blocks, state, the app's store, the WAL, and an upgrade-info.json
    that would make v1 or Cosmovisor think the upgrade is due again) is removed
    and made again with an empty sign state; keys, config and genesis stay.
    Five Go binaries starting at once took about a second of every launch."""
    data = home / "data"
    try:
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(mode=0o700)
        fd = os.open(data / "priv_validator_state.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(EMPTY_SIGN_STATE, f, indent=2)
    except OSError as exc:  # e.g. files a container wrote as another user
        raise Refused(f"cannot reset {home}: {exc}") from exc


def cmd_reset(args: argparse.Namespace) -> int:
    root = testnet_dir(args)
    missing = [n for n in NODES if not (root / n / "config" / "genesis.json").exists()]
    if missing:
        raise Refused(f"no testnet in {root} (missing {', '.join(missing)}); run `generate` first")
    # Wiping a home under a running node corrupts it (it keeps its deleted files
    # open): refuse. Stopping the stack stays the caller's job.
    users = containers_using(root)
    if users:
        raise Refused(f"containers still use this testnet ({', '.join(sorted(users))}); "
                      "bring the Compose stack down first (docker-compose -p P down)")
    for n in NODES:
        held = locked_by_running_node(root / n)
        if held:
            raise Refused(f"{n} looks running ({held} is locked); bring it down first")
    # The five homes are independent: reset them at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(NODES)) as pool:
        list(pool.map(lambda n: reset_home(root / n), NODES))
    log(f"reset {len(NODES)} nodes in {root} to the v1 genesis state")
    return 0


# --------------------------------------------------------------------------- ports


def host_ports() -> list[tuple[str, str, str, int]]:
    out = []
    for node, what, env, default in HOST_PORTS:
        raw = os.environ.get(env, "").strip() or str(default)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise Refused(f"{env}={raw!r} is not a valid port (for {node} {what})")
        out.append((node, what, env, int(raw)))
    return out


def cmd_ports_check(args: argparse.Namespace) -> int:
    taken = []
    seen: dict[int, str] = {}
    for node, what, env, port in host_ports():
        if port in seen:
            taken.append(f"port {port} ({env}) is given to both {seen[port]} and {node} {what}")
            continue
        seen[port] = f"{node} {what}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # SO_REUSEADDR: a port in TIME_WAIT is not "taken"; a listener still is.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                taken.append(f"127.0.0.1:{port} for {node} {what} is taken ({e.strerror}); "
                             f"free it or set {env}")
    if taken:
        raise Refused("host port problem:\n  " + "\n  ".join(taken))
    if not args.quiet:
        log("host ports free: " + ", ".join(f"{n} {w} {p}" for n, w, _, p in host_ports()))
    return 0


# --------------------------------------------------------------------------- info


def cmd_info(args: argparse.Namespace) -> int:
    root = testnet_dir(args)
    if existing_homes(root) != HOMES:
        raise Refused(f"no complete testnet in {root}; run `generate` first")
    cd = Checkersd(Path(args.binary).resolve())
    info = {
        "dir": str(root),
        "chain_id": CHAIN_ID,
        "denom": DENOM,
        "accounts": {
            who: json.loads((root / desk / "desk.json").read_text())["address"]
            for who, desk in DESKS.items()
        },
        "node_ids": {n: node_id(cd, root / n) for n in NODES},
        "host_ports": [{"node": n, "what": w, "env": e, "port": p} for n, w, e, p in host_ports()],
    }
    print(json.dumps(info, indent=2))
    return 0


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=os.environ.get("REHEARSE_TESTNET_DIR") or str(HERE),
                   help="where the node homes live (env REHEARSE_TESTNET_DIR; default %(default)s)")
    p.add_argument("--binary", default=str(HERE / "build" / "checkersd-v1"),
                   help="host checkersd used to generate/reset (default %(default)s)")
    sub = p.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("generate", help="create a fresh v1 testnet")
    g.add_argument("--force", action="store_true", help="replace an existing testnet")
    g.add_argument("--voting-period", type=parse_duration, default=parse_duration("20s"))
    g.add_argument("--expedited-voting-period", type=parse_duration, default=parse_duration("10s"))
    g.add_argument("--max-deposit-period", type=parse_duration, default=parse_duration("60s"))
    g.add_argument("--players", type=int, default=40, help="seeded player infos (default 40)")
    pw = g.add_mutually_exclusive_group()
    pw.add_argument("--password-env", default="REHEARSE_KEYRING_PASSWORD", metavar="VAR",
                    help="env var holding the keyring password (default %(default)s)")
    pw.add_argument("--password-file", metavar="PATH", help="file holding the keyring password")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("reset", help="rewind to the v1 genesis state (stack must be down)")
    r.set_defaults(func=cmd_reset)

    pc = sub.add_parser("ports-check", help="check the host ports are free on 127.0.0.1")
    pc.add_argument("-q", "--quiet", action="store_true")
    pc.set_defaults(func=cmd_ports_check)

    i = sub.add_parser("info", help="print node ids, addresses and ports as JSON")
    i.set_defaults(func=cmd_info)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except Refused as e:
        log(f"error: {e}")
        return EXIT_USAGE
    except Failed as e:
        log(f"error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
