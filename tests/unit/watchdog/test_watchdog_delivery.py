"""Issue 19 M2: alert delivery from its own tasks. A webhook that never answers blocked
evaluation 22.7 s per notification, and what was not delivered in 60 s was dropped."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from agent.adapters.clock import FakeClock
from agent.watchdog import AlertManager, Condition, FileAlertStore, MemoryAlertStore, Notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
STALL = Condition("stall", "critical", "val-bob stalled", "no block for 20 s", node="val-bob")
LAG = Condition("lag", "warning", "carol lags", "6 blocks behind", node="node-carol")


class Recording:
    def __init__(self, name: str = "rec") -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.arrived = anyio.Event()

    async def send(self, n: Notification) -> bool:
        self.sent.append(n)
        self.arrived.set()
        return True


class Hanging:
    name = "hanging"

    def __init__(self) -> None:
        self.tries = 0

    async def send(self, n: Notification) -> bool:
        self.tries += 1
        await anyio.sleep_forever()
        return True


class Flaky:
    """Fails its first ``failures`` sends (a sink that gave up), then works."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.left = failures
        self.sent: list[str] = []

    async def send(self, n: Notification) -> bool:
        if self.left:
            self.left -= 1
            return False
        self.sent.append(n.key + ":" + n.status)
        return True


async def eventually(pred: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if pred():  # type: ignore[operator]
            return
        await anyio.sleep(0.01)
    pytest.fail("not in time")


async def test_a_hanging_sink_never_delays_evaluation_or_the_others() -> None:
    hanging, rec = Hanging(), Recording()
    am = AlertManager(MemoryAlertStore(), [hanging, rec], FakeClock(), send_timeout_s=0.2)
    async with anyio.create_task_group() as tg:
        await tg.start(am.run_delivery)
        started = time.monotonic()
        for i in range(3):  # three notifications at once used to block for 60 s
            await am.update([STALL] if i % 2 == 0 else [], T0 + i)
        assert time.monotonic() - started < 0.5  # evaluation went on
        await eventually(lambda: len(rec.sent) == 3)
        await eventually(lambda: hanging.tries >= 4)  # retried, not dropped
        assert am.delivery.health()["undelivered"] == 3  # still owed to the hanging one
        assert am.delivery.health()["failing_sinks"] == ["hanging"]
        assert [c.detector for c in am.delivery.conditions()] == ["alert_delivery"]
        assert "hanging" in am.delivery.conditions()[0].summary
        tg.cancel_scope.cancel()


async def test_a_failing_sink_is_retried_in_order_until_it_delivers() -> None:
    flaky = Flaky(failures=4)
    am = AlertManager(MemoryAlertStore(), [flaky], FakeClock(), send_timeout_s=1.0)
    async with anyio.create_task_group() as tg:
        await tg.start(am.run_delivery)
        await am.update([STALL], T0)
        await am.update([], T0 + 1)
        await eventually(lambda: len(flaky.sent) == 2)
        assert flaky.sent == ["stall:val-bob:-:firing", "stall:val-bob:-:resolved"]
        assert am.delivery.health() == {"undelivered": 0, "failing_sinks": []}
        assert am.delivery.conditions() == []  # recovered
        tg.cancel_scope.cancel()


async def test_undelivered_notifications_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    am = AlertManager(FileAlertStore(path), [Hanging()], FakeClock(), send_timeout_s=0.1)
    async with anyio.create_task_group() as tg:
        await tg.start(am.run_delivery)
        await am.update([STALL, LAG], T0)
        tg.cancel_scope.cancel()  # the agent stops with both undelivered
    rec = Recording()
    again = AlertManager(FileAlertStore(path), [rec], FakeClock())
    async with anyio.create_task_group() as tg:
        await tg.start(again.run_delivery)
        await again.load()
        await eventually(lambda: len(rec.sent) == 2)
        assert sorted(n.key for n in rec.sent) == ["lag:node-carol:-", "stall:val-bob:-"]
        for _ in range(200):  # the delivered outbox leaves the file too
            if not (await FileAlertStore(path).load()).outbox:
                break
            await anyio.sleep(0.01)
        assert not (await FileAlertStore(path).load()).outbox
        assert set(again.firing) == {"stall:val-bob:-", "lag:node-carol:-"}  # not re-fired
        tg.cancel_scope.cancel()


async def test_the_outbox_is_bounded() -> None:
    am = AlertManager(MemoryAlertStore(), [Hanging()], FakeClock(), send_timeout_s=0.05)
    am.delivery.max_owed = 2
    async with anyio.create_task_group() as tg:
        await tg.start(am.run_delivery)
        await am.update([STALL], T0)
        await am.update([STALL, LAG], T0 + 1)
        await am.update([], T0 + 2)
        assert am.delivery.health()["undelivered"] == 2
        tg.cancel_scope.cancel()


async def test_the_heartbeat_reports_delivery_health(tmp_path: Path) -> None:
    import json

    from agent.watchdog.heartbeat import Heartbeat

    hb = Heartbeat(tmp_path / "hb.json")
    health = {"undelivered": 3, "failing_sinks": ["webhook:https://h/***"]}
    with anyio.move_on_after(0.2):
        await hb.run(lambda: ("voted", 1, health), 0.05)
    doc = json.loads(await anyio.Path(tmp_path / "hb.json").read_text())
    assert doc["delivery"] == health and doc["alerts_firing"] == 1
