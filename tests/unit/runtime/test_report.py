"""The rehearsal report: report.json and report.md for finished and failed rehearsals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.core.facts import (
    BaselineCaptured,
    Begin,
    ChainLive,
    Check,
    DeadlinePassed,
    NodesReached,
    ProposalStatusSeen,
    ProposalSubmitted,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import Params, State, decide, initial_state
from agent.runtime.report import build_report, render_markdown, write_report

pytestmark = pytest.mark.anyio

T = 1_700_000_000.0


def run(facts: list[Any]) -> State:
    s = initial_state("r-42", Params())
    for f in facts:
        s, _ = decide(s, f)
    return s


def no_python_none(md: str) -> bool:
    """No value rendered as Python's None ("None fired." is the alerts section's prose)."""
    return re.search(r"\bNone\b(?! fired\.)", md) is None


def restarted() -> State:
    return run(
        [
            Begin("r-42", 0, T),
            StackLaunched(0, T + 10),
            ChainLive(0.5, 20.0, 3, T + 15),
            ProposalSubmitted(7, "TXP", 90, reused=True, voting_end=T + 40, height=4, at=T + 16),
            VoteCast("alice", 7, "TXA", height=5, at=T + 17),
            BaselineCaptured((), (), 1, 5, T + 17),
            VoteCast("bob", 7, "", reused=True, height=6, at=T + 18),
            ProposalStatusSeen(7, "PROPOSAL_STATUS_PASSED", 60, T + 45),
            NodesReached(89, 90, T + 60),
            UpgradeVerified((Check("app_hash_agree", True, "at 91: a=X | b=X"),), 91, T + 62),
            StackRestarted(92, height=92, at=T + 70),
            NodesReached(92, 93, T + 80),
            RestartVerified((Check("balances_kept", True, "same"),), 93, T + 81),
        ]
    )


async def read(path: Path) -> str:
    return await anyio.Path(path).read_text()


async def test_report_of_a_restarted_rehearsal(tmp_path: Path) -> None:
    s = restarted()
    out = await write_report(s, tmp_path / "out" / "report.json", tmp_path / "out" / "report.md")
    assert out == tmp_path / "out" / "report.json"
    doc = json.loads(await read(out))
    assert doc["outcome"] == "restarted" and doc["failure"] is None
    assert doc["upgrade"] == {
        "name": "v1tov2",
        "height": 90,
        "proposal_id": 7,
        "proposal_tx": "TXP",
        "proposal_reused": True,
        "voting_end": "2023-11-14T22:14:00.000+00:00",
        "measured_block_interval_s": 0.5,
        "voting_period_s": 20.0,
        "passed_height": 60,
        "spare_blocks": 29,  # 61 .. 89 came after the tally block, before 90
    }
    assert "Passed at height 60: 29 spare block(s) before the upgrade height" in await read(
        tmp_path / "out" / "report.md"
    )
    assert [p["phase"] for p in doc["phases"]] == [
        "launched",
        "proposed",
        "voted",
        "passed",
        "upgraded",
        "restarted",
    ]
    assert doc["phases"][1]["since_previous_s"] == 16.0
    assert doc["duration_s"] == 81.0
    assert [(c["stage"], c["name"], c["result"]) for c in doc["checks"]] == [
        ("upgraded", "app_hash_agree", "pass"),
        ("restarted", "balances_kept", "pass"),
    ]
    md = await read(tmp_path / "out" / "report.md")
    assert md.startswith("# Upgrade rehearsal r-42: **restarted**")
    assert "Failed" not in md
    assert "proposal 7 (reused after a restart)" in md
    assert "- alice: `TXA`" in md and "- bob: `(already on chain)`" in md
    assert "at 91: a=X \\| b=X" in md  # a pipe in the evidence does not break the table
    assert no_python_none(md)
    assert "No alert fired." in md  # the alerts section: none during this run
    names = sorted([p.name async for p in anyio.Path(tmp_path / "out").iterdir()])
    assert names == ["report.json", "report.md"]  # no temporary file left


async def test_report_of_a_failed_rehearsal_says_why(tmp_path: Path) -> None:
    s = run(
        [
            Begin("r-42", 0, T),
            StackLaunched(0, T + 10),
            ChainLive(1.0, 20.0, 3, T + 15),
            ProposalSubmitted(7, "TXP", 40, voting_end=T + 40, height=4, at=T + 16),
            DeadlinePassed("vote", 30, T + 120, "votes"),
        ]
    )
    await write_report(s, tmp_path / "report.json", tmp_path / "report.md")
    doc = json.loads(await read(tmp_path / "report.json"))
    assert doc["outcome"] == "failed"
    assert doc["failure"].startswith("stalled: no votes from alice, bob within")
    md = await read(tmp_path / "report.md")
    assert f"> Failed: {doc['failure']}" in md
    assert "| failed | 30 |" in md


def failed_before_any_proposal() -> State:
    return run([Begin("r-42", 0, T), DeadlinePassed("launch", 0, T + 180)])


async def test_report_of_a_failure_before_any_proposal(tmp_path: Path) -> None:
    s = failed_before_any_proposal()
    await write_report(s, tmp_path / "report.json", tmp_path / "report.md", {"agent": "x"})
    doc = json.loads(await read(tmp_path / "report.json"))
    assert doc["upgrade"]["proposal_id"] is None and doc["upgrade"]["voting_end"] is None
    assert doc["votes"] == [] and doc["checks"] == [] and doc["agent"] == "x"
    md = await read(tmp_path / "report.md")
    assert "> Failed: stalled: no every node producing blocks after launch within 180s" in md


# The markdown of that failure: see the test at the end of this file.


def test_a_state_without_transitions_still_renders() -> None:
    doc = build_report(initial_state("r", Params()))
    assert doc["duration_s"] == 0.0 and doc["phases"] == []
    assert render_markdown(doc).startswith("# Upgrade rehearsal r: **launched**")


def test_the_traffic_section_shows_each_phase_and_the_halt_mempool() -> None:
    from agent.core.traffic import MempoolSeen, TrafficBook, TxChecked, TxIncluded, TxSent

    book = TrafficBook()
    for e in (
        TxSent("AA" * 32, "t1", 0, "send", "voted", 5, 100.0), TxChecked("AA" * 32, 0),
        TxIncluded("AA" * 32, 6, 0, 101.0),
        TxSent("BB" * 32, "t1", 1, "send", "halt", 9, 110.0), TxChecked("BB" * 32, 13, "fee"),
        TxSent("CC" * 32, "t2", 0, "send", "halt", 9, 111.0), TxChecked("CC" * 32, 0),
        MempoolSeen(9, 112.0, ("CC" * 32,)), TxIncluded("CC" * 32, 10, 0, 120.0),
    ):  # fmt: skip
        book.apply(e)
    doc = build_report(initial_state("r", Params()), {"traffic": book.summary(final=True)})
    md = render_markdown(doc)
    assert "## Traffic through the upgrade" in md
    assert "| voted | 1 | 1 | 0 | 0 | 0 | 0 | 0 | none | 1.00 / 1.00 / 1.00 |" in md
    assert "| halt | 2 | 1 | 1 | 0 | 0 | 0 | 0 | 13: 1 | 9.00 / 9.00 / 9.00 |" in md
    assert "mempool held 1 transactions, 1 of them ours" in md
    assert f"- `{'CC' * 8}`: included at 10" in md
    assert "Traffic" not in render_markdown(build_report(initial_state("r", Params())))


def test_missed_blocks_tell_unreadable_commits_from_heights_not_reached_yet() -> None:
    from agent.runtime.report_markdown import _missed_lines

    checked = [h for h in range(15, 23) if h != 18]
    report = {
        "missed_blocks": {
            "heights": [15, 25],
            "checked_heights": checked,
            "validators": {"val-alice": {"count": 0, "missed": []}},
        }
    }
    text = "\n".join(_missed_lines(report))
    assert "Commits not readable: 18\n" in text + "\n"
    assert "Not yet committed when the report was written: 23, 24, 25" in text


def test_markdown_of_a_failure_before_any_proposal_prints_no_none() -> None:
    md = render_markdown(build_report(failed_before_any_proposal()))
    assert "Failed: stalled" in md  # it is the report of that failure
    assert no_python_none(md)
    for rendered_none in ("height None", "proposal None", "None s"):
        assert rendered_none not in md
