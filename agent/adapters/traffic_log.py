"""The traffic's events on disk: one fsynced JSON line each, one file per rehearsal.

Written before the broadcast (a ``TxSent`` carries the signed bytes), so an agent
killed at any moment finds every transaction that may be on its way, sends the
same bytes again if they are in no block, and never signs a second transaction
at a sequence it already used. ``agent.adapters.retention`` prunes old files.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio

from agent.adapters.files import append_json_line, read_json_lines
from agent.core.traffic import (
    MempoolSeen,
    TrafficEvent,
    TxChecked,
    TxIncluded,
    TxResent,
    TxSent,
)

__all__ = ["TrafficLog"]

_TYPES: dict[str, type[Any]] = {
    t.__name__: t for t in (TxSent, TxChecked, TxIncluded, TxResent, MempoolSeen)
}


class TrafficLog:
    def __init__(self, state_dir: Path, rehearsal: str) -> None:
        self.path = state_dir / f"traffic-{rehearsal}.jsonl"

    async def append(self, event: TrafficEvent) -> None:
        entry = {"type": type(event).__name__, **asdict(event)}
        if isinstance(event, MempoolSeen):
            entry["hashes"] = list(event.hashes)
        # Shielded: a cancelled sender must not leave a record half-written.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(append_json_line, self.path, entry)

    async def load(self) -> list[TrafficEvent]:
        return await anyio.to_thread.run_sync(self._load)

    def _load(self) -> list[TrafficEvent]:
        out: list[TrafficEvent] = []
        for e in read_json_lines(self.path):
            cls = _TYPES.get(str(e.pop("type", "")))
            if cls is None:
                continue
            if cls is MempoolSeen:
                e["hashes"] = tuple(e.get("hashes", ()))
            try:
                out.append(cls(**e))
            except TypeError:
                continue  # a line of another version: skipped, like a torn one
        return out
