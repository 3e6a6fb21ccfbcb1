"""The one view of the chain: what the agent knows of each node.

Fed with ``NewBlock`` and ``NodeInfo`` observations, it answers every
question the derivation and the detectors ask: each node's height, when its
latest block arrived, the block interval, when a height was first reached,
the binary each node runs. Pure and bounded: a fixed window of recent block
header times per node.

A height below a node's current one is dropped as a stale duplicate (the
websocket and the RPC backfill overlap), unless it is a *rewind*: the block's
header time is newer than the node's latest (the chain was reset under us), or
the node's current height was a jump far ahead of every other node (one bogus
height must not blind the view to every real block after it). A rewind is
accepted and recorded in ``rewinds``. ``reset()`` forgets everything; the
runtime calls it when it relaunches a chain from genesis.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from agent.core.observations import NewBlock, NodeInfo

__all__ = ["ChainView", "NodeView", "parse_rfc3339"]

WINDOW = 32  # recent header times kept per node
FAR_AHEAD = 1000  # blocks ahead of every other node: a height not to be trusted
# Two live arrivals closer than this are one burst (a stream catching up), not a
# block interval.
MIN_ARRIVAL_GAP = 0.2


def parse_rfc3339(rfc3339: str | None) -> float | None:
    """Epoch seconds of a UTC RFC 3339 time, or None when absent or malformed."""
    # CometBFT sends nanoseconds ("2026-11-29T15:24:40.123456789Z"); Python takes micro.
    if not rfc3339 or not isinstance(rfc3339, str):
        return None
    try:
        head, _, frac = rfc3339.rstrip("Z").partition(".")
        stamp = datetime.fromisoformat(head + "+00:00").timestamp()
        return stamp + (float("0." + frac[:9]) if frac and frac[:9].isdigit() else 0.0)
    except (ValueError, OverflowError):
        return None


@dataclass
class NodeView:
    height: int = 0
    last_block_at: float | None = None  # when we received its latest block
    block_times: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=WINDOW))
    # (height, when we received it): the agent's clock, beside the headers' own.
    received: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=WINDOW))
    version: str | None = None  # the binary's version, from abci_info
    app_version: int | None = None
    suspect: bool = False  # the current height jumped far ahead of every other node

    @property
    def latest_header_time(self) -> float | None:
        return self.block_times[-1][1] if self.block_times else None


class ChainView:
    def __init__(self, nodes: list[str] | tuple[str, ...]) -> None:
        self.nodes: dict[str, NodeView] = {n: NodeView() for n in nodes}
        # (node, height before, height after) of recent rewinds, for logs and alerts.
        self.rewinds: deque[tuple[str, int, int]] = deque(maxlen=16)
        # (height, when any node's stream first brought it live), rising heights only.
        self.arrivals: deque[tuple[int, float]] = deque(maxlen=WINDOW)
        # Bumped by each reset: what others keep per height belongs to one chain.
        self.generation = 0

    # --- input -----------------------------------------------------------------

    def observe(self, ev: NewBlock) -> bool:
        """Record a block; True when it is news (a new height, or a rewind)."""
        nv = self.nodes.get(ev.node)
        if nv is None or ev.height < 1:
            return False
        t = parse_rfc3339(ev.block_time)
        if ev.height <= nv.height:
            latest = nv.latest_header_time
            newer = t is not None and latest is not None and t > latest
            if ev.height == nv.height or not (newer or nv.suspect):
                return False
            self.rewinds.append((ev.node, nv.height, ev.height))
            nv.block_times.clear()
            nv.received.clear()
        others = [o.height for n, o in self.nodes.items() if n != ev.node and o.height > 0]
        nv.suspect = bool(others) and ev.height > max(others) + FAR_AHEAD
        nv.height = ev.height
        nv.last_block_at = ev.at
        nv.received.append((ev.height, ev.at))
        if t is not None:
            nv.block_times.append((ev.height, t))
        if not ev.backfilled and (not self.arrivals or ev.height > self.arrivals[-1][0]):
            self.arrivals.append((ev.height, ev.at))
        return True

    def observe_info(self, info: NodeInfo) -> None:
        nv = self.nodes.get(info.node)
        if nv is not None:
            nv.version = info.version
            nv.app_version = info.app_version

    def reset(self) -> None:
        """The chain starts again from genesis: forget heights, keep nothing."""
        for n in self.nodes:
            self.nodes[n] = NodeView()
        self.arrivals.clear()
        self.generation += 1

    # --- questions ---------------------------------------------------------------

    @property
    def max_height(self) -> int:
        return max((nv.height for nv in self.nodes.values()), default=0)

    def heights(self) -> dict[str, int]:
        return {n: nv.height for n, nv in self.nodes.items()}

    def last_block_at(self) -> dict[str, float | None]:
        return {n: nv.last_block_at for n, nv in self.nodes.items()}

    def all_above(self, threshold: int, exclude: frozenset[str] = frozenset()) -> bool:
        return all(nv.height > threshold for n, nv in self.nodes.items() if n not in exclude)

    def behind(self, threshold: int, exclude: frozenset[str] = frozenset()) -> tuple[str, ...]:
        """Nodes not yet past ``threshold``, in configured order."""
        return tuple(
            n for n, nv in self.nodes.items() if nv.height <= threshold and n not in exclude
        )

    def _gaps(self) -> list[float]:
        # One gap per pair of heights: every node reports the same header times,
        # and five copies of one slow block are still one sample.
        gaps: dict[tuple[int, int], float] = {}
        for nv in self.nodes.values():
            times = list(nv.block_times)
            for (h1, t1), (h2, t2) in zip(times, times[1:], strict=False):
                if h1 > 1 and h2 > h1 and t2 > t1:
                    gaps[(h1, h2)] = (t2 - t1) / (h2 - h1)
        return list(gaps.values())

    def fastest_interval(self, min_gaps: int = 3) -> float | None:
        """The shortest recent block interval: a lower bound for the block time.

        The upgrade height is planned with it, so an early slow block (nodes still
        connecting after a launch) cannot put the height before the voting end:
        a later height costs a few seconds, an early one the whole rehearsal.
        """
        gaps = self._gaps()
        return min(gaps) if len(gaps) >= min_gaps else None

    def block_interval(self, min_gaps: int = 3) -> float | None:
        """Median seconds per block from consecutive block header times.

        The chain's own clock, so backfilled blocks count and a slow websocket
        does not distort it. Block 1 carries the genesis time, which may be long
        before the chain started (a reset testnet keeps its genesis), so gaps
        from it are skipped. None until ``min_gaps`` gaps were seen.
        """
        gaps = self._gaps()
        return statistics.median(gaps) if len(gaps) >= min_gaps else None

    def arrival_interval(self) -> float | None:
        """Seconds between the live arrivals of the latest two consecutive heights.

        An estimate before any header gap can be measured (a chain's second block,
        whose header gap from block 1 carries the genesis time): the agent's own
        clock, so it carries the network's jitter, and it is used only to sign a
        proposal ahead; the plan that is sent is checked against a header gap.
        None without two consecutive live arrivals, or when they came in one burst.
        """
        pairs = list(zip(self.arrivals, list(self.arrivals)[1:], strict=False))
        for (h1, t1), (h2, t2) in reversed(pairs):
            if h2 == h1 + 1:
                gap = t2 - t1
                return gap if gap >= MIN_ARRIVAL_GAP else None
        return None

    def to_agent_clock(self, chain_time: float) -> float:
        """A time on the chain's clock (a header time, a proposal's voting end) on
        the agent's: shifted by the smallest gap between a node's latest header time
        and when that block was received (the least delayed is the best estimate of
        the two clocks' offset). Unchanged when no block says."""
        offsets = []
        for nv in self.nodes.values():
            if nv.block_times and nv.received and nv.block_times[-1][0] == nv.received[-1][0]:
                offsets.append(nv.received[-1][1] - nv.block_times[-1][1])
        return chain_time + min(offsets) if offsets else chain_time

    def received_at(self, height: int) -> float | None:
        """When the agent first received block ``height`` from any node, by its own
        clock (None: not seen). A deadline counted from it compares readings of one
        clock: the header times come from the nodes' clocks, which may step or drift
        against the agent's.

        Falls back to the receive time of the latest block of nodes at or past
        ``height`` when the block itself scrolled out of the window.
        """
        seen = [at for nv in self.nodes.values() for h, at in nv.received if h == height]
        if seen:
            return min(seen)
        times = [
            nv.last_block_at
            for nv in self.nodes.values()
            if nv.height >= height and nv.last_block_at is not None
        ]
        return min(times) if times else None
