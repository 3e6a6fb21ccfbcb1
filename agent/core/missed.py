"""Blocks a validator did not sign, counted from the commits themselves.

Each block carries the signatures that committed the block before it
(``last_commit``). A validator whose signature is absent from it missed that
block, as the slashing module counts it (a nil precommit is a signature). While
the chain goes on without a validator (a late upgrade, a crash, a lost peer),
its streak of misses grows; ``missed_blocks`` in a row raise one alert for it,
and its first signature again resolves it. The alert also gives the misses in
all since the watch began. (The report's missed-block table is read from the
commits at the end, ``agent.runtime.report_data``, not from here.)

Validators are known by the key their own node reports (``ValidatorKey``), so
they are named by node; keys of nodes nobody watches are not judged. A key is
judged once it is known to be a validator's: its node reported voting power,
or it signed a commit. (A node asked before its chain's first block reports no
power, even a validator's: a late validator learnt then was never judged.)
Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.core.conditions import Condition
from agent.core.observations import NewBlock, ValidatorKey

__all__ = ["MissedWatch", "Streak"]


@dataclass(frozen=True, slots=True)
class Streak:
    node: str
    missed_in_a_row: int
    since: int  # the first missed height of the streak (0: none)
    missed_total: int


class MissedWatch:
    def __init__(self) -> None:
        self.keys: dict[str, str] = {}  # address (upper hex) -> node
        self._validators: set[str] = set()  # the keys known to be validators'
        self._row: dict[str, int] = {}  # node -> misses in a row
        self._since: dict[str, int] = {}
        self._total: dict[str, int] = {}
        self._judged = 0  # the highest commit height judged

    def observe(self, obs: NewBlock | ValidatorKey) -> None:
        if isinstance(obs, ValidatorKey):
            self.keys[obs.address.upper()] = obs.node
            if obs.power > 0:
                self._validators.add(obs.address.upper())
            return
        if obs.signed is None or not self.keys:
            return  # a backfilled header carries no commit
        signed = {a.upper() for a in obs.signed}
        self._validators |= signed & self.keys.keys()
        height = obs.height - 1  # the block its last_commit committed
        # Each commit once, whichever node's stream brought it first; an older one
        # (a node catching up) is history already judged.
        if height <= self._judged:
            return
        self._judged = height
        for address in self._validators:
            node = self.keys[address]
            if address in signed:
                self._row[node] = 0
                self._since.pop(node, None)
                continue
            self._row[node] = self._row.get(node, 0) + 1
            self._since.setdefault(node, height)
            self._total[node] = self._total.get(node, 0) + 1

    def reset(self) -> None:
        """The chain started again from genesis: the count starts again too."""
        self._row.clear()
        self._since.clear()
        self._total.clear()
        self._judged = 0

    def streaks(self) -> list[Streak]:
        nodes = sorted({self.keys[a] for a in self._validators})
        return [
            Streak(n, self._row.get(n, 0), self._since.get(n, 0), self._total.get(n, 0))
            for n in nodes
        ]

    def conditions(self, threshold: int) -> list[Condition]:
        """One per validator missing from ``threshold`` or more commits in a row.

        Nothing excuses it, not even a planned stop: the stack's own restart stops
        every node, so no commit is judged meanwhile; a stop of some nodes while
        the chain goes on is what the alert is for (excusing the agent's swap of a
        late validator resolved its alert and fired it again a block later)."""
        out = []
        for s in self.streaks():
            if s.missed_in_a_row < threshold:
                continue
            out.append(
                Condition(
                    "missed_blocks",
                    "warning",
                    f"{s.node} is not signing blocks",
                    f"{s.node}'s signature missing from the last {s.missed_in_a_row} blocks "
                    f"(since {s.since}; {s.missed_total} missed in all)",
                    node=s.node,
                )
            )
        return out
