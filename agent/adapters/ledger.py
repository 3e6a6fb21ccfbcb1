"""The transaction ledger: what the agent broadcast, fsynced before it waits.

Written right after a broadcast returns its hash and before waiting for
inclusion, so a restarted agent can find a transaction still in flight and
look it up on chain instead of broadcasting again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from agent.adapters.files import append_json_line, read_json_lines

__all__ = ["TxLedger"]


class TxLedger:
    """Append-only record of signed transactions (JSON lines, fsynced).

    Written after a transaction is signed and *before* it is broadcast, with
    its hash and bytes: a restart finds every transaction that may be on its
    way, looks it up by hash, and re-sends the same bytes rather than signing
    a second transaction (the chain accepts a given signed tx at most once).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, entry: dict[str, Any]) -> None:
        append_json_line(self.path, entry)

    async def record(
        self,
        rehearsal: str,
        kind: str,
        tx_hash: str,
        tx: str | None = None,
        note: dict[str, int] | None = None,
    ) -> None:
        """``tx``: the signed bytes, base64, so a resumed agent can re-send them;
        ``note``: what the bytes were signed for (a proposal's upgrade height, the
        sequence), so a resume can tell bytes that are still good from stale ones."""
        entry: dict[str, Any] = {"rehearsal": rehearsal, "kind": kind, "tx_hash": tx_hash}
        if tx is not None:
            entry["tx"] = tx
        if note:
            entry["note"] = dict(note)
        await self._write(entry)

    async def record_sequence(self, rehearsal: str, address: str, next_sequence: int) -> None:
        """``address`` has spent every sequence below ``next_sequence`` (a transaction
        of ours is in a block): a resumed agent never signs below it, whatever a
        lagging REST node says."""
        await self._write({"rehearsal": rehearsal, "kind": "sequence", "address": address,
                           "next": next_sequence})  # fmt: skip

    async def _write(self, entry: dict[str, Any]) -> None:
        # Shielded: a cancelled caller must not leave a record half-decided.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._append, entry)

    async def next_sequence(self, rehearsal: str, address: str) -> int:
        """The highest ``next_sequence`` recorded for ``address`` (0: none)."""

        def read() -> int:
            return max(
                (
                    e["next"]
                    for e in read_json_lines(self.path)
                    if e.get("rehearsal") == rehearsal
                    and e.get("kind") == "sequence"
                    and e.get("address") == address
                    and type(e.get("next")) is int
                ),
                default=0,
            )

        return await anyio.to_thread.run_sync(read)

    async def find(self, rehearsal: str, kind: str) -> list[str]:
        return [h for h, _ in await self.entries(rehearsal, kind)]

    def _matching(self, rehearsal: str, kind: str) -> list[dict[str, Any]]:
        """The records of ``kind`` in ``rehearsal``, oldest first (blocking)."""
        return [
            e
            for e in read_json_lines(self.path)
            if e.get("rehearsal") == rehearsal
            and e.get("kind") == kind
            and isinstance(e.get("tx_hash"), str)
        ]

    async def entries(self, rehearsal: str, kind: str) -> list[tuple[str, str | None]]:
        """(tx hash, signed bytes in base64 or None) of each record, oldest first."""

        def read() -> list[tuple[str, str | None]]:
            return [
                (e["tx_hash"], e["tx"] if isinstance(e.get("tx"), str) else None)
                for e in self._matching(rehearsal, kind)
            ]

        return await anyio.to_thread.run_sync(read)

    async def notes(self, rehearsal: str, kind: str) -> dict[str, dict[str, int]]:
        """tx hash -> the note recorded with it (records without one are left out)."""

        def read() -> dict[str, dict[str, int]]:
            return {
                e["tx_hash"]: {
                    k: v for k, v in e["note"].items() if isinstance(k, str) and type(v) is int
                }
                for e in self._matching(rehearsal, kind)
                if isinstance(e.get("note"), dict)
            }

        return await anyio.to_thread.run_sync(read)
