"""Nodes whose apps disagree on the state after the same block: a split, named.

Validators on different binaries (one badly built, one patched by hand) run
fine until a transaction takes a path where they differ; from then on their app
hashes differ after the same block, the chain stops (no two-thirds agree on the
next block) and no node is "missing". Only comparing the apps' hashes at equal
heights tells which node left the others, so a split is its own condition and
its own failure, naming the node.

``split`` judges one height's hashes: the side most nodes are on is the
network's, every other side is divergent (with a tie, no side is the network's
and every side is named). ``SplitWatch`` keeps each node's latest ``abci_info``
(``NodeInfo``: height and app hash) and judges the latest height at least two
nodes reported. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from agent.core.conditions import Condition
from agent.core.observations import NodeInfo

__all__ = ["Split", "SplitWatch", "split"]

# How much of a hash a message shows: enough to tell two apart by eye.
SHOWN = 12
# Heights kept per watch (a node's reports at older heights cannot be compared
# with anyone's once every node moved on).
KEPT_HEIGHTS = 32


@dataclass(frozen=True, slots=True)
class Split:
    """The app hashes after ``height`` disagree."""

    height: int
    # hash -> nodes, the network's side first (most nodes), then by name.
    sides: tuple[tuple[str, tuple[str, ...]], ...]
    divergent: tuple[str, ...]  # the nodes off the network's side (all, on a tie)

    @property
    def message(self) -> str:
        parts = [f"{', '.join(nodes)}={h[:SHOWN] or '(empty)'}" for h, nodes in self.sides]
        if len(self.sides) > 1 and len(self.sides[0][1]) > len(self.sides[1][1]):
            who = f"{', '.join(self.divergent)} diverged from the other nodes"
        else:
            who = "no side holds most nodes"
        return f"app hashes diverge after block {self.height}: {who} ({'; '.join(parts)})"


def split(height: int, hashes: dict[str, str]) -> Split | None:
    """The split among ``hashes`` (node -> app hash after ``height``), or None when
    they all agree."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    for node, h in hashes.items():
        by_hash[h.upper()].append(node)
    if len(by_hash) < 2:
        return None
    sides = sorted(
        ((h, tuple(sorted(nodes))) for h, nodes in by_hash.items()),
        key=lambda s: (-len(s[1]), s[1]),
    )
    majority = len(sides[0][1]) > len(sides[1][1])
    off = sides[1:] if majority else sides
    divergent = tuple(sorted(n for _, nodes in off for n in nodes))
    return Split(height, tuple(sides), divergent)


class SplitWatch:
    """Each node's app hash by height, from the watchdog's ``abci_info`` polls."""

    def __init__(self) -> None:
        self._at: dict[int, dict[str, str]] = {}  # height -> node -> app hash

    def observe(self, info: NodeInfo) -> None:
        if info.height <= 0 or not info.app_hash:
            return  # an answer without them (a node before its first block)
        # A node back below what it reported runs a chain started again (a relaunch
        # from genesis): its reports from the old chain are compared no more.
        for h in [h for h in self._at if h > info.height]:
            self._at[h].pop(info.node, None)
            if not self._at[h]:
                del self._at[h]
        self._at.setdefault(info.height, {})[info.node] = info.app_hash
        for old in sorted(self._at)[:-KEPT_HEIGHTS]:
            del self._at[old]

    def current(self) -> Split | None:
        """The split at the latest height two nodes reported (None: they agree)."""
        compared = [h for h, nodes in self._at.items() if len(nodes) >= 2]
        if not compared:
            return None
        h = max(compared)
        return split(h, self._at[h])

    def condition(self) -> Condition | None:
        s = self.current()
        if s is None:
            return None
        return Condition("app_hash_split", "critical", f"app hashes diverge after block "
                         f"{s.height}", s.message)  # fmt: skip
