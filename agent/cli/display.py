"""The live view around a job, when the terminal wants one."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from agent.logs import ConsoleOut

__all__ = ["Display"]


class Display:
    """The live view when wanted, else nothing; log headlines go above it."""

    def __init__(self, mode: str, live: bool, console_out: ConsoleOut | None) -> None:
        from agent.ui.live import Session

        self.session = Session(mode)
        self.live = live
        self.console_out = console_out

    async def around(self, body: Callable[[], Awaitable[Any]]) -> Any:
        if not self.live:
            return await body()
        from rich.console import Console

        from agent.ui.live import LiveView

        view = LiveView(self.session.snapshot, Console(file=sys.stdout))
        if self.console_out is not None:
            self.console_out.target = view.print_line
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(view.run)
                try:
                    return await body()
                finally:
                    tg.cancel_scope.cancel()
        finally:
            if self.console_out is not None:
                self.console_out.target = self.console_out.write
