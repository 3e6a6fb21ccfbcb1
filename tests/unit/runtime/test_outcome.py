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
from agent.core.scenarios import Roles, build
from agent.core.verdict import AlertRecord
from agent.runtime.outcome import RESOLVE_GRACE_S, Outcomes

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


def restarted() -> State:
    return replace(initial_state("r1", Params()), started=True, phase=Phase.RESTARTED)


LATE = replace(ROLES, validators=("val-a", "val-b", "val-c", "val-d"), late_overlay="d.json")
MISSED = AlertRecord("missed_blocks", "val-d", "fired", 5.0, "val-d not signing")


async def test_an_alert_expected_to_resolve_gets_a_few_blocks_to_do_so(cfg: Config) -> None:
    """late-validator: the validator signed again in the rehearsal's last block."""
    clock = FakeClock()

    async def history(since: float) -> list[AlertRecord]:
        back = replace(MISSED, event="resolved", at=clock.wall())
        return [MISSED, back] if clock.monotonic() >= 6.0 else [MISSED]

    out = Outcomes(cfg, build("late-validator", LATE), history, {}, clock)
    met, lines = await out.judge(restarted())
    assert met, lines
    assert 6.0 <= clock.monotonic() < 7.0  # no longer than it took


async def test_an_alert_that_never_resolves_fails_the_verdict_after_the_grace(
    cfg: Config,
) -> None:
    clock = FakeClock()

    async def history(since: float) -> list[AlertRecord]:
        return [MISSED]

    out = Outcomes(cfg, build("late-validator", LATE), history, {}, clock)
    met, lines = await out.judge(restarted())
    assert not met and "alerts still firing: missed_blocks:val-d" in lines, lines
    w = cfg.watch.watch
    assert clock.monotonic() <= RESOLVE_GRACE_S + 2 * w.evaluate_interval_s + 0.5
