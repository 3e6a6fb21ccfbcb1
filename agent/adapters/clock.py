"""Time, behind a small interface so tests can run reconnect loops instantly.

``wall()`` stamps events (``at``); ``monotonic()`` measures durations; ``sleep()`` is
the only way the sources wait, so a ``FakeClock`` makes every backoff free.

Every age and deadline in the agent is a difference of two ``wall()`` stamps
taken by this process, so ``SystemClock.wall()`` is the monotonic clock anchored
to the epoch once at start: a step of the system clock (NTP, an operator's
``date -s``) cannot fire a stall on every node or stretch a deadline. It stays
within the step of true time, which only matters for display.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio
import anyio.lowlevel

__all__ = ["Clock", "SystemClock", "FakeClock"]


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock; sleeps through anyio so cancellation works."""

    _epoch_offset: float | None = None

    def wall(self) -> float:
        # Anchored at the first reading (subclasses need not call __init__).
        if self._epoch_offset is None:
            self._epoch_offset = time.time() - time.monotonic()
        return self._epoch_offset + time.monotonic()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


class FakeClock:
    """A clock for tests: ``sleep`` advances time at once instead of waiting.

    It still yields to the event loop (a checkpoint) so that a loop which only sleeps
    cannot starve other tasks, and so that cancellation is delivered as with a real sleep.
    ``sleeps`` records every requested delay for assertions.
    """

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 0.0) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.sleeps: list[float] = []

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        self._wall += seconds
        self._monotonic += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()
