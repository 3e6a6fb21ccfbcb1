"""Docker behind one small interface: every ``docker`` CLI call the agent makes
outside Compose and the CLI boxes (version, image, exec, logs, pause, stop,
networks), its argv built here and nowhere else.

Errors are translated where they enter, by ``run_command``: a daemon that does not
answer is ``DockerUnavailable`` (exit 2, the run resumable), any other failure
``CommandFailed``. Tests inject ``run`` (a recorder or a fake) instead of patching
``run_command`` in each module that used to build its own argv.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from agent.adapters.process import CommandResult, CommandRunner, run_command

__all__ = ["Docker", "Run"]


class Run(Protocol):
    def __call__(
        self, argv: Sequence[str], *, deadline: float, check: bool = True
    ) -> Awaitable[CommandResult]: ...


async def _run(argv: Sequence[str], *, deadline: float, check: bool = True) -> CommandResult:
    return await run_command(list(argv), deadline=deadline, check=check)


class Docker:
    def __init__(self, run: Run | CommandRunner = _run) -> None:
        self._run = run

    async def version(self, deadline: float = 20.0) -> str:
        """The daemon's version: raises when it does not answer."""
        r = await self._run(["docker", "version", "--format", "{{.Server.Version}}"],
                            deadline=deadline)  # fmt: skip
        return r.stdout.strip()

    async def image_id(self, image: str, deadline: float = 20.0) -> str | None:
        """The image's ID, or None when there is no such image here."""
        r = await self._run(["docker", "image", "inspect", "--format", "{{.Id}}", image],
                            deadline=deadline, check=False)  # fmt: skip
        out = r.stdout.strip()
        return out if r.returncode == 0 and out else None

    async def exec(
        self, container: str, argv: Sequence[str], *, deadline: float, check: bool = True
    ) -> CommandResult:
        return await self._run(["docker", "exec", container, *argv], deadline=deadline,
                               check=check)  # fmt: skip

    async def logs(self, container: str, tail: int, deadline: float) -> str:
        """The last ``tail`` lines a container wrote (stdout and stderr both)."""
        r = await self._run(["docker", "logs", "--tail", str(tail), container],
                            deadline=deadline, check=False)  # fmt: skip
        return r.stdout + "\n" + r.stderr

    async def pause(self, container: str, deadline: float) -> None:
        await self._run(["docker", "pause", container], deadline=deadline)

    async def unpause(self, container: str, deadline: float) -> None:
        await self._run(["docker", "unpause", container], deadline=deadline)

    async def stop(self, container: str, grace_s: int, deadline: float) -> None:
        await self._run(["docker", "stop", "--time", str(grace_s), container], deadline=deadline)

    async def compose_containers(self, project: str, deadline: float) -> dict[str, str]:
        """Compose service -> running container ID, for one Compose project."""
        fmt = '{{.ID}} {{.Label "com.docker.compose.service"}}'
        which = f"label=com.docker.compose.project={project}"
        r = await self._run(["docker", "ps", "--filter", which, "--format", fmt], deadline=deadline)
        out: dict[str, str] = {}
        for line in r.stdout.splitlines():
            cid, _, service = line.strip().partition(" ")
            if cid and service:
                out[service] = cid
        return out

    async def kill(self, container: str, deadline: float) -> None:
        """SIGKILL to every process of the container, as a crash would."""
        await self._run(["docker", "kill", container], deadline=deadline)

    async def start(self, container: str, deadline: float) -> None:
        await self._run(["docker", "start", container], deadline=deadline)

    async def networks(self, container: str, deadline: float) -> dict[str, Any]:
        """The networks a container is attached to (name -> settings)."""
        r = await self._run(
            ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", container],
            deadline=deadline,
        )
        doc = json.loads(r.stdout or "{}")
        return doc if isinstance(doc, dict) else {}

    async def disconnect(self, network: str, container: str, deadline: float) -> None:
        await self._run(["docker", "network", "disconnect", network, container],
                        deadline=deadline)  # fmt: skip

    async def connect(self, network: str, container: str, deadline: float) -> None:
        await self._run(["docker", "network", "connect", network, container], deadline=deadline)
