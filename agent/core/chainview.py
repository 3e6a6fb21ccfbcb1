"""What the agent knows of each node's chain: heights and block times.

Fed with ``NewBlock`` observations; answers the questions the daemon derives
facts from (is every node past height H? what is the block interval?). Pure
and bounded: a fixed-size window of recent block times per node.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from agent.core.observations import NewBlock

__all__ = ["ChainView", "NodeView", "parse_rfc3339"]


def parse_rfc3339(rfc3339: str | None) -> float | None:
    """Epoch seconds of a UTC RFC 3339 time, or None when absent or malformed."""
    # CometBFT sends nanoseconds ("2026-11-29T15:24:40.123456789Z"); Python takes micro.
    if not rfc3339:
        return None
    try:
        head, _, frac = rfc3339.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(head + "+00:00").timestamp()
        return stamp + (float("0." + frac[:9]) if frac else 0.0)
    except ValueError:
        return None


@dataclass
class NodeView:
    height: int = 0
    last_block_at: float | None = None  # wall time we received the latest block
    block_times: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=32))


class ChainView:
    def __init__(self, nodes: list[str]) -> None:
        self.nodes = {n: NodeView() for n in nodes}

    def observe(self, ev: NewBlock) -> bool:
        """Record a block; return True when it raised the node's height."""
        nv = self.nodes.get(ev.node)
        if nv is None or ev.height <= nv.height:
            return False
        nv.height = ev.height
        nv.last_block_at = ev.at
        t = parse_rfc3339(ev.block_time)
        if t is not None:
            nv.block_times.append((ev.height, t))
        return True

    def reset(self) -> None:
        for n in self.nodes:
            self.nodes[n] = NodeView()

    @property
    def max_height(self) -> int:
        return max((nv.height for nv in self.nodes.values()), default=0)

    @property
    def min_height(self) -> int:
        return min((nv.height for nv in self.nodes.values()), default=0)

    def all_above(self, threshold: int) -> bool:
        return all(nv.height > threshold for nv in self.nodes.values())

    def behind(self, threshold: int) -> list[str]:
        return [n for n, nv in self.nodes.items() if nv.height <= threshold]

    def block_interval(self, min_gaps: int = 3) -> float | None:
        """Median seconds per block from consecutive block header times.

        Block 1 carries the genesis time, which may be long before the chain
        started (a reset testnet keeps its genesis), so gaps from it are skipped.
        None until ``min_gaps`` gaps were seen.
        """
        gaps: list[float] = []
        for nv in self.nodes.values():
            times = list(nv.block_times)
            for (h1, t1), (h2, t2) in zip(times, times[1:], strict=False):
                if h1 > 1 and h2 > h1 and t2 > t1:
                    gaps.append((t2 - t1) / (h2 - h1))
        return statistics.median(gaps) if len(gaps) >= min_gaps else None
