"""Soak: `rehearse watch` (a real process) beside five fake CometBFT nodes, under
everything issue 19 found at once: a webhook that never answers, 2,000 idle
connections to the metrics endpoint, and the nodes' clock stepping 600 s ahead.
Its alerts must still come on time to the sink that works, its metrics must
still answer, and SIGTERM must end it with exit 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from e2e.receiver import webhook_receiver

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
FAKE_NODES = REPO / "bench" / "fake_nodes.py"
K = 5
STALL_S = 5.0
EVALUATE_S = 0.5
IDLE_CONNECTIONS = 2000


class Fakes:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_NODES), str(K), "--block-s", "0.5"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.ports: list[int] = json.loads(self.proc.stdout.readline())["ports"]

    def command(self, line: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline().split()[-1])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@contextmanager
def hanging_webhook() -> Iterator[str]:
    """Accepts every connection and never answers a byte."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/never"
    finally:
        stop.set()
        t.join(timeout=5)
        for c in held:
            c.close()
        srv.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return None


def wait(what: str, pred: object, timeout: float) -> float:
    """Seconds until ``pred()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def test_watch_keeps_its_alerts_on_time_under_every_fault_at_once(tmp_path: Path) -> None:
    fakes = Fakes()
    metrics_port = free_port()
    idle: list[socket.socket] = []
    with webhook_receiver() as good, hanging_webhook() as never:
        lines = [
            '[stack]\nproject = "soak"', '[chain]\ntx_node = "n0"',
            '[agent]\nstate_dir = "state"\nlog_file = "state/agent.log"',
            f"[watch]\nstall_after_s = {STALL_S}\nevaluate_interval_s = {EVALUATE_S}\n"
            'heartbeat_file = "state/heartbeat.json"\nalert_state_file = "state/alerts.json"',
            f"[metrics]\nenabled = true\nport = {metrics_port}",
            f'[[alerts.sinks]]\ntype = "webhook"\nurl = "{never}"\ntimeout_s = 3.0\nretries = 2',
            f'[[alerts.sinks]]\ntype = "webhook"\nurl = "{good.url}"\ntimeout_s = 3.0',
        ]  # fmt: skip
        for i, port in enumerate(fakes.ports):
            lines.append(f'[[nodes]]\nname = "n{i}"\nrpc = "http://127.0.0.1:{port}"')
        cfg = tmp_path / "config.toml"
        cfg.write_text("\n".join(lines) + "\n")
        env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",  # no Docker to watch
            "PYTHONPATH": str(REPO),
        }
        with open(tmp_path / "watch.stderr", "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agent", "watch", "--config", str(cfg)],
                env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr,
            )  # fmt: skip
        try:
            wait(
                "heights in the metrics",
                lambda: "rehearse_node_height" in (scrape(metrics_port) or ""),
                30,
            )
            time.sleep(3)  # the block interval measured

            # Every fault at once: idle sockets on the metrics port, the nodes'
            # clock 600 s ahead, then a node that stops.
            for _ in range(IDLE_CONNECTIONS):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", metrics_port))
                except BlockingIOError:
                    pass
                idle.append(s)
            fakes.command("skew 600")
            stopped_at = time.time()
            fakes.command("stop 2")
            latency = wait(
                "the stall alert at the working sink",
                lambda: good.notifications("firing", "stall:n2"),
                STALL_S + 15,
            )
            fired_after = time.time() - stopped_at
            # Due after STALL_S, seen within one evaluation; delivered at once, the
            # hanging sink notwithstanding.
            assert fired_after <= STALL_S + 2 * EVALUATE_S + 3.0, fired_after
            fakes.command("start 2")
            wait("the resolution", lambda: good.notifications("resolved", "stall:n2"), 20)

            # The idle connections hold no slot for ever: a scrape answers again.
            wait("a scrape beside 2,000 idle connections", lambda: scrape(metrics_port), 30)
            stalls = {
                n["key"] for n in good.notifications("firing") if n["detector"] != "alert_delivery"
            }
            assert stalls == {"stall:n2:-"}, good.notifications("firing")
            assert proc.poll() is None, (tmp_path / "watch.stderr").read_text()[-2000:]
        finally:
            for s in idle:
                s.close()
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = -9
            fakes.close()
        assert rc == 0, (tmp_path / "watch.stderr").read_text()[-2000:]
        print(f"\nfigures: node stop -> stall notification {fired_after:.1f} s "
              f"(threshold {STALL_S:.0f} s; waited {latency:.1f} s)")  # fmt: skip
