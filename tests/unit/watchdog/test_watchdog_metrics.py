"""Metrics scraped over real HTTP on 127.0.0.1 (ephemeral port); the heartbeat file."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import agent
from agent.core.observations import ContainerEvent, NewBlock, StreamStatus, WatchObservation
from agent.watchdog import (
    Heartbeat,
    MetricsServer,
    NodeInfo,
    Notification,
    Watchdog,
    WatchMetrics,
    check_heartbeat,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(15)]

T0 = 1_700_000_000.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """(family name -> type, (sample name, sorted labels) -> value)."""
    types: dict[str, str] = {}
    samples: Samples = {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return types, samples


def fed_dog() -> tuple[Watchdog, WatchMetrics]:
    dog = Watchdog(["a", "b"])
    m = WatchMetrics()
    obs: list[WatchObservation] = [
        NewBlock("a", 10, "2023-11-14T22:13:20Z", T0),
        NewBlock("a", 11, "2023-11-14T22:13:22Z", T0 + 2),
        NewBlock("a", 12, "2023-11-14T22:13:24Z", T0 + 4),
        NewBlock("a", 13, "2023-11-14T22:13:26Z", T0 + 6),
        StreamStatus("ws:b", False, "closed", T0),
        StreamStatus("ws:b", True, "subscribed", T0 + 1),
        StreamStatus("ws:b", True, "subscribed", T0 + 2),  # not a reconnect: was up
        ContainerEvent("a", "start", "id", None, 0, T0),
        NodeInfo("a", 2, "v2", T0),
    ]
    for o in obs:
        dog.observe(o)
        m.observe(o)
    m.observe(Notification("firing", "stall:b:-", "critical", "s", "m", "b", "stall", None, T0))
    m.observe(
        Notification("resolved", "stall:b:-", "critical", "s", "m", "b", "stall", None, T0, T0)
    )
    m.attach(dog, lambda: T0 + 10, phase=lambda: "voted", alerts_firing=lambda: 2)
    return dog, m


def test_watch_metrics_from_observations_and_the_dog() -> None:
    dog, m = fed_dog()
    get = m.registry.get_sample_value
    assert get("rehearse_node_height", {"node": "a"}) == 13
    assert get("rehearse_node_last_block_age_seconds", {"node": "a"}) == 4.0
    assert math.isnan(get("rehearse_node_last_block_age_seconds", {"node": "b"}) or 0.0)
    assert get("rehearse_block_interval_seconds") == 2.0 == dog.block_interval()
    assert get("rehearse_phase", {"phase": "voted"}) == 1
    assert get("rehearse_phase", {"phase": "passed"}) == 0
    assert get("rehearse_alerts_firing") == 2
    assert get("rehearse_events_received_total", {"source": "ws:a"}) == 4
    assert get("rehearse_events_received_total", {"source": "docker"}) == 1
    assert get("rehearse_events_received_total", {"source": "rpc:a"}) == 1
    assert get("rehearse_stream_reconnects_total", {"source": "ws:b"}) == 1
    labels = {"detector": "stall", "severity": "critical"}
    assert get("rehearse_alerts_fired_total", labels) == 1  # the resolve is not counted
    # No second copy: a new block is seen by the next scrape with no refresh call.
    dog.observe(NewBlock("b", 20, "", T0 + 9))
    assert get("rehearse_node_height", {"node": "b"}) == 20
    assert get("rehearse_node_last_block_age_seconds", {"node": "b"}) == 1.0


def test_chain_gauges_are_empty_until_attached() -> None:
    m = WatchMetrics()
    assert m.registry.get_sample_value("rehearse_alerts_firing") is None
    build = {"version": agent.__version__, "python": platform.python_version()}
    assert m.registry.get_sample_value("rehearse_build_info", build) == 1


def test_registries_are_private() -> None:
    # Two services in one process (or many tests) must not clash on names.
    WatchMetrics()
    WatchMetrics(CollectorRegistry())


@asynccontextmanager
async def serving(server: MetricsServer) -> AsyncIterator[int]:
    async with anyio.create_task_group() as tg:
        yield await tg.start(server.serve)
        tg.cancel_scope.cancel()


async def raw(port: int, request: bytes) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as s:
        await s.send(request)
        out = b""
        try:
            while True:
                out += await s.receive()
        except anyio.EndOfStream:
            return out


async def test_metrics_endpoint_over_http() -> None:
    dog, m = fed_dog()
    before = 0

    def hook() -> None:
        nonlocal before
        before += 1

    server = MetricsServer(m.registry, "127.0.0.1", 0, before_scrape=hook)
    async with (
        serving(server) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        assert port > 0
        r = await client.get("/metrics")
        assert r.status_code == 200 and before == 1
        assert r.headers["content-type"].startswith("text/plain; version=")
        types, samples = parse(r.text)

        for node, h in dog.heights().items():
            assert samples[("rehearse_node_height", (("node", node),))] == h
        ages = {n: samples[("rehearse_node_last_block_age_seconds", (("node", n),))] for n in "ab"}
        assert ages["a"] == T0 + 10 - (dog.last_block_at()["a"] or 0) and math.isnan(ages["b"])
        assert samples[("rehearse_block_interval_seconds", ())] == dog.block_interval()
        assert samples[("rehearse_phase", (("phase", "voted"),))] == 1
        assert samples[("rehearse_alerts_firing", ())] == 2
        assert samples[("rehearse_events_received_total", (("source", "ws:a"),))] == 4
        assert samples[("rehearse_stream_reconnects_total", (("source", "ws:b"),))] == 1
        assert types["rehearse_events_received"] == "counter"
        assert types["rehearse_stream_reconnects"] == "counter"
        assert types["rehearse_alerts_fired"] == "counter"
        assert types["rehearse_node_height"] == "gauge"
        build = (("python", platform.python_version()), ("version", agent.__version__))
        assert samples[("rehearse_build_info", build)] == 1
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
            assert samples[(name, ())] > 0
        assert samples[("process_open_fds", ())] >= 1

        health = await client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        assert (await client.get("/nope")).status_code == 404
        assert (await client.post("/metrics")).status_code == 405


async def test_bad_requests_get_400() -> None:
    server = MetricsServer(WatchMetrics().registry, "127.0.0.1", 0)
    async with serving(server) as port:
        assert (await raw(port, b"GARBAGE\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        assert (await raw(port, b"GET /metrics\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        assert (await raw(port, b"GET metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        head_too_big = b"GET /metrics HTTP/1.1\r\nX: " + b"x" * 20000
        assert (await raw(port, head_too_big)).startswith(b"HTTP/1.1 400 ")
        ok = await raw(port, b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 ")


async def test_a_silent_client_neither_blocks_others_nor_stays_forever() -> None:
    server = MetricsServer(WatchMetrics().registry, "127.0.0.1", 0, read_timeout_s=1.0)
    async with serving(server) as port:
        async with await anyio.connect_tcp("127.0.0.1", port) as silent:
            with anyio.fail_after(0.5):  # well before the silent one's deadline
                async with httpx.AsyncClient() as client:
                    r = await client.get(f"http://127.0.0.1:{port}/metrics")
            assert r.status_code == 200
            with anyio.fail_after(3):  # dropped at its read deadline, no answer
                with pytest.raises(anyio.EndOfStream):
                    await silent.receive()


async def test_server_stops_with_its_task_group() -> None:
    server = MetricsServer(WatchMetrics().registry, "localhost", 0)
    with anyio.fail_after(3):
        async with anyio.create_task_group() as tg:
            port = await tg.start(server.serve)
            async with await anyio.connect_tcp("127.0.0.1", port):  # one mid-request
                tg.cancel_scope.cancel()
    with pytest.raises(OSError):
        await anyio.connect_tcp("127.0.0.1", port)


def test_metrics_server_refuses_other_hosts() -> None:
    with pytest.raises(ValueError):
        MetricsServer(CollectorRegistry(), "0.0.0.0", 0)


async def test_heartbeat_written_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "state" / "heartbeat.json"
    now = [T0]
    hb = Heartbeat(path, wall=lambda: now[0])
    status = await anyio.to_thread.run_sync(check_heartbeat, path, 10.0, T0)
    assert not status.ok and "no heartbeat" in status.reason

    await hb.beat("passed", 1)
    await anyio.to_thread.run_sync(os.utime, path, (T0, T0))
    status = await anyio.to_thread.run_sync(check_heartbeat, path, 10.0, T0 + 5)
    assert status.ok
    assert status.doc == {"pid": os.getpid(), "at": T0, "phase": "passed", "alerts_firing": 1}

    status = await anyio.to_thread.run_sync(check_heartbeat, path, 10.0, T0 + 11)
    assert not status.ok and status.reason.startswith("stale")


async def test_heartbeat_run_beats_periodically(tmp_path: Path) -> None:
    path = tmp_path / "hb.json"
    calls = 0

    def state() -> tuple[str | None, int]:
        nonlocal calls
        calls += 1
        return "voted", 0

    with anyio.move_on_after(0.35):
        await Heartbeat(path).run(state, interval_s=0.1)
    assert calls >= 3
    status = await anyio.to_thread.run_sync(check_heartbeat, path, 5.0)
    assert status.ok and status.doc is not None and status.doc["phase"] == "voted"


async def test_malformed_heartbeat_is_not_ok(tmp_path: Path) -> None:
    path = tmp_path / "hb.json"
    await anyio.Path(path).write_text("{not json")
    status = await anyio.to_thread.run_sync(check_heartbeat, path, 5.0)
    assert not status.ok and "unreadable" in status.reason


async def eventually(pred: Callable[[], bool], seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if pred():
            return
        await anyio.sleep(0.01)
    pytest.fail("condition not met in time")


async def test_connections_past_the_cap_are_shed_and_scrapes_go_on() -> None:
    """Issue 19 M1: ~250 idle connections exhausted the file descriptors and the
    accept() error ended `rehearse watch`. Past the cap they are closed at once."""
    server = MetricsServer(WatchMetrics().registry, "127.0.0.1", 0, max_connections=8)
    async with serving(server) as port, AsyncExitStack() as stack:
        idle = [await stack.enter_async_context(await anyio.connect_tcp("127.0.0.1", port))
                for _ in range(40)]  # fmt: skip
        await eventually(lambda: server.shed >= 32)
        with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            with anyio.fail_after(3):
                await idle[-1].receive()  # shed: closed unanswered
        for s in idle:
            await s.aclose()
        await eventually(lambda: server._open == 0)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200


async def test_an_accept_that_fails_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """EMFILE from accept() is logged and retried, never fatal."""
    server = MetricsServer(WatchMetrics().registry, "127.0.0.1", 0)
    async with serving(server) as port:
        import socket as _socket  # the failure is injected at the socket level

        real = _socket.socket.accept
        failures = {"left": 3}

        def flaky(self: _socket.socket) -> tuple[_socket.socket, object]:
            if failures["left"]:
                failures["left"] -= 1
                raise OSError(24, "Too many open files")
            return real(self)

        monkeypatch.setattr(_socket.socket, "accept", flaky)
        with anyio.fail_after(5):
            async with httpx.AsyncClient() as client:
                r = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert r.status_code == 200 and failures["left"] == 0
