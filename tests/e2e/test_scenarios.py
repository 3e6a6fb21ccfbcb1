"""Failure scenarios end to end: each rehearsed for real on the five-node prod-sim.

`rehearse run --scenario NAME` exits 0 only when the rehearsal ended the way its
scenario expects (the report's verdict); these tests also check the chain and
the alerts independently of the agent's own judgement.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .prodsim import NODES, ProdSim
from .receiver import webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.scenario, pytest.mark.timeout(900)]


def run_scenario(
    sim: ProdSim, config: Path, name: str, timeout: float = 600
) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config), "--scenario", name],
        env=sim.run_env(), cwd=sim.root, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    report = json.loads((sim.root / "report.json").read_text())
    return proc.returncode, report, proc.stderr


def alerts(report: dict[str, Any], event: str = "fired") -> list[tuple[str, str | None]]:
    return [(a["detector"], a["node"]) for a in report["alerts"] if a["event"] == event]


def webhook_config(url: str) -> str:
    return (
        f'[watch]\nevaluate_interval_s = 1.0\n[[alerts.sinks]]\ntype = "webhook"\nurl = "{url}"\n'
    )


def test_validator_paused_halts_the_chain_one_alert_naming_it_and_completes(
    sim: ProdSim, tmp_path: Path
) -> None:
    with webhook_receiver() as rec:
        config = sim.write_config(tmp_path / "config.toml", extra=webhook_config(rec.url))
        code, report, err = run_scenario(sim, config, "validator-paused")
        got = list(rec.received)
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted"
    # One incident, one alert: the halt, not a stall per node (five of them before
    # issue 21), and its text leads with the cause: the paused validator's missing
    # prevote (or precommit, when the pause fell between the two), then its silent RPC.
    assert alerts(report) == [("chain_halt", None)], report["alerts"]
    assert alerts(report, "resolved") == [("chain_halt", None)], report["alerts"]
    (fired,) = [a for a in report["alerts"] if a["event"] == "fired"]
    assert fired["message"].startswith("chain halted at "), fired
    missing = ("missing from prevotes", "missing from precommits")
    assert any(f"val-alice (50 % of power) {m}" in fired["message"] for m in missing), fired
    # The real webhook got exactly that: one firing, one resolution.
    statuses = [(n["detector"], n["node"], n["status"]) for n in got]
    assert statuses == [("chain_halt", None, "firing"), ("chain_halt", None, "resolved")]
    assert report["scenario"]["verdict_met"] is True
    assert report["scenario"]["faults"][0]["fault"] == "pause:val-alice"


def test_rejected_proposal_runs_past_the_height_on_v1(sim: ProdSim, tmp_path: Path) -> None:
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "rejected")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "failed" and "REJECTED" in report["failure"]
    names = {c["name"]: c["result"] for c in report["checks"]}
    assert names == {
        "no_plan_applied": "pass",
        "ran_past_height": "pass",
        "app_version_unchanged": "pass",
    }
    # Independently: the plan was never applied and the chain is past the height.
    applied = sim.get(sim.rest + "/cosmos/upgrade/v1beta1/applied_plan/v1tov2")
    assert int(applied.get("height", 0)) == 0
    assert sim.height("node-carol") > report["upgrade"]["height"]


def test_validator_missing_binary_halts_the_chain_and_names_the_validator(
    sim: ProdSim, tmp_path: Path
) -> None:
    config = sim.write_config(
        tmp_path / "config.toml",
        resume_budget=30.0,
        extra="[watch]\nevaluate_interval_s = 1.0\nresume_budget_s = 30.0\n",
    )
    code, report, err = run_scenario(sim, config, "validator-missing-binary")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "failed" and "val-bob" in report["failure"]
    # At once, with the cause: not after the upgrade deadline as a stall.
    assert report["failure"].startswith("val-bob exited (exit code "), report["failure"]
    assert "stalled" not in report["failure"]
    assert ("container_died", "val-bob") in alerts(report)


def test_carol_without_cosmovisor_is_alerted_remediated_and_catches_up(
    sim: ProdSim, tmp_path: Path
) -> None:
    config = sim.write_config(
        tmp_path / "config.toml",
        resume_budget=30.0,
        extra="[watch]\nevaluate_interval_s = 1.0\nresume_budget_s = 30.0\n",
    )
    code, report, err = run_scenario(sim, config, "carol-without-cosmovisor")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted"
    fired = [a for a in report["alerts"] if a["event"] == "fired"]
    halt = [a for a in fired if a["detector"] == "upgrade_halt" and a["node"] == "node-carol"]
    assert halt and "genesis binary (version v1)" in halt[0]["message"], fired
    assert report["scenario"]["remediated"] == ["node-carol"]
    assert sim.height("node-carol") > report["upgrade"]["height"]


def test_tx_node_loss_fails_over_and_completes(sim: ProdSim, tmp_path: Path) -> None:
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "tx-node-loss")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted"
    # In the order they completed: the stop may land while the 20 s cut still runs.
    faults = sorted(f["fault"] for f in report["scenario"]["faults"])
    assert faults == ["disconnect:node-carol", "stop:node-carol"]


def test_restart_in_window_ends_with_every_node_on_v2(sim: ProdSim, tmp_path: Path) -> None:
    # Issue 21 (cosmos-sdk #25861): a restart between the halt and Cosmovisor's swap.
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "restart-in-window")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted"
    (fault,) = report["scenario"]["faults"]
    assert fault["fault"] == "kill_in_window:val-bob"
    assert "killed and started again at the halt" in fault["detail"], fault
    assert "upgrade-info.json, current -> " in fault["detail"], fault
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["cosmovisor_current"]["result"] == "pass", checks["cosmovisor_current"]
    assert sim.height("val-bob") > report["upgrade"]["height"]
    # Cosmovisor v1.5.0 either swaps after the restart or exits (timing decides; both
    # were seen). When it exits, the agent swaps val-bob by hand and says so.
    if report["scenario"].get("remediated"):
        assert report["scenario"]["remediated"] == ["val-bob"], report["scenario"]
        assert "remediated by the agent: val-bob" in checks["cosmovisor_current"]["evidence"]
        fired = [a for a in report["alerts"] if a["event"] == "fired"]
        assert any(a["node"] == "val-bob" for a in fired), fired


def test_mixed_binary_fails_naming_the_validator_whose_state_diverged(
    sim: ProdSim, tmp_path: Path
) -> None:
    # Issue 21: val-bob's v2 writes one more key per delivered transaction (build
    # tag divergent); the traffic's transactions make its app hash differ.
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "mixed-binary")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    failure = report["failure"]
    assert report["outcome"] == "failed", failure
    assert failure.startswith("app hashes diverge after block "), failure
    assert "val-bob diverged from the other nodes" in failure, failure
    # The chain itself, read apart from the agent: after the upgrade, val-bob's app
    # holds another state than the others' at the same height.
    upgrade = report["upgrade"]["height"]
    infos = {}
    for node in NODES:
        r = sim.get(sim.rpc(node) + "/abci_info")["result"]["response"]
        infos[node] = (int(r["last_block_height"]), r["last_block_app_hash"])
    height, bob = infos["val-bob"]
    others = {n: v for n, v in infos.items() if n != "val-bob" and v[0] == height}
    assert height >= upgrade and others, infos
    assert all(h != bob for _, h in others.values()), infos
    assert len({h for _, h in others.values()}) == 1, infos


def test_a_late_validator_misses_blocks_is_alerted_swapped_and_signs_again(
    sim4: ProdSim, tmp_path: Path
) -> None:
    # Issue 21: four validators; val-dave runs plain v1 and is swapped to v2 by hand
    # 10 blocks after the upgrade height, while the other three go on.
    config = sim4.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim4, config, "late-validator")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted"
    assert report["scenario"]["remediated"] == ["val-dave"], report["scenario"]
    fired = [a for a in report["alerts"] if a["event"] == "fired"]
    assert [(a["detector"], a["node"]) for a in fired] == [("missed_blocks", "val-dave")], fired
    # At least [watch] missed_blocks (5): the watchdog evaluates every few seconds.
    assert re.match(r"val-dave's signature missing from the last \d+ blocks \(since \d+;",
                    fired[0]["message"]), fired  # fmt: skip
    assert ("missed_blocks", "val-dave") in alerts(report, "resolved")
    # The chain's own commits, read for the report: dave missed the blocks from the
    # upgrade height until it caught up; the others at most a few (the stack's
    # restart: a validator up a moment after the others misses a block or two).
    u = report["upgrade"]["height"]
    counted = report["missed_blocks"]["validators"]
    dave = counted["val-dave"]
    # It precommits the upgrade height before its app fails to execute it.
    assert dave["count"] >= 10 and min(dave["missed"]) in (u, u + 1), counted
    assert all(v["count"] < 5 for n, v in counted.items() if n != "val-dave"), counted
    assert sim4.height("val-dave") > u + 10


def _staged_sha256(sim: ProdSim, node: str) -> str:
    """The SHA-256 of the v2 Cosmovisor holds for the plan in ``node``'s container."""
    path = f"{sim.homes['daemon']}/cosmovisor/upgrades/v1tov2/bin/checkersd"
    out = subprocess.run(["docker", "exec", sim.container(node), "sha256sum", path],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    return out.stdout.split()[0] if out.returncode == 0 else f"none: {out.stderr.strip()}"


def test_auto_download_fetches_v2_checks_it_and_swaps(sim: ProdSim, tmp_path: Path) -> None:
    # Issue 21: nothing staged on val-bob; its Cosmovisor downloads v2 from the
    # stack's own server at the halt, with the right checksum, and swaps by itself.
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "auto-download")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted"
    assert not report["scenario"].get("remediated"), report["scenario"]
    # What val-bob's Cosmovisor fetched, read in its container before the restart:
    # v2 to the byte, as the kit built it.
    kit = json.loads((sim.testnet / "kit.json").read_text())
    checks = {c["name"]: c for c in report["checks"]}
    current = checks["cosmovisor_current"]
    assert current["result"] == "pass", current
    assert (
        f"val-bob downloaded v2 (sha256 {kit['v2_sha256'][:12]}..., the plan's)"
        in (current["evidence"])
    ), current
    # The chain, read apart from the agent: the plan named the stack's server and
    # v2's checksum, and it was applied at the planned height.
    rest = f"http://127.0.0.1:{sim.rest_port}"
    proposal = sim.get(f"{rest}/cosmos/gov/v1/proposals/{report['upgrade']['proposal_id']}")
    info = json.loads(proposal["proposal"]["messages"][0]["plan"]["info"])
    assert info["binaries"]["any"].endswith(f"?checksum=sha256:{kit['v2_sha256']}"), info
    plan = sim.get(f"{rest}/cosmos/upgrade/v1beta1/applied_plan/v1tov2")
    assert int(plan["height"]) == report["upgrade"]["height"], plan


def test_auto_download_with_a_wrong_checksum_is_refused_and_named(
    sim: ProdSim, tmp_path: Path
) -> None:
    # Issue 21 (zeta-chain v27, cosmos-sdk PR #23653): the plan's checksum is another
    # build's. Cosmovisor must refuse the binary; the rehearsal names val-bob.
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "auto-download-bad-checksum")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    failure = report["failure"]
    assert report["outcome"] == "failed", failure
    assert failure.startswith("val-bob exited (exit code 1) during the upgrade"), failure
    assert "Checksums did not match" in failure, failure
    # Nothing was swapped in: val-bob's Cosmovisor holds no v2 for the plan.
    assert _staged_sha256(sim, "val-bob").startswith("none"), _staged_sha256(sim, "val-bob")


def test_a_lost_sentry_fails_naming_the_halted_chain_and_the_stopped_container(
    sim: ProdSim, tmp_path: Path
) -> None:
    # Issue 21: with sentry-bob stopped after the proposal (val-bob's only peer) the
    # rehearsal failed as "cast_vote:alice: did not finish within 90s".
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "sentry-lost")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    failure = report["failure"]
    assert report["outcome"] == "failed" and failure.startswith("chain halted at "), failure
    assert "val-bob (50 % of power) missing from prevotes" in failure, failure
    assert "sentry-bob's container was stopped at " in failure, failure
    assert failure.index("chain halted") < failure.index("; so "), failure  # cause first


def test_a_node_stopped_after_the_votes_fails_naming_its_container(
    sim: ProdSim, tmp_path: Path
) -> None:
    # Issue 21: it failed as "stalled: no every node executing upgrade height 18 on
    # v2 within 96s (behind: node-carol)", though Docker had said carol was stopped.
    config = sim.write_config(
        tmp_path / "config.toml",
        resume_budget=30.0,
        extra="[watch]\nevaluate_interval_s = 1.0\nresume_budget_s = 30.0\n",
    )
    code, report, err = run_scenario(sim, config, "node-stopped")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    failure = report["failure"]
    assert report["outcome"] == "failed", failure
    assert failure.startswith("node-carol's container was stopped at "), failure
    assert "; so stalled: no every node executing upgrade height" in failure, failure


def test_stream_cuts_miss_no_phase_and_raise_no_alert(sim: ProdSim, tmp_path: Path) -> None:
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "stream-cuts")
    assert code == 0, (report.get("failure"), report["scenario"], err[-2000:])
    assert report["outcome"] == "restarted" and report["alerts"] == []
    cuts = [f["detail"] for f in report["scenario"]["faults"]]
    # Every cut closed real connections: five websockets and the Docker stream.
    assert len(cuts) == 3 and all(int(c.split()[0]) >= 6 for c in cuts), cuts


def test_agent_crash_at_random_moments_gives_one_proposal_and_one_vote_each(
    sim: ProdSim, tmp_path: Path
) -> None:
    config = sim.write_config(tmp_path / "config.toml")
    code, report, err = run_scenario(sim, config, "agent-crash", timeout=900)
    assert code == 0, (report.get("failure"), report.get("supervisor"), err[-3000:])
    assert report["outcome"] == "restarted"
    kills = [x for x in report["supervisor"] if x.startswith("SIGKILL")]
    assert len(kills) == 3, report["supervisor"]
    assert "1 proposal transaction(s)" in report["supervisor"][-1]


def test_a_plan_name_no_node_stages_stops_at_launch(sim: ProdSim, tmp_path: Path) -> None:
    # Every node would exit a second after the halt (Cosmovisor: binary not present);
    # the agent once waited out its whole deadline. Now: exit 2 at launch, before
    # anything is signed, naming each node and the path it lacks.
    # The kit stages v2 under the profile's plan name by construction: the stack here
    # runs the images built for v1tov2 (a copy of their overlay), the profile says
    # v2-typo.
    staged = tmp_path / "cosmovisor-v1tov2.json"
    staged.write_text((sim.testnet / "docker-compose-cosmovisor.json").read_text())
    config = sim.write_config(tmp_path / "config.toml", overlay=str(staged))
    config.write_text(
        config.read_text().replace("[chain]\n", '[chain]\nupgrade_name = "v2-typo"\n', 1)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config), "--plain"],
        env=sim.run_env(), cwd=sim.root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads((sim.root / "report.json").read_text())
    assert proc.returncode == 2, (report.get("failure"), proc.stderr[-2000:])
    path = f"{sim.homes['daemon']}/cosmovisor/upgrades/v2-typo/bin/checkersd"
    for node in ("val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"):
        assert f"{node}: no {path}" in report["failure"]
    # The stack was left up (as after any failure): once REST answers, no proposal.

    def proposals() -> list[Any] | None:
        try:
            return list(sim.get(sim.rest + "/cosmos/gov/v1/proposals")["proposals"])
        except (OSError, ValueError, KeyError):
            return None

    assert sim.wait("REST", lambda: proposals() is not None, 120, every=1.0)
    assert proposals() == []
