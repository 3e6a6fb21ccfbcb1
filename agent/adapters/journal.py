"""The journal: the rehearsal state, persisted atomically.

Written after every change of state (every transition and every issued or
completed action). A write goes to a temporary file in the same directory,
is fsynced, renamed over the journal and the directory is fsynced, so a
kill -9 at any moment leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import anyio

from agent.core import codec
from agent.core.machine import State
from agent.errors import FatalError

__all__ = ["Journal", "FileJournal", "MemoryJournal", "JournalCorrupt"]

FORMAT_VERSION = 1


class JournalCorrupt(FatalError):
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
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            if doc.get("version") != FORMAT_VERSION:
                raise JournalCorrupt(f"{self.path}: unsupported version {doc.get('version')!r}")
            state = codec.decode(doc["state"])
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalCorrupt(f"{self.path}: {exc}") from exc
        if not isinstance(state, State):
            raise JournalCorrupt(f"{self.path}: does not hold a rehearsal state")
        return state

    def _save(self, state: State) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": FORMAT_VERSION, "state": codec.encode(state)}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def archive(self) -> Path | None:
        """Move a finished journal aside so the next run starts fresh."""
        if not self.path.exists():
            return None
        n = 1
        while (dest := self.path.with_name(f"{self.path.stem}.{n}.json")).exists():
            n += 1
        os.replace(self.path, dest)
        return dest


class MemoryJournal:
    """For tests: keeps the encoded form, so it exercises the codec too."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    async def load(self) -> State | None:
        if not self.saved:
            return None
        state = codec.decode(json.loads(self.saved[-1]))
        assert isinstance(state, State)
        return state

    async def save(self, state: State) -> None:
        self.saved.append(json.dumps(codec.encode(state)))
