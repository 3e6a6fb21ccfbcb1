"""Waiting for blocks without a sleep loop: woken by the observer on each new height."""

from __future__ import annotations

import anyio

from agent.core.chainview import ChainView

__all__ = ["BlockWaiter"]


class BlockWaiter:
    def __init__(self, view: ChainView) -> None:
        self.view = view
        self._event = anyio.Event()

    def notify(self) -> None:
        """A node's height rose: wake every waiter."""
        self._event.set()
        self._event = anyio.Event()

    async def wait_blocks(self, n: int) -> None:
        """Return once the highest height rose by ``n`` (callers hold the deadline)."""
        target = self.view.max_height + n
        while self.view.max_height < target:
            await self._event.wait()
