"""Running external commands: argv lists only, a deadline, secrets on stdin.

No shell is ever involved. A secret given as ``stdin_secret`` is written to the
child's stdin and scrubbed from anything we log or raise; it never appears in
argv (visible to every user via /proc) or in the environment.

Every command runs in its own process group (``start_new_session``); on timeout or
cancellation the whole group is killed (SIGKILL), so nothing it started survives.
Children get an explicit, minimal environment (``child_env``): never the agent's
own, which may hold the keyring password.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
import anyio.abc
import structlog

from agent.errors import CommandFailed, DeadlineExceeded, DockerUnavailable

__all__ = ["CommandResult", "CommandRunner", "child_env", "docker_down", "redact", "run_command"]

log = structlog.get_logger("agent.adapters.process")

# Inherited from the agent's environment when set: locale, home, temp dir, and what
# the Docker CLI and Compose need to find the daemon and its credentials.
INHERITED = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CONTEXT",
)
# What the docker CLI and docker-compose 1.x print when no daemon answers.
_DOCKER_DOWN = re.compile(
    r"Cannot connect to the Docker daemon|Is the docker daemon running|"
    r"Couldn't connect to Docker daemon|error during connect",
    re.IGNORECASE,
)


def docker_down(output: str) -> str | None:
    """The line of a docker CLI's output that says no daemon answered, if one does
    (other lines, a deprecation notice say, may come first)."""
    for line in output.splitlines():
        if _DOCKER_DOWN.search(line):
            return line.strip()[:200]
    return None


# How long a killed group gets to be reaped before we stop waiting.
REAP_DEADLINE = 5.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def redact(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


# What a Go build needs of the user's environment beside the basics (the module and
# build caches, the proxy): never the agent's secrets.
GO_INHERITED_PATTERN = re.compile(r"GO[A-Z0-9_]*|CGO_[A-Z0-9_]+|CC|CXX")


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``child_env`` plus the Go toolchain's variables: for builds the kit runs."""
    env = child_env()
    env.update({k: v for k, v in os.environ.items() if GO_INHERITED_PATTERN.fullmatch(k)})
    env.update(extra or {})
    return env


def child_env(
    extra: Mapping[str, str] | None = None, parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a child: the ``INHERITED`` basics of ``parent`` (default
    ``os.environ``) that are set, plus ``extra`` (the caller's, which wins)."""
    parent = os.environ if parent is None else parent
    env = {k: parent[k] for k in INHERITED if k in parent}
    env.setdefault("PATH", os.defpath)
    env.update(extra or {})
    return env


class CommandRunner(Protocol):
    """``run_command``'s shape: what an adapter that runs programs is given, so a
    test hands it a recorder instead of replacing a module's function."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        deadline: float,
        stdin_secret: str | None = None,
        stdin_data: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        check: bool = True,
    ) -> Awaitable[CommandResult]: ...


async def run_command(
    argv: Sequence[str],
    *,
    deadline: float,
    stdin_secret: str | None = None,
    stdin_data: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
) -> CommandResult:
    """Run ``argv``; raise ``CommandFailed`` on non-zero exit when ``check``.

    ``stdin_secret`` is written once, followed by a newline. ``env`` is added to
    the minimal environment of ``child_env``. A child that exits without reading
    its stdin is judged by its exit status like any other.
    """
    args = [str(a) for a in argv]
    secrets = [stdin_secret] if stdin_secret else []
    if stdin_secret:
        data = (stdin_secret + "\n").encode()
    else:
        data = stdin_data.encode() if stdin_data else b""
    log.debug("command_start", argv=args)
    try:
        proc = await anyio.open_process(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise CommandFailed(args, 127, f"cannot run {args[0]}: {exc.strerror}") from None
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    try:
        with anyio.fail_after(deadline):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_feed, proc, data)
                tg.start_soon(_drain, proc.stdout, stdout)
                tg.start_soon(_drain, proc.stderr, stderr)
                returncode = await proc.wait()
    except TimeoutError:
        await _kill_group(proc)
        raise DeadlineExceeded(
            f"{args[0]} {' '.join(args[1:3])} ran past {deadline:.0f}s"
        ) from None
    except BaseException:
        await _kill_group(proc)
        raise
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(REAP_DEADLINE):
            await proc.aclose()
    out = redact(b"".join(stdout).decode(errors="replace"), secrets)
    err = redact(b"".join(stderr).decode(errors="replace"), secrets)
    result = CommandResult(tuple(args), returncode, out, err)
    log.debug("command_done", argv=args, returncode=returncode)
    if check and returncode != 0:
        down = (
            docker_down(err or out) if Path(args[0]).name in ("docker", "docker-compose") else None
        )
        if down is not None:
            raise DockerUnavailable(
                f"the Docker daemon is unreachable: {down}",
                "start it (or fix DOCKER_HOST), then run again: the rehearsal resumes",
            )
        raise CommandFailed(args, returncode, (err or out))
    return result


async def _feed(proc: anyio.abc.Process, data: bytes) -> None:
    """Write ``data`` to stdin and close it; a child that does not read is not our error."""
    assert proc.stdin is not None
    try:
        if data:
            await proc.stdin.send(data)
        await proc.stdin.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
        # BrokenPipeError / ConnectionResetError are OSErrors: the child exited (or
        # closed stdin) first. Its exit status and stderr say what happened.
        log.debug("command_stdin_unread", error=type(exc).__name__)
        await _close_quietly(proc.stdin)


async def _drain(stream: anyio.abc.ByteReceiveStream | None, into: list[bytes]) -> None:
    assert stream is not None
    try:
        async for chunk in stream:
            into.append(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass


async def _close_quietly(stream: anyio.abc.AsyncResource) -> None:
    try:
        await stream.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass


async def _kill_group(proc: anyio.abc.Process) -> None:
    """SIGKILL the command's whole process group, then reap the leader."""
    with anyio.CancelScope(shield=True):
        try:
            # The group id is the leader's pid (start_new_session). The leader is not
            # reaped yet, or the group still has members, so the id is not reused.
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        with anyio.move_on_after(REAP_DEADLINE):
            await proc.wait()
