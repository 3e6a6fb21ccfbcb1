"""The watchdog's own observation, next to those of ``agent.events``.

``NodeInfo`` comes from polling a node's ``abci_info`` (the daemon sends it); it
tells which binary a node runs, so that a node stuck at the upgrade height can be
reported as "still runs the genesis binary" rather than just "silent".
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.core.observations import ContainerEvent, NewBlock, StreamStatus

__all__ = ["NodeInfo", "WatchObservation"]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node's application version, as its ``abci_info`` reports it."""

    node: str
    app_version: int  # the app's protocol version (changes with the upgrade)
    version: str  # the binary's version string, e.g. "v1", "v2.0.1"
    at: float  # wall time it was read


WatchObservation = NewBlock | StreamStatus | ContainerEvent | NodeInfo
