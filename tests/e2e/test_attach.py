"""`rehearse run --attach`: drive the upgrade on a network someone else launched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .prodsim import NODES, ProdSim

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_attach_to_a_running_network_upgrades_it_without_launching(
    sim: ProdSim, tmp_path: Path
) -> None:
    # The team's own network: started here, not by the agent.
    sim.compose("up", "--detach", "--no-build")
    sim.wait("blocks on every node", lambda: all(sim.height(n) > 2 for n in NODES), 120)
    before = {n: sim.container(n) for n in NODES}
    config = sim.write_config(tmp_path / "config.toml")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--attach", "--config", str(config)],
        env=sim.run_env(), cwd=sim.root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads((sim.root / "report.json").read_text())
    assert proc.returncode == 0, (report.get("failure"), proc.stderr[-2000:])
    assert report["outcome"] == "restarted"
    # Nothing was relaunched or reset: the same containers, the chain kept its history.
    assert {n: sim.container(n) for n in NODES} == before
    assert report["phases"][1]["height"] > 3
    applied = sim.get(sim.rest + "/cosmos/upgrade/v1beta1/applied_plan/v1tov2")
    assert int(applied["height"]) == report["upgrade"]["height"]
    names = {c["name"] for c in report["checks"]}
    assert "cosmovisor_current" not in names  # not our containers to inspect
    assert {"applied_plan_height", "leaderboard_migrated", "leaderboard_kept"} <= names
