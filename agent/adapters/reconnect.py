"""The reconnect loop every stream source runs: attempt, report down, back off, retry.

One attempt is one connection's life: connect, subscribe, stream until it ends. The
attempt reports progress through the ``Link`` it is handed:

- ``await link.up(reason)`` once subscribed: the source says ``StreamStatus(up=True)``
  and the caller of ``task_group.start`` is released;
- ``link.alive()`` once the stream proved live (a live block, an answering daemon):
  the backoff is reset, so the next failure starts small again. A connection that
  subscribes but then fails at once keeps backing off.

However the attempt ends (it returns, or raises an exception ``translate`` names), the
loop reports ``up=False`` with the reason, sleeps ``backoff.next_delay()`` on the
source's clock and tries again. Readiness means "tried once", not "connected": a
peer that is down at startup does not block the daemon from starting.

An exception ``translate`` does not name (a bug, or a malformed message nobody
translated) is logged with its traceback and handled as a drop too: a source never
ends the task group it runs in. The loop ends only when cancelled or when the
consumer is gone (``BrokenResourceError`` / ``ClosedResourceError`` from sending).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus

from agent.adapters.backoff import Backoff

__all__ = ["Link", "reconnect_forever"]

log = structlog.get_logger(__name__)

StatusCallback = Callable[[bool, str], Awaitable[None]]
Translate = Callable[[Exception], "str | None"]


class Link:
    """What an attempt uses to tell the loop how far it got."""

    def __init__(
        self, backoff: Backoff, status: StatusCallback, task_status: TaskStatus[None] | None
    ) -> None:
        self._backoff = backoff
        self._status = status
        self._task_status = task_status

    async def up(self, reason: str) -> None:
        """The stream is connected: report it and release a waiting ``start``."""
        await self._status(True, reason)
        self.ready()

    def alive(self) -> None:
        """The stream proved live: the next failure starts from the initial delay."""
        self._backoff.reset()

    def ready(self) -> None:
        if self._task_status is not None:
            task_status, self._task_status = self._task_status, None
            task_status.started()


async def reconnect_forever(
    attempt: Callable[[Link], Awaitable[None]],
    *,
    backoff: Backoff,
    sleep: Callable[[float], Awaitable[None]],
    status: StatusCallback,
    translate: Translate,
    name: str,
    log_fields: Mapping[str, Any] | None = None,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``attempt`` again and again until cancelled or the consumer is gone.

    ``status(up, reason)`` reports changes (the source deduplicates); ``name``
    prefixes the log events (``<name>_reconnect_wait``, ``<name>_consumer_gone``).
    """
    fields = dict(log_fields or {})
    link = Link(backoff, status, task_status)
    try:
        while True:
            reason = await _one_attempt(attempt, link, translate, name, fields)
            link.ready()
            await status(False, reason)
            delay = backoff.next_delay()
            log.debug(f"{name}_reconnect_wait", **fields, reason=reason, delay=round(delay, 2))
            await sleep(delay)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        log.info(f"{name}_consumer_gone", **fields)


async def _one_attempt(
    attempt: Callable[[Link], Awaitable[None]],
    link: Link,
    translate: Translate,
    name: str,
    fields: Mapping[str, Any],
) -> str:
    try:
        await attempt(link)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        raise  # the consumer is gone: nothing left to stream to
    except Exception as exc:
        reason = translate(exc)
        if reason is not None:
            return reason
        log.error(f"{name}_attempt_crashed", **fields, error=f"{type(exc).__name__}", exc_info=exc)
        return f"unexpected {type(exc).__name__}: {_short(exc)}"
    return "stream ended"


def _short(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the loop
        text = "?"
    return text[:200]
