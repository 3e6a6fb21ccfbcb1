"""The block log: every block the agent saw, for the report's timeline and chart.

One JSON line per accepted block (node, height, header time, receive time, and
``"backfilled": true`` for a block fetched over RPC after a reconnect, not live),
appended to ``<state_dir>/blocks-<rehearsal id>.jsonl``. A rehearsal sees a few
hundred blocks per node, so the file stays small; it survives a kill -9 (the
next run of the same rehearsal appends) and the report reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from agent.adapters.files import read_json_lines
from agent.core.observations import NewBlock

__all__ = ["BlockLog", "read_block_log"]

log = structlog.get_logger("agent.adapters.blocklog")

FLUSH_EVERY_S = 1.0
MAX_BUFFER = 10_000  # a writer that cannot keep up drops the oldest, never blocks


class BlockLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path: Path | None = None
        self._buffer: list[dict[str, Any]] = []

    def open(self, rehearsal_id: str) -> None:
        self.path = self.directory / f"blocks-{rehearsal_id}.jsonl"

    def record(self, ev: NewBlock) -> None:
        row: dict[str, Any] = {
            "node": ev.node,
            "height": ev.height,
            "time": ev.block_time,
            "at": ev.at,
        }
        if ev.backfilled:  # old news: made before it was received (the bench tells them apart)
            row["backfilled"] = True
        self._buffer.append(row)
        del self._buffer[:-MAX_BUFFER]

    async def flush(self) -> None:
        if not self._buffer or self.path is None:
            return
        lines, self._buffer = self._buffer, []
        path = self.path

        def append() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(x) + "\n" for x in lines))

        try:
            await anyio.to_thread.run_sync(append)
        except OSError as exc:
            log.warning("block_log_unwritable", path=str(path), error=str(exc))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await anyio.sleep(FLUSH_EVERY_S)
                await self.flush()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await self.flush()


def read_block_log(path: Path) -> list[dict[str, Any]]:
    """The recorded blocks (blocking; a torn last line is skipped)."""
    try:
        docs = read_json_lines(path)
    except OSError:
        return []
    return [d for d in docs if isinstance(d.get("height"), int)]
