"""What a finished rehearsal leaves: the report (with the scenario's text and the
alerts of its window) and the scenario's verdict, which waits for an expected alert,
or its resolution, the watchdog had not evaluated yet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from agent.adapters.clock import Clock
from agent.config import Config
from agent.core.machine import State
from agent.core.scenarios import Scenario
from agent.core.verdict import AlertRecord, judge, missing_alerts, still_firing
from agent.runtime import report as report_mod
from agent.runtime import report_data

__all__ = ["Outcomes"]

AlertHistory = Callable[[float], Awaitable[list[AlertRecord]]]

# How long a verdict waits for an alert expected to resolve: a few blocks.
RESOLVE_GRACE_S = 15.0


class Outcomes:
    def __init__(
        self,
        cfg: Config,
        scenario: Scenario,
        history: AlertHistory,
        rpcs: Mapping[str, Any],
        clock: Clock,
        traffic: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.traffic = traffic  # the traffic book's summary, when traffic is on
        self.scenario = scenario
        self.history = history
        self.rpcs = rpcs
        self.clock = clock

    async def alerts_of(self, s: State) -> list[AlertRecord]:
        """The notifications sent since the rehearsal began (a restart included)."""
        return await self.history(s.transitions[0].at if s.transitions else 0.0)

    async def write(self, s: State) -> Path:
        sc, cfg = self.scenario, self.cfg
        extra = {
            "scenario_text": {
                "summary": sc.summary,
                "injected": sc.injected,
                "expected": sc.expected,
            },  # fmt: skip
            "alerts": [
                {
                    "at": report_mod.iso(a.at),
                    "event": a.event,
                    "detector": a.detector,
                    "node": a.node,
                    "message": a.message,
                }  # fmt: skip
                for a in await self.alerts_of(s)
            ],
        }
        if self.traffic is not None:
            extra["traffic"] = self.traffic()
        return await report_mod.write_report(
            s,
            cfg.path(cfg.agent.report_json),
            cfg.path(cfg.agent.report_md),
            extra,
            block_log=cfg.state_dir / f"blocks-{s.rehearsal_id}.jsonl",
            data=await report_data.collect_for(
                self.rpcs,
                s,
                cli_images=(cfg.chain.cli_image_v1, cfg.chain.cli_image_v2),
                compose_dir=cfg.compose_dir,
                compose_files=(cfg.stack.base_file, cfg.stack.cosmovisor_file, cfg.stack.v2_file),
                read_deadline=cfg.timing.rpc_timeout,
            ),
        )

    async def judge(self, s: State) -> tuple[bool, list[str]]:
        # A rehearsal can end before the watchdog's next evaluation (a node that
        # exits at the halt fails it at once): an expected alert gets that
        # evaluation, and its hold, before it counts as missing.
        # An alert expected to resolve gets a few blocks more: the validator that
        # upgraded late signed again in the last block before the rehearsal ended,
        # and the watchdog had not evaluated it yet.
        sc, w = self.scenario, self.cfg.watch.watch
        records = await self.alerts_of(s)
        hold = max((w.for_s.get(d, 0.0) for d, _ in sc.expectation.alerts), default=0)
        grace = RESOLVE_GRACE_S if sc.expectation.resolved else 0.0
        until = self.clock.monotonic() + hold + 2 * w.evaluate_interval_s + grace

        def waiting() -> bool:
            if missing_alerts(sc.expectation, records):
                return True
            return sc.expectation.resolved and bool(still_firing(records))

        while waiting() and self.clock.monotonic() < until:
            await self.clock.sleep(0.5)
            records = await self.alerts_of(s)
        return judge(sc.expectation, s, records)
