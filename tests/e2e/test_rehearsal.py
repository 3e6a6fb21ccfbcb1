"""`rehearse run` end to end on a real five-node prod-sim under Cosmovisor."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from .prodsim import NODES, ProdSim
from .receiver import webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PHASES = ["launched", "proposed", "voted", "passed", "upgraded", "restarted"]


def agent(sim: ProdSim, config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        env=sim.run_env(), cwd=sim.root,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def log_events(sim: ProdSim) -> list[dict[str, Any]]:
    path = sim.root / "state" / "agent.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_for_phase(sim: ProdSim, proc: subprocess.Popen[bytes], phase: str, timeout: float) -> None:
    def seen() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"agent exited {proc.returncode} before phase {phase}")
        return any(
            e.get("event") == "phase_changed" and e.get("phase") == phase for e in log_events(sim)
        )

    sim.wait(f"phase {phase}", seen, timeout, every=0.1)


def check_report(sim: ProdSim) -> dict[str, Any]:
    report = json.loads((sim.root / "report.json").read_text())
    assert report["outcome"] == "restarted", report.get("failure")
    assert [p["phase"] for p in report["phases"]] == PHASES
    heights = [p["height"] for p in report["phases"]]
    assert heights == sorted(heights)
    names = {c["name"] for c in report["checks"]}
    assert {
        "cosmovisor_current", "applied_plan_height", "app_version_changed", "leaderboard_migrated",
        "app_hash_agree", "blocks_resumed", "leaderboard_kept", "balances_kept",
    } <= names  # fmt: skip
    assert all(c["result"] == "pass" for c in report["checks"]), report["checks"]
    assert (sim.root / "report.md").read_text().startswith("# Upgrade rehearsal")
    return report


def expected_leaderboard_from_genesis(sim: ProdSim) -> list[tuple[str, int]]:
    """Computed here, from genesis, independently of the agent and the chain."""
    genesis = json.loads((sim.testnet / "node-carol" / "config" / "genesis.json").read_text())
    players = genesis["app_state"]["checkers"]["playerInfoList"]
    winners = sorted(
        ((p["index"], int(p["wonCount"])) for p in players if int(p["wonCount"]) > 0),
        key=lambda w: (-w[1], w[0].encode()),
    )
    return winners[:10]


def tx_search(sim: ProdSim, query: str) -> dict[str, Any]:
    q = urllib.parse.quote(f'"{query}"')
    result: dict[str, Any] = sim.get(sim.rpc("node-carol") + f"/tx_search?query={q}&per_page=100")[
        "result"
    ]
    return result


def no_secret_leaked(sim: ProdSim, *secrets_: str) -> None:
    files = [sim.root / "report.json", sim.root / "report.md"]
    files += [f for f in (sim.root / "state").rglob("*") if f.is_file() and f.suffix != ".sock"]
    for secret in (sim.password, *secrets_):
        for f in files:
            assert secret.encode() not in f.read_bytes(), f"a secret found in {f}"


def spy_on_children(tmp_path: Path) -> tuple[Path, Path]:
    """A PATH directory whose docker and docker-compose record their argv and
    environment, then run the real tool: what the agent hands its children."""
    spy = tmp_path / "spy-bin"
    spy.mkdir()
    log = tmp_path / "children.log"
    for tool in ("docker", "docker-compose"):
        real = shutil.which(tool)
        if real is None:
            continue
        script = spy / tool
        script.write_text(
            f'#!/bin/sh\n{{ echo "argv: $*"; env; echo ---; }} >> "{log}"\nexec "{real}" "$@"\n'
        )
        script.chmod(0o755)
    return spy, log


def test_rehearse_run_goes_to_restarted(sim: ProdSim, tmp_path: Path) -> None:
    token = "hooktoken-" + os.urandom(6).hex()
    spy, children = spy_on_children(tmp_path)
    sim.env["PATH"] = f"{spy}:{os.environ['PATH']}"
    with webhook_receiver() as rec:
        config = sim.write_config(
            tmp_path / "config.toml",
            extra=f'[[alerts.sinks]]\ntype = "webhook"\nurl = "{rec.url}/{token}"\n',
        )
        proc = agent(sim, config)
        try:
            rc = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        # A normal rehearsal raises no alert at all: not at the halt, not at the restart.
        assert rec.notifications() == [], rec.notifications()
    assert rc == 0, [e for e in log_events(sim) if e.get("level") in ("warning", "error")][-10:]
    report = check_report(sim)
    upgrade_height = report["upgrade"]["height"]
    # Users' transactions went on through the whole upgrade, and none was lost.
    traffic = report["traffic"]
    assert traffic["final"] and traffic["total"]["sent"] >= 15, traffic["total"]
    assert traffic["total"]["lost"] == 0 and traffic["total"]["pending"] == 0, traffic
    # From the proposal (the votes follow within seconds) until after the restart.
    assert {"passed", "upgraded"} <= set(traffic["phases"]), traffic["phases"]
    assert "launched" not in traffic["phases"], traffic["phases"]
    assert traffic["total"]["included"] >= traffic["total"]["sent"] * 0.9, traffic["total"]
    assert "halt_mempool" in traffic, traffic

    # The chain itself, read here without the agent: v2 leaderboard as computed from genesis.
    board = json.loads(
        subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                sim.network,
                sim.images["v2"],
                "query",
                "checkers",
                "show-leaderboard",
                "--node",
                "tcp://node-carol:26657",
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout  # fmt: skip
    )
    got = [(w["playerAddress"], int(w["wonCount"])) for w in board["Leaderboard"]["winners"]]
    assert got == expected_leaderboard_from_genesis(sim)
    for n in NODES:
        assert sim.height(n) > upgrade_height
    no_secret_leaked(sim, token)
    # What the agent handed its children: Compose, docker and the CLI containers.
    handed = children.read_text()
    assert "argv: " in handed and "docker" in handed
    assert sim.password not in handed, "the keyring password reached a child's argv or env"
    assert token not in handed, "the webhook token reached a child"


def test_kill9_after_propose_and_after_vote_then_resume(sim: ProdSim, tmp_path: Path) -> None:
    config = sim.write_config(tmp_path / "config.toml")

    first = agent(sim, config)
    wait_for_phase(sim, first, "proposed", timeout=240)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()

    second = agent(sim, config)
    wait_for_phase(sim, second, "voted", timeout=180)
    os.killpg(second.pid, signal.SIGKILL)
    second.wait()

    # Resumed while Docker does not answer: exit 2 naming it, the journal untouched
    # (it once failed the rehearsal for good, exit 1).
    no_docker = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config), "--plain"],
        env={**sim.run_env(), "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"},
        cwd=sim.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert no_docker.returncode == 2, no_docker.stderr[-1500:]
    assert "Docker daemon is unreachable" in no_docker.stderr, no_docker.stderr[-1500:]

    third = agent(sim, config)
    try:
        rc = third.wait(timeout=600)
    finally:
        if third.poll() is None:
            os.killpg(third.pid, signal.SIGKILL)
    assert rc == 0, [e for e in log_events(sim) if e.get("level") in ("warning", "error")][-10:]
    report = check_report(sim)

    proposals = sim.get(sim.rest + "/cosmos/gov/v1/proposals")["proposals"]
    assert len(proposals) == 1, proposals
    pid = proposals[0]["id"]
    # Gov deletes votes once tallied: count the vote transactions in blocks instead.
    found = tx_search(sim, f"proposal_vote.proposal_id={pid}")
    voters = []
    for t in found["txs"]:
        for e in t["tx_result"]["events"]:
            if e["type"] == "proposal_vote":
                voters += [a["value"] for a in e["attributes"] if a["key"] == "voter"]
    assert int(found["total_count"]) == 2, found
    assert len(voters) == 2 and len(set(voters)) == 2, voters
    subs = tx_search(sim, "submit_proposal.proposal_id>0")
    assert int(subs["total_count"]) == 1, "the proposal was submitted more than once"
    assert report["upgrade"]["proposal_id"] == int(pid)
    # The journal's rehearsal id stayed the same across the three runs.
    begins = [
        e for e in log_events(sim) if e.get("event") in ("rehearsal_new", "rehearsal_resumed")
    ]
    assert [e["event"] for e in begins] == [
        "rehearsal_new",
        "rehearsal_resumed",
        "rehearsal_resumed",  # Docker down stopped the one between before it began
    ]
    no_secret_leaked(sim)
