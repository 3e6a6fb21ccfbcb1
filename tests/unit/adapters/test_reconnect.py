"""reconnect_forever: backoff grows while failing, resets after a live period, stops."""

from __future__ import annotations

import aiohttp
import anyio
import pytest
from websockets.exceptions import ConnectionClosedError, InvalidHandshake

from agent.adapters.backoff import Backoff
from agent.adapters.clock import FakeClock
from agent.adapters.reconnect import Link, reconnect_forever
from agent.errors import ProtocolError, StreamClosed

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[tuple[bool, str]] = []

    async def status(self, up: bool, reason: str) -> None:
        self.statuses.append((up, reason))


def _translate(exc: Exception) -> str | None:
    if isinstance(exc, StreamClosed | OSError | TimeoutError):
        return f"{type(exc).__name__}: {exc}"
    return None


def _backoff() -> Backoff:
    return Backoff(initial=1.0, cap=8.0, jitter="none")


async def _run(
    attempt: object, *, stop_after: int, translate: object = _translate
) -> tuple[FakeClock, Recorder]:
    clock, rec = FakeClock(), Recorder()
    calls = 0

    async def counted(link: Link) -> None:
        nonlocal calls
        calls += 1
        if calls > stop_after:
            raise anyio.ClosedResourceError  # the consumer is gone: the loop ends
        await attempt(link)  # type: ignore[operator]

    with anyio.fail_after(5):
        await reconnect_forever(
            counted,
            backoff=_backoff(),
            sleep=clock.sleep,
            status=rec.status,
            translate=translate,  # type: ignore[arg-type]
            name="test",
        )
    return clock, rec


async def test_backoff_grows_while_failing() -> None:
    async def refused(link: Link) -> None:
        raise ConnectionRefusedError("refused")

    clock, rec = await _run(refused, stop_after=6)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(not up for up, _ in rec.statuses)
    assert "ConnectionRefusedError" in rec.statuses[0][1]


async def test_backoff_resets_only_after_the_stream_proved_live() -> None:
    n = 0

    async def attempt(link: Link) -> None:
        nonlocal n
        n += 1
        await link.up("subscribed")
        if n == 3:
            link.alive()
        raise StreamClosed("dropped")

    clock, rec = await _run(attempt, stop_after=5)
    # subscribed-but-failing keeps growing; the live third attempt starts over
    assert clock.sleeps == [1.0, 2.0, 1.0, 2.0, 4.0]
    assert rec.statuses[:2] == [(True, "subscribed"), (False, "StreamClosed: dropped")]


async def test_readiness_after_the_first_attempt_even_if_it_failed() -> None:
    clock = FakeClock()
    rec = Recorder()

    async def refused(link: Link) -> None:
        raise OSError("down")

    async with anyio.create_task_group() as tg:
        with anyio.fail_after(5):
            await tg.start(
                lambda task_status: reconnect_forever(
                    refused,
                    backoff=_backoff(),
                    sleep=clock.sleep,
                    status=rec.status,
                    translate=_translate,
                    name="test",
                    task_status=task_status,
                )
            )
        tg.cancel_scope.cancel()
    assert rec.statuses and rec.statuses[0][0] is False


async def test_cancellation_stops_it_promptly() -> None:
    rec = Recorder()

    async def hang(link: Link) -> None:
        await link.up("subscribed")
        await anyio.sleep_forever()

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: reconnect_forever(
                    hang,
                    backoff=_backoff(),
                    sleep=anyio.sleep,  # a real sleep: cancelled mid-backoff too
                    status=rec.status,
                    translate=_translate,
                    name="test",
                )
            )
            await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert rec.statuses == [(True, "subscribed")]


@pytest.mark.parametrize(
    "exc",
    [
        StreamClosed("ended"),
        ProtocolError("bad frame"),
        TimeoutError(),
        ConnectionResetError("reset"),
        ConnectionClosedError(None, None),
        InvalidHandshake("nope"),
        aiohttp.ClientConnectionError("no socket"),
        KeyError("x"),
        TypeError("bug"),
        RecursionError("deep"),
        OverflowError("inf"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_every_exception_is_a_drop_never_the_end(exc: Exception) -> None:
    async def fail(link: Link) -> None:
        raise exc

    clock, rec = await _run(fail, stop_after=3, translate=lambda e: None)
    assert len(clock.sleeps) == 3
    assert rec.statuses[0][0] is False and type(exc).__name__ in rec.statuses[0][1]


async def test_consumer_gone_ends_the_loop_quietly() -> None:
    async def broken(link: Link) -> None:
        raise anyio.BrokenResourceError

    clock, rec = await _run(broken, stop_after=10)
    assert clock.sleeps == [] and rec.statuses == []
