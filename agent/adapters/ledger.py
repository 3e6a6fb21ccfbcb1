"""The transaction ledger: what the agent broadcast, fsynced before it waits.

Written right after a broadcast returns its hash and before waiting for
inclusion, so a restarted agent can find a transaction still in flight and
look it up on chain instead of broadcasting again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio

__all__ = ["TxLedger"]


class TxLedger:
    """Append-only record of broadcast transactions (JSON lines, fsynced).

    Written right after a broadcast returns its hash and before waiting for
    inclusion, so a restart can find a transaction still in flight.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def record(self, rehearsal: str, kind: str, tx_hash: str) -> None:
        entry = {"rehearsal": rehearsal, "kind": kind, "tx_hash": tx_hash}
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._append, entry)

    async def find(self, rehearsal: str, kind: str) -> list[str]:
        def read() -> list[str]:
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                return []
            out = []
            for line in lines:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                if e.get("rehearsal") == rehearsal and e.get("kind") == kind:
                    out.append(str(e["tx_hash"]))
            return out

        return await anyio.to_thread.run_sync(read)
