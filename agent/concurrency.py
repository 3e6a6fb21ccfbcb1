"""Run a few awaitables at once and fail like one of them.

A bare task group wraps a failure in an ``ExceptionGroup``; executors report
``AgentError`` reasons to the machine (and a group would read as an internal
error), so ``gather`` waits for every job and raises the first failure itself.
Used by the executors and by adapters that start several things at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["gather"]

T = TypeVar("T")


async def gather(*jobs: Callable[[], Awaitable[T]]) -> list[T]:
    """Results in the jobs' order; the first exception (in order) if any failed.

    The others run to their end rather than being cancelled: each is a short
    read or command, and a half-run command is worse than a finished one.
    """
    results: list[T | None] = [None] * len(jobs)
    errors: list[Exception | None] = [None] * len(jobs)

    async def one(i: int, job: Callable[[], Awaitable[T]]) -> None:
        try:
            results[i] = await job()
        except Exception as exc:  # collected: re-raised below, unwrapped
            errors[i] = exc

    async with anyio.create_task_group() as tg:
        for i, job in enumerate(jobs):
            tg.start_soon(one, i, job)
    for exc in errors:
        if exc is not None:
            raise exc
    return results  # type: ignore[return-value]  # every slot was filled
