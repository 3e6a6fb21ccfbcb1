"""What the watchdog says: the detectors' names, one alert condition, the
thresholds, and the upgrade context the detectors read. Pure data, no I/O.

A condition's key is stable: ``f"{detector}:{node or '-'}:{upgrade or '-'}"``.

Detectors and their thresholds (``Thresholds``):

- ``chain_halt``: no node produced a block past the highest height for the stall
  threshold: one incident, naming its cause (``agent.core.halt``); the nodes' own
  stall and stream conditions are part of it meanwhile.
- ``stall``: a node produced no block for ``stall_after_s`` seconds, or, when that
  is unset, for ``max(stall_floor_s, stall_factor * block interval)`` where the
  block interval is the shared ``ChainView``'s (median gap of header times).
- ``lag``: a node is more than ``lag_blocks`` blocks behind the highest node.
- ``container_died``: a container died without a preceding ``kill`` (a deliberate
  ``docker stop`` / ``compose down`` sends one); resolves when it starts again.
- ``restart_loop``: at least ``restart_loop_count`` starts within
  ``restart_loop_window_s``.
- ``oom``: the kernel OOM-killed a container; holds ``oom_hold_s`` after the event.
- ``upgrade_halt``: the chain halted at the upgrade height and a node has not
  resumed once the resume budget ran out (see below).
- ``proposal_late``: the voting period ends after the predicted time of the
  upgrade height, so the upgrade would be missed.
- ``proposal_failed``: the proposal was rejected or failed.
- ``missed_blocks``: a validator's signature is missing from ``missed_blocks``
  commits in a row (``agent.core.missed``); resolves when it signs again.
- ``app_hash_split``: nodes at one height disagree on the app hash after it (a
  validator on a different binary): names the nodes off the network's side
  (``agent.core.apphash``).
- ``stream_down``: a websocket (``ws:<node>``) or Docker events (``docker``)
  stream has been down for more than ``stream_down_s`` seconds.
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
    "chain_halt",  # no node produced a block: one incident, with its cause
    "stall",
    "lag",
    "container_died",
    "restart_loop",
    "oom",
    "upgrade_halt",
    "proposal_late",
    "proposal_failed",
    "stream_down",
    "app_hash_split",  # nodes disagree on the state after one block
    "missed_blocks",  # a validator's signature missing from the commits
    "not_staged",  # watch mode: nothing staged for the chain's plan on a local node
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
    missed_blocks: int = 5
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
