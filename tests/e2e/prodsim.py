"""A private five-node network of the bundled chain for one test, built by the chain
kit from prod-sim/rehearse.toml: its own kit directory, its own Compose project and its
own free ports on 127.0.0.1, so tests never touch the user's stacks and CI runs
never collide.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.solo_chain import free_port_base

REPO = Path(__file__).resolve().parents[2]
# The bundled chain's kit profile: its sources, the tutorial topology, its players.
PROD_SIM = REPO / "prod-sim"
NODES = ["val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"]
# The Compose files a test names, as the kit generates them (base + overlay).
KIT_FILES = {
    "docker-compose.yml": (),
    "docker-compose-cosmovisor.yml": ("docker-compose-cosmovisor.json",),
    "docker-compose-v2.yml": ("docker-compose-v2.json",),
}


def compose_prefix() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("no Compose tool")


# Four validators of equal power and a full node: three hold more than two-thirds,
# so the chain goes on without one (late-validator).
FOUR_VALIDATORS = "[topology]\nvalidators = 4\nsentries = false\nfull_nodes = 1\n"


def profile_text(port_base: int, kit_dir: Path, topology: str = "") -> str:
    """prod-sim/rehearse.toml with its paths absolute, its kit in ``kit_dir`` and on
    ``port_base``; ``topology`` replaces its ``[topology]`` section."""
    text = (PROD_SIM / "rehearse.toml").read_text()
    if topology:
        text, n = re.subn(r"(?ms)^\[topology\]\n.*?\n\n", topology + "\n", text)
        assert n == 1, "prod-sim/rehearse.toml: no [topology] section to replace"
    text = re.sub(r"(?m)^port_base = \d+\n", "", text)
    text = re.sub(r'(source|genesis) = "([^"]+)"', lambda m: f'{m[1]} = "{PROD_SIM / m[2]}"', text)
    text = text.replace('"checks/', f'"{PROD_SIM}/checks/')
    return text.replace("[kit]\n", f'[kit]\nport_base = {port_base}\ndir = "{kit_dir}"\n', 1)


@dataclass
class ProdSim:
    """The bundled chain's network, built by the chain kit from its profile."""

    root: Path
    project: str
    port_base: int
    password: str
    ports: dict[str, int] = field(default_factory=dict)
    rest_port: int = 0
    sentry_rest: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # v1, v2 (the CLI images)
    homes: dict[str, str] = field(default_factory=dict)  # node, daemon (in containers)
    topology: str = ""  # replaces the profile's [topology] ("": the tutorial's)

    @property
    def testnet(self) -> Path:
        return self.root / ".kit"

    @property
    def network(self) -> str:
        return f"{self.project}_net"

    def rpc(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def run_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def files(self, overlay: str) -> list[str]:
        extra = KIT_FILES.get(overlay, (overlay,))  # else: an overlay file of the test's
        return [str(self.testnet / "docker-compose.json"), *(str(self.testnet / f) for f in extra)]

    def compose(self, *args: str, overlay: str = "docker-compose-cosmovisor.yml",
                timeout: float = 180) -> subprocess.CompletedProcess[str]:  # fmt: skip
        argv = [*compose_prefix(), "--project-name", self.project]
        for f in self.files(overlay):
            argv += ["--file", f]
        try:
            return subprocess.run([*argv, *args], env=self.run_env(), capture_output=True,
                                  text=True, timeout=timeout, check=True)  # fmt: skip
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
        """The bundled kit profile for this network, with the test's own state paths,
        timings and ``extra`` sections; ``overlay`` replaces the Cosmovisor file."""
        lines = [
            "[stack]",
            f'project = "{self.project}"',
            *([f'cosmovisor_file = "{overlay}"'] if overlay else []),
            "[agent]",
            f'state_dir = "{self.root / "state"}"',
            f'report_json = "{self.root / "report.json"}"',
            f'report_md = "{self.root / "report.md"}"',
            f'log_file = "{self.root / "state" / "agent.log"}"',
            "[timing]",
            *(f"{k} = {v}" for k, v in timing.items()),
        ]
        text = profile_text(self.port_base, self.testnet, self.topology)
        path.write_text(text + "\n" + "\n".join(lines) + "\n" + extra)
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
        if not (self.testnet / "docker-compose.json").exists():
            return
        argv = [*compose_prefix(), "--project-name", self.project]
        for f in self.files("docker-compose-cosmovisor.yml"):
            argv += ["--file", f]
        subprocess.run([*argv, "down", "--volumes", "--remove-orphans", "--timeout", "5"],
                       env=self.run_env(), capture_output=True, timeout=120)  # fmt: skip


@contextmanager
def prod_sim(tmp: Path, name: str, topology: str = "") -> Iterator[ProdSim]:
    """The bundled chain's five nodes, built by the kit (`rehearse kit build`) in
    ``tmp/.kit`` on free ports, under a Compose project of this test's own
    (``topology``: another ``[topology]`` section, of five nodes too)."""
    from agent.config import load_config

    prefix = os.environ.get("REHEARSE_TEST_PREFIX", "rhtest")
    project = f"{prefix}-{name}-{secrets.token_hex(3)}".lower()
    sim = ProdSim(tmp, project, free_port_base(len(NODES)), "pw-" + secrets.token_hex(8))
    sim.env = {"REHEARSE_KEYRING_PASSWORD": sim.password}
    sim.topology = topology
    profile = tmp / "kit-profile.toml"
    text = profile_text(sim.port_base, sim.testnet, topology)
    profile.write_text(text + f'\n[stack]\nproject = "{project}"\n')
    subprocess.run(
        [sys.executable, "-m", "agent", "kit", "build", "--config", str(profile)],
        env=sim.run_env(), check=True, capture_output=True, timeout=900, cwd=tmp,
    )  # fmt: skip
    cfg = load_config(profile)
    for n in cfg.nodes:
        sim.ports[n.name] = int(n.rpc.rsplit(":", 1)[1])
        if n.rest and n.name == cfg.chain.tx_node:
            sim.rest_port = int(n.rest.rsplit(":", 1)[1])
        elif n.rest:
            sim.sentry_rest[n.name] = int(n.rest.rsplit(":", 1)[1])
    sim.images = {"v1": cfg.chain.cli_image_v1, "v2": cfg.chain.cli_image_v2}
    sim.homes = {"node": cfg.chain.node_home, "daemon": cfg.chain.daemon_home}
    try:
        yield sim
    finally:
        sim.down()
