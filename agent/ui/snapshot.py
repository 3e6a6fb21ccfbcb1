"""The live view's data: one ``Snapshot`` built from the rehearsal's state, the
chain view, the firing alerts and the time. Pure: no I/O, no clock of its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from agent.core.chainview import ChainView
from agent.core.detectors import UpgradeContext
from agent.core.machine import Phase, State
from agent.watchdog.alerts import Notification

__all__ = ["PHASES", "AlertRow", "NodeRow", "Snapshot", "build_snapshot"]

PHASES: tuple[str, ...] = tuple(p.value for p in Phase if p is not Phase.FAILED)
_PASSED_ON = frozenset({Phase.PASSED, Phase.UPGRADED, Phase.RESTARTED})


@dataclass(frozen=True, slots=True)
class NodeRow:
    name: str
    height: int
    age_s: float | None  # since its latest block arrived (None: never)
    version: str | None


@dataclass(frozen=True, slots=True)
class AlertRow:
    severity: str
    summary: str
    node: str | None
    for_s: float  # firing for this long


@dataclass(frozen=True, slots=True)
class Snapshot:
    mode: str  # "run" or "watch"
    rehearsal_id: str | None = None
    scenario: str | None = None
    phase: str | None = None  # the current phase (None: watching, or not begun)
    reached: tuple[str, ...] = ()  # phases entered so far, in order
    failure: str | None = None  # set when the rehearsal failed
    nodes: tuple[NodeRow, ...] = ()
    max_height: int = 0
    block_interval_s: float | None = None
    upgrade_name: str | None = None
    proposal_id: int | None = None
    proposal_status: str | None = None
    voting_ends_in_s: float | None = None  # negative: ended that long ago
    upgrade_height: int | None = None
    blocks_to_upgrade: int | None = None
    upgrade_eta_s: float | None = None
    deadline_name: str | None = None
    deadline_left_s: float | None = None
    alerts: tuple[AlertRow, ...] = ()


def _proposal_status(state: State) -> str | None:
    if state.proposal_id is None:
        return None
    if state.rejected:
        return state.rejected.removeprefix("PROPOSAL_STATUS_").lower()
    if state.phase in _PASSED_ON or any(t.to_phase in _PASSED_ON for t in state.transitions):
        return "passed"
    return "voting"


def build_snapshot(
    *,
    mode: str,
    view: ChainView,
    now: float,
    state: State | None = None,
    alerts: Iterable[Notification] = (),
    mono: float | None = None,
    deadline_armed: tuple[str, float] | None = None,
    context: UpgradeContext | None = None,
) -> Snapshot:
    """Everything the live view shows, at wall time ``now``.

    ``deadline_armed`` is (name, monotonic time it was armed) from the Runner and
    ``mono`` the monotonic time now: the deadline left is counted only when the
    armed wait is the state's current one. ``context`` (watch mode) is the chain's
    own upgrade plan.
    """
    nodes = tuple(
        NodeRow(
            name,
            nv.height,
            None if nv.last_block_at is None else max(0.0, now - nv.last_block_at),
            nv.version,
        )
        for name, nv in view.nodes.items()
    )
    top = view.max_height
    interval = view.block_interval()
    rows = tuple(
        AlertRow(n.severity, n.summary, n.node, max(0.0, now - n.started_at))
        for n in sorted(alerts, key=lambda n: (n.started_at, n.key))
    )
    snap = Snapshot(mode, nodes=nodes, max_height=top, alerts=rows)
    upgrade_height: int | None = None
    upgrade_name: str | None = None
    fields: dict[str, object] = {}
    if state is not None:
        if interval is None:
            interval = state.block_interval
        reached = tuple(dict.fromkeys(t.to_phase.value for t in state.transitions))
        fields.update(
            rehearsal_id=state.rehearsal_id or None,
            scenario=state.params.scenario,
            phase=state.phase.value if state.started or state.transitions else None,
            reached=tuple(p for p in reached if p != Phase.FAILED.value),
            failure=state.failure if state.phase is Phase.FAILED else None,
            proposal_id=state.proposal_id,
            proposal_status=_proposal_status(state),
            voting_ends_in_s=None if state.voting_end is None else state.voting_end - now,
        )
        upgrade_height, upgrade_name = state.upgrade_height, state.params.upgrade_name
        d = state.deadline
        if d is not None and not state.terminal:
            fields["deadline_name"] = d.name
            if deadline_armed is not None and mono is not None and deadline_armed[0] == d.name:
                fields["deadline_left_s"] = max(0.0, d.seconds - (mono - deadline_armed[1]))
    elif context is not None:
        upgrade_height, upgrade_name = context.upgrade_height, context.upgrade_name
        if context.upgrade_height is not None:
            fields["proposal_status"] = "passed (plan scheduled)"
    if upgrade_height is not None:
        blocks = max(0, upgrade_height - top)
        fields.update(upgrade_height=upgrade_height, blocks_to_upgrade=blocks)
        if interval is not None and top > 0:
            fields["upgrade_eta_s"] = blocks * interval
    fields.update(upgrade_name=upgrade_name, block_interval_s=interval)
    return replace(snap, **fields)  # type: ignore[arg-type]
