"""AlertManager: exactly-once FIRING/RESOLVED, hysteresis, restart from the state file."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from agent import cli
from agent.adapters.clock import FakeClock
from agent.errors import CorruptState
from agent.watchdog import (
    AlertManager,
    AlertStoreCorrupt,
    Condition,
    FileAlertStore,
    MemoryAlertStore,
    Notification,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(15)]

T0 = 1_700_000_000.0
STALL = Condition("stall", "critical", "val-bob stalled", "no block for 20 s", node="val-bob")
LAG = Condition("lag", "warning", "carol lags", "6 blocks behind", node="node-carol")


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, n: Notification) -> None:
        self.sent.append(n)


class BrokenSink:
    name = "broken"

    async def send(self, n: Notification) -> None:
        raise RuntimeError("bug in a sink")


def statuses(ns: list[Notification]) -> list[tuple[str, str]]:
    return [(n.status, n.key) for n in ns]


async def test_fires_once_resolves_once() -> None:
    sink = RecordingSink()
    am = AlertManager(MemoryAlertStore(), [sink], FakeClock())
    assert statuses(await am.update([STALL], T0)) == [("firing", "stall:val-bob:-")]
    for k in range(1, 5):
        assert await am.update([STALL], T0 + k) == []
    out = await am.update([], T0 + 10)
    assert statuses(out) == [("resolved", "stall:val-bob:-")]
    assert out[0].started_at == T0 and out[0].resolved_at == T0 + 10
    assert await am.update([], T0 + 11) == []
    assert statuses(sink.sent) == [("firing", "stall:val-bob:-"), ("resolved", "stall:val-bob:-")]


async def test_log_sink_is_always_on() -> None:
    am = AlertManager(MemoryAlertStore(), [], FakeClock())
    with capture_logs() as logs:
        await am.update([STALL], T0)
        await am.update([], T0 + 1)
    events = [
        (e["event"], e["key"], e["severity"]) for e in logs if e["event"].startswith("alert_")
    ]
    assert events == [
        ("alert_firing", "stall:val-bob:-", "critical"),
        ("alert_resolved", "stall:val-bob:-", "critical"),
    ]
    assert logs[0]["message"] == "no block for 20 s"


async def test_a_failing_sink_does_not_stop_the_others() -> None:
    sink = RecordingSink()
    am = AlertManager(MemoryAlertStore(), [BrokenSink(), sink], FakeClock())
    with capture_logs() as logs:
        await am.update([STALL], T0)
    assert statuses(sink.sent) == [("firing", "stall:val-bob:-")]
    assert any(e["event"] == "alert_delivery_failed" and e["sink"] == "broken" for e in logs)


async def test_hysteresis_blip_never_notifies() -> None:
    sink = RecordingSink()
    am = AlertManager(MemoryAlertStore(), [sink], FakeClock(), for_s={"lag": 10.0})
    assert await am.update([LAG], T0) == []
    assert await am.update([LAG], T0 + 9) == []
    assert await am.update([], T0 + 10) == []  # gone before 10 s: nothing, ever
    assert await am.update([LAG], T0 + 12) == []  # the timer starts again
    assert await am.update([LAG], T0 + 21) == []
    out = await am.update([LAG], T0 + 22)
    assert statuses(out) == [("firing", "lag:node-carol:-")]
    assert out[0].started_at == T0 + 12
    # other detectors are not delayed
    assert statuses(await am.update([LAG, STALL], T0 + 23)) == [("firing", "stall:val-bob:-")]
    assert statuses(sink.sent) == [("firing", "lag:node-carol:-"), ("firing", "stall:val-bob:-")]


async def test_restart_keeps_firing_without_renotifying_then_resolves_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alerts.json"
    first = RecordingSink()
    am = AlertManager(FileAlertStore(path), [first], FakeClock())
    await am.update([STALL, LAG], T0)
    assert len(first.sent) == 2
    del am  # kill -9: nothing else runs

    second = RecordingSink()
    am2 = AlertManager(FileAlertStore(path), [second], FakeClock())
    assert await am2.update([STALL, LAG], T0 + 5) == []  # still firing, not new
    assert set(am2.firing) == {"stall:val-bob:-", "lag:node-carol:-"}
    out = await am2.update([LAG], T0 + 6)
    assert statuses(out) == [("resolved", "stall:val-bob:-")]
    assert out[0].started_at == T0  # the original start survives the restart
    assert await am2.update([LAG], T0 + 7) == []
    assert statuses(second.sent) == [("resolved", "stall:val-bob:-")]


async def test_after_restart_an_alert_no_longer_reported_resolves_once(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    await AlertManager(FileAlertStore(path), [], FakeClock()).update([STALL], T0)
    sink = RecordingSink()
    am = AlertManager(FileAlertStore(path), [sink], FakeClock())
    await am.update([], T0 + 60)
    await am.update([], T0 + 61)
    am3 = AlertManager(FileAlertStore(path), [sink], FakeClock())
    await am3.update([], T0 + 62)
    assert statuses(sink.sent) == [("resolved", "stall:val-bob:-")]


async def test_a_new_rehearsal_drops_the_last_ones_alerts_without_a_word(tmp_path: Path) -> None:
    # `--fresh` once began with six "resolved" notifications for a stack an earlier
    # run had left behind. The same rehearsal resumed keeps them (the test above).
    path = tmp_path / "alerts.json"
    old = AlertManager(FileAlertStore(path), [], FakeClock(), scope="20261207-0700-aaaaaa")
    await old.update([STALL, LAG], T0)
    sink = RecordingSink()
    new = AlertManager(FileAlertStore(path), [sink], FakeClock(), scope="20261207-0800-bbbbbb")
    assert await new.update([], T0 + 60) == []
    assert sink.sent == [] and new.firing == {}
    assert statuses(await new.update([STALL], T0 + 61)) == [("firing", "stall:val-bob:-")]
    resumed = AlertManager(FileAlertStore(path), [sink], FakeClock(), scope="20261207-0800-bbbbbb")
    assert await resumed.update([STALL], T0 + 62) == []  # its own alert: kept, not new


async def test_crash_between_save_and_delivery_redelivers_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"

    class Crash(BaseException):
        """Stands for the process dying: nothing catches it."""

    class DyingSink:
        name = "dying"

        async def send(self, n: Notification) -> None:
            raise Crash

    am = AlertManager(FileAlertStore(path), [DyingSink()], FakeClock())
    with pytest.raises(BaseException) as info:
        await am.update([STALL], T0)
    assert info.group_contains(Crash) if isinstance(info.value, BaseExceptionGroup) else True
    sink = RecordingSink()
    am2 = AlertManager(FileAlertStore(path), [sink], FakeClock())
    await am2.load()
    assert statuses(sink.sent) == [("firing", "stall:val-bob:-")]
    assert await am2.update([STALL], T0 + 1) == []
    assert statuses(sink.sent) == [("firing", "stall:val-bob:-")]


@pytest.mark.parametrize(
    "content", ['{"version": 1, "firing": []}', "{not json", "[[[[", '"a string"']
)
async def test_a_corrupt_state_file_is_moved_aside_and_the_next_start_is_clean(
    tmp_path: Path, content: str
) -> None:
    """Issue 19 M4: `rehearse watch` exited 1 and left the file, so a supervisor's
    restart met it again, forever. Now it is moved aside with exit 2 (CorruptState)."""
    path = tmp_path / "alerts.json"
    await anyio.Path(path).write_text(content)
    with pytest.raises(AlertStoreCorrupt) as info:
        await FileAlertStore(path).load()
    assert isinstance(info.value, CorruptState) and "moved it to" in str(info.value)
    moved = Path(info.value.moved_to or "")
    assert not await anyio.Path(path).exists() and moved.name.startswith("alerts.corrupt.")
    assert await anyio.Path(moved).read_text() == content  # kept for a post-mortem
    assert (await FileAlertStore(path).load()).firing == {}  # the restart goes on
    assert cli.classify(ExceptionGroup("tg", [info.value]), cli.Outcome()) == 2


async def test_state_file_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "alerts.json"
    am = AlertManager(FileAlertStore(path), [], FakeClock())
    await am.update([STALL], T0)
    names = sorted([p.name async for p in anyio.Path(path.parent).iterdir()])
    assert names == ["alerts.json"]  # no temporary file left behind
