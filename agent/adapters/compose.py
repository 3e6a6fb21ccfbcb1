"""Docker Compose, through its CLI (argv lists, no shell strings).

Works with both forms: the ``docker compose`` plugin (v2) and the standalone
``docker-compose`` (v1). ``detect_compose`` picks the one that answers.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import anyio

from agent.adapters.process import CommandResult, run_command
from agent.errors import CommandFailed

__all__ = ["Compose", "detect_compose"]


async def detect_compose(deadline: float = 20.0) -> list[str]:
    """The argv prefix of the Compose tool on this machine."""
    # shutil.which stats the PATH entries: off the event loop.
    which = anyio.to_thread.run_sync
    if await which(shutil.which, "docker"):
        try:
            await run_command(["docker", "compose", "version"], deadline=deadline)
            return ["docker", "compose"]
        except CommandFailed:
            pass
    if await which(shutil.which, "docker-compose"):
        await run_command(["docker-compose", "version"], deadline=deadline)
        return ["docker-compose"]
    raise CommandFailed(
        ["docker compose"], 127, "neither `docker compose` nor `docker-compose` found"
    )


class Compose:
    def __init__(
        self,
        prefix: Sequence[str],
        project: str,
        directory: Path,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 180.0,
    ) -> None:
        self.prefix = list(prefix)
        self.project = project
        self.directory = directory
        # Compose v1 gives up on a slow Docker API after its own 60 s
        # (COMPOSE_HTTP_TIMEOUT) while our deadline still runs: a daemon busy with a
        # build then fails a restart that would have finished. Our deadline governs.
        self.env = {"COMPOSE_HTTP_TIMEOUT": str(max(60, int(timeout))), **(env or {})}
        self.timeout = timeout

    def _argv(self, files: Sequence[str], *args: str) -> list[str]:
        argv = [*self.prefix, "--project-name", self.project]
        for f in files:
            argv += ["--file", str(self.directory / f)]
        return argv + list(args)

    async def up(
        self, files: Sequence[str], services: Sequence[str] = (), *, remove_orphans: bool = False
    ) -> CommandResult:
        """Up the project, or only ``services`` (recreated alone: ``--no-deps``).

        Containers whose configuration changed (another image) are recreated in
        place: stopped, removed, started anew, all services at once."""
        args = ["up", "--detach", "--no-build"]
        if remove_orphans:
            args.append("--remove-orphans")
        if services:
            args += ["--no-deps", *services]
        return await run_command(self._argv(files, *args), deadline=self.timeout, env=self.env)

    async def down(self, files: Sequence[str]) -> CommandResult:
        # --volumes: the project's anonymous volumes only; node homes are bind mounts.
        return await run_command(
            self._argv(files, "down", "--volumes", "--remove-orphans", "--timeout", "20"),
            deadline=self.timeout,
            env=self.env,
        )

    async def has_containers(self) -> bool:
        """Any container of the project, running or not (one `docker ps -a`)."""
        r = await run_command(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"],
            deadline=60,
        )
        return bool(r.stdout.strip())

    async def container_ids(self) -> dict[str, str]:
        """service -> id of the project's running containers (one `docker ps`)."""
        r = await run_command(
            [
                "docker", "ps",
                "--filter", f"label=com.docker.compose.project={self.project}",
                "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}',
            ],
            deadline=60,
        )  # fmt: skip
        ids: dict[str, str] = {}
        for line in r.stdout.splitlines():
            cid, _, svc = line.strip().partition(" ")
            if svc:
                ids[svc] = cid
        return ids
