"""Start one real checkersd validator on the host, for tests of the RPC and websocket clients.

Synchronous on purpose: it runs once per test session from a fixture, before any event
loop exists, and every wait in it has a deadline.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agent.kit.forms import CliForms, commands_of, forms_from_help
from agent.kit.genesis import bond_denom as genesis_bond_denom
from agent.kit.genesis import set_voting_period

REPO = Path(__file__).resolve().parents[2]
BINARY_CANDIDATES = (REPO / "prod-sim" / "build" / "checkersd-v1", Path("/tmp/checkersd-v1"))
CHAIN_ID = "checkers-solo"
DENOM = "upawn"


@dataclass(frozen=True)
class SoloChain:
    home: Path
    binary: Path
    rpc_url: str  # http://127.0.0.1:PORT
    ws_url: str  # ws://127.0.0.1:PORT/websocket
    api_url: str  # http://127.0.0.1:PORT (Cosmos REST)
    validator_address: str  # account address of the genesis validator key
    process: subprocess.Popen[bytes]
    denom: str = DENOM  # the chain's bond denom, from its own init
    forms: CliForms | None = None

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def find_binary() -> Path | None:
    for candidate in BINARY_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1, below the kernel's ephemeral range.

    Not port 0: the kernel hands those out from the ephemeral range, which every
    outgoing connection (the agent's, docker-proxy's) draws from too, so one could be
    taken again before Compose binds it (CI: `compose up` of the watch test exited 1).
    Random ports below that range are only ever taken by a listener on purpose."""
    low, high = 20000, min(_ephemeral_low(), 65536)
    if high - low < 1000:
        low, high = 1024, high
    chosen: list[int] = []
    rng = random.SystemRandom()
    while len(chosen) < n:
        port = rng.randrange(low, high)
        if port in chosen:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


def free_port_base(span: int) -> int:
    """A chain kit ``port_base`` whose RPC (base + i) and REST (base + 100 + i) ports,
    i < ``span``, are all free on 127.0.0.1 (chosen as ``free_ports`` chooses)."""
    for _ in range(200):
        (base,) = free_ports(1)
        wanted = [base + i for i in range(span)] + [base + 100 + i for i in range(span)]
        if base + 100 + span < 65000 and all(_bindable(p) for p in wanted):
            return base
    raise RuntimeError("no free port base")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _run(binary: Path, *args: str, home: Path) -> str:
    out = subprocess.run(
        [str(binary), *args, "--home", str(home)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"checkersd {' '.join(args)} failed: {out.stderr.decode()[-2000:]}")
    return out.stdout.decode() + out.stderr.decode()


def _set_toml(path: Path, section: str, key: str, value: str) -> None:
    """Set ``key = value`` inside ``[section]`` ("" for the top level) of a TOML file."""
    lines = path.read_text().splitlines()
    current = ""
    for i, line in enumerate(lines):
        header = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if header:
            current = header.group(1)
            continue
        if current == section and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            lines[i] = f"{key} = {value}"
            path.write_text("\n".join(lines) + "\n")
            return
    raise KeyError(f"{path.name}: [{section}] {key} not found")


def _get_json(url: str, timeout: float = 2.0) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


def wait_for_height(rpc_url: str, height: int, deadline: float = 60.0) -> int:
    end = time.monotonic() + deadline
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            status = _get_json(f"{rpc_url}/status")
            result = status["result"]
            assert isinstance(result, dict)
            latest = int(result["sync_info"]["latest_block_height"])
            if latest >= height:
                return latest
        except Exception as exc:  # noqa: BLE001 - node still starting; keep polling
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(f"node at {rpc_url} did not reach height {height}: {last_error!r}")


def cli_forms(binary: Path) -> CliForms:
    """The binary's genesis/node command forms, read from its own help."""

    def help_of(*args: str) -> str:
        out = subprocess.run(
            [str(binary), *args, "--help"], capture_output=True, timeout=30, check=False
        )
        return out.stdout.decode() + out.stderr.decode()

    top = help_of()
    genesis = help_of("genesis") if "genesis" in commands_of(top) else ""
    return forms_from_help(top, genesis, help_of("init"))


def bond_denom(home: Path) -> str:
    return genesis_bond_denom(json.loads((home / "config" / "genesis.json").read_text()))


@contextmanager
def start_solo_chain(
    binary: Path, timeout_commit: str = "300ms", *, voting_period: str = ""
) -> Iterator[SoloChain]:
    """One validator of ``binary`` (any SDK line: the command forms come from its help);
    ``voting_period``: set in the genesis, wherever its SDK line keeps it."""
    home = Path(tempfile.mkdtemp(prefix="checkers-solo-"))
    proc: subprocess.Popen[bytes] | None = None
    forms = cli_forms(binary)
    try:
        _run(binary, "init", "solo", "--chain-id", CHAIN_ID, home=home)
        denom = bond_denom(home)
        _run(binary, "keys", "add", "val", "--keyring-backend", "test", home=home)
        address = (
            _run(binary, "keys", "show", "val", "-a", "--keyring-backend", "test", home=home)
            .strip()
            .splitlines()[-1]
        )
        _run(
            binary,
            *forms.add_genesis_account(),
            address,
            f"1000000000000{denom}",
            "--keyring-backend",
            "test",
            home=home,
        )
        _run(
            binary,
            *forms.gentx(),
            "val",
            f"100000000{denom}",
            "--chain-id",
            CHAIN_ID,
            "--keyring-backend",
            "test",
            home=home,
        )
        _run(binary, *forms.collect_gentxs(), home=home)
        if voting_period:
            path = home / "config" / "genesis.json"
            doc = set_voting_period(json.loads(path.read_text()), voting_period)
            path.write_text(json.dumps(doc))

        rpc, p2p, grpc, api, proxy = free_ports(5)
        config, app = home / "config" / "config.toml", home / "config" / "app.toml"
        _set_toml(config, "", "proxy_app", f'"tcp://127.0.0.1:{proxy}"')
        _set_toml(config, "rpc", "laddr", f'"tcp://127.0.0.1:{rpc}"')
        _set_toml(config, "rpc", "pprof_laddr", '""')
        _set_toml(config, "p2p", "laddr", f'"tcp://127.0.0.1:{p2p}"')
        _set_toml(config, "consensus", "timeout_commit", f'"{timeout_commit}"')
        _set_toml(app, "api", "enable", "true")
        _set_toml(app, "api", "address", f'"tcp://127.0.0.1:{api}"')
        _set_toml(app, "grpc", "address", f'"127.0.0.1:{grpc}"')

        with (home / "node.log").open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [str(binary), "start", "--home", str(home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C on the test run must not reach it first
            )
        rpc_url = f"http://127.0.0.1:{rpc}"
        try:
            wait_for_height(rpc_url, 2)
        except TimeoutError as exc:
            tail = (home / "node.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{exc}\n--- node log ---\n{tail}") from exc
        yield SoloChain(
            home=home,
            binary=binary,
            rpc_url=rpc_url,
            ws_url=f"ws://127.0.0.1:{rpc}/websocket",
            api_url=f"http://127.0.0.1:{api}",
            validator_address=address,
            process=proc,
            denom=denom,
            forms=forms,
        )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGCONT)  # a paused process ignores SIGTERM until resumed
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
