"""The node homes of a kit network, made with the chain's own v1 binary: keys, gentxs
and a genesis in the shape of its SDK line; and the reset back to that genesis.

Synchronous on purpose: it runs before the rehearsal's event loop (``rehearse kit
build``, or ``rehearse run`` preparing the network), like the build it follows.
The keyring password reaches the binary on stdin only.
"""

from __future__ import annotations

import concurrent.futures
import errno
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.adapters.process import child_env
from agent.kit.forms import CliForms, commands_of, forms_from_help
from agent.kit.genesis import bond_denom, merge, set_denom, set_gov
from agent.kit.plan import GRPC, P2P, REST, RPC, TRAFFIC_DESK, KitNode

__all__ = ["ChainBinary", "Network", "TestnetError", "generate", "reset", "reset_home", "toml_set"]


class TestnetError(RuntimeError):
    """Making or resetting the homes failed; the message says what to do."""


class ChainBinary:
    """The host's v1 binary; secrets on stdin only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._forms: CliForms | None = None

    def run(self, *args: str, stdin: str | None = None) -> str:
        argv = [str(self.path), *args]
        try:
            proc = subprocess.run(
                argv,
                input=stdin or "",
                env=child_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired:
            raise TestnetError(f"`{' '.join(argv[:4])}` took over 120s") from None
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise TestnetError(f"`{' '.join(argv[:6])}` exited {proc.returncode}:\n{tail}")
        return proc.stdout + proc.stderr

    def _help(self, *args: str) -> str:
        proc = subprocess.run(
            [str(self.path), *args, "--help"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return proc.stdout + proc.stderr

    @property
    def forms(self) -> CliForms:
        if self._forms is None:
            top = self._help()
            genesis = self._help("genesis") if "genesis" in commands_of(top) else ""
            try:
                self._forms = forms_from_help(top, genesis, self._help("init"))
            except ValueError as exc:
                raise TestnetError(f"{self.path}: {exc}") from None
        return self._forms


def toml_set(path: Path, section: str, key: str, value: object) -> None:
    """Set ``key`` in ``[section]`` ("" = top level) of a TOML file the binary wrote
    (plain ``key = value`` lines, so a line edit keeps its comments)."""
    if isinstance(value, bool):
        rendered = "true" if value else "false"
    elif isinstance(value, int):
        rendered = str(value)
    else:
        rendered = json.dumps(str(value))
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
    raise TestnetError(f"{path}: no key {key!r} in [{section}]")


@dataclass(frozen=True)
class Network:
    """What the homes are made of."""

    nodes: list[KitNode]
    chain_id: str
    denom: str
    voting_period: str
    max_deposit_period: str
    block_time: str
    account_funds: int
    self_delegation: int
    min_deposit: int
    backend: str  # keyring backend of the desks: file or test
    genesis_patch: dict[str, Any] = field(default_factory=dict)  # merged in (genesis.merge)
    traffic_accounts: list[str] = field(default_factory=list)  # keys in desk-traffic

    @property
    def validators(self) -> list[KitNode]:
        return [n for n in self.nodes if n.role == "validator"]

    @property
    def homes(self) -> list[str]:
        traffic = [TRAFFIC_DESK] if self.traffic_accounts else []
        return [f"desk-{v.owner}" for v in self.validators] + traffic + [n.name for n in self.nodes]


def generate(root: Path, binary: ChainBinary, net: Network, password: str,
             say: Callable[[str], None] = lambda _m: None) -> None:  # fmt: skip
    """Fresh homes in ``root``: made beside it and swapped in at the end, so a failure
    leaves the previous network (if any) untouched."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".homes-", dir=root))
    try:
        _build(tmp, binary, net, password, say)
        for h in net.homes:
            if (root / h).exists():
                shutil.rmtree(root / h)
            (tmp / h).rename(root / h)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build(tmp: Path, cd: ChainBinary, net: Network, password: str,
           say: Callable[[str], None]) -> None:  # fmt: skip
    f = cd.forms
    for h in net.homes:
        extra = ["--default-denom", net.denom] if f.default_denom_flag else []
        cd.run("init", h, "--chain-id", net.chain_id, *extra, "--home", str(tmp / h))
    secret = f"{password}\n{password}\n" if net.backend == "file" else ""
    addresses: dict[str, str] = {}
    for v in net.validators:
        desk = tmp / f"desk-{v.owner}"
        out = cd.run("keys", "add", v.owner, "--keyring-backend", net.backend,
                     "--keyring-dir", str(desk / "keys"), "--output", "json",
                     "--home", str(desk), stdin=secret)  # fmt: skip
        addresses[v.owner] = _address(out)
        (desk / "desk.json").write_text(
            json.dumps({"name": v.owner, "address": addresses[v.owner]}, indent=2) + "\n"
        )
        say(f"key {v.owner}: {addresses[v.owner]}")
    # The traffic accounts: a test keyring (throwaway keys that sign only load),
    # funded like the validators' owners.
    traffic_desk = tmp / TRAFFIC_DESK
    for name in net.traffic_accounts:
        out = cd.run("keys", "add", name, "--keyring-backend", "test",
                     "--keyring-dir", str(traffic_desk / "keys"), "--output", "json",
                     "--home", str(traffic_desk))  # fmt: skip
        addresses[name] = _address(out)
    if net.traffic_accounts:
        accounts = {n: addresses[n] for n in net.traffic_accounts}
        (traffic_desk / "desk.json").write_text(json.dumps(accounts, indent=2) + "\n")

    base = tmp / f"desk-{net.validators[0].owner}"
    genesis = base / "config" / "genesis.json"
    doc = json.loads(genesis.read_text())
    if bond_denom(doc) != net.denom:
        doc = set_denom(doc, net.denom)
    doc = set_gov(doc, voting_period=net.voting_period, max_deposit_period=net.max_deposit_period,
                  min_deposit=str(net.min_deposit), denom=net.denom)  # fmt: skip
    if net.genesis_patch:
        doc = merge(doc, net.genesis_patch)
    genesis.write_text(json.dumps(doc, indent=2) + "\n")
    for owner in [v.owner for v in net.validators] + net.traffic_accounts:
        cd.run(*f.add_genesis_account(), addresses[owner], f"{net.account_funds}{net.denom}",
               "--home", str(base))  # fmt: skip

    # Each gentx is signed at its owner's desk, for the validator's consensus key,
    # which never leaves the validator's home.
    gentx_dir = tmp / "gentx"
    gentx_dir.mkdir()
    for v in net.validators:
        desk = tmp / f"desk-{v.owner}"
        if desk != base:
            shutil.copy2(genesis, desk / "config" / "genesis.json")
        pubkey = cd.run(*f.show_validator(), "--home", str(tmp / v.name)).strip().splitlines()[-1]
        node_id = _node_id(cd, tmp / v.name)
        cd.run(*f.gentx(), v.owner, f"{net.self_delegation}{net.denom}",
               "--home", str(desk), "--keyring-backend", net.backend,
               "--keyring-dir", str(desk / "keys"), "--chain-id", net.chain_id,
               "--moniker", v.name, "--pubkey", pubkey, "--node-id", node_id, "--ip", v.name,
               "--output-document", str(gentx_dir / f"{v.name}.json"),
               stdin=f"{password}\n" if net.backend == "file" else "")  # fmt: skip
    cd.run(*f.collect_gentxs(), "--gentx-dir", str(gentx_dir), "--home", str(base))
    cd.run(*f.validate_genesis(), str(genesis), "--home", str(base))
    shutil.rmtree(gentx_dir)

    ids = {n.name: _node_id(cd, tmp / n.name) for n in net.nodes}
    for h in net.homes:
        if tmp / h != base:
            shutil.copy2(genesis, tmp / h / "config" / "genesis.json")
    for n in net.nodes:
        _configure_node(tmp / n.name, n, ids, net)
    for v in net.validators:
        desk = tmp / f"desk-{v.owner}"
        _client(desk, net, backend=net.backend)
        # A desk never runs a node: no consensus key on it.
        (desk / "config" / "priv_validator_key.json").unlink(missing_ok=True)
    if net.traffic_accounts:
        _client(traffic_desk, net, backend="test")
        (traffic_desk / "config" / "priv_validator_key.json").unlink(missing_ok=True)


def _address(keys_add_output: str) -> str:
    for line in reversed(keys_add_output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return str(json.loads(line)["address"])
    raise TestnetError("keys add printed no JSON")


def _node_id(cd: ChainBinary, home: Path) -> str:
    return cd.run(*cd.forms.show_node_id(), "--home", str(home)).strip().splitlines()[-1]


def _client(home: Path, net: Network, *, backend: str = "test") -> None:
    client = home / "config" / "client.toml"
    if client.exists():  # v0.45 and later write one; older chains may not
        toml_set(client, "", "chain-id", net.chain_id)
        toml_set(client, "", "keyring-backend", backend)


def _configure_node(home: Path, n: KitNode, ids: dict[str, str], net: Network) -> None:
    cfg = home / "config" / "config.toml"
    toml_set(cfg, "", "moniker", n.name)
    toml_set(cfg, "rpc", "laddr", f"tcp://0.0.0.0:{RPC}")
    toml_set(cfg, "p2p", "persistent_peers", ",".join(f"{ids[p]}@{p}:{P2P}" for p in n.peers))
    toml_set(cfg, "p2p", "pex", n.pex)
    toml_set(cfg, "p2p", "private_peer_ids", ",".join(ids[p] for p in n.private))
    # One host, one Docker address pool: without these CometBFT drops the peers.
    toml_set(cfg, "p2p", "addr_book_strict", False)
    toml_set(cfg, "p2p", "allow_duplicate_ip", True)
    # Every node restarts at once when Cosmovisor swaps the binary: cap the redial
    # backoff, or a validator can wait minutes for its peer after a good upgrade.
    toml_set(cfg, "p2p", "persistent_peers_max_dial_period", "2s")
    toml_set(cfg, "consensus", "timeout_commit", net.block_time)
    app = home / "config" / "app.toml"
    toml_set(app, "", "minimum-gas-prices", f"0{net.denom}")
    toml_set(app, "api", "enable", True)
    toml_set(app, "api", "address", f"tcp://0.0.0.0:{REST}")
    toml_set(app, "grpc", "enable", True)
    toml_set(app, "grpc", "address", f"0.0.0.0:{GRPC}")
    _client(home, net)


# --- reset ---------------------------------------------------------------------

EMPTY_SIGN_STATE = {"height": "0", "round": 0, "step": 0}


def _locked(home: Path) -> str | None:
    """A LevelDB directory whose flock another process holds (a running node)."""
    for lock in sorted((home / "data").glob("*.db/LOCK")):
        try:
            with open(lock, "rb") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fh, fcntl.LOCK_UN)
                except OSError as e:
                    if e.errno in (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK):
                        return str(lock.parent)
        except OSError:
            continue
    return None


def reset_home(home: Path) -> None:
    """What ``unsafe-reset-all --keep-addr-book`` leaves, as files (no binary start):
    data/ made anew with an empty sign state; keys, config and genesis kept. An
    upgrade-info.json from a rehearsed upgrade goes with data/."""
    data = home / "data"
    try:
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(mode=0o700)
        fd = os.open(data / "priv_validator_state.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)  # fmt: skip
        with os.fdopen(fd, "w") as fh:
            json.dump(EMPTY_SIGN_STATE, fh, indent=2)
    except OSError as exc:
        raise TestnetError(f"cannot reset {home}: {exc}") from exc


def reset(root: Path, nodes: list[str]) -> None:
    missing = [n for n in nodes if not (root / n / "config" / "genesis.json").exists()]
    if missing:
        raise TestnetError(f"no network in {root} (missing {', '.join(missing)}): "
                           "run `rehearse kit build`")  # fmt: skip
    for n in nodes:
        held = _locked(root / n)
        if held:
            raise TestnetError(f"{n} looks running ({held} is locked): bring the stack down")
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(nodes))) as pool:
        list(pool.map(lambda n: reset_home(root / n), nodes))
