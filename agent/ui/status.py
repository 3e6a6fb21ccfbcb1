"""``rehearse status``: the closing summary of whatever the state files hold, once."""

from __future__ import annotations

import time

from agent.config import Config
from agent.ui.summary import (
    Summary,
    build_summary,
    pid_alive,
    read_alert_state,
    read_journal,
    read_report,
)
from agent.watchdog.heartbeat import check_heartbeat

__all__ = ["collect_status"]


def collect_status(cfg: Config, now: float | None = None) -> tuple[Summary, int]:
    """(summary, exit code): 0 when the state could be read, 2 when the journal is corrupt."""
    now = time.time() if now is None else now
    w = cfg.watch.watch
    state, problem = read_journal(cfg.state_dir / "journal.json")
    beat = check_heartbeat(w.heartbeat_file, max_age_s=3 * w.heartbeat_interval_s + 5, now=now)
    running = None
    if beat.ok and beat.doc is not None and pid_alive(beat.doc.get("pid")):
        what = "rehearsal" if beat.doc.get("phase") else "watcher"
        running = f"{what} running (pid {beat.doc.get('pid')}, last beat {beat.age_s:.0f}s ago)"
    report_path = cfg.path(cfg.agent.report_json)
    alerts = read_alert_state(w.alert_state_file)
    summary = build_summary(
        command="status",
        exit_code=None,
        state=state,
        error=problem,
        report_doc=read_report(report_path),
        report_path=str(report_path),
        alerts=alerts,
        log_file=str(cfg.path(cfg.agent.log_file)),
        running=running,
    )
    return summary, (2 if problem else 0)
