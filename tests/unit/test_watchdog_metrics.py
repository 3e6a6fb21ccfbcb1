"""Metrics scraped over real HTTP on 127.0.0.1 (ephemeral port); the heartbeat file."""

from __future__ import annotations

import math
import os
from pathlib import Path

import anyio
import httpx
import pytest

from agent.core.observations import ContainerEvent, NewBlock, StreamStatus
from agent.watchdog import (
    Heartbeat,
    MetricsServer,
    NodeInfo,
    Registry,
    Watchdog,
    WatchMetrics,
    check_heartbeat,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(15)]

T0 = 1_700_000_000.0


def test_text_format_with_labels_and_escaping() -> None:
    r = Registry()
    g = r.gauge("x_height", "Height", ["node"])
    c = r.counter("x_total", "Things")
    g.set(5, node='we"ird\\')
    g.set(7, node="a")
    c.inc()
    c.inc(2)
    assert r.render() == (
        "# HELP x_height Height\n# TYPE x_height gauge\n"
        'x_height{node="a"} 7\nx_height{node="we\\"ird\\\\"} 5\n'
        "# HELP x_total Things\n# TYPE x_total counter\nx_total 3\n"
    )
    with pytest.raises(ValueError):
        c.inc(-1)
    with pytest.raises(ValueError):
        g.set(1, wrong="label")


def test_watch_metrics_from_observations() -> None:
    dog = Watchdog(["a", "b"])
    m = WatchMetrics()
    obs = [
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
    m.refresh(dog, T0 + 10, phase="voted", alerts_firing=2)
    assert m.node_height.get(node="a") == 13
    assert m.block_age.get(node="a") == 4.0
    assert math.isnan(m.block_age.get(node="b") or 0.0)
    assert m.block_interval.get() == 2.0
    assert m.phase.get(phase="voted") == 1 and m.phase.get(phase="passed") == 0
    assert m.alerts_firing.get() == 2
    assert m.events.get(source="ws:a") == 4
    assert m.events.get(source="docker") == 1
    assert m.events.get(source="rpc:a") == 1
    assert m.reconnects.get(source="ws:b") == 1


async def test_metrics_endpoint_over_http() -> None:
    dog = Watchdog(["val-alice"])
    dog.observe(NewBlock("val-alice", 42, "", T0))
    m = WatchMetrics()
    scrapes = 0

    def refresh() -> None:
        nonlocal scrapes
        scrapes += 1
        m.refresh(dog, T0 + 3, phase="passed", alerts_firing=1)

    server = MetricsServer(m.registry, "127.0.0.1", 0, before_scrape=refresh)
    async with anyio.create_task_group() as tg:
        port = await tg.start(server.serve)
        assert port > 0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r = await client.get("/metrics")
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert 'rehearse_node_height{node="val-alice"} 42' in r.text
            assert 'rehearse_node_last_block_age_seconds{node="val-alice"} 3' in r.text
            assert 'rehearse_phase{phase="passed"} 1' in r.text
            assert "rehearse_alerts_firing 1" in r.text
            assert "# TYPE rehearse_events_received_total counter" in r.text
            assert "# TYPE rehearse_stream_reconnects_total counter" in r.text
            assert scrapes == 1
            h = await client.get("/healthz")
            assert (h.status_code, h.text) == (200, "ok\n")
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/metrics")).status_code == 405
        # a client that connects and says nothing does not hang the server
        async with await anyio.connect_tcp("127.0.0.1", port):
            pass
        tg.cancel_scope.cancel()


def test_metrics_server_refuses_other_hosts() -> None:
    with pytest.raises(ValueError):
        MetricsServer(Registry(), "0.0.0.0", 0)


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
