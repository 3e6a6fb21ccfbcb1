"""The closing summary (every exit of ``run`` and ``watch``) and ``rehearse status``.

``build_summary`` is pure; the ``read_*`` helpers read state files defensively
and never change them (a corrupt journal is reported, not moved aside).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.core import codec
from agent.core.machine import Phase, State

__all__ = [
    "EXIT_MEANING",
    "Summary",
    "build_summary",
    "downtime_from_report",
    "read_alert_state",
    "read_journal",
    "read_report",
    "summary_json",
    "summary_lines",
]

EXIT_MEANING = {
    0: "the expected outcome",
    1: "not the expected outcome (the report says why)",
    2: "a configuration or environment problem",
    130: "interrupted (resumable)",
}


@dataclass(frozen=True, slots=True)
class Summary:
    command: str  # run, watch, status
    outcome: str
    exit_code: int | None = None
    reason: str | None = None
    rehearsal_id: str | None = None
    scenario: str | None = None
    phase: str | None = None
    verdict_met: bool | None = None
    verdict: str = ""
    downtime: str | None = None
    report: str | None = None
    log_file: str | None = None
    resume: str | None = None
    running: str | None = None
    alerts: tuple[str, ...] = ()
    heights: str | None = None  # watch: each node's last height


def downtime_from_report(doc: Mapping[str, Any] | None) -> str | None:
    """The chain's downtime at the upgrade, as the report's timeline states it
    (``timeline.chain_downtime``, written by ``agent.runtime.report``): the gap
    between the last v1 and the first v2 block as the agent received them, and
    between their header times. None when the report has none (no upgrade)."""
    timeline = doc.get("timeline") if doc else None
    down = timeline.get("chain_downtime") if isinstance(timeline, Mapping) else None
    if not isinstance(down, Mapping):
        return None
    received, header = down.get("received_s"), down.get("header_s")
    if not _number(received):
        return None
    text = f"{received:.1f} s"
    if _number(header):
        text += f" (block times {header:.1f} s apart)"
    h = timeline.get("upgrade_height") if isinstance(timeline, Mapping) else None
    if isinstance(h, int) and not isinstance(h, bool):
        text += f", heights {h - 1}..{h}"
    return text


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _alert_line(n: Mapping[str, Any]) -> str:
    node = f" {n.get('node')}" if n.get("node") else ""
    return f"[{n.get('severity', '?')}]{node}: {n.get('summary', n.get('key', '?'))}"


def build_summary(
    *,
    command: str,
    exit_code: int | None,
    state: State | None,
    error: str | None = None,
    report_doc: Mapping[str, Any] | None = None,
    report_path: str | None = None,
    alerts: Iterable[Mapping[str, Any]] = (),
    log_file: str | None = None,
    running: str | None = None,
    heights: Mapping[str, int] | None = None,
) -> Summary:
    """What happened, in a few lines: outcome, reason, verdict, downtime, report, next step."""
    lines = tuple(_alert_line(a) for a in alerts)
    common: dict[str, Any] = {
        "command": command,
        "exit_code": exit_code,
        "log_file": log_file,
        "running": running,
        "alerts": lines,
        "heights": ", ".join(f"{n} {h}" for n, h in heights.items()) if heights else None,
    }
    if command == "watch":
        return Summary(outcome="stopped" if error is None else "error", reason=error, **common)
    if state is None:
        outcome = "no rehearsal yet" if error is None else "not started"
        if command == "status" and error is not None:
            outcome = "state unreadable"
        if running is not None and command == "status":
            outcome = "watching (no rehearsal)"
        return Summary(outcome=outcome, reason=error, **common)
    if report_doc is not None and report_doc.get("rehearsal_id") != state.rehearsal_id:
        report_doc = None  # another rehearsal's report
    report = state.report_path or (report_path if report_doc is not None else None)
    resume = None
    if state.terminal:
        outcome = state.phase.value
        if state.environment_failure:
            outcome += " (environment problem)"
    elif running is not None:
        outcome = f"running: phase {state.phase.value}"
    else:
        outcome = f"interrupted at phase {state.phase.value}"
        resume = "`rehearse run` resumes it; `rehearse run --fresh` discards it and starts anew"
    if exit_code == 130:
        outcome = f"interrupted at phase {state.phase.value}"
        resume = "`rehearse run` resumes it; `rehearse run --fresh` discards it and starts anew"
    return Summary(
        outcome=outcome,
        reason=error or state.failure,
        rehearsal_id=state.rehearsal_id,
        scenario=state.params.scenario,
        phase=state.phase.value,
        verdict_met=state.verdict_met,
        verdict=state.verdict,
        downtime=downtime_from_report(report_doc),
        report=report,
        resume=resume,
        **common,
    )


def summary_lines(s: Summary) -> list[str]:
    head = f"rehearse {s.command}: {s.outcome}"
    if s.exit_code is not None:
        head += f" (exit {s.exit_code}: {EXIT_MEANING.get(s.exit_code, 'unknown')})"
    out = [head]

    def add(label: str, value: str | None) -> None:
        if value:
            out.append(f"  {label:<10}{value}")

    add("rehearsal", s.rehearsal_id and f"{s.rehearsal_id} (scenario {s.scenario})")
    add("running", s.running)
    add("heights", s.heights)
    add("reason", s.reason)
    if s.verdict_met is not None:
        add("verdict", ("as expected" if s.verdict_met else "NOT as expected") +
            (f": {s.verdict}" if s.verdict else ""))  # fmt: skip
    add("downtime", s.downtime)
    if s.alerts:
        add("alerts", f"{len(s.alerts)} firing")
        out += [f"    {a}" for a in s.alerts]
    elif s.command in ("watch", "status"):
        add("alerts", "none firing")
    add("report", s.report and f"{s.report} (and its .md)")
    add("log", s.log_file)
    add("next", s.resume)
    return out


def summary_json(s: Summary) -> dict[str, Any]:
    doc = asdict(s)
    doc["alerts"] = list(s.alerts)
    if s.exit_code is not None:
        doc["exit_meaning"] = EXIT_MEANING.get(s.exit_code)
    return doc


# --- reading state files (never writing them) ---------------------------------


def read_journal(path: Path) -> tuple[State | None, str | None]:
    """(state, problem): the journal's state without moving a bad file aside."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"journal {path} unreadable: {exc.strerror}"
    try:
        doc = json.loads(raw.decode("utf-8"))
        state = codec.decode(doc["state"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return None, f"journal {path} is corrupt ({type(exc).__name__}); `rehearse run --fresh`"
    if not isinstance(state, State):
        return None, f"journal {path} holds no rehearsal state; `rehearse run --fresh`"
    return state, None


def read_report(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def read_alert_state(path: Path) -> list[dict[str, Any]]:
    """The firing alerts persisted by the alert manager (empty when unreadable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    firing = doc.get("firing") if isinstance(doc, dict) else None
    if not isinstance(firing, dict):
        return []
    return [n for n in firing.values() if isinstance(n, dict)]


def pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminal_phase(state: State | None) -> bool:
    return state is not None and state.phase in (Phase.RESTARTED, Phase.FAILED)
