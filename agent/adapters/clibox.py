"""Long-lived CLI containers ("boxes"), driven with ``docker exec``.

A ``docker run --rm`` per chain CLI call costs a container's create, start, attach
and removal: about a second each on a busy 2-core host, and a rehearsal makes a
dozen calls (keys, signatures, the profile's reads). A box is started once per
(image, desk, network) with a shell that only sleeps; every call is then a
``docker exec`` into it, a fraction of that.

What the throwaway containers gave is kept: a desk box has no network at all
(``--network none``), so nothing left behind by a killed agent can broadcast;
secrets still reach the CLI on stdin only; every box carries the
``rehearse.cli=<project>`` label the clean-ups look for. A box that vanished (removed
by hand, the daemon restarted) is started again on the next call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import anyio
import structlog

from agent.adapters.process import CommandRunner, run_command
from agent.concurrency import gather
from agent.errors import CommandFailed

__all__ = ["Box", "Boxes", "gone"]

log = structlog.get_logger("agent.adapters.clibox")

# The box's only process: sleeps until killed. A shell trap makes `docker stop` quick;
# `docker rm -f` (what close() uses) kills it at once anyway.
# Which network a box joined: a box on the stack's network keeps Compose from removing
# that network (`down` would fail on its "active endpoints"), so launch removes them.
NET_LABEL = "rehearse.cli.network"
IDLE = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"


@dataclass(frozen=True, slots=True)
class Box:
    """What a box is made of; equal specs share one container."""

    image: str
    network: str  # a Docker network name, or "none"
    desk: Path | None = None  # mounted at the CLI home
    home: str = ""

    def name(self, project: str, tag: str = "cli") -> str:
        key = f"{self.image}\0{self.network}\0{self.desk}\0{self.home}".encode()
        return f"{project}-{tag}-{hashlib.sha256(key).hexdigest()[:12]}"


def gone(exc: CommandFailed) -> bool:
    """The exec failed because the box itself is gone, not because of the command."""
    text = exc.output.lower()
    return "no such container" in text or "is not running" in text


class Boxes:
    """Start boxes on first use (or ahead of it with ``warm``) and remove them at the end."""

    def __init__(
        self,
        project: str,
        *,
        deadline: float = 60.0,
        tag: str = "cli",
        run: CommandRunner = run_command,
    ) -> None:
        # ``tag`` keeps apart the boxes of tools that may run beside a rehearsal
        # (``rehearse doctor``): equal names would replace each other's boxes.
        self.project = project
        self._run = run
        self.tag = tag
        self.deadline = deadline
        self._started: dict[str, Box] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def _argv_run(self, box: Box, name: str) -> list[str]:
        argv = ["docker", "run", "--detach", "--name", name]
        argv += ["--label", f"rehearse.cli={self.project}", "--label", f"{NET_LABEL}={box.network}"]
        argv += ["--network", box.network]
        if box.desk is not None:
            argv += ["--volume", f"{box.desk}:{box.home}"]
        return argv + ["--entrypoint", "sh", box.image, "-c", IDLE]

    async def exec_prefix(self, box: Box) -> list[str]:
        """``docker exec -i <box>``, the box started first if it is not yet."""
        name = box.name(self.project, self.tag)
        lock = self._locks.setdefault(name, anyio.Lock())
        async with lock:
            if name not in self._started:
                await self._start(box, name)
                self._started[name] = box
        return ["docker", "exec", "-i", name]

    def forget(self, box: Box) -> None:
        """The box is gone (``gone``): start it again on the next call."""
        self._started.pop(box.name(self.project, self.tag), None)

    async def _start(self, box: Box, name: str) -> None:
        r = await self._run(self._argv_run(box, name), deadline=self.deadline, check=False)
        if r.returncode == 0:
            log.debug("cli_box_started", box=name, image=box.image, network=box.network)
            return
        if "already in use" not in r.stderr:
            raise CommandFailed(self._argv_run(box, name)[:6], r.returncode, r.stderr.strip())
        # Left by an agent that was killed: its image or mount may be stale. Replace it.
        await self._run(["docker", "rm", "--force", name], deadline=self.deadline, check=False)
        await self._run(self._argv_run(box, name), deadline=self.deadline)
        log.debug("cli_box_replaced", box=name)

    async def warm(self, *boxes: Box) -> None:
        """Start ``boxes`` now, all at once, so the first call does not wait for them.

        A box that cannot start raises its own error (the first one), never an
        exception group: callers tell a failed warm-up from a bug."""
        await gather(*(partial(self.exec_prefix, b) for b in boxes))

    async def _listed(self, *filters: str) -> list[str]:
        """Names of this project's boxes (any process's), narrowed by ``filters``."""
        r = await self._run(
            ["docker", "ps", "--all", "--format", "{{.Names}}",
             "--filter", f"label=rehearse.cli={self.project}",
             *(a for f in filters for a in ("--filter", f))],
            deadline=self.deadline,
            check=False,
        )  # fmt: skip
        return r.stdout.split()

    async def _remove(self, names: list[str]) -> None:
        if names:
            await self._run(
                ["docker", "rm", "--force", *names], deadline=self.deadline, check=False
            )

    async def remove_on(self, network: str) -> None:
        """Remove every box of the project on ``network`` (this process's or a killed
        agent's), so the network itself can be taken down."""
        names = await self._listed(f"label={NET_LABEL}={network}")
        await self._remove(names)
        for n in names:
            self._started.pop(n, None)

    async def sweep(self) -> list[str]:
        """Remove the boxes of this project and tag that this process did not start:
        those a killed agent left, desks (and their keyrings) mounted, whatever their
        spec. Called before the first box starts; returns what it removed."""
        try:
            listed = await self._listed()
        except CommandFailed:  # no docker CLI: the preflight says so, by name
            return []
        prefix = f"{self.project}-{self.tag}-"
        left = [n for n in listed if n.startswith(prefix) and n not in self._started]
        await self._remove(left)
        if left:
            log.info("cli_boxes_swept", boxes=left)
        return left

    async def close(self) -> None:
        """Remove every box this process started (shielded: also runs on cancellation)."""
        names = list(self._started)
        self._started.clear()
        if not names:
            return
        with anyio.CancelScope(shield=True):
            await self._run(
                ["docker", "rm", "--force", *names], deadline=self.deadline, check=False
            )
