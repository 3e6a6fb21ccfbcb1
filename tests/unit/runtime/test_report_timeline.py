"""Timeline facts from synthetic block logs, and the report's markdown for people."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakes.reports import (
    HALT_S,
    NODES,
    RESTART_S,
    U,
    failed_at_launch,
    header_time,
    records,
    rejected,
    restarted,
    stalled_after_pass,
    write_log,
)

from agent.core.machine import State
from agent.core.timeline import blocks_from_records, timeline_facts
from agent.runtime.report import build_report, render_markdown, write_report
from agent.runtime.report_data import ReportData

pytestmark = pytest.mark.anyio

LONG_FLOAT = re.compile(r"\d\.\d{4,}")


def assert_for_people(md: str) -> None:
    """Nothing a person should not have to read."""
    assert "None" not in md
    assert not re.search(r"\bnan\b", md, re.IGNORECASE)
    assert not re.search(r"\binf\b", md, re.IGNORECASE)
    assert not LONG_FLOAT.search(md), LONG_FLOAT.search(md)


# --- timeline facts ---------------------------------------------------------


def test_normal_upgrade_per_node_halt_resume_and_gap() -> None:
    tl = timeline_facts(restarted(), records(), NODES)
    assert tl.upgrade_expected and tl.upgrade_height == U
    assert [n.node for n in tl.nodes] == list(NODES)
    alice = tl.nodes[0]
    assert alice.halt_at == pytest.approx(header_time(U - 1) + 0.1)
    assert alice.resume_at == pytest.approx(header_time(U) + 0.1)
    assert alice.gap_s == pytest.approx(HALT_S)
    assert all(n.gap_s == pytest.approx(HALT_S) for n in tl.nodes)


def test_chain_downtime_from_headers_and_receives() -> None:
    tl = timeline_facts(restarted(), records())
    assert tl.downtime_header_s == pytest.approx(HALT_S)
    assert tl.downtime_receive_s == pytest.approx(HALT_S)
    assert tl.last_v1_header == pytest.approx(header_time(U - 1))
    assert tl.first_v2_header == pytest.approx(header_time(U))


def test_predicted_upgrade_time_against_the_first_v2_block() -> None:
    s = restarted()
    tl = timeline_facts(s, records())
    assert s.predicted_upgrade_time is not None
    assert tl.predicted_error_s == pytest.approx(header_time(U) - s.predicted_upgrade_time)


def test_restart_gap_is_the_silence_after_the_restart_began() -> None:
    tl = timeline_facts(restarted(), records())
    r = tl.restart
    assert r is not None
    assert (r.before_height, r.after_height) == (35, 36)
    assert r.gap_s == pytest.approx(RESTART_S)
    assert r.header_gap_s == pytest.approx(RESTART_S)


def test_markers_for_the_chart() -> None:
    s = restarted()
    labels = [label for label, _ in timeline_facts(s, records()).markers]
    assert labels == ["proposal submitted", "voting end", f"upgrade height {U} reached", "restart"]


def test_a_node_that_never_resumed() -> None:
    tl = timeline_facts(stalled_after_pass(), records(upto={"node-carol": U - 1}), NODES)
    carol = next(n for n in tl.nodes if n.node == "node-carol")
    assert carol.halt_at is not None and carol.resume_at is None and carol.gap_s is None
    assert tl.restart is None  # never got to the restart
    assert tl.downtime_header_s == pytest.approx(HALT_S)  # the others resumed


def test_a_node_never_seen_is_still_listed() -> None:
    tl = timeline_facts(restarted(), records(upto={"val-bob": 2}), NODES)
    bob = next(n for n in tl.nodes if n.node == "val-bob")
    assert (bob.halt_at, bob.resume_at, bob.gap_s) == (None, None, None)


def test_rejected_proposal_has_no_halt() -> None:
    s = rejected()
    assert s.rejected == "PROPOSAL_STATUS_REJECTED"
    tl = timeline_facts(s, records(halt=False))
    assert not tl.upgrade_expected and tl.nodes == ()
    assert tl.downtime_header_s is None and tl.predicted_error_s is None
    assert [m for m, _ in tl.markers][-1] == f"upgrade height {U} planned"


def test_failed_before_any_block_has_nothing() -> None:
    tl = timeline_facts(failed_at_launch(), [])
    assert tl.upgrade_height is None and tl.nodes == () and tl.restart is None
    assert tl.blocks == () and tl.markers == ()
    assert [p.name for p in tl.phases] == ["launched", "failed"]


def test_malformed_and_duplicate_records() -> None:
    recs: list[dict[str, object]] = [
        {"node": "a", "height": 5, "time": "bad", "at": 10.0},
        {"node": "a", "height": 5, "time": "bad", "at": 9.0},  # a replay keeps the first
        {"node": "a", "height": "6", "at": 11.0},
        {"node": "a", "height": 7, "at": float("nan")},
        {"node": "a", "height": True, "at": 1.0},
        {"height": 8, "at": 1.0},
    ]
    blocks = blocks_from_records(recs)
    assert [(b.height, b.at, b.time) for b in blocks] == [(5, 9.0, None)]


# --- the report -------------------------------------------------------------


def data() -> ReportData:
    return ReportData(
        heights=(U - 5, U + 5),
        missed={"val-alice": [], "val-bob": [U - 1, U]},
        checked=list(range(U - 5, U + 6)),
        versions={"val-alice": "v2", "val-bob": "v2", "node-carol": "unknown"},
        digests={"checkersd_i:v1": "sha256:" + "ab" * 32, "checkersd_i:v2": "unknown"},
    )


# A case: the state it ends in, and the block log it leaves.
Case = tuple[Callable[[], State], Callable[[], list[dict[str, Any]]]]
CASES: dict[str, Case] = {
    "restarted": (restarted, lambda: records()),
    "never_resumed": (stalled_after_pass, lambda: records(upto={"node-carol": U - 1})),
    "rejected": (rejected, lambda: records(halt=False)),
    "failed_early": (failed_at_launch, lambda: []),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_data", [True, False])
async def test_markdown_is_for_people_in_every_case(
    case: str, with_data: bool, tmp_path: Path
) -> None:
    make_state, make_records = CASES[case]
    log = await write_log(tmp_path / "blocks.jsonl", make_records())
    md_path = tmp_path / "report.md"
    await write_report(
        make_state(),
        tmp_path / "report.json",
        md_path,
        {"alerts": []},
        block_log=log,
        data=data() if with_data else None,
    )
    md = await anyio.Path(md_path).read_text()
    assert_for_people(md)
    doc = json.loads(await anyio.Path(tmp_path / "report.json").read_text())
    assert not LONG_FLOAT.search(json.dumps(doc["timeline"]))
    assert "## Upgrade timeline" in md and "## Missed blocks around the upgrade" in md


async def test_markdown_of_a_normal_upgrade(tmp_path: Path) -> None:
    log = await write_log(tmp_path / "blocks.jsonl", records())
    await write_report(
        restarted(), tmp_path / "report.json", tmp_path / "report.md", None,
        block_log=log, data=data(),
    )  # fmt: skip
    md = await anyio.Path(tmp_path / "report.md").read_text()
    assert f"- **Chain downtime** (header times of {U - 1} to {U}): 12.0 s" in md
    assert "| val-alice | 22:14:01 | 22:14:13 | 12.0 s |" in md
    assert "- **Restart gap**: 20.0 s (block 35 at 22:14:18 UTC to block 36 at 22:14:38 UTC;" in md
    assert "| val-bob | 2 of 11 | 29, 30 |" in md and "| val-alice | 0 of 11 | - |" in md
    assert "| node-carol | unknown |" in md
    assert "`sha256:abababababab`" in md and "| `checkersd_i:v2` | `unknown` |" in md
    assert "![heights](report.png)" in md
    assert "```mermaid\ngantt\n" in md and "    launched : 0, 17\n" in md
    assert "    restarted : milestone, 82, 0s\n" in md
    assert "| launched | 0 | 22:13:20 | 0.0 s | rehearsal begins |" in md
    doc = json.loads(await anyio.Path(tmp_path / "report.json").read_text())
    tl = doc["timeline"]
    assert tl["chain_downtime"]["header_s"] == 12.0
    assert tl["nodes"][0]["gap_s"] == 12.0
    assert tl["restart"]["gap_s"] == 20.0
    assert doc["missed_blocks"]["validators"]["val-bob"] == {"missed": [29, 30], "count": 2}
    assert doc["versions"]["val-alice"] == "v2"
    assert doc["chart"]["path"] == str(tmp_path / "report.png")
    assert tl["predicted_vs_real"]["error_s"] is not None


async def test_markdown_says_not_reached_for_a_node_that_never_resumed(tmp_path: Path) -> None:
    log = await write_log(tmp_path / "b.jsonl", records(upto={"node-carol": U - 1}))
    await write_report(stalled_after_pass(), tmp_path / "r.json", tmp_path / "r.md", block_log=log)
    md = await anyio.Path(tmp_path / "r.md").read_text()
    assert "| node-carol | 22:14:01 | not reached | n/a |" in md
    assert "- Restart on v2: not reached" in md
    assert "![heights](r.png)" in md  # the chart is named after report.md


async def test_a_first_v2_block_never_seen_gets_no_time_zone(tmp_path: Path) -> None:
    # Every node halted on v1: no v2 block came. It once read "at not reached UTC".
    log = await write_log(tmp_path / "b.jsonl", records(upto={n: U - 1 for n in NODES}))
    await write_report(stalled_after_pass(), tmp_path / "r.json", tmp_path / "r.md", block_log=log)
    md = await anyio.Path(tmp_path / "r.md").read_text()
    assert f"first v2 block ({U}) not reached" in md
    assert "not reached UTC" not in md and "n/a UTC" not in md


async def test_markdown_of_a_rejection_and_an_early_failure(tmp_path: Path) -> None:
    md = render_markdown(build_report(rejected()))
    assert "No halt expected: the proposal ended PROPOSAL_STATUS_REJECTED" in md
    md = render_markdown(build_report(failed_at_launch()))
    assert "No upgrade height: no proposal was submitted" in md
    assert "chart unavailable: no block log" in md
    assert "Node versions: unknown (not collected)." in md
    assert_for_people(md)


async def test_without_a_block_log_no_chart_is_written(tmp_path: Path) -> None:
    s: State = restarted()
    await write_report(s, tmp_path / "report.json", tmp_path / "report.md")
    names = sorted([p.name async for p in anyio.Path(tmp_path).iterdir()])
    assert names == ["report.json", "report.md"]
