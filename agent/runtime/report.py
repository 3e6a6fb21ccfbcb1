"""The rehearsal report: report.json for machines, report.md for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from agent.adapters.files import write_atomic
from agent.core.machine import State

__all__ = ["build_report", "render_markdown", "write_report"]


def iso(t: float) -> str:
    """UTC ISO time of epoch seconds, for people."""
    return _iso(t)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds") if t else ""


def build_report(state: State, extra: dict[str, Any] | None = None) -> dict[str, Any]:
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
        },
        "votes": [{"voter": v, "tx_hash": h, "reused": r} for v, h, r in state.votes],
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
        **extra,
    }


def _num(v: float | None) -> str:
    return "unknown" if v is None else f"{v:g}"


def render_markdown(report: dict[str, Any]) -> str:
    up = report["upgrade"]
    lines = [
        f"# Upgrade rehearsal {report['rehearsal_id']}: **{report['outcome']}**",
        "",
    ]
    if report.get("failure"):
        lines += [f"> Failed: {report['failure']}", ""]
    if up["proposal_id"] is None:
        lines.append(f"- Upgrade `{up['name']}`: no proposal was submitted")
    else:
        lines.append(
            f"- Upgrade `{up['name']}` at height {up['height']}, proposal {up['proposal_id']}"
            + (" (reused after a restart)" if up["proposal_reused"] else "")
        )
    if up["measured_block_interval_s"] is not None:
        lines.append(
            f"- Measured block interval {up['measured_block_interval_s']:.2f} s;"
            f" voting period {_num(up['voting_period_s'])} s"
        )
    lines += [
        f"- Total {report['duration_s']:.1f} s",
        "",
        "## Phases",
        "",
        "| phase | height | at (UTC) | after previous | why |",
        "|---|---:|---|---:|---|",
    ]
    for p in report["phases"]:
        cells = [p["phase"], p["height"], p["at"], f"{p['since_previous_s']:.1f} s", p["reason"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "## Votes", ""]
    lines += [f"- {v['voter']}: `{v['tx_hash'] or '(already on chain)'}`" for v in report["votes"]]
    sc = report.get("scenario") or {}
    if sc.get("name"):
        met = sc.get("verdict_met")
        lines += ["", f"## Scenario `{sc['name']}`", ""]
        if sc.get("summary"):
            lines.append(f"- What: {sc['summary']}")
        if sc.get("injected"):
            lines.append(f"- Injected: {sc['injected']}")
        if sc.get("expected"):
            lines.append(f"- Expected: {sc['expected']}")
        for f in sc.get("faults", []):
            lines.append(f"- Fault `{f['fault']}`: {f['detail']}")
        if sc.get("remediated"):
            lines.append(f"- Remediated by the agent: {', '.join(sc['remediated'])}")
        if met is not None:
            lines.append(f"- Verdict: **{'as expected' if met else 'NOT as expected'}**: "
                         f"{sc.get('verdict', '')}")  # fmt: skip
    alerts = report.get("alerts") or []
    lines += ["", "## Alerts during the run", ""]
    if not alerts:
        lines.append("None fired.")
    for a in alerts:
        lines.append(
            f"- {a['at']} {a['event']} `{a['detector']}` {a['node'] or ''}: {a['message']}"
        )
    lines += ["", "## Checks", "", "| stage | check | result | evidence |", "|---|---|---|---|"]
    for c in report["checks"]:
        ev = str(c["evidence"]).replace("|", "\\|")
        lines.append(f"| {c['stage']} | {c['name']} | {c['result']} | {ev} |")
    return "\n".join(lines) + "\n"


async def write_report(
    state: State, json_path: Path, md_path: Path, extra: dict[str, Any] | None = None
) -> Path:
    report = build_report(state, extra)

    def write() -> None:
        write_atomic(json_path, json.dumps(report, indent=2) + "\n")
        write_atomic(md_path, render_markdown(report))

    await anyio.to_thread.run_sync(write)
    return json_path
