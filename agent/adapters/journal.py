"""The journal: the rehearsal state, persisted atomically.

Written after every change of state (every transition and every issued or
completed action) with ``files.write_atomic``, so a kill -9 at any moment leaves
either the old or the new state, never a torn one.

A journal that cannot be read back (not JSON, wrong shape, unknown phase or type)
is moved aside to ``<stem>.corrupt.<UTC timestamp>.json`` and ``load`` raises
``JournalCorrupt`` (a ``CorruptState``) saying where it went: the next run then
starts fresh instead of tripping over it again, and nothing is lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import anyio

from agent.adapters.files import move_aside, write_atomic
from agent.core import codec
from agent.core.machine import State
from agent.errors import CorruptState

__all__ = ["Journal", "FileJournal", "JournalCorrupt"]

FORMAT_VERSION = 1


class JournalCorrupt(CorruptState):
    pass


class Journal(Protocol):
    async def load(self) -> State | None: ...

    async def save(self, state: State) -> None: ...


class FileJournal:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> State | None:
        return await anyio.to_thread.run_sync(self._load)

    async def save(self, state: State) -> None:
        # Shielded: a cancellation mid-write must not leave the state unsaved.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._save, state)

    def _load(self) -> State | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            state = _decode(raw)
        except _Unreadable as exc:
            moved = self._move_aside()
            raise JournalCorrupt(
                f"journal {self.path} is unreadable ({exc}); moved it to {moved}, "
                "so the next run starts a fresh rehearsal",
                moved_to=str(moved),
            ) from exc.__cause__
        return state

    def _save(self, state: State) -> None:
        doc = {"version": FORMAT_VERSION, "state": codec.encode(state)}
        write_atomic(self.path, json.dumps(doc, separators=(",", ":")))

    def _move_aside(self) -> Path:
        return move_aside(self.path)

    def archive(self) -> Path | None:
        """Move a finished journal aside so the next run starts fresh."""
        if not self.path.exists():
            return None
        n = 1
        while (dest := self.path.with_name(f"{self.path.stem}.{n}.json")).exists():
            n += 1
        os.replace(self.path, dest)
        return dest


class _Unreadable(Exception):
    """Internal: why a journal's bytes do not decode into a State."""


def _decode(raw: bytes) -> State:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _Unreadable(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _Unreadable(f"expected an object, got {type(doc).__name__}")
    if doc.get("version") != FORMAT_VERSION:
        raise _Unreadable(f"unsupported version {doc.get('version')!r}")
    if "state" not in doc:
        raise _Unreadable("no state")
    try:
        # An unknown phase or type is a ValueError; a field too many or missing a
        # TypeError; the state's own checks may raise anything of the kind.
        state = codec.decode(doc["state"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise _Unreadable(f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, State):
        raise _Unreadable("does not hold a rehearsal state")
    return state
