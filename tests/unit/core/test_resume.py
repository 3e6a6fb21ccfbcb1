"""The resume policy, as a table: journal state x command line -> what happens."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.core.machine import Params, Phase, State, initial_state
from agent.core.resume import plan_resume
from agent.errors import ConfigError


def _state(
    phase: Phase = Phase.VOTED,
    *,
    report: str | None = None,
    scenario: str = "happy",
    attach: bool = False,
) -> State:
    s = initial_state("r1", Params(scenario=scenario, attach=attach))
    return replace(s, started=True, phase=phase, report_path=report)


RUNNING = _state()
FAILED_NO_REPORT = _state(Phase.FAILED)
DONE = _state(Phase.RESTARTED, report="/r/report.json")
PAUSED = _state(scenario="pause-validator")
ATTACHED = _state(attach=True)

# state, fresh, --scenario, --attach -> resumed?, archived?, scenario
TABLE = [
    (None, False, None, False, False, False, "happy"),
    (None, False, "pause-validator", False, False, False, "pause-validator"),
    (None, True, None, False, False, False, "happy"),
    (RUNNING, False, None, False, True, False, "happy"),
    (RUNNING, False, "happy", False, True, False, "happy"),
    (RUNNING, True, "pause-validator", False, False, True, "pause-validator"),
    (RUNNING, True, None, True, False, True, "happy"),
    (PAUSED, False, None, False, True, False, "pause-validator"),
    (FAILED_NO_REPORT, False, None, False, True, False, "happy"),  # writes its report
    (DONE, False, None, False, False, True, "happy"),
    (DONE, False, "pause-validator", False, False, True, "pause-validator"),
    (DONE, False, None, True, False, True, "happy"),
    (ATTACHED, False, None, True, True, False, "happy"),
]


@pytest.mark.parametrize(
    ("state", "fresh", "scenario", "attach", "resumed", "archived", "runs"), TABLE
)
def test_resume_table(
    state: State | None,
    fresh: bool,
    scenario: str | None,
    attach: bool,
    resumed: bool,
    archived: bool,
    runs: str,
) -> None:
    plan = plan_resume(state, fresh=fresh, scenario=scenario, attach=attach)
    assert (plan.resume is state) if resumed else plan.resume is None
    assert plan.archive is archived
    assert plan.scenario == runs


# state, --scenario, --attach -> the flag named in the refusal
REFUSED = [
    (RUNNING, "pause-validator", False, "--scenario"),
    (PAUSED, "happy", False, "--scenario"),
    (RUNNING, None, True, "--attach"),
    (ATTACHED, None, False, "--attach"),
    (FAILED_NO_REPORT, None, True, "--attach"),
]


@pytest.mark.parametrize(("state", "scenario", "attach", "flag"), REFUSED)
def test_resume_refusals_name_the_flag(
    state: State, scenario: str | None, attach: bool, flag: str
) -> None:
    with pytest.raises(ConfigError) as err:
        plan_resume(state, fresh=False, scenario=scenario, attach=attach)
    assert err.value.key == flag
    assert "r1" in str(err.value) and "--fresh" in str(err.value)
