"""What the watchdog says: the detectors' names, one alert condition, the
thresholds, and the upgrade context the detectors read. Pure data, no I/O.

A condition's key is stable: ``f"{detector}:{node or '-'}:{upgrade or '-'}"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DETECTORS",
    "Condition",
    "Severity",
    "Thresholds",
    "UpgradeContext",
    "condition_key",
]


Severity = Literal["critical", "warning"]

DETECTORS: tuple[str, ...] = (
    "stall",
    "lag",
    "container_died",
    "restart_loop",
    "oom",
    "upgrade_halt",
    "proposal_late",
    "proposal_failed",
    "stream_down",
    "alert_delivery",  # an alert sink keeps failing (agent.watchdog.delivery)
)


def condition_key(detector: str, node: str | None, upgrade: str | None) -> str:
    return f"{detector}:{node or '-'}:{upgrade or '-'}"


@dataclass(frozen=True, slots=True)
class Condition:
    """One alert condition that holds now."""

    detector: str
    severity: Severity
    summary: str  # short, one line, for chat titles
    message: str  # what is wrong, with the numbers
    node: str | None = None
    upgrade: str | None = None

    @property
    def key(self) -> str:
        return condition_key(self.detector, self.node, self.upgrade)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every detector's threshold; defaults suit a chain with 1-6 s blocks."""

    stall_factor: float = 10.0
    stall_floor_s: float = 15.0
    stall_after_s: float | None = None  # fixed threshold; None: derived
    lag_blocks: int = 5
    restart_loop_count: int = 3
    restart_loop_window_s: float = 300.0
    oom_hold_s: float = 600.0
    stream_down_s: float = 30.0
    resume_budget_s: float = 90.0
    disabled: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UpgradeContext:
    """What the rehearsal knows of the planned upgrade (from its state)."""

    upgrade_name: str
    upgrade_height: int | None = None
    predicted_upgrade_time: float | None = None
    voting_end: float | None = None
    proposal_status: str | None = None  # "PROPOSAL_STATUS_PASSED" or "PASSED"
    expected_version: str | None = None  # the new binary's version, e.g. "v2"
