"""Re-exports: the watchdog's observations live in ``agent.core.observations``."""

from __future__ import annotations

from agent.core.observations import NodeInfo, WatchObservation

__all__ = ["NodeInfo", "WatchObservation"]
