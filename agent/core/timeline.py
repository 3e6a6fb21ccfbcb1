"""Timeline facts of a rehearsal, from its block log and its final state: pure, no I/O.

U is the upgrade height: block U-1 is the last one v1 commits (the chain halts in
U's BeginBlock) and block U is the first one v2 commits. From the blocks the agent
saw (``{node, height, time (header RFC 3339), at (receive epoch s)}``):

- per node: the halt (receive time of its block U-1), the resume (of its block U)
  and the gap between them;
- chain downtime: header time of U minus header time of U-1, and the same from
  the first receive of each (what the agent saw);
- predicted vs real: ``state.predicted_upgrade_time`` against the header time of U;
- the restart gap: the longest silence after the restart on v2 began;
- markers and phases for the chart and the Gantt diagram.

Everything missing stays None (a rejected proposal has no halt, a rehearsal that
failed early has no blocks); the renderers say "not reached" or "n/a".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.core.chainview import parse_rfc3339
from agent.core.machine import Phase, State

__all__ = [
    "Block",
    "NodeUpgrade",
    "PhaseSpan",
    "RestartGap",
    "Timeline",
    "blocks_from_records",
    "timeline_facts",
]


@dataclass(frozen=True, slots=True)
class Block:
    node: str
    height: int
    time: float | None  # header time (epoch s), None when unparseable
    at: float  # receive time (epoch s)


@dataclass(frozen=True, slots=True)
class NodeUpgrade:
    node: str
    halt_at: float | None  # received its block U-1
    resume_at: float | None  # received its block U
    gap_s: float | None


@dataclass(frozen=True, slots=True)
class RestartGap:
    began_at: float  # the restart on v2 was ordered
    before_height: int | None  # last block before the silence
    before_at: float | None
    after_height: int | None  # first block after it (None: none came)
    after_at: float | None
    gap_s: float | None  # receive-based
    header_gap_s: float | None  # header-based


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """One phase for the Gantt: from its start to the next phase's start."""

    name: str
    start: float
    end: float | None  # None: the last phase (a milestone)


@dataclass(frozen=True, slots=True)
class Timeline:
    origin: float | None  # the rehearsal began (epoch s)
    upgrade_height: int | None
    upgrade_expected: bool  # a halt at U is expected (a proposal passed, not rejected)
    rejected: str | None = None  # the final status of a proposal that lost
    nodes: tuple[NodeUpgrade, ...] = ()
    last_v1_header: float | None = None  # header time of U-1
    first_v2_header: float | None = None  # header time of U
    downtime_header_s: float | None = None
    downtime_receive_s: float | None = None
    predicted_upgrade_time: float | None = None
    predicted_error_s: float | None = None  # real (header of U) minus predicted
    restart: RestartGap | None = None
    markers: tuple[tuple[str, float], ...] = ()  # label, epoch s
    phases: tuple[PhaseSpan, ...] = ()
    blocks: tuple[Block, ...] = field(default=(), repr=False)

    def since(self, t: float | None) -> float | None:
        """Seconds since the rehearsal began."""
        return None if t is None or self.origin is None else t - self.origin


def blocks_from_records(records: Iterable[Mapping[str, Any]]) -> list[Block]:
    """Blocks from the block log's records; malformed ones are skipped, and a
    (node, height) seen twice keeps its first receive time."""
    first: dict[tuple[str, int], Block] = {}
    for r in records:
        node, height, at = r.get("node"), r.get("height"), r.get("at")
        if not isinstance(node, str) or not isinstance(height, int) or isinstance(height, bool):
            continue
        if not isinstance(at, int | float) or isinstance(at, bool) or at != at:  # NaN
            continue
        t = r.get("time")
        b = Block(node, height, parse_rfc3339(t if isinstance(t, str) else None), float(at))
        key = (node, height)
        if key not in first or b.at < first[key].at:
            first[key] = b
    return sorted(first.values(), key=lambda b: (b.at, b.node, b.height))


def _phase_at(state: State, phase: Phase) -> float | None:
    for t in state.transitions:
        if t.to_phase is phase:
            return t.at
    return None


def timeline_facts(
    state: State, records: Iterable[Mapping[str, Any]], nodes: Sequence[str] = ()
) -> Timeline:
    """The timeline of ``state`` from the block log's ``records``.

    ``nodes``: the configured nodes, so one the agent never saw a block from is
    still listed (as never halted nor resumed)."""
    blocks = blocks_from_records(records)
    origin: float | None = state.transitions[0].at if state.transitions else None
    if origin is None and blocks:
        origin = blocks[0].at
    u = state.upgrade_height
    expected = (
        u is not None and state.rejected is None and _phase_at(state, Phase.PASSED) is not None
    )

    first_seen: dict[int, float] = {}
    header: dict[int, float] = {}
    by_node: dict[tuple[str, int], float] = {}
    for b in blocks:
        by_node[(b.node, b.height)] = b.at
        first_seen[b.height] = min(first_seen.get(b.height, b.at), b.at)
        if b.time is not None and b.height not in header:
            header[b.height] = b.time

    names = list(dict.fromkeys([*nodes, *sorted({b.node for b in blocks})]))
    per_node: list[NodeUpgrade] = []
    last_v1 = first_v2 = down_h = down_r = err = None
    if u is not None and expected:
        for n in names:
            halt, resume = by_node.get((n, u - 1)), by_node.get((n, u))
            gap = resume - halt if halt is not None and resume is not None else None
            per_node.append(NodeUpgrade(n, halt, resume, gap))
        last_v1, first_v2 = header.get(u - 1), header.get(u)
        if last_v1 is not None and first_v2 is not None:
            down_h = first_v2 - last_v1
        if u - 1 in first_seen and u in first_seen:
            down_r = first_seen[u] - first_seen[u - 1]
        if first_v2 is not None and state.predicted_upgrade_time is not None:
            err = first_v2 - state.predicted_upgrade_time

    restart = _restart_gap(state, first_seen, header, u)

    markers: list[tuple[str, float]] = []
    proposed = _phase_at(state, Phase.PROPOSED)
    if proposed is not None:
        markers.append(("proposal submitted", proposed))
    if state.voting_end is not None and proposed is not None:
        markers.append(("voting end", state.voting_end))
    if u is not None and expected and (u - 1) in first_seen:
        markers.append((f"upgrade height {u} reached", first_seen[u - 1]))
    elif u is not None and state.predicted_upgrade_time is not None:
        markers.append((f"upgrade height {u} planned", state.predicted_upgrade_time))
    if restart is not None:
        markers.append(("restart", restart.began_at))

    ts = state.transitions
    phases = tuple(
        PhaseSpan(t.to_phase.value, t.at, ts[i + 1].at if i + 1 < len(ts) else None)
        for i, t in enumerate(ts)
    )
    return Timeline(
        origin=origin,
        upgrade_height=u,
        upgrade_expected=expected,
        rejected=state.rejected,
        nodes=tuple(per_node),
        last_v1_header=last_v1,
        first_v2_header=first_v2,
        downtime_header_s=down_h,
        downtime_receive_s=down_r,
        predicted_upgrade_time=state.predicted_upgrade_time if u is not None else None,
        predicted_error_s=err,
        restart=restart,
        markers=tuple(markers),
        phases=phases,
        blocks=tuple(blocks),
    )


def _restart_gap(
    state: State, first_seen: dict[int, float], header: dict[int, float], u: int | None
) -> RestartGap | None:
    """The longest silence (between consecutive heights seen) that ends after the
    restart began; None when no restart was ordered."""
    began = _phase_at(state, Phase.UPGRADED)
    if began is None:
        return None
    heights = sorted(h for h in first_seen if u is None or h >= u)
    best: tuple[float, int, int] | None = None
    for lo, hi in zip(heights, heights[1:], strict=False):
        if first_seen[hi] < began:
            continue
        gap = first_seen[hi] - first_seen[lo]
        if best is None or gap > best[0]:
            best = (gap, lo, hi)
    if best is None:
        before = [h for h in heights if first_seen[h] <= began] or heights
        last = max(before) if before else None
        return RestartGap(
            began,
            last,
            first_seen[last] if last is not None else None,
            None,
            None,
            None,
            None,
        )
    gap, lo, hi = best
    hgap = header[hi] - header[lo] if lo in header and hi in header else None
    return RestartGap(began, lo, first_seen[lo], hi, first_seen[hi], gap, hgap)
