"""The agent rehearses the sdkbump chain from its kit profile alone (no code for it).

v1 on SDK v0.47.17, v2 on v0.50.15: the proposal goes out in the v0.47 form,
detected from the node; the profile's declared checks run in the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .test_sdkbump import NODES, Bump, bump  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.timeout(900)]


def test_the_agent_rehearses_an_sdk_bump_from_its_profile(bump: Bump) -> None:  # noqa: F811
    # The fixture wrote the profile (this test's project and ports) and built its
    # network with the kit; the agent needs nothing else.
    config = bump.root / "rehearse.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        env={**os.environ, **bump.env}, cwd=bump.root,
        capture_output=True, text=True, timeout=700,
    )  # fmt: skip
    report = json.loads((bump.root / "report.json").read_text())
    assert proc.returncode == 0, (report.get("failure"), report["checks"], proc.stderr[-2000:])
    assert report["outcome"] == "restarted"
    checks = {c["name"]: c for c in report["checks"]}
    for name in (
        "cosmovisor_current",
        "applied_plan_height",
        "app_version_changed",
        "app_hash_agree",
        "sdk_bumped",
        "sdk_line_changed",
        "circuit_store_added",
        "block_params_kept",
        "blocks_resumed",
        "bonded_tokens_kept",
        "sdk_still_bumped",
        "balances_kept",
    ):
        assert checks[name]["result"] == "pass", checks[name]
    assert "v0.47.17" in checks["sdk_line_changed"]["evidence"]
    # The v0.47 command form went out (the legacy proposal), found by the agent itself.
    log = (bump.root / ".rehearse" / "agent.log").read_text()
    assert "v0.47" in log
    for node in NODES:
        assert bump.height(node) > report["upgrade"]["height"]
