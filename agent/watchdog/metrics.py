"""Metrics and heartbeat: the rehearsal's Prometheus metrics (``prometheus_client``
on a registry of our own), a small anyio endpoint serving them (``GET /metrics``,
``GET /healthz``), and a heartbeat file.

The server is ours rather than ``prometheus_client.start_http_server`` so that it
lives in the caller's task group (cancelled with it, no stray thread) and binds
only where the configuration says.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from typing import cast

import anyio
import anyio.from_thread
import structlog
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskStatus
from prometheus_client import CollectorRegistry, Counter, Info, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from agent import __version__
from agent.config.watch import LOOPBACK_HOSTS
from agent.core.detectors import Watchdog
from agent.core.machine import Phase
from agent.core.observations import ContainerEvent, NewBlock, StreamStatus
from agent.watchdog.alerts import Notification
from agent.watchdog.observations import NodeInfo, WatchObservation

__all__ = ["MetricsServer", "WatchMetrics"]

log = structlog.get_logger("agent.watchdog.metrics")


class _ChainCollector:
    """The gauges describing the chain, computed from the watchdog at scrape time
    so there is one copy of the truth (the dog's), never a stale mirror of it."""

    def __init__(self) -> None:
        self.dog: Watchdog | None = None
        self.wall: Callable[[], float] = time.time
        self.phase: Callable[[], str | None] = lambda: None
        self.alerts_firing: Callable[[], int] = lambda: 0

    def describe(self) -> list[Metric]:
        # Lets the registry check names at registration without reading the dog.
        return self._families(samples=False)

    def collect(self) -> list[Metric]:
        # generate_latest runs in a worker thread (MetricsServer); the dog is
        # mutated by the event loop, so read it there, between two of its steps.
        # Called from any other thread (a test, sync code), that thread owns the dog.
        if _in_worker_thread():
            return anyio.from_thread.run_sync(self._families)
        return self._families()

    def _families(self, samples: bool = True) -> list[Metric]:
        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels)

        height = gauge("rehearse_node_height", "Latest block height seen", "node")
        age = gauge(
            "rehearse_node_last_block_age_seconds", "Seconds since the node's last block", "node"
        )
        interval = gauge(
            "rehearse_block_interval_seconds", "Median seconds per block (recent blocks)"
        )
        phase = gauge("rehearse_phase", "1 for the rehearsal's current phase", "phase")
        firing = gauge("rehearse_alerts_firing", "Alerts firing now")
        families: list[Metric] = [height, age, interval, phase, firing]
        dog = self.dog
        if dog is None or not samples:
            return families
        now = self.wall()
        for node, h in dog.heights().items():
            height.add_metric([node], h)
        for node, at in dog.last_block_at().items():
            # NaN, not 0: a node never seen is unknown, not fresh.
            age.add_metric([node], math.nan if at is None else max(0.0, now - at))
        median = dog.block_interval()
        interval.add_metric([], math.nan if median is None else median)
        current = self.phase()
        for p in Phase:
            phase.add_metric([p.value], 1.0 if p.value == current else 0.0)
        firing.add_metric([], self.alerts_firing())
        return families


def _in_worker_thread() -> bool:
    try:
        # Also lets a cancelled scrape stop here rather than read the dog.
        anyio.from_thread.check_cancelled()
    except RuntimeError:  # documented: not a thread started by to_thread.run_sync
        return False
    return True


class WatchMetrics:
    """The rehearsal's metrics on their own ``registry`` (never the global one, so
    several services or tests never clash). ``observe`` every observation and
    every notification; ``attach`` the watchdog for the chain gauges."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.events = Counter(
            "rehearse_events_received", "Observations received", ["source"], registry=r
        )
        self.reconnects = Counter(
            "rehearse_stream_reconnects", "Streams back up after being down", ["source"], registry=r
        )
        self.alerts_fired = Counter(
            "rehearse_alerts_fired", "Alerts that went firing", ["detector", "severity"], registry=r
        )
        ProcessCollector(registry=r)
        # The package's own version: the code actually running, whatever
        # distribution metadata happens to be installed.
        Info("rehearse_build", "The agent's build", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self._chain = _ChainCollector()
        r.register(self._chain)
        self._down: set[str] = set()

    def attach(
        self,
        dog: Watchdog,
        wall: Callable[[], float],
        *,
        phase: Callable[[], str | None],
        alerts_firing: Callable[[], int],
    ) -> None:
        """Where the chain gauges come from; read at each scrape."""
        self._chain.dog, self._chain.wall = dog, wall
        self._chain.phase, self._chain.alerts_firing = phase, alerts_firing

    def observe(self, obs: WatchObservation | Notification) -> None:
        if isinstance(obs, NewBlock):
            self.events.labels(f"ws:{obs.node}").inc()
        elif isinstance(obs, ContainerEvent):
            self.events.labels("docker").inc()
        elif isinstance(obs, NodeInfo):
            self.events.labels(f"rpc:{obs.node}").inc()
        elif isinstance(obs, StreamStatus):
            if not obs.up:
                self._down.add(obs.source)
            elif obs.source in self._down:
                self._down.discard(obs.source)
                self.reconnects.labels(obs.source).inc()
        elif isinstance(obs, Notification) and obs.status == "firing":
            self.alerts_fired.labels(obs.detector, obs.severity).inc()


ACCEPT_BACKOFF_S = 0.2


class MetricsServer:
    """Serves ``registry`` on ``host:port`` (port 0: ephemeral). Loopback only
    unless ``allow_remote`` (the configuration's ``metrics.allow_remote``).

    One request per connection, ``Connection: close``. Each connection is its own
    task with a deadline on reading the request and on sending the answer, so a
    client that stalls only holds its own socket; at most ``max_connections`` are
    served at once (more are closed unanswered), and a failing ``accept()`` is
    waited out, never fatal. ``before_scrape`` runs in the
    event loop before each ``/metrics``. Start with
    ``port = await tg.start(server.serve)``.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        host: str = "127.0.0.1",
        port: int = 9464,
        *,
        before_scrape: Callable[[], None] | None = None,
        read_timeout_s: float = 5.0,
        allow_remote: bool = False,
        max_connections: int = 64,
    ) -> None:
        if host not in LOOPBACK_HOSTS and not allow_remote:
            raise ValueError(
                f"metrics host must be the loopback, not {host!r} (unless allow_remote)"
            )
        self.registry = registry
        # "localhost" may also resolve to ::1; bind the one address the docs name.
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.before_scrape = before_scrape
        self.read_timeout_s = read_timeout_s
        # Rendering reads /proc (process_*) so it runs in a thread; a private
        # limiter keeps a burst of scrapes from taking every worker thread the
        # heartbeat and the alert store write with.
        self._render_limiter = anyio.CapacityLimiter(2)
        self.max_connections = max_connections
        self._open = 0  # connections being served now
        self.shed = 0  # connections closed unanswered, at the cap

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(
            local_host=self.host, local_port=self.port, reuse_port=False
        )
        # One address is bound, so one socket listener (anyio wraps it in a multi).
        accept_on = cast(SocketListener, listener.listeners[0])
        async with listener, anyio.create_task_group() as tg:
            port = int(listener.extra(SocketAttribute.local_port))
            log.info("metrics_listening", host=self.host, port=port)
            task_status.started(port)
            while True:
                # Our own accept loop, not listener.serve: an accept() that fails
                # (out of file descriptors under a flood) must not end the agent.
                try:
                    stream = await accept_on.accept()
                except OSError as exc:
                    log.warning("metrics_accept_failed", error=exc.strerror or str(exc))
                    await anyio.sleep(ACCEPT_BACKOFF_S)
                    continue
                if self._open >= self.max_connections:
                    # Shed at once: each held socket is a file descriptor the chain
                    # reads and the alert store need too.
                    self.shed += 1
                    await stream.aclose()
                    continue
                self._open += 1
                tg.start_soon(self._counted, stream)

    async def _counted(self, stream: SocketStream) -> None:
        try:
            await self._handle(stream)
        finally:
            self._open -= 1

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(self.read_timeout_s):
                    head = await _read_head(stream)
            except (TimeoutError, anyio.BrokenResourceError):
                return  # nobody left to answer, or not worth waiting for
            if head == b"":
                return
            status, ctype, body = await self._route(head)
            out = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body
            with anyio.move_on_after(self.read_timeout_s):
                try:
                    await stream.send(out)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass

    async def _route(self, head: bytes | None) -> tuple[str, str, bytes]:
        parts = [] if head is None else head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if len(parts) != 3 or not parts[1].startswith("/") or not parts[2].startswith("HTTP/"):
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, target, _ = parts
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        path = target.split("?", 1)[0]
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path != "/metrics":
            return "404 Not Found", "text/plain", b"not found\n"
        try:
            if self.before_scrape is not None:
                self.before_scrape()
            body = await anyio.to_thread.run_sync(
                generate_latest, self.registry, limiter=self._render_limiter
            )
        except Exception as exc:  # a collector's bug must not stop the watch
            log.error("metrics_render_failed", error=repr(exc))
            return "500 Internal Server Error", "text/plain", b"metrics unavailable\n"
        return "200 OK", CONTENT_TYPE_LATEST, b"" if method == "HEAD" else body


async def _read_head(stream: SocketStream, limit: int = 16384) -> bytes | None:
    """The request head; b"" for a client that left silently, None for one that
    sent no complete head (or too much of one): those get a 400."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > limit:
            return None
        try:
            buf += await stream.receive()
        except anyio.EndOfStream:
            return None if buf else b""
    return buf.split(b"\r\n\r\n", 1)[0]
