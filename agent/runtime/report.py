"""The rehearsal report: report.json for machines, report.md for people (rendered
by ``agent.runtime.report_markdown``, re-exported here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import structlog

from agent.adapters.blocklog import read_block_log
from agent.adapters.files import write_atomic
from agent.core.machine import Phase, State
from agent.core.timeline import Timeline, timeline_facts
from agent.runtime.chart import ChartUnavailable, render_chart
from agent.runtime.report_data import ReportData
from agent.runtime.report_markdown import render_markdown

__all__ = ["build_report", "render_markdown", "write_report"]

log = structlog.get_logger("agent.runtime.report")


def iso(t: float) -> str:
    """UTC ISO time of epoch seconds, for people."""
    return _iso(t)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds") if t else ""


def _iso_or_none(t: float | None) -> str | None:
    return _iso(t) if t is not None else None


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def timeline_json(tl: Timeline) -> dict[str, Any]:
    """The timeline facts for report.json: ISO times, seconds rounded to ms."""
    r = tl.restart
    return {
        "began": _iso_or_none(tl.origin),
        "upgrade_height": tl.upgrade_height,
        "upgrade_expected": tl.upgrade_expected,
        "rejected": tl.rejected,
        "nodes": [
            {
                "node": n.node,
                "halt_at": _iso_or_none(n.halt_at),
                "resume_at": _iso_or_none(n.resume_at),
                "gap_s": _r(n.gap_s),
            }
            for n in tl.nodes
        ],
        "chain_downtime": {
            "last_v1_block_time": _iso_or_none(tl.last_v1_header),
            "first_v2_block_time": _iso_or_none(tl.first_v2_header),
            "header_s": _r(tl.downtime_header_s),
            "received_s": _r(tl.downtime_receive_s),
        },
        "predicted_vs_real": {
            "predicted": _iso_or_none(tl.predicted_upgrade_time),
            "real": _iso_or_none(tl.first_v2_header),
            "error_s": _r(tl.predicted_error_s),
        },
        "restart": None
        if r is None
        else {
            "began": _iso(r.began_at),
            "last_height_before": r.before_height,
            "last_before_at": _iso_or_none(r.before_at),
            "first_height_after": r.after_height,
            "first_after_at": _iso_or_none(r.after_at),
            "gap_s": _r(r.gap_s),
            "header_gap_s": _r(r.header_gap_s),
        },
        "markers": [
            {"label": label, "at": _iso(t), "since_start_s": _r(tl.since(t))}
            for label, t in tl.markers
        ],
        "gantt": [
            {
                "phase": p.name,
                "start_s": _r(tl.since(p.start)),
                "end_s": _r(tl.since(p.end)),
            }
            for p in tl.phases
        ],
    }


def build_report(
    state: State,
    extra: dict[str, Any] | None = None,
    *,
    timeline: Timeline | None = None,
    data: ReportData | None = None,
    chart: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as a JSON document. ``timeline``: from the block log (default:
    the state alone, no blocks); ``data``: what was read from the chain and Docker
    at report time (default: nothing, all "unknown")."""
    tl = timeline if timeline is not None else timeline_facts(state, [])
    collected = (data or ReportData()).to_json()
    phases = []
    prev_at: float | None = None
    for t in state.transitions:
        phases.append(
            {
                "phase": t.to_phase.value,
                "from": t.from_phase.value if t.from_phase else None,
                "height": t.height,
                "at": _iso(t.at),
                "since_previous_s": round(t.at - prev_at, 3) if prev_at is not None else 0.0,
                "reason": t.reason,
            }
        )
        prev_at = t.at
    checks = [
        {
            "stage": stage,
            "name": c.name,
            "result": "pass" if c.passed else "fail",
            "evidence": c.evidence,
        }
        for stage, group in (
            ("upgraded", state.upgrade_checks),
            ("restarted", state.restart_checks),
        )
        for c in group
    ]
    extra = dict(extra or {})
    scenario_text = extra.pop("scenario_text", {})
    start = state.transitions[0].at if state.transitions else 0.0
    end = state.transitions[-1].at if state.transitions else 0.0
    passed_at = next((t.height for t in state.transitions if t.to_phase is Phase.PASSED), None)
    return {
        "rehearsal_id": state.rehearsal_id,
        "outcome": state.phase.value,
        "failure": state.failure,
        "upgrade": {
            "name": state.params.upgrade_name,
            "height": state.upgrade_height,
            "proposal_id": state.proposal_id,
            "proposal_tx": state.proposal_tx,
            "proposal_reused": state.proposal_reused,
            "voting_end": _iso(state.voting_end) if state.voting_end is not None else None,
            "measured_block_interval_s": (
                round(state.block_interval, 3) if state.block_interval is not None else None
            ),
            "voting_period_s": state.voting_period,
            # Blocks between the one that tallied PASSED and the upgrade height: the
            # plan's slack (0 would have been just in time), so operators can tune it.
            "passed_height": passed_at,
            "spare_blocks": (
                state.upgrade_height - passed_at - 1
                if state.upgrade_height is not None and passed_at is not None
                else None
            ),
        },
        "votes": [{"voter": v, "tx_hash": h, "reused": r} for v, h, r in state.votes],
        # [[state.txs]]: what the profile declared, and what reached a block.
        "state": {
            "declared": list(state.params.state_txs),
            "txs": [
                {
                    "name": t.name,
                    "index": t.index,
                    "tx_hash": t.tx_hash,
                    "code": t.code,
                    "reused": t.reused,
                }
                for t in state.state_txs
            ],
        },
        "phases": phases,
        "duration_s": round(end - start, 3),
        "checks": checks,
        "scenario": {
            "name": state.params.scenario,
            "verdict_met": state.verdict_met,
            "verdict": state.verdict,
            "faults": [{"fault": f, "detail": d} for f, d in state.faults_done],
            "remediated": list(state.remediated),
            **scenario_text,
        },
        "timeline": timeline_json(tl),
        **collected,
        "chart": chart or {"path": None, "unavailable": "no block log"},
        **extra,
    }


async def _draw(tl: Timeline, png: Path) -> dict[str, Any]:
    """Draw the chart in a worker thread; any failure is a line in the report."""
    try:
        await anyio.to_thread.run_sync(render_chart, tl, png)
        return {"path": str(png), "unavailable": None}
    except ChartUnavailable as exc:
        reason = str(exc)
    except Exception as exc:  # a chart must never cost the report
        log.warning("report_chart_failed", error=str(exc) or type(exc).__name__)
        reason = f"drawing failed: {type(exc).__name__}"
    await anyio.to_thread.run_sync(lambda: png.unlink(missing_ok=True))  # not a stale one
    return {"path": None, "unavailable": reason}


async def write_report(
    state: State,
    json_path: Path,
    md_path: Path,
    extra: dict[str, Any] | None = None,
    *,
    block_log: Path | None = None,
    data: ReportData | None = None,
    nodes: Sequence[str] = (),
) -> Path:
    """Write report.json, report.md and (with a block log) the chart next to
    report.md (its name with ``.png``). ``data``: see ``report_data.collect``."""
    records = await anyio.to_thread.run_sync(read_block_log, block_log) if block_log else []
    names = list(nodes) or (list(data.versions) if data is not None else [])
    tl = timeline_facts(state, records, names)
    if block_log is None:
        chart: dict[str, Any] = {"path": None, "unavailable": "no block log"}
    else:
        chart = await _draw(tl, md_path.with_suffix(".png"))
    report = build_report(state, extra, timeline=tl, data=data, chart=chart)

    def write() -> None:
        write_atomic(json_path, json.dumps(report, indent=2) + "\n")
        write_atomic(md_path, render_markdown(report))

    await anyio.to_thread.run_sync(write)
    return json_path
