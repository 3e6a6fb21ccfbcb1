"""Resume or start anew: what the agent does with the rehearsal its journal holds.

Pure, no I/O. The journal's rehearsal is resumed unless it is finished (its
report written) or ``--fresh`` asks for a new one; then it is archived. A resume
runs as the rehearsal began: the same scenario, attached or not. A command line
that says otherwise is refused (exit 2), naming the flag, never half-obeyed.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.core.state import State
from agent.errors import ConfigError

__all__ = ["ResumePlan", "plan_resume"]

DEFAULT_SCENARIO = "happy"


@dataclass(frozen=True, slots=True)
class ResumePlan:
    resume: State | None  # the rehearsal to continue; None: start a new one
    archive: bool  # move the journal's rehearsal aside first
    scenario: str  # the scenario the rehearsal runs


def plan_resume(
    state: State | None, *, fresh: bool, scenario: str | None, attach: bool
) -> ResumePlan:
    """``scenario`` and ``attach`` are what the command line asked for (``None``:
    no ``--scenario``)."""
    # A finished rehearsal whose report was never written (a crash in between)
    # resumes to write it; any other finished one is archived.
    if state is not None and (fresh or (state.terminal and state.report_path is not None)):
        return ResumePlan(None, True, scenario or DEFAULT_SCENARIO)
    if state is None:
        return ResumePlan(None, False, scenario or DEFAULT_SCENARIO)
    p = state.params
    if scenario is not None and p.scenario != scenario:
        raise ConfigError(
            "--scenario",
            scenario,
            f"the unfinished rehearsal {state.rehearsal_id} is scenario "
            f"{p.scenario!r}: resume it without --scenario, or start anew with --fresh",
        )
    if p.attach != attach:
        mode = "attached to a running network" if p.attach else "on its own network"
        raise ConfigError(
            "--attach",
            attach,
            f"the unfinished rehearsal {state.rehearsal_id} runs {mode}: resume it the same "
            "way, or start anew with --fresh",
        )
    return ResumePlan(state, False, p.scenario)
