"""Running external commands: argv lists only, a deadline, secrets on stdin.

No shell is ever involved. A secret given as ``stdin_secret`` is written to the
child's stdin and scrubbed from anything we log or raise; it never appears in
argv (visible to every user via /proc) or in the environment.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio
import structlog

from agent.errors import CommandFailed, DeadlineExceeded

__all__ = ["CommandResult", "run_command", "redact"]

log = structlog.get_logger("agent.adapters.process")


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


async def run_command(
    argv: Sequence[str],
    *,
    deadline: float,
    stdin_secret: str | None = None,
    stdin_lines: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
) -> CommandResult:
    """Run ``argv``; raise ``CommandFailed`` on non-zero exit when ``check``.

    ``stdin_secret`` is written ``stdin_lines`` times, one per line (a file
    keyring asks twice when it creates a key, once otherwise).
    """
    args = [str(a) for a in argv]
    secrets = [stdin_secret] if stdin_secret else []
    data = ((stdin_secret + "\n") * stdin_lines).encode() if stdin_secret else b""
    full_env = None
    if env is not None:
        full_env = {**os.environ, **env}
    log.debug("command_start", argv=args)
    try:
        with anyio.fail_after(deadline):
            proc = await anyio.run_process(
                args,
                input=data,
                check=False,
                env=full_env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
    except TimeoutError:
        raise DeadlineExceeded(
            f"{args[0]} {' '.join(args[1:3])} ran past {deadline:.0f}s"
        ) from None
    except OSError as exc:
        raise CommandFailed(args, 127, f"cannot run {args[0]}: {exc.strerror}") from None
    out = redact(proc.stdout.decode(errors="replace"), secrets)
    err = redact(proc.stderr.decode(errors="replace"), secrets)
    result = CommandResult(tuple(args), proc.returncode, out, err)
    log.debug("command_done", argv=args, returncode=proc.returncode)
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, (err or out))
    return result
