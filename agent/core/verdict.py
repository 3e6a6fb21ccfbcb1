"""A scenario's verdict: what must happen (``Expectation``) against what did (the
end state and the run's notifications). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.core.machine import Phase, State

__all__ = ["AlertRecord", "Expectation", "judge", "missing_alerts", "still_firing"]


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One notification of the run: ``fired`` or ``resolved``."""

    detector: str
    node: str | None
    event: str
    at: float
    message: str = ""


@dataclass(frozen=True, slots=True)
class Expectation:
    outcome: Phase
    failure_contains: tuple[str, ...] = ()  # each must appear in the failure reason
    # (detector, node or "") that must have fired; "" matches any node.
    alerts: tuple[tuple[str, str], ...] = ()
    resolved: bool = False  # every alert that fired also resolved
    no_other_alerts: bool = False  # nothing fired but the expected ones
    alert_mentions: tuple[str, ...] = ()  # each named by some alert that fired
    checks_pass: bool = True  # every check that ran passed


def _matches(fired: tuple[str, str], detector: str, node: str) -> bool:
    """A fired (detector, node) meets an expected one ("" node: any node)."""
    return fired[0] == detector and (not node or fired[1] == node)


def _fired(alerts: Iterable[AlertRecord]) -> list[tuple[str, str]]:
    return [(a.detector, a.node or "") for a in alerts if a.event == "fired"]


def missing_alerts(
    expectation: Expectation, alerts: Iterable[AlertRecord]
) -> list[tuple[str, str]]:
    """The expected alerts (detector, node) that have not fired."""
    fired = _fired(alerts)
    return [(d, n) for d, n in expectation.alerts if not any(_matches(f, d, n) for f in fired)]


def still_firing(alerts: Iterable[AlertRecord]) -> list[tuple[str, str]]:
    """The (detector, node) that fired and have not resolved."""
    records = list(alerts)
    resolved = {(a.detector, a.node or "") for a in records if a.event == "resolved"}
    return sorted({f for f in _fired(records) if f not in resolved})


def judge(
    expectation: Expectation, state: State, alerts: Iterable[AlertRecord]
) -> tuple[bool, list[str]]:
    """Did the rehearsal end as expected? (met, one line per finding)."""
    lines: list[str] = []
    ok = True
    if state.phase is not expectation.outcome:
        ok = False
        lines.append(f"outcome {state.phase.value}, expected {expectation.outcome.value}")
    else:
        lines.append(f"outcome {state.phase.value}, as expected")
    failure = state.failure or ""
    for word in expectation.failure_contains:
        if word not in failure:
            ok = False
            lines.append(f"the failure reason does not mention {word!r}")
    records = list(alerts)
    fired = _fired(records)
    for detector, node in expectation.alerts:
        hits = [f for f in fired if _matches(f, detector, node)]
        if hits:
            lines.append(
                f"{detector} alert fired for {', '.join(sorted({h[1] or '-' for h in hits}))}"
            )
        else:
            ok = False
            lines.append(f"expected a {detector} alert{' for ' + node if node else ''}; none fired")
    if expectation.resolved:
        open_ = still_firing(records)
        if open_:
            ok = False
            lines.append("alerts still firing: " + ", ".join(f"{d}:{n or '-'}" for d, n in open_))
    if expectation.no_other_alerts:
        wanted = set(expectation.alerts)
        others = sorted({f for f in fired if not any(_matches(f, d, n) for d, n in wanted)})
        if others:
            ok = False
            lines.append("unexpected alerts: " + ", ".join(f"{d}:{n or '-'}" for d, n in others))
    for word in expectation.alert_mentions:
        if not any(word in a.message for a in records if a.event == "fired"):
            ok = False
            lines.append(f"no alert that fired names {word}")
    if expectation.checks_pass:
        bad = [c.name for c in state.upgrade_checks + state.restart_checks if not c.passed]
        if bad:
            ok = False
            lines.append("checks failed: " + ", ".join(bad))
    return ok, lines
