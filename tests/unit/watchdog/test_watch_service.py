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
    return WatchService.for_config(cfg, {}, FakeClock())


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


def test_a_nodes_first_block_at_the_upgrade_height_reads_its_binary_at_once(
    tmp_path: Path,
) -> None:
    # The version column said v1 while v2 committed blocks: info came only every 10 s.
    from agent.core.detectors import UpgradeContext

    svc = service(tmp_path)
    svc._info_due = 1e12  # the next periodic read is far off
    svc.observe(NewBlock("node-carol", 17, "2026-11-29T10:00:00Z", at=5.0))
    assert svc._info_due == 1e12  # no plan: nothing to expect
    svc.set_context(UpgradeContext("v1tov2", upgrade_height=18))
    svc.observe(NewBlock("node-carol", 17, "2026-11-29T10:00:01Z", at=6.0))
    assert svc._info_due == 1e12  # before the height: the old binary, as known
    svc.observe(NewBlock("node-carol", 18, "2026-11-29T10:00:04Z", at=9.0))
    assert svc._info_due == 0.0  # read now
    svc._info_due = 1e12
    svc.observe(NewBlock("node-carol", 19, "2026-11-29T10:00:05Z", at=10.0))
    assert svc._info_due == 1e12  # once per node, not on every block after
