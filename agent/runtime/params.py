"""The machine's parameters, from the configuration: what the pure core may know of it."""

from __future__ import annotations

from agent.config import Config, height_policy
from agent.core.machine import Params

__all__ = ["params_from_config"]


def params_from_config(cfg: Config) -> Params:
    t = cfg.timing
    w = cfg.watch.watch
    # Remediation (a scenario's) waits until the watchdog's upgrade_halt alert
    # had its chance: its own resume budget, the alert's hold, two evaluations.
    alert_due = (
        w.thresholds.resume_budget_s
        + w.for_s.get("upgrade_halt", 0.0)
        + 2 * w.evaluate_interval_s
        + 5.0
    )
    return Params(
        remediation_delay=max(5.0, alert_due - t.resume_budget),
        upgrade_name=cfg.chain.upgrade_name,
        voters=tuple(v.name for v in cfg.voters),
        height_policy=height_policy(t),
        launch_timeout=t.launch_timeout,
        state_txs=tuple(x.name for x in cfg.state.txs),
        state_timeout=t.state_timeout,
        vote_timeout=t.vote_timeout,
        pass_grace=t.pass_grace,
        resume_budget=t.resume_budget,
        verify_timeout=t.verify_timeout,
        restart_timeout=t.restart_timeout,
    )
