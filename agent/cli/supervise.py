"""How a job ends: signals ask it to stop, every end is an exit code with one
meaning, and no traceback reaches a user (it is in the log file)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import structlog

from agent.core.machine import Phase, State
from agent.errors import ConfigError, CorruptState, EnvironmentProblem

__all__ = [
    "EXIT_ENVIRONMENT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Outcome",
    "classify",
    "exit_code_of",
    "supervise",
    "unexpected",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_ENVIRONMENT = EXIT_USAGE  # configuration or environment: the same code, 2

SHUTDOWN_DEADLINE_S = 10.0


@dataclass
class Outcome:
    """What the command line learns from a job, for the closing summary."""

    log_file: Path | None = None
    state: State | None = None
    error: str | None = None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def classify(exc: Exception, outcome: Outcome) -> int:
    """The exit code of an exception that ended a job; prints its one line."""
    for leaf in _leaves(exc):
        if isinstance(leaf, ConfigError | EnvironmentProblem):
            print(f"rehearse: error: {leaf}", file=sys.stderr)
            outcome.error = str(leaf)
            return EXIT_USAGE
        if isinstance(leaf, CorruptState):
            print(
                f"rehearse: error: {leaf}; {leaf.hint}",
                file=sys.stderr,
            )
            outcome.error = str(leaf)
            return EXIT_USAGE
    return unexpected(exc, outcome)


def unexpected(exc: BaseException, outcome: Outcome) -> int:
    structlog.get_logger("agent.cli").error("unexpected_error", exc_info=exc)
    leaf = _leaves(exc)[0]
    where = f"; the traceback is in {outcome.log_file}" if outcome.log_file else ""
    line = f"{type(leaf).__name__}: {str(leaf)[:200]}"
    print(f"rehearse: unexpected error ({line}){where}", file=sys.stderr)
    outcome.error = f"unexpected error ({line})"
    return EXIT_FAILED


async def supervise(job: Callable[[], Awaitable[int]], outcome: Outcome | None = None) -> int:
    """Run ``job`` until it ends or a signal asks it to stop.

    Signals only request shutdown (model: uvicorn): the first SIGINT/SIGTERM
    cancels the job, whose state is already journaled; cleanup gets
    ``SHUTDOWN_DEADLINE_S``; a second signal exits at once.
    """
    log = structlog.get_logger("agent.cli")
    out = outcome if outcome is not None else Outcome()
    codes: list[int] = []
    finished = anyio.Event()

    async with anyio.create_task_group() as tg:
        job_scope = anyio.CancelScope()

        async def run_job() -> None:
            with job_scope:
                try:
                    codes.append(await job())
                except Exception as exc:  # every end is an exit code, never a traceback
                    codes.append(classify(exc, out))
            finished.set()
            tg.cancel_scope.cancel()

        tg.start_soon(run_job)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if job_scope.cancel_called:
                    log.warning("forced_exit", signal=signal.Signals(signum).name)
                    os._exit(EXIT_INTERRUPTED)
                log.warning("shutdown_requested", signal=signal.Signals(signum).name,
                            deadline_s=SHUTDOWN_DEADLINE_S)  # fmt: skip
                job_scope.cancel()
                tg.start_soon(_deadline, finished)
    return codes[0] if codes else EXIT_INTERRUPTED


async def _deadline(finished: anyio.Event) -> None:
    with anyio.move_on_after(SHUTDOWN_DEADLINE_S):
        await finished.wait()
        return
    structlog.get_logger("agent.cli").error("shutdown_deadline_passed")
    os._exit(EXIT_INTERRUPTED)


def exit_code_of(final: State) -> int:
    """0 expected outcome, 1 not, 2 when the machine (not the rehearsal) was at fault."""
    if final.phase is Phase.FAILED and final.environment_failure:
        return EXIT_ENVIRONMENT
    if final.verdict_met is not None:
        return EXIT_OK if final.verdict_met else EXIT_FAILED
    return EXIT_OK if final.phase is Phase.RESTARTED else EXIT_FAILED
