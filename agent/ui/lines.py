"""Plain output: the one line (or none) an operator sees for a log event.

Only what changes the picture gets a line: the rehearsal starting, a phase
change, a fault, an alert firing or resolving, a shutdown request, an error.
Everything else stays in the JSON log file. Pure: event dict in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["headline", "short"]

_HIDDEN = frozenset({"event", "level", "timestamp", "logger", "exception", "exc_info", "stack"})


def short(value: Any) -> str:
    """A value as a person reads it: floats rounded, long text cut."""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _clock(event: Mapping[str, Any]) -> str:
    ts = str(event.get("timestamp", ""))
    return ts[11:19] + " " if len(ts) >= 19 else ""


def _body(event: Mapping[str, Any]) -> str | None:
    name = str(event.get("event", ""))
    e = event.get
    if name == "phase_changed":
        reason = f": {e('reason')}" if e("reason") else ""
        return f"phase {e('phase')} at height {e('height')}{reason}"
    if name in ("rehearsal_new", "rehearsal_resumed"):
        verb = "started" if name == "rehearsal_new" else f"resumed at phase {e('phase')}"
        return f"rehearsal {e('rehearsal_id')} {verb} (scenario {e('scenario')})"
    if name == "fault_injected":
        return f"fault {e('fault')}: {e('detail')}"
    if name == "alert_firing":
        node = f" {e('node')}" if e("node") else ""
        return f"ALERT [{e('severity')}]{node}: {e('summary')}: {e('message')}"
    if name == "alert_resolved":
        node = f" {e('node')}" if e("node") else ""
        return f"resolved{node}: {e('summary')}"
    if name == "watch_started":
        nodes = e("nodes") or []
        return f"watching {len(nodes)} node(s): {', '.join(map(str, nodes))}"
    if name == "shutdown_requested":
        return f"{e('signal')}: stopping (within {short(e('deadline_s'))}s; again to force)"
    if str(e("level", "")) in ("error", "critical"):
        fields = " ".join(f"{k}={short(v)}" for k, v in event.items() if k not in _HIDDEN)
        return f"error: {name} {fields}".rstrip()
    return None


def headline(event: Mapping[str, Any]) -> str | None:
    """The console line for ``event``, or None when it belongs in the log file only."""
    body = _body(event)
    return None if body is None else _clock(event) + body
