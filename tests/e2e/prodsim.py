"""A private five-node prod-sim for one test: its own testnet directory, its own
Compose project and its own free ports on 127.0.0.1, so tests never touch the
user's prod-sim and CI runs never collide.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.solo_chain import free_ports

REPO = Path(__file__).resolve().parents[2]
PROD_SIM = REPO / "prod-sim"
NODES = ["val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"]
PORT_ENV = {
    "val-alice": "REHEARSE_VAL_ALICE_RPC_PORT",
    "sentry-alice": "REHEARSE_SENTRY_ALICE_RPC_PORT",
    "val-bob": "REHEARSE_VAL_BOB_RPC_PORT",
    "sentry-bob": "REHEARSE_SENTRY_BOB_RPC_PORT",
    "node-carol": "REHEARSE_CAROL_RPC_PORT",
}
REST_ENV = "REHEARSE_CAROL_REST_PORT"
SENTRY_REST_ENV = {
    "sentry-alice": "REHEARSE_SENTRY_ALICE_REST_PORT",
    "sentry-bob": "REHEARSE_SENTRY_BOB_REST_PORT",
}
IMAGES = ("checkersd_i:v1", "checkersd_i:v2", "cosmovisor_i:v1tov2")


def compose_prefix() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("no Compose tool")


def missing_images() -> list[str]:
    return [
        i for i in IMAGES
        if subprocess.run(["docker", "image", "inspect", i], capture_output=True).returncode != 0
    ]  # fmt: skip


@dataclass
class ProdSim:
    root: Path
    project: str
    ports: dict[str, int]
    rest_port: int
    password: str
    env: dict[str, str] = field(default_factory=dict)
    sentry_rest: dict[str, int] = field(default_factory=dict)

    @property
    def testnet(self) -> Path:
        return self.root / "testnet"

    def rpc(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def run_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def compose(self, *args: str, overlay: str = "docker-compose-cosmovisor.yml",
                timeout: float = 180) -> subprocess.CompletedProcess[str]:  # fmt: skip
        argv = [*compose_prefix(), "--project-name", self.project,
                "--file", str(PROD_SIM / "docker-compose.yml"),
                "--file", str(PROD_SIM / overlay), *args]  # fmt: skip
        try:
            return subprocess.run(argv, env=self.run_env(), capture_output=True, text=True,
                                  timeout=timeout, check=True)  # fmt: skip
        except subprocess.CalledProcessError as exc:
            # Compose says why on stderr; a bare exit status hid it once.
            raise AssertionError(
                f"{' '.join(args)} exited {exc.returncode}: {(exc.stderr or '')[-1500:]}"
            ) from exc

    def container(self, service: str) -> str:
        out = self.compose("ps", "-q", service).stdout.split()
        assert out, f"no container for {service}"
        return out[0]

    def get(self, url: str, timeout: float = 3.0) -> Any:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.load(r)

    def height(self, node: str) -> int:
        try:
            st = self.get(self.rpc(node) + "/status")
            return int(st["result"]["sync_info"]["latest_block_height"])
        except (OSError, ValueError, KeyError):
            return -1

    def wait(self, what: str, pred: Any, timeout: float, every: float = 0.5) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def write_config(
        self, path: Path, *, extra: str = "", overlay: str = "", **timing: float
    ) -> Path:
        lines = [
            "[stack]",
            f'project = "{self.project}"',
            f'compose_dir = "{PROD_SIM}"',
            f'testnet_dir = "{self.testnet}"',
            f'reset_command = ["python3", "{PROD_SIM / "testnet.py"}", "reset"]',
            f'ports_check_command = ["python3", "{PROD_SIM / "testnet.py"}", "ports-check"]',
            *([f'cosmovisor_file = "{overlay}"'] if overlay else []),
            "[agent]",
            f'state_dir = "{self.root / "state"}"',
            f'report_json = "{self.root / "report.json"}"',
            f'report_md = "{self.root / "report.md"}"',
            f'log_file = "{self.root / "state" / "agent.log"}"',
            "[timing]",
            *(f"{k} = {v}" for k, v in timing.items()),
        ]
        for n in NODES:
            lines += ["[[nodes]]", f'name = "{n}"', f'service = "{n}"', f'rpc = "{self.rpc(n)}"']
            if n == "node-carol":
                lines.append(f'rest = "{self.rest}"')
            if n in self.sentry_rest:
                lines.append(f'rest = "http://127.0.0.1:{self.sentry_rest[n]}"')
        for v in ("alice", "bob"):
            lines += ["[[voters]]", f'name = "{v}"', f'key = "{v}"',
                      f'desk = "{self.testnet / ("desk-" + v)}"']  # fmt: skip
        path.write_text("\n".join(lines) + "\n" + profile_checks() + extra)
        return path

    def down(self) -> None:
        # CLI boxes first: one still on the stack's network (its agent killed) would
        # keep `down` from removing that network.
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=rehearse.cli={self.project}"],
            capture_output=True, text=True, timeout=60,
        ).stdout.split()  # fmt: skip
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60)
        subprocess.run(
            [*compose_prefix(), "--project-name", self.project,
             "--file", str(PROD_SIM / "docker-compose.yml"),
             "--file", str(PROD_SIM / "docker-compose-cosmovisor.yml"),
             "down", "--volumes", "--remove-orphans", "--timeout", "5"],
            env=self.run_env(), capture_output=True, timeout=120,
        )  # fmt: skip


def profile_checks() -> str:
    """The bundled profile as config.toml has it: its [chain] section, its
    [verify], [[reads]] and [[checks]] (the check program's path made absolute)."""
    text = (REPO / "config.toml").read_text()
    chain = text[text.index("[chain]") : text.index("[[nodes]]")]
    start, end = text.index("[verify]"), text.index("[scenarios]")
    checks = text[start:end].replace('"prod-sim/checks/', f'"{PROD_SIM}/checks/')
    return chain + "\n" + checks + "\n"


@contextmanager
def prod_sim(tmp: Path, name: str, voting_period: str = "20s") -> Iterator[ProdSim]:
    prefix = os.environ.get("REHEARSE_TEST_PREFIX", "rhtest")
    project = f"{prefix}-{name}-{secrets.token_hex(3)}".lower()
    ports = free_ports(8)
    sim = ProdSim(tmp, project, dict(zip(NODES, ports[:5], strict=True)), ports[5],
                  password="pw-" + secrets.token_hex(8))  # fmt: skip
    sim.sentry_rest = {"sentry-alice": ports[6], "sentry-bob": ports[7]}
    sim.env = {
        "REHEARSE_TESTNET_DIR": str(sim.testnet),
        "REHEARSE_KEYRING_PASSWORD": sim.password,
        REST_ENV: str(sim.rest_port),
        **{SENTRY_REST_ENV[n]: str(p) for n, p in sim.sentry_rest.items()},
        **{PORT_ENV[n]: str(p) for n, p in sim.ports.items()},
    }
    subprocess.run(
        ["python3", str(PROD_SIM / "testnet.py"), "generate", "--voting-period", voting_period],
        env=sim.run_env(), check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    try:
        yield sim
    finally:
        sim.down()
