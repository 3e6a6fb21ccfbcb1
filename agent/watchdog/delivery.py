"""Alert delivery in its own tasks: a sink that hangs never delays evaluation.

Each sink has a worker that sends what it is owed, oldest first, one at a time,
each send under a deadline. A send that fails (the sink gave up after its own
retries, ran past the deadline, or raised) is tried again after a backoff that
doubles up to ``backoff_cap_s``, keeping the order; the others sinks go on.
What is owed to some sink is the *outbox*: the caller persists it on every
change (``on_change``), so undelivered notifications survive a restart. The
outbox is bounded: past ``max_owed`` the oldest are dropped, with a log line.

A sink that has failed ``failing_after`` times in a row is a condition of its
own (``alert_delivery``), so an operator hears of it through the other sinks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import structlog
from anyio.abc import TaskStatus

from agent.adapters.clock import Clock
from agent.core.detectors import Condition

__all__ = ["Delivery"]

log = structlog.get_logger("agent.watchdog")


class _SinkLike(Protocol):  # alerts.Sink, without importing alerts (it imports this)
    name: str

    async def send(self, n: Any) -> bool | None: ...


@dataclass
class _Owed:
    notification: object
    sinks: set[str]


@dataclass
class _Worker:
    wake: anyio.Event = field(default_factory=anyio.Event)
    failures: int = 0  # in a row
    next_try: float = 0.0  # monotonic
    last_error: str = ""
    delivered: int = 0


class Delivery:
    def __init__(
        self,
        sinks: Sequence[_SinkLike],
        clock: Clock,
        *,
        send_timeout_s: float = 60.0,
        on_change: Callable[[], Awaitable[None]] | None = None,
        max_owed: int = 1000,
        failing_after: int = 3,
        backoff_s: float = 1.0,
        backoff_cap_s: float = 60.0,
    ) -> None:
        self.sinks = tuple(sinks)
        self.clock = clock
        self.send_timeout_s = send_timeout_s
        self.on_change = on_change
        self.max_owed = max_owed
        self.failing_after = failing_after
        self.backoff_s = backoff_s
        self.backoff_cap_s = backoff_cap_s
        self._owed: dict[int, _Owed] = {}
        self._next_id = 0
        self._workers = {s.name: _Worker() for s in self.sinks}
        self._save_lock = anyio.Lock()

    # --- what the manager calls ------------------------------------------------

    def submit(self, notifications: Sequence[object]) -> None:
        """Owe ``notifications`` to every sink; the workers wake at once."""
        names = {s.name for s in self.sinks}
        for n in notifications:
            self._owed[self._next_id] = _Owed(n, set(names))
            self._next_id += 1
        while len(self._owed) > self.max_owed:
            dropped = self._owed.pop(next(iter(self._owed)))
            log.error("alert_outbox_overflow", dropped=getattr(dropped.notification, "key", "?"))
        for w in self._workers.values():
            w.wake.set()

    def pending(self) -> tuple[object, ...]:
        """The outbox: each notification some sink is still owed, oldest first."""
        return tuple(o.notification for o in self._owed.values())

    def health(self) -> dict[str, object]:
        """For the heartbeat: what is undelivered, and which sinks keep failing."""
        return {
            "undelivered": len(self._owed),
            "failing_sinks": sorted(
                n for n, w in self._workers.items() if w.failures >= self.failing_after
            ),
        }

    def conditions(self) -> list[Condition]:
        out = []
        for name, w in self._workers.items():
            if w.failures >= self.failing_after:
                owed = sum(1 for o in self._owed.values() if name in o.sinks)
                out.append(
                    Condition(
                        "alert_delivery",
                        "warning",
                        f"alert sink {name} failing",
                        f"alert sink {name} failed {w.failures} deliveries in a row "
                        f"({owed} waiting); last: {w.last_error}",
                        node=None,
                        upgrade=name,  # one condition per sink
                    )
                )
        return out

    # --- the workers -------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            for sink in self.sinks:
                tg.start_soon(self._work, sink)
            task_status.started()

    async def _work(self, sink: _SinkLike) -> None:
        w = self._workers[sink.name]
        while True:
            w.wake = anyio.Event()  # before looking: a submit after the look sets it
            todo = [i for i, o in self._owed.items() if sink.name in o.sinks]
            if not todo:
                await w.wake.wait()
                continue
            delay = w.next_try - self.clock.monotonic()
            if delay > 0:
                await self.clock.sleep(delay)
                continue
            owed = self._owed[todo[0]]
            error = await self._send(sink, owed.notification)
            if error is None:
                w.failures, w.last_error = 0, ""
                w.delivered += 1
                owed.sinks.discard(sink.name)
                if not owed.sinks:
                    self._owed.pop(todo[0], None)
                await self._changed()
                continue
            w.failures += 1
            w.last_error = error
            pause = min(self.backoff_cap_s, self.backoff_s * 2 ** (w.failures - 1))
            w.next_try = self.clock.monotonic() + pause
            log.warning("alert_delivery_deferred", sink=sink.name, failures=w.failures,
                        retry_in_s=round(pause, 1), reason=error)  # fmt: skip

    async def _send(self, sink: _SinkLike, n: object) -> str | None:
        """None when sent, else why not."""
        try:
            with anyio.fail_after(self.send_timeout_s):
                ok = await sink.send(n)
        except TimeoutError:
            return f"no delivery within {self.send_timeout_s:g} s"
        except Exception as exc:  # a sink's bug must not stop its worker
            return f"{type(exc).__name__}"
        return None if ok is not False else "the sink gave up (see its log line)"

    async def _changed(self) -> None:
        if self.on_change is None:
            return
        async with self._save_lock:
            await self.on_change()
