"""Watch mode: a node with nothing staged for the chain's planned upgrade. Pure.

Knowing the chain's plan (``current_plan``), the watch looks inside each local
node's container for the plan's binary under Cosmovisor. A node without it
exits at the upgrade height, so the warning comes before the height, while
there is time to stage it: one ``not_staged`` condition per node, from the
first look that misses it until a look finds it or the height is reached.
"""

from __future__ import annotations

from agent.core.chainview import ChainView
from agent.core.conditions import Condition
from agent.core.observations import StagedSeen

__all__ = ["StagedWatch"]


class StagedWatch:
    def __init__(self) -> None:
        self._seen: dict[str, StagedSeen] = {}  # node -> its latest look

    def observe(self, obs: StagedSeen) -> None:
        self._seen[obs.node] = obs

    def conditions(
        self, view: ChainView, plan: str | None, height: int | None, interval: float | None
    ) -> list[Condition]:
        if not plan or height is None:
            return []
        out: list[Condition] = []
        for node, seen in sorted(self._seen.items()):
            nv = view.nodes.get(node)
            if seen.staged or seen.plan != plan or (nv is not None and nv.height >= height):
                continue
            left = height - nv.height if nv is not None and nv.height else None
            when = f"in {left} blocks" if left is not None else "ahead"
            if left is not None and interval:
                when += f", about {left * interval / 60:.0f} min"
            out.append(
                Condition(
                    "not_staged",
                    "warning",
                    f"{node} has nothing staged for {plan}",
                    f"{node} has nothing staged for upgrade {plan} at height {height} ({when}): "
                    f"no {seen.path}; Cosmovisor will exit at the halt",
                    node=node,
                )
            )
        return out
