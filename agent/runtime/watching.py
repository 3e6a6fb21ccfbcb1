"""Wiring for ``rehearse watch``: the configured nodes' streams into a WatchService,
until cancelled. ``agent.runtime.wiring`` assembles ``rehearse run`` the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import structlog

from agent.adapters.clock import Clock, SystemClock
from agent.adapters.docker import Docker
from agent.adapters.lock import state_lock
from agent.config import Config
from agent.core.chainview import ChainView
from agent.core.observations import Observation
from agent.runtime.clients import clients
from agent.runtime.streams import docker_to_watch, sources
from agent.watchdog.heartbeat import sd_notify
from agent.watchdog.service import WatchService
from agent.watchdog.staged_probe import StagedProbe

if TYPE_CHECKING:
    from agent.runtime.daemon import Runner

__all__ = ["OnStarted", "run_watch", "state_locks"]

log = structlog.get_logger("agent.wiring")

# Told the live objects once they exist (the command line's live view reads them):
# the rehearsal's Runner (None for ``watch``) and the WatchService.
OnStarted = Callable[["Runner | None", WatchService], None]


def state_locks(cfg: Config, *, rehearsal: bool) -> list[tuple[Path, str]]:
    w = cfg.watch.watch
    out = [
        (w.alert_state_file.parent, "watch.alert_state_file"),
        (w.heartbeat_file.parent, "watch.heartbeat_file"),
    ]
    if rehearsal:
        out.insert(0, (cfg.state_dir, "agent.state_dir"))
    return out


async def run_watch(
    cfg: Config, clock: Clock | None = None, on_started: OnStarted | None = None
) -> None:
    """``rehearse watch``: attach to the configured nodes and watch until cancelled."""
    async with state_lock(state_locks(cfg, rehearsal=False)):
        await _run_watch(cfg, clock, on_started)


async def _run_watch(cfg: Config, clock: Clock | None, on_started: OnStarted | None) -> None:
    clock = clock or SystemClock()
    view = ChainView([n.name for n in cfg.nodes])
    async with clients(cfg) as c:
        watch = WatchService.for_config(cfg, c.rpcs, clock, view=view, rest=c.rest, http=c.http)
        if on_started is not None:
            on_started(None, watch)
        docker = docker_to_watch()
        if docker:
            watch.staged_probe = StagedProbe(
                Docker(),
                cfg.stack.project,
                {n.service or n.name: n.name for n in cfg.nodes},
                cfg.chain.daemon_home,
                cfg.chain.binary,
                clock,
                watch.plan_ahead,
                watch.observe,
                deadline=cfg.timing.command_timeout,
            )
        send, recv = anyio.create_memory_object_stream[Observation](1024)
        async with anyio.create_task_group() as tg, recv:
            await tg.start(watch.run)
            if not docker:
                log.info("docker_not_watched", reason="no Docker socket")
            for src in sources(cfg, c.rpcs, send, clock, docker=docker, since_nano=time.time_ns()):
                await tg.start(src.run)
            send.close()
            watch.sources_started()
            log.info("watch_started", nodes=[n.name for n in cfg.nodes])
            # systemd (Type=notify): the service is up; no-op elsewhere.
            await anyio.to_thread.run_sync(sd_notify, "READY=1")
            async for obs in recv:
                watch.observe(obs)
