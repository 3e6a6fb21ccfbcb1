"""The streams a run or a watch reads: a websocket NewBlock source per node and the
Docker events of the project, and the proxies the stream-cuts scenario cuts them with."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from agent.adapters.backoff import Backoff
from agent.adapters.clock import Clock
from agent.adapters.cutproxy import CutProxy
from agent.adapters.docker_events import DockerEventSource, find_docker_host
from agent.adapters.rpc import CometRPC
from agent.adapters.ws import NewBlockSource
from agent.config import Config
from agent.core.actions import InjectFault
from agent.core.observations import Observation
from agent.core.scenarios import Scenario
from agent.runtime.daemon import Source

__all__ = [
    "REHEARSAL_RECONNECT_CAP",
    "cuts_streams",
    "docker_to_watch",
    "rehearsal_sources",
    "sources",
    "stream_proxies",
]

# The longest pause between reconnects of a node's stream during a rehearsal. Every
# node restarts at the upgrade halt and at the restart, and the checks wait for the
# last stream back: with a 1 s cap that one came up to a second after its node (a
# run of 2026-12-06). A few attempts a second on loopback cost nothing; `rehearse
# watch` keeps the default 5 s.
REHEARSAL_RECONNECT_CAP = 0.25


def docker_to_watch() -> bool:
    """A Docker to watch: DOCKER_HOST (a unix socket must exist), else the local socket."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return os.path.exists(host.removeprefix("unix://"))
    return bool(host) or os.path.exists("/var/run/docker.sock")


def rehearsal_sources(
    cfg: Config,
    rpcs: dict[str, CometRPC],
    clock: Clock,
    *,
    ws_urls: dict[str, str] | None = None,
    docker_url: str | None = None,
) -> Callable[[MemoryObjectSendStream[Observation]], Sequence[Source]]:
    """The Runner's source factory for a rehearsal: every stream, reconnecting at
    least once a ``REHEARSAL_RECONNECT_CAP`` (a node back on v2 is seen at once)."""

    def make(send: MemoryObjectSendStream[Observation]) -> Sequence[Source]:
        return sources(
            cfg,
            rpcs,
            send,
            clock,
            ws_urls=ws_urls,
            docker_url=docker_url,
            reconnect_cap=REHEARSAL_RECONNECT_CAP,
        )

    return make


def sources(
    cfg: Config,
    rpcs: dict[str, CometRPC],
    send: MemoryObjectSendStream[Observation],
    clock: Clock,
    *,
    docker: bool = True,
    since_nano: int | None = None,
    ws_urls: dict[str, str] | None = None,
    docker_url: str | None = None,
    reconnect_cap: float = 5.0,
) -> Sequence[Source]:
    """A websocket NewBlock source per node, and Docker events of the project.

    ``ws_urls``/``docker_url`` route a stream elsewhere (the stream-cuts proxy).
    ``reconnect_cap``: the longest wait between two reconnects of a node's stream."""
    urls = ws_urls or {}
    out: list[Source] = [
        NewBlockSource(
            n.name,
            urls.get(n.name, n.ws),
            rpcs[n.name],
            send.clone(),
            clock=clock,
            backoff=Backoff(cap=reconnect_cap),
        )
        for n in cfg.nodes
    ]
    if docker:
        out.append(
            DockerEventSource(
                cfg.stack.project,
                send.clone(),
                clock=clock,
                since_nano=since_nano,
                docker_url=docker_url,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class StreamCuts:
    """Where the rehearsal's streams connect when a scenario cuts them (proxies it
    can cut), and the cut itself; empty when the scenario cuts nothing."""

    ws_urls: dict[str, str] | None = None
    docker_url: str | None = None
    cut: Callable[[], Awaitable[int]] | None = None


def cuts_streams(scenario: Scenario) -> bool:
    return any(
        isinstance(plan.fault, InjectFault) and plan.fault.kind == "cut_streams"
        for plan in scenario.faults
    )


async def stream_cuts(cfg: Config, scenario: Scenario, tg: anyio.abc.TaskGroup) -> StreamCuts:
    """The scenario's stream cuts: a proxy per websocket and one for the Docker
    socket, started in ``tg``, when it cuts streams; else none."""
    if not cuts_streams(scenario):
        return StreamCuts()
    ws_urls, docker_url, proxies = await stream_proxies(cfg, tg)

    async def cut() -> int:
        return sum(p.cut() for p in proxies)

    return StreamCuts(ws_urls, docker_url, cut)


async def stream_proxies(
    cfg: Config, tg: anyio.abc.TaskGroup
) -> tuple[dict[str, str], str | None, list[CutProxy]]:
    """Start a cut proxy per websocket and one for the Docker socket."""
    proxies: list[CutProxy] = []
    ws_urls: dict[str, str] = {}
    for n in cfg.nodes:
        u = urlsplit(n.rpc)
        proxy = CutProxy(f"ws:{n.name}", ("tcp", u.hostname or "127.0.0.1", u.port or 80))
        await tg.start(proxy.run)
        proxies.append(proxy)
        ws_urls[n.name] = f"ws://{proxy.address}/websocket"
    docker_url = None
    host = await anyio.to_thread.run_sync(find_docker_host)
    if host and host.startswith("unix://"):
        sock = cfg.state_dir / "docker-proxy.sock"
        proxy = CutProxy("docker", ("unix", host.removeprefix("unix://"), 0), listen_unix=sock)
        await tg.start(proxy.run)
        proxies.append(proxy)
        docker_url = proxy.address
    return ws_urls, docker_url, proxies
