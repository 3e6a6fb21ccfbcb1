"""The live view: a rich ``Live`` redrawn about twice a second from a snapshot
function, while log headlines scroll above it."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from rich.console import Console
from rich.live import Live
from rich.text import Text

from agent.runtime.daemon import Runner
from agent.ui.render import render
from agent.ui.snapshot import Snapshot, build_snapshot
from agent.watchdog.service import WatchService

__all__ = ["LiveView", "Session"]

REFRESH_S = 0.5


class Session:
    """The objects of a running ``run``/``watch`` (set by wiring's ``on_started``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.runner: Runner | None = None
        self.watch: WatchService | None = None

    def started(self, runner: Runner | None, watch: WatchService) -> None:
        self.runner = runner
        self.watch = watch

    def snapshot(self) -> Snapshot | None:
        w = self.watch
        if w is None:
            return None
        r = self.runner
        alerts = w.alerts.firing.values() if w.alerts is not None else ()
        return build_snapshot(
            mode=self.mode,
            view=w.dog.view,
            now=time.time(),
            state=r.state if r is not None else None,
            alerts=alerts,
            mono=r.clock.monotonic() if r is not None else None,
            deadline_armed=r.deadline_armed if r is not None else None,
            context=getattr(w.dog, "_context", None) if r is None else None,
        )


class LiveView:
    def __init__(self, snapshot: Callable[[], Snapshot | None], console: Console) -> None:
        self.snapshot = snapshot
        self.console = console

    def print_line(self, line: str) -> None:
        """A log headline, printed above the live area."""
        self.console.print(Text.from_ansi(line), highlight=False)

    def _frame(self) -> Text | object:
        snap = self.snapshot()
        return Text("starting…", style="dim") if snap is None else render(snap)

    async def run(self) -> None:
        with Live(
            self._frame(),  # type: ignore[arg-type]
            console=self.console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            try:
                while True:
                    await anyio.sleep(REFRESH_S)
                    live.update(self._frame(), refresh=True)  # type: ignore[arg-type]
            finally:
                live.update(self._frame(), refresh=True)  # type: ignore[arg-type]
