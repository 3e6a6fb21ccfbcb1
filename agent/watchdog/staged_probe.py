"""``rehearse watch``: each local node's Cosmovisor, asked for the chain's planned
binary while the plan is ahead (``agent.core.staged`` turns the answers into the
``not_staged`` warning).

It asks only once the chain has a plan and only until its height: a chain with
nothing planned costs nothing. The nodes' containers are found by their Compose
project's labels (``[stack] project``); a node without one is not asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import anyio
import structlog

from agent.adapters.clock import Clock
from agent.adapters.docker import Docker
from agent.adapters.staged import staged
from agent.core.observations import StagedSeen
from agent.errors import AgentError

__all__ = ["STAGED_EVERY_S", "StagedProbe"]

log = structlog.get_logger("agent.watch")

STAGED_EVERY_S = 15.0  # while a plan is ahead; at once when a new plan is seen


class StagedProbe:
    def __init__(
        self,
        docker: Docker,
        project: str,
        services: Mapping[str, str],  # Compose service -> node name
        daemon_home: str,
        binary: str,
        clock: Clock,
        plan: Callable[[], tuple[str, int] | None],  # the plan ahead, if any
        observe: Callable[[StagedSeen], None],
        deadline: float = 20.0,
    ) -> None:
        self.docker, self.project, self.services = docker, project, dict(services)
        self.daemon_home, self.binary = daemon_home, binary
        self.clock, self.plan, self.observe, self.deadline = clock, plan, observe, deadline

    async def run(self) -> None:
        asked: tuple[str, int] | None = None
        due = 0.0
        while True:
            plan = self.plan()
            now = self.clock.monotonic()
            if plan is not None and (plan != asked or now >= due):
                asked, due = plan, now + STAGED_EVERY_S
                try:
                    await self.look(*plan)
                except AgentError as exc:
                    log.info("staged_probe_failed", error=str(exc)[:200])
            await self.clock.sleep(1.0)

    async def look(self, plan: str, height: int) -> None:
        ids = await self.docker.compose_containers(self.project, self.deadline)

        async def one(service: str, cid: str) -> None:
            node = self.services[service]
            try:
                found = await staged(
                    self.docker, cid, self.daemon_home, plan, self.binary, self.deadline
                )
            except AgentError:
                return  # the container went away: the watchdog's other business
            if found is not None:
                self.observe(StagedSeen(node, plan, found[0], found[1], self.clock.wall()))
                if not found[0]:
                    log.warning("not_staged", node=node, plan=plan, height=height, path=found[1])

        async with anyio.create_task_group() as tg:
            for service, cid in ids.items():
                if service in self.services:
                    tg.start_soon(one, service, cid)
