"""The watchdog against the real stack: stalls, the upgrade halt, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .prodsim import NODES, ProdSim
from .receiver import Receiver, webhook_receiver
from .test_rehearsal import log_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def alert_config(rec: Receiver, **watch: Any) -> str:
    lines = ["[watch]", "evaluate_interval_s = 1.0", "heartbeat_interval_s = 1.0"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in watch.items()]
    lines += ["[[alerts.sinks]]", 'type = "webhook"', f'url = "{rec.url}"', "timeout_s = 3.0"]
    return "\n".join(lines) + "\n"


def start(sim: ProdSim, config: Path, command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", command, "--config", str(config)],
        env=sim.run_env(), cwd=sim.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def test_pause_fires_once_survives_kill9_and_resolves_once(sim: ProdSim, tmp_path: Path) -> None:
    with webhook_receiver() as rec:
        config = sim.write_config(
            tmp_path / "config.toml",
            extra=alert_config(rec, stall_after_s=10.0, disabled=["lag", "stream_down"]),
        )
        sim.compose("up", "-d", overlay="docker-compose.yml")
        sim.wait("blocks", lambda: all(sim.height(n) > 2 for n in NODES), 120)
        watcher = start(sim, config, "watch")
        try:
            time.sleep(8)  # a healthy chain: nothing may fire
            assert rec.notifications() == [], rec.notifications()

            carol = sim.container("node-carol")
            paused_at = time.monotonic()
            subprocess.run(["docker", "pause", carol], check=True, timeout=30)
            sim.wait("stall alert", lambda: rec.notifications("firing", "stall:node-carol"), 60)
            latency = time.monotonic() - paused_at
            # kill -9 while the alert fires; the restarted watcher must not re-fire it.
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait()
            watcher = start(sim, config, "watch")
            time.sleep(8)
            assert len(rec.notifications("firing", "stall:node-carol")) == 1
            assert rec.notifications("resolved") == []

            subprocess.run(["docker", "unpause", carol], check=True, timeout=30)
            sim.wait("resolve", lambda: rec.notifications("resolved", "stall:node-carol"), 60)
            time.sleep(4)
            firing = rec.notifications("firing")
            resolved = rec.notifications("resolved")
            assert [n["key"] for n in firing] == ["stall:node-carol:-"], firing
            assert [n["key"] for n in resolved] == ["stall:node-carol:-"], resolved
            print(f"\nfigures: pause -> firing notification {latency:.1f}s (threshold 10s)")

            # SIGTERM: orderly stop, exit 0, heartbeat left behind for supervisors.
            os.killpg(watcher.pid, signal.SIGTERM)
            assert watcher.wait(timeout=30) == 0
            assert (tmp_path / ".rehearse" / "heartbeat.json").exists()
        finally:
            if watcher.poll() is None:
                os.killpg(watcher.pid, signal.SIGKILL)
        log = (sim.root / "state" / "agent.log").read_text()
        assert "secret-token-123" not in log


def test_a_paused_validator_is_one_halt_alert_naming_it(sim: ProdSim, tmp_path: Path) -> None:
    # Issue 21, as a new user tried it: val-bob paused 30 s beside the bundled stack
    # sent five stall alerts (one per node) and five resolutions, none saying why.
    with webhook_receiver() as rec:
        config = sim.write_config(tmp_path / "config.toml", extra=alert_config(rec))
        sim.compose("up", "-d", overlay="docker-compose.yml")
        sim.wait("blocks", lambda: all(sim.height(n) > 2 for n in NODES), 120)
        watcher = start(sim, config, "watch")
        try:
            time.sleep(8)
            assert rec.notifications() == [], rec.notifications()
            bob = sim.container("val-bob")
            subprocess.run(["docker", "pause", bob], check=True, timeout=30)
            try:
                sim.wait("halt alert", lambda: rec.notifications("firing", "chain_halt"), 60)
            finally:
                time.sleep(max(0.0, 30 - 15))  # paused 30 s in all, as the report said
                subprocess.run(["docker", "unpause", bob], check=True, timeout=30)
            sim.wait("resolve", lambda: rec.notifications("resolved", "chain_halt"), 60)
            time.sleep(6)
            firing, resolved = rec.notifications("firing"), rec.notifications("resolved")
            assert [n["key"] for n in firing] == ["chain_halt:-:-"], firing
            assert [n["key"] for n in resolved] == ["chain_halt:-:-"], resolved
            message = firing[0]["message"]
            assert message.startswith("chain halted at "), message
            # Paused between its prevote and its precommit, it is missing from the latter.
            missing = ("missing from prevotes", "missing from precommits")
            assert any(f"val-bob (50 % of power) {m}" in message for m in missing), message
            assert "val-bob RPC unreachable since " in message, message
        finally:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait()


def test_carol_without_cosmovisor_escalates_naming_carol(sim: ProdSim, tmp_path: Path) -> None:
    # The Cosmovisor overlay, except that carol runs plain v1: she will halt and stay.
    overlay = tmp_path / "cosmovisor-carol-v1.json"
    doc = json.loads((sim.testnet / "docker-compose-cosmovisor.json").read_text())
    plain = json.loads((sim.testnet / "docker-compose-plain-node-carol.json").read_text())
    doc["services"]["node-carol"] = plain["services"]["node-carol"]
    overlay.write_text(json.dumps(doc))

    with webhook_receiver() as rec:
        config = sim.write_config(
            tmp_path / "config.toml",
            overlay=str(overlay),
            extra=alert_config(rec, resume_budget_s=15.0),
            resume_budget=240.0,
        )
        proc = start(sim, config, "run")
        try:
            sim.wait(
                "upgrade_halt alert",
                lambda: rec.notifications("firing", "upgrade_halt:node-carol"),
                420,
                every=1.0,
            )
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        alerts = rec.notifications("firing")
        halt = [n for n in alerts if n["detector"] == "upgrade_halt"]
        assert [n["node"] for n in halt] == ["node-carol"], alerts
        message = halt[0]["message"]
        assert "node-carol" in message and "genesis binary" in message, message
        # The nodes that did swap stay silent: no stall alerts during the planned halt.
        assert not [n for n in alerts if n["detector"] == "stall"], alerts
        assert any(e.get("event") == "alert_firing" for e in log_events(sim))


def test_watch_warns_before_the_height_when_a_node_has_nothing_staged(
    sim: ProdSim, tmp_path: Path
) -> None:
    # Issue 21: knowing the chain's plan, `rehearse watch` warns before the height
    # when a local node has nothing staged for it (here the validator-missing-binary
    # rehearsal removes val-bob's once the proposal is in).
    watch_dir = tmp_path / "watch-state"
    with webhook_receiver() as rec:
        # The plan is ahead for some 20 blocks: time for the watch's plan read (every
        # 10 s) to see it before the halt, as it would a real chain's for days.
        run_cfg = sim.write_config(tmp_path / "run.toml", spare_blocks=20)
        watch_cfg = sim.write_config(
            tmp_path / "watch.toml",
            extra=alert_config(
                rec,
                alert_state_file=str(watch_dir / "alerts.json"),
                heartbeat_file=str(watch_dir / "heartbeat.json"),
                disabled=["stall", "lag", "stream_down", "chain_halt", "container_died"],
            ),
        )
        runner = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(run_cfg),
             "--scenario", "validator-missing-binary"],
            env=sim.run_env(), cwd=sim.root, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        watcher: subprocess.Popen[bytes] | None = None
        try:
            sim.wait("the stack", lambda: all(sim.height(n) > 1 for n in NODES), 300)
            watcher = start(sim, watch_cfg, "watch")
            firing = sim.wait(
                "not_staged alert",
                lambda: rec.notifications("firing", "not_staged:val-bob"),
                300,
                every=1.0,
            )
            at_alert = sim.height("val-alice")
        finally:
            for p in (runner, watcher):
                if p is not None and p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        message = firing[0]["message"]
        assert "val-bob has nothing staged for upgrade v1tov2 at height " in message, message
        assert "/cosmovisor/upgrades/v1tov2/bin/checkersd" in message, message
        height = int(message.split(" at height ")[1].split(" ")[0])
        assert 0 < at_alert < height, (at_alert, message)  # before the height
        others = [n for n in rec.notifications("firing") if n["detector"] == "not_staged"]
        assert [n["node"] for n in others] == ["val-bob"], others
