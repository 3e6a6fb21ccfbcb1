"""Planned downtime: nodes the agent stops on purpose (its own compose down/up)
are quiet, so their silence raises no stall, lag or stream condition. Pure: no
I/O, no clock.

A window ends at its deadline, or with the node's first block after the stop
completed, whichever is first: a node that comes back is watched again at once,
and one that does not is told after the deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["PlannedDowntime"]


@dataclass
class _Quiet:
    until: float
    closing_after: float | None = None  # set when the planned stop completed


class PlannedDowntime:
    def __init__(self) -> None:
        self._quiet: dict[str, _Quiet] = {}

    def expect(self, until: float, nodes: Iterable[str]) -> None:
        for n in nodes:
            self._quiet[n] = _Quiet(until)

    def over(self, at: float, nodes: Iterable[str]) -> None:
        """The planned stop completed at ``at``: each window now ends with its
        node's next block."""
        for n in nodes:
            q = self._quiet.get(n)
            if q is not None and q.closing_after is None:
                q.closing_after = at

    def quiet(self, now: float, last_block_at: Mapping[str, float | None]) -> set[str]:
        """Nodes quiet at ``now``; windows that ended are dropped."""
        for n, q in list(self._quiet.items()):
            last = last_block_at.get(n)
            resumed = q.closing_after is not None and last is not None and last > q.closing_after
            if now >= q.until or resumed:
                del self._quiet[n]
        return set(self._quiet)
