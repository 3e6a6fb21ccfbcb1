"""A chain the project has no code for, from its profile alone: the chain kit builds
simd v0.45.16 and v0.46.16 from the Go module proxy, the images, the homes and the
Compose files, and the agent rehearses the SDK v0.45 -> v0.46 upgrade to `restarted`
(Tendermint v0.34: base64 events, no /header, the v0.45 command forms)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.solo_chain import free_port_base

from .prodsim import compose_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.docker, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"


def _profile_text(text: str, project: str) -> str:
    """A profile on free ports and a project the CI cleanup knows."""
    text = text.replace("[kit]\n", f"[kit]\nport_base = {free_port_base(3)}\n", 1)
    return text + f'\n[stack]\nproject = "{project}"\n'


@pytest.fixture
def kit_profile(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A bundled profile (``sdk045`` unless the test says; ``checkers`` is prod-sim's)
    copied to ``tmp_path``: its
    relative paths made absolute, on free ports, under a project CI cleans up."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("Docker is not reachable")
        pytest.skip("Docker is not reachable")
    name = getattr(request, "param", "sdk045")
    prefix = os.environ.get("REHEARSE_TEST_PREFIX", "rhtest")
    project = f"{prefix}-kit-{name}-{secrets.token_hex(3)}".lower()
    source = REPO / "prod-sim" if name == "checkers" else PROFILES / name
    text = (source / "rehearse.toml").read_text()
    text = re.sub(r"(?m)^port_base = \d+\n", "", text)
    # Paths relative to the profile's directory (its sources, genesis patch, check
    # programs) made absolute, as the copy lives elsewhere.
    text = re.sub(
        r'(source|genesis) = "([^"/][^"]*)"', lambda m: f'{m[1]} = "{source / m[2]}"', text
    )
    text = re.sub(r'"([\w./-]+\.py)"', lambda m: f'"{source / m[1]}"', text)
    profile = tmp_path / "rehearse.toml"  # its .kit/, .rehearse/ and reports land here
    profile.write_text(_profile_text(text, project))
    env = {**os.environ, "REHEARSE_KEYRING_PASSWORD": "pw-" + secrets.token_hex(8)}
    try:
        yield profile, project, env
    finally:
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=rehearse.cli={project}"],
            capture_output=True, text=True, timeout=60,
        ).stdout.split()  # fmt: skip
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60)
        kit = tmp_path / ".kit"
        files = [a for f in ("docker-compose.json", "docker-compose-cosmovisor.json")
                 for a in ("--file", str(kit / f))]  # fmt: skip
        if (kit / "docker-compose.json").exists():
            subprocess.run(
                [*compose_prefix(), "--project-name", project, *files,
                 "down", "--volumes", "--remove-orphans", "--timeout", "5"],
                capture_output=True, timeout=120,
            )  # fmt: skip


def run_to_restarted(profile: Path, env: dict[str, str]) -> dict[str, Any]:
    """`rehearse run` on ``profile``; its report, once the run exited 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(profile), "--plain"],
        env=env, cwd=profile.parent, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    report_path = profile.parent / "report.json"
    assert report_path.exists(), proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(report_path.read_text())
    assert proc.returncode == 0, (report.get("failure"), proc.stdout[-2000:], proc.stderr[-2000:])
    return report


def test_an_sdk045_chain_reaches_restarted_from_its_profile_alone(
    kit_profile: tuple[Path, str, dict[str, str]],
) -> None:
    profile, _project, env = kit_profile
    report = run_to_restarted(profile, env)
    assert report["outcome"] == "restarted"
    checks = {c["name"]: c for c in report["checks"]}
    for name in ("cosmovisor_current", "applied_plan_height", "app_version_changed",
                 "app_hash_agree", "v2_runs", "nft_store_added", "blocks_resumed",
                 "bonded_tokens_kept", "balances_kept", "delegation_migrated"):  # fmt: skip
        assert checks[name]["result"] == "pass", checks[name]
    # The declared state went in before the proposal, each tx once, in a block.
    txs = report["state"]["txs"]
    assert [(t["name"], t["index"], t["code"]) for t in txs] == [
        ("delegate", 1, 0), ("pay", 1, 0), ("pay", 2, 0),
    ]  # fmt: skip
    assert len({t["tx_hash"] for t in txs}) == 3
    log = (profile.parent / ".rehearse" / "agent.log").read_text()
    assert '"line": "v0.45"' in log  # detected from the node, the v0.45 forms used
    assert "upgrades/v045-to-v046" in checks["cosmovisor_current"]["evidence"]
    # Everything came from the profile: the kit made the homes and the Compose files.
    made = {p.name for p in (profile.parent / ".kit").iterdir()}
    assert {"kit.json", "docker-compose.json", "val-alice", "node-carol", "desk-bob"} <= made


def test_a_new_chain_from_two_static_binaries_via_init_chain(
    kit_profile: tuple[Path, str, dict[str, str]],
) -> None:
    # The README's first path: `rehearse init --chain` writes the profile by asking the
    # binaries; nothing else is written by hand.
    profile, project, env = kit_profile
    lines = REPO / "build" / "sdk-lines"
    v1, v2 = lines / "simd-v0.45.16", lines / "simd-v0.46.16"
    if not (v1.exists() and v2.exists()):
        pytest.fail("build/sdk-lines is missing: run `make sdk-lines`")
    init = subprocess.run(
        [sys.executable, "-m", "agent", "init", str(profile.parent), "--force",
         "--chain", f"v1={v1}", f"v2={v2}", "--upgrade", "v045-to-v046"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert "prefix cosmos, denom stake" in init.stdout
    profile.write_text(_profile_text(profile.read_text(), project))
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(profile), "--plain"],
        env=env, cwd=profile.parent, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    report = json.loads((profile.parent / "report.json").read_text())
    assert proc.returncode == 0, (report.get("failure"), proc.stderr[-2000:])
    checks = {c["name"]: c["result"] for c in report["checks"]}
    assert set(checks.values()) == {"pass"} and "app_hash_agree" in checks


@pytest.mark.parametrize("kit_profile", ["checkers"], indirect=True)
def test_the_bundled_chain_reaches_restarted_as_a_kit_profile(
    kit_profile: tuple[Path, str, dict[str, str]],
) -> None:
    """prod-sim's chain and topology (validators behind sentries, carol) from a profile
    of its two sources and a genesis patch: the 40 seeded players reach the v2
    migration, and the leaderboard it computes passes the profile's own check."""
    profile, _project, env = kit_profile
    report = run_to_restarted(profile, env)
    checks = {c["name"]: c for c in report["checks"]}
    assert {c["result"] for c in checks.values()} == {"pass"}, checks
    assert {"leaderboard_migrated", "leaderboard_kept", "app_hash_agree"} <= set(checks)
    assert "player-" in checks["leaderboard_migrated"]["evidence"]  # seeded, then migrated
    kit = profile.parent / ".kit"
    assert {"sentry-alice", "sentry-bob", "val-alice", "val-bob", "node-carol"} <= {
        p.name for p in kit.iterdir()
    }
    genesis = json.loads((kit / "val-alice" / "config" / "genesis.json").read_text())
    assert len(genesis["app_state"]["checkers"]["playerInfoList"]) == 40
