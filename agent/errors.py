"""The agent's own exception hierarchy.

Library errors (httpx, websockets, aiodocker, subprocess) are translated into
these where they enter, so callers decide on *kind* (retry or give up), never on
which library raised. Model: httpcore ``_exceptions.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AgentError",
    "TransientError",
    "ConnectError",
    "StreamClosed",
    "DeadlineExceeded",
    "FatalError",
    "ProtocolError",
    "CorruptState",
    "ConfigError",
    "IllegalTransition",
    "CommandFailed",
    "DockerUnavailable",
    "EnvironmentProblem",
    "is_environment_failure",
]


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class TransientError(AgentError):
    """Worth retrying: the peer may come back (node restarting, network blip)."""


class ConnectError(TransientError):
    """Could not connect, or the connection was refused or reset."""


class StreamClosed(TransientError):
    """A stream (websocket, Docker events) ended; reconnect and resume."""


class DeadlineExceeded(TransientError):
    """A single network operation ran past its deadline."""


class FatalError(AgentError):
    """Not worth retrying: retrying gives the same answer."""


class ProtocolError(FatalError):
    """The peer answered something we cannot interpret."""


class CorruptState(FatalError):
    """A persisted state file (journal, alert store) cannot be read back.

    ``moved_to`` is where the unreadable file was moved aside, if it was.
    """

    # What the operator does next (the CLI prints it after the message).
    hint = "`rehearse run --fresh` starts a new rehearsal"

    def __init__(self, message: str, moved_to: str | None = None) -> None:
        self.moved_to = moved_to
        super().__init__(message)


class CommandFailed(AgentError):
    """An external command (Compose, chain CLI) exited non-zero.

    ``output`` is already stripped of secrets by whoever raises it.
    """

    def __init__(self, argv: list[str], returncode: int, output: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.output = output
        super().__init__(f"{argv[0]} exited {returncode}: {_summary(output)}")


def _summary(output: str) -> str:
    """The line that says what went wrong, not the usage text around it.

    Cobra prints "Error: ..." before the usage, or a bare message after it; in
    both cases one line carries the reason.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line[:500]
    return lines[-1][-500:] if lines else ""


class ConfigError(AgentError):
    """Bad configuration: names the key and the offending value (exit code 2).

    ``key``/``value``/``reason`` describe the first problem; ``errors`` holds
    every problem found (itself first), so one run of ``check-config`` lists
    them all instead of one per attempt.
    """

    def __init__(
        self, key: str, value: object, reason: str, *, more: Sequence[ConfigError] = ()
    ) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        self.errors: tuple[ConfigError, ...] = (self, *more)
        lines = [f"config: {e.key} = {_short(e.value)}: {e.reason}" for e in self.errors]
        super().__init__("\n  ".join(lines))


def _short(value: object) -> str:
    # A pasted blob must not bury the key it was pasted into.
    r = repr(value)
    return r if len(r) <= 120 else f"{r[:100]}... ({len(r)} chars)"


class IllegalTransition(AgentError):
    """The state machine got an event its current phase does not accept."""


class EnvironmentProblem(FatalError):
    """The machine, not the rehearsal, is at fault: Docker unreachable, an image
    missing, a host port busy (exit code 2). ``fix`` says what to do about it.

    Raised inside an executor it still ends the rehearsal as ``failed`` (the
    report says why), but its reason holds ``PREFIX`` so the
    command line can tell it apart from a rehearsal that went wrong.
    """

    PREFIX = "environment problem: "

    def __init__(self, message: str, fix: str = "") -> None:
        self.fix = fix
        super().__init__(self.PREFIX + message + (f" ({fix})" if fix else ""))


class DockerUnavailable(EnvironmentProblem):
    """The Docker daemon did not answer. Never the rehearsal's fault, and nothing to
    record: the run stops (exit 2) without journaling a failure, so ``rehearse run``
    resumes where it stopped once Docker is back."""


def is_environment_failure(failure: str | None) -> bool:
    """Whether a message came from an ``EnvironmentProblem`` (its text only: the
    machine decides on ``State.environment_failure``, set by the failing fact)."""
    return failure is not None and EnvironmentProblem.PREFIX in failure
