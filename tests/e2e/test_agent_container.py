"""The agent in its own image beside the bundled chain's network:
deploy/compose/docker-compose-watch.yml, with the config `rehearse kit watch-config`
prints.

Host networking (nodes and the webhook receiver on 127.0.0.1), the Docker socket
read-only for a non-root user in the socket's group, state in a named volume.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from integration.solo_chain import free_ports

from agent.config import load_config
from agent.kit.watch_config import watch_config

from .prodsim import NODES, REPO, ProdSim, compose_prefix
from .receiver import Receiver, webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.docker, pytest.mark.timeout(600)]

IMAGE = "rehearse_agent_i:latest"
WATCH_FILE = REPO / "deploy" / "compose" / "docker-compose-watch.yml"
EVENTS = "rehearse_events_received_total"


def _require_image() -> None:
    ok = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0
    if not ok:
        msg = f"image {IMAGE} missing (run `make agent-image`)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def container_config(sim: ProdSim, rec: Receiver, metrics_port: int, tmp: Path) -> str:
    """What `rehearse kit watch-config` prints for the sim's profile (the file an
    operator mounts), with this test's faster tuning and its webhook."""
    profile = load_config(sim.write_config(tmp / "profile.toml"))
    text = watch_config(profile, metrics_port=metrics_port)
    tuning = ["evaluate_interval_s = 1.0", "heartbeat_interval_s = 1.0", "stall_after_s = 10.0",
              'disabled = ["lag", "stream_down"]']  # fmt: skip
    text = text.replace("[watch]\n", "[watch]\n" + "\n".join(tuning) + "\n", 1)
    sink = ["[[alerts.sinks]]", 'type = "webhook"', f'url = "{rec.url}"', "timeout_s = 3.0"]
    return text + "\n".join(sink) + "\n"


@contextmanager
def watch_service(sim: ProdSim, config: Path) -> Iterator[dict[str, str]]:
    """`up -d` the compose service under the sim's project; always down it."""
    env = {
        **sim.run_env(),
        "REHEARSE_WATCH_CONFIG": str(config),
        "REHEARSE_DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        "REHEARSE_AGENT_LABEL": sim.project,
    }
    base = [*compose_prefix(), "--project-name", sim.project, "--file", str(WATCH_FILE)]
    try:
        subprocess.run([*base, "up", "-d"], env=env, check=True, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
        yield env
    finally:
        subprocess.run([*base, "down", "--volumes", "--timeout", "10"], env=env,
                       capture_output=True, timeout=120)  # fmt: skip


def agent_container(project: str) -> str:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=rehearse.agent={project}"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert len(out) == 1, out
    return out[0]


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def metric(port: int, name: str, labels: str) -> float:
    """One sample scraped from the agent's endpoint; 0 when absent or unreachable."""
    text = scrape(port)
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def docker_json(*args: str) -> Any:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def test_agent_container_alerts_on_a_paused_node(sim: ProdSim, tmp_path: Path) -> None:
    _require_image()
    sim.compose("up", "-d", overlay="docker-compose.yml")
    sim.wait("blocks", lambda: all(sim.height(n) > 2 for n in NODES), 120)
    (metrics_port,) = free_ports(1)
    with webhook_receiver() as rec:
        config = tmp_path / "watch-config.toml"
        config.write_text(container_config(sim, rec, metrics_port, tmp_path))
        config.chmod(0o644)  # the image's user (10001) reads it
        with watch_service(sim, config):
            started = time.monotonic()
            cid = agent_container(sim.project)
            inspect = docker_json("inspect", cid)[0]
            assert inspect["HostConfig"]["NetworkMode"] == "host"
            assert inspect["Config"]["User"] == "10001:10001"
            sock = [m for m in inspect["Mounts"] if m["Destination"] == "/var/run/docker.sock"]
            assert sock and sock[0]["RW"] is False, inspect["Mounts"]

            # Host networking: the nodes on 127.0.0.1 and the metrics on the host's loopback.
            sim.wait(
                "carol's height in the container's metrics",
                lambda: metric(metrics_port, "rehearse_node_height", 'node="node-carol"') > 2,
                90,
            )
            ready_s = time.monotonic() - started
            time.sleep(5)  # a healthy chain: nothing may fire
            assert rec.notifications() == [], rec.notifications()

            carol = sim.container("node-carol")
            paused_at = time.monotonic()
            subprocess.run(["docker", "pause", carol], check=True, capture_output=True, timeout=30)
            try:
                sim.wait("stall alert", lambda: rec.notifications("firing", "stall:node-carol"), 60)
                latency = time.monotonic() - paused_at
                # The pause reached the agent over the read-only socket (non-root user).
                sim.wait(
                    "a Docker event counted",
                    lambda: metric(metrics_port, EVENTS, 'source="docker"') >= 1,
                    20,
                )
            finally:
                subprocess.run(["docker", "unpause", carol], check=True, capture_output=True,
                               timeout=30)  # fmt: skip
            sim.wait("resolve", lambda: rec.notifications("resolved", "stall:node-carol"), 60)
            firing = rec.notifications("firing")
            assert [n["key"] for n in firing] == ["stall:node-carol:-"], firing
            # The heartbeat is written in the named volume, by the non-root user.
            beat = subprocess.run(
                ["docker", "exec", cid, "cat", "/var/lib/rehearse/heartbeat.json"],
                capture_output=True, text=True, check=True, timeout=30,
            ).stdout  # fmt: skip
            assert time.time() - json.loads(beat)["at"] < 10, beat
            print(f"\nfigures: agent container up -> metrics {ready_s:.1f}s; "
                  f"pause -> firing notification {latency:.1f}s (threshold 10s)")  # fmt: skip
        # `down` stopped and removed the agent container and its volume.
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=rehearse.agent={sim.project}"],
            capture_output=True, text=True, timeout=30,
        ).stdout.split()  # fmt: skip
        assert left == []
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"name={sim.project}_"],
            capture_output=True, text=True, timeout=30,
        ).stdout.split()  # fmt: skip
        assert f"{sim.project}_rehearse-watch-state" not in volumes
