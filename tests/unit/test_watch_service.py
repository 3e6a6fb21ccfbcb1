"""WatchService: alerts restored after a restart are held until the detectors judge them."""

from __future__ import annotations

from pathlib import Path

from agent.adapters.clock import FakeClock
from agent.config import parse_config
from agent.core.observations import NewBlock
from agent.watchdog import Condition, Notification
from agent.watchdog.service import WatchService


def service(tmp_path: Path) -> WatchService:
    cfg = parse_config({"watch": {"stall_after_s": 10.0, "evaluate_interval_s": 1.0}}, tmp_path)
    return WatchService(cfg, {}, FakeClock())


def restored() -> dict[str, Notification]:
    n = Notification(
        "firing", "stall:node-carol:-", "critical", "node-carol stalled", "no block",
        "node-carol", "stall", None, 1.0,
    )  # fmt: skip
    return {n.key: n}


def test_restored_alert_is_held_while_the_detectors_know_nothing(tmp_path: Path) -> None:
    svc = service(tmp_path)
    r = restored()
    held = svc._hold_restored(r, [], elapsed=1.0)
    assert [c.key for c in held] == ["stall:node-carol:-"]
    assert r  # still tracked


def test_restored_alert_handed_over_when_the_detector_reports_it(tmp_path: Path) -> None:
    svc = service(tmp_path)
    r = restored()
    now = [Condition("stall", "critical", "s", "m", "node-carol")]
    assert svc._hold_restored(r, now, elapsed=1.0) == []
    assert r == {}


def test_restored_alert_released_on_a_new_block_or_after_settling(tmp_path: Path) -> None:
    svc = service(tmp_path)
    r = restored()
    svc.observe(NewBlock("node-carol", 10, "2026-11-29T10:00:00Z", at=5.0))
    assert svc._hold_restored(r, [], elapsed=1.0) == [] and r == {}
    r2 = restored()
    assert svc._hold_restored(r2, [], elapsed=svc._settle_s()) == [] and r2 == {}
