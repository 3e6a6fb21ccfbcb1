"""``rehearse alerts test``: one test notification through every configured sink.

Sinks never raise for a failed delivery (they log ``alert_delivery_failed``
and give up), so the outcome of each is read from the events it logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from agent.adapters.clock import Clock, SystemClock
from agent.config.watch import SinkSettings
from agent.watchdog.alerts import Notification, Sink
from agent.watchdog.sinks import build_sinks

__all__ = ["SinkResult", "make_test_notification", "send_test"]


@dataclass(frozen=True, slots=True)
class SinkResult:
    sink: str
    ok: bool
    detail: str


def make_test_notification(now: float) -> Notification:
    return Notification(
        status="firing",
        key="test:rehearse",
        severity="info",
        summary="rehearse test notification",
        message="sent by `rehearse alerts test`: the alert path works; no action needed",
        node=None,
        detector="test",
        upgrade=None,
        started_at=now,
    )


async def _one(sink: Sink, n: Notification) -> SinkResult:
    with structlog.testing.capture_logs() as events:
        try:
            await sink.send(n)
        except Exception as exc:  # noqa: BLE001 - a sink bug is a failed delivery here
            events.append({"event": "alert_delivery_failed", "reason": repr(exc)})
    log = structlog.get_logger("agent.alerts_test")
    for e in events:  # what the capture kept from the log file
        fields: dict[str, Any] = {k: v for k, v in e.items() if k not in ("event", "log_level")}
        log.info(str(e.get("event")), **fields)
    failed = [e for e in events if e.get("event") == "alert_delivery_failed"]
    if failed:
        return SinkResult(sink.name, False, str(failed[-1].get("reason", "delivery failed")))
    if any(e.get("event") == "alert_delivered" for e in events):
        return SinkResult(sink.name, True, "delivered")
    return SinkResult(sink.name, False, "no delivery reported")


async def send_test(
    settings: Sequence[SinkSettings],
    clock: Clock | None = None,
    sinks: Sequence[Sink] | None = None,
) -> list[SinkResult]:
    """Send one test notification to each sink, one after the other."""
    clock = clock or SystemClock()
    n = make_test_notification(clock.wall())
    if sinks is not None:
        return [await _one(s, n) for s in sinks]
    async with httpx.AsyncClient() as client:
        return [await _one(s, n) for s in build_sinks(settings, client, clock)]
