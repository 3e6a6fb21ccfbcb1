"""The agent rehearses the sdkbump chain from its profile alone (no agent code for it).

v1 on SDK v0.47.17, v2 on v0.50.15: the proposal goes out in the v0.47 form,
detected from the node; the profile's declared checks run in the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_sdkbump import NODES, PROFILE, Bump, bump  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.timeout(900)]


def profile_config(b: Bump, path: Path) -> Path:
    """profiles/sdkbump/rehearse.toml with this test's project, ports and homes."""
    text = (PROFILE / "rehearse.toml").read_text()
    text = text.replace('project = "rehearse-bump"', f'project = "{b.project}"')
    text = text.replace('compose_dir = "."', f'compose_dir = "{PROFILE}"')
    text = text.replace('["python3", "testnet.py",', f'["python3", "{PROFILE / "testnet.py"}",')
    text = text.replace("[stack]", f'[stack]\ntestnet_dir = "{b.testnet}"', 1)
    for node, default in (("val-alice", 26621), ("val-bob", 26622), ("node-carol", 26627)):
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{b.ports[node]}")
    text = text.replace("127.0.0.1:1327", f"127.0.0.1:{b.rest_port}")
    for who in ("alice", "bob"):
        text = text.replace(f'desk = "desk-{who}"', f'desk = "{b.testnet / ("desk-" + who)}"')
    state = b.root / "state"
    text = text.replace('state_dir = ".rehearse"', f'state_dir = "{state}"')
    text = text.replace('log_file = ".rehearse/agent.log"', f'log_file = "{state / "agent.log"}"')
    text = text.replace('report_json = "report.json"', f'report_json = "{b.root / "report.json"}"')
    text = text.replace('report_md = "report.md"', f'report_md = "{b.root / "report.md"}"')
    path.write_text(text)
    return path


def test_the_agent_rehearses_an_sdk_bump_from_its_profile(bump: Bump, tmp_path: Path) -> None:  # noqa: F811
    config = profile_config(bump, tmp_path / "rehearse.toml")
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
    log = (bump.root / "state" / "agent.log").read_text()
    assert "v0.47" in log
    for node in NODES:
        assert bump.height(node) > report["upgrade"]["height"]
