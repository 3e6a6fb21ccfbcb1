"""One writer per state directory: an advisory lock beside the state files.

``rehearse run`` and ``rehearse watch`` both write alert state and a heartbeat;
two of them on one directory would overwrite each other's exactly-once
records. The lock is ``flock`` on ``<dir>/.lock``: the kernel drops it when the
process dies, so a kill -9 never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import anyio

from agent.errors import ConfigError

__all__ = ["state_lock"]


def _acquire(directory: Path, key: str) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(
            key,
            str(directory),
            f"is in use by another rehearse process (pid {holder}); stop it, "
            "or give this one its own state directory",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@contextlib.asynccontextmanager
async def state_lock(directories: Iterable[tuple[Path, str]]) -> AsyncIterator[None]:
    """Hold the lock of each (directory, config key) for the block's duration."""
    fds: list[int] = []
    seen: set[Path] = set()
    try:
        for directory, key in directories:
            d = await anyio.to_thread.run_sync(directory.resolve)
            if d in seen:
                continue
            seen.add(d)
            fds.append(await anyio.to_thread.run_sync(_acquire, d, key))
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing the descriptor releases the flock
