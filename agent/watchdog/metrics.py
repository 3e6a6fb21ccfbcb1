"""Metrics and heartbeat: a tiny Prometheus text-format registry, a loopback-only
HTTP endpoint (``GET /metrics``, ``GET /healthz``), and a heartbeat file.

Stdlib + anyio only. The server speaks just enough HTTP/1.1 for a scraper: one
request per connection, a deadline on reading it, ``Connection: close``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.abc import SocketAttribute, SocketStream, TaskStatus

from agent.adapters.files import read_json, write_json_atomic
from agent.core.observations import ContainerEvent, NewBlock, StreamStatus
from agent.watchdog.detectors import Watchdog
from agent.watchdog.observations import NodeInfo, WatchObservation
from agent.watchdog.settings import LOOPBACK_HOSTS

__all__ = [
    "Counter",
    "Gauge",
    "Heartbeat",
    "HeartbeatStatus",
    "MetricsServer",
    "Registry",
    "WatchMetrics",
    "check_heartbeat",
]

log = structlog.get_logger("agent.watchdog.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)
        self._values: dict[LabelValues, float] = {}

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.labelnames)

    def get(self, **labels: str) -> float | None:
        return self._values.get(self._key(labels))

    def clear(self) -> None:
        self._values.clear()

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for key, v in sorted(self._values.items()):
            if self.labelnames:
                inner = ",".join(
                    f'{n}="{_escape(val)}"' for n, val in zip(self.labelnames, key, strict=True)
                )
                lines.append(f"{self.name}{{{inner}}} {_format(v)}")
            else:
                lines.append(f"{self.name} {_format(v)}")
        return lines


class Gauge(_Metric):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self._values[self._key(labels)] = float(value)


class Counter(_Metric):
    kind = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        k = self._key(labels)
        self._values[k] = self._values.get(k, 0.0) + amount


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        g = Gauge(name, help, labelnames)
        self._register(g)
        return g

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        c = Counter(name, help, labelnames)
        self._register(c)
        return c

    def _register(self, m: _Metric) -> None:
        if m.name in self._metrics:
            raise ValueError(f"metric {m.name} is already registered")
        self._metrics[m.name] = m

    def render(self) -> str:
        lines: list[str] = []
        for m in self._metrics.values():
            lines += m.render()
        return "\n".join(lines) + "\n"


class WatchMetrics:
    """The rehearsal's metrics. ``observe`` every observation; ``refresh`` before
    a scrape (or on each watch tick) from the watchdog's view."""

    PHASES = ("launched", "proposed", "voted", "passed", "upgraded", "restarted", "failed")

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = r = registry or Registry()
        self.node_height = r.gauge("rehearse_node_height", "Latest block height seen", ["node"])
        self.block_age = r.gauge(
            "rehearse_node_last_block_age_seconds", "Seconds since the node's last block", ["node"]
        )
        self.block_interval = r.gauge(
            "rehearse_block_interval_seconds", "Median seconds per block (recent blocks)"
        )
        self.phase = r.gauge("rehearse_phase", "1 for the rehearsal's current phase", ["phase"])
        self.alerts_firing = r.gauge("rehearse_alerts_firing", "Alerts firing now")
        self.events = r.counter(
            "rehearse_events_received_total", "Observations received", ["source"]
        )
        self.reconnects = r.counter(
            "rehearse_stream_reconnects_total", "Streams back up after being down", ["source"]
        )
        self._down: set[str] = set()

    def observe(self, obs: WatchObservation) -> None:
        if isinstance(obs, NewBlock):
            self.events.inc(source=f"ws:{obs.node}")
        elif isinstance(obs, ContainerEvent):
            self.events.inc(source="docker")
        elif isinstance(obs, NodeInfo):
            self.events.inc(source=f"rpc:{obs.node}")
        elif isinstance(obs, StreamStatus):
            if not obs.up:
                self._down.add(obs.source)
            elif obs.source in self._down:
                self._down.discard(obs.source)
                self.reconnects.inc(source=obs.source)

    def refresh(
        self, watchdog: Watchdog, now: float, *, phase: str | None, alerts_firing: int
    ) -> None:
        for node, h in watchdog.heights().items():
            self.node_height.set(h, node=node)
        for node, at in watchdog.last_block_at().items():
            self.block_age.set(math.nan if at is None else max(0.0, now - at), node=node)
        interval = watchdog.block_interval()
        self.block_interval.set(math.nan if interval is None else interval)
        for p in self.PHASES:
            self.phase.set(1.0 if p == phase else 0.0, phase=p)
        self.alerts_firing.set(alerts_firing)


class MetricsServer:
    """Serves ``registry`` on ``host:port`` (loopback only; port 0: ephemeral).

    ``before_scrape`` runs before each ``/metrics`` render (e.g. a
    ``WatchMetrics.refresh``). Start with ``port = await tg.start(server.serve)``.
    """

    def __init__(
        self,
        registry: Registry,
        host: str = "127.0.0.1",
        port: int = 9464,
        *,
        before_scrape: Callable[[], None] | None = None,
        read_timeout_s: float = 5.0,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"metrics host must be the loopback, not {host!r}")
        self.registry = registry
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.before_scrape = before_scrape
        self.read_timeout_s = read_timeout_s

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(
            local_host=self.host, local_port=self.port, reuse_port=False
        )
        async with listener:
            port = int(listener.extra(SocketAttribute.local_port))
            log.info("metrics_listening", host=self.host, port=port)
            task_status.started(port)
            await listener.serve(self._handle)

    async def _handle(self, stream: SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(self.read_timeout_s):
                    head = await _read_head(stream)
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError):
                return
            status, ctype, body = self._route(head)
            out = (
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body
            try:
                await stream.send(out)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    def _route(self, head: bytes) -> tuple[str, str, bytes]:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return "400 Bad Request", "text/plain", b"bad request\n"
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            if self.before_scrape is not None:
                self.before_scrape()
            body = self.registry.render().encode()
            return "200 OK", CONTENT_TYPE, b"" if method == "HEAD" else body
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        return "404 Not Found", "text/plain", b"not found\n"


async def _read_head(stream: SocketStream, limit: int = 16384) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += await stream.receive()
        if len(buf) > limit:
            raise ValueError("request head too large")
    return buf.split(b"\r\n\r\n", 1)[0]


# --- heartbeat ----------------------------------------------------------------


class Heartbeat:
    """Writes ``{"pid", "at", "phase", "alerts_firing"}`` atomically to ``path``.

    Call ``beat`` every ``heartbeat_interval_s`` (or run ``run``); a supervisor
    checks freshness with ``check_heartbeat`` (file mtime and ``at``).
    """

    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall

    async def beat(self, phase: str | None, alerts_firing: int) -> None:
        doc = {
            "pid": os.getpid(),
            "at": self._wall(),
            "phase": phase,
            "alerts_firing": alerts_firing,
        }
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(write_json_atomic, self.path, doc)

    async def run(self, state: Callable[[], tuple[str | None, int]], interval_s: float) -> None:
        """Beat forever: ``state()`` gives (phase, alerts firing) each time."""
        while True:
            phase, firing = state()
            try:
                await self.beat(phase, firing)
            except OSError as exc:
                log.error("heartbeat_write_failed", path=str(self.path), error=exc.strerror)
            await anyio.sleep(interval_s)


@dataclass(frozen=True, slots=True)
class HeartbeatStatus:
    ok: bool
    age_s: float | None
    reason: str
    doc: dict[str, Any] | None = None


def check_heartbeat(path: Path, max_age_s: float, now: float | None = None) -> HeartbeatStatus:
    """Is the daemon alive? Fresh when both the file's mtime and its ``at`` are
    within ``max_age_s`` of ``now``. Blocking (a supervisor calls it directly)."""
    now = time.time() if now is None else now
    try:
        mtime = path.stat().st_mtime
        doc = read_json(path)
    except FileNotFoundError:
        return HeartbeatStatus(False, None, f"no heartbeat file at {path}")
    except (OSError, ValueError) as exc:
        return HeartbeatStatus(False, None, f"unreadable heartbeat {path}: {exc}")
    if not isinstance(doc, dict) or not isinstance(doc.get("at"), int | float):
        return HeartbeatStatus(False, None, f"malformed heartbeat {path}")
    age = now - min(mtime, float(doc["at"]))
    if age > max_age_s:
        return HeartbeatStatus(False, age, f"stale: last beat {age:.0f} s ago", doc)
    return HeartbeatStatus(True, age, "fresh", doc)
