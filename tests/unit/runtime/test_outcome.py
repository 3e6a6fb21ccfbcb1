"""Outcomes: a scenario's verdict waits for the watchdog's next evaluation before an
expected alert counts as missing, and no longer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fakes import make_config

from agent.adapters.clock import FakeClock
from agent.config import Config
from agent.core.machine import Params, Phase, State, initial_state
from agent.core.scenarios import AlertRecord, Roles, build
from agent.runtime.outcome import Outcomes

pytestmark = pytest.mark.anyio

ROLES = Roles(
    validators=("val-alice", "val-bob"), tx_node="node-carol", voters=("alice", "bob"),
    no_cosmovisor_node="node-carol", no_cosmovisor_overlay="plain.yml",
    pause_s=35.0, disconnect_s=20.0,
)  # fmt: skip
DIED = AlertRecord("container_died", "val-bob", "fired", 5.0, "val-bob died")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path)  # outside the loop: the loader reads the cwd


def failed() -> State:
    s = replace(initial_state("r1", Params()), started=True, phase=Phase.FAILED)
    return replace(s, failure="val-bob exited 1: binary not present")


async def test_an_expected_alert_that_fires_late_still_counts(cfg: Config) -> None:
    clock = FakeClock()
    asked: list[float] = []

    async def history(since: float) -> list[AlertRecord]:
        asked.append(clock.monotonic())
        return [DIED] if clock.monotonic() >= 2.0 else []  # the next evaluation has it

    out = Outcomes(cfg, build("validator-missing-binary", ROLES), history, {}, clock)
    met, lines = await out.judge(failed())
    assert met, lines
    assert len(asked) > 1  # it looked again


async def test_a_missing_alert_is_missing_after_the_evaluations(cfg: Config) -> None:
    clock = FakeClock()

    async def history(since: float) -> list[AlertRecord]:
        return []

    out = Outcomes(cfg, build("validator-missing-binary", ROLES), history, {}, clock)
    met, lines = await out.judge(failed())
    assert not met and any("container_died" in x for x in lines), lines
    w = cfg.watch.watch
    assert clock.monotonic() <= 2 * w.evaluate_interval_s + 0.5  # and no longer
