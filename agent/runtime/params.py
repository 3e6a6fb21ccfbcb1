"""The machine's parameters, from the configuration: what the pure core may know of it."""

from __future__ import annotations

from agent.config import Config, height_policy
from agent.core.machine import Params
from agent.core.policy import remediation_delay

__all__ = ["params_from_config"]


def params_from_config(cfg: Config) -> Params:
    t = cfg.timing
    w = cfg.watch.watch
    return Params(
        remediation_delay=remediation_delay(
            w.thresholds.resume_budget_s,
            w.for_s.get("upgrade_halt", 0.0),
            w.evaluate_interval_s,
            t.resume_budget,
        ),
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
