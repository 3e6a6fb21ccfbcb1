"""A node that exits on its own during the upgrade fails the rehearsal at once,
with its cause (issue 17, item 4): derivation, machine, cause, and the Runner."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakes import drive_blocks
from fakes.rig import phase_is, play, rig

from agent.core.actions import ExplainExit
from agent.core.chainview import ChainView
from agent.core.derive import Derivation
from agent.core.exits import exit_reason
from agent.core.facts import ExitExplained, NodeExited
from agent.core.machine import Params, Phase, State, decide, initial_state
from agent.core.observations import ContainerEvent

NODES = ["val-alice", "val-bob"]
SERVICES = {"svc-alice": "val-alice", "svc-bob": "val-bob"}


def at_phase(phase: Phase, **kw: Any) -> State:
    return replace(initial_state("r", Params(**kw)), started=True, phase=phase, upgrade_height=30)


def died(service: str = "svc-bob", action: str = "die", code: int | None = 1) -> ContainerEvent:
    return ContainerEvent(service, action, "cid-" + service, code, 0, 5.0)


# --- derivation ----------------------------------------------------------------------


def test_a_die_while_the_upgrade_is_under_way_is_a_node_exit() -> None:
    d = Derivation(ChainView(NODES), SERVICES)
    out = d.on_container(at_phase(Phase.PASSED), died())
    assert out == [NodeExited("val-bob", "cid-svc-bob", 1, 0, 5.0)]


@pytest.mark.parametrize("phase", [Phase.LAUNCHED, Phase.VOTED, Phase.UPGRADED, Phase.FAILED])
def test_a_die_in_any_other_phase_is_left_to_the_watchdog(phase: Phase) -> None:
    d = Derivation(ChainView(NODES), SERVICES)
    assert d.on_container(at_phase(phase), died()) == []


def test_a_die_after_a_kill_is_a_stop_not_an_exit() -> None:
    """Compose down, docker stop and the agent's own faults send a kill first."""
    d = Derivation(ChainView(NODES), SERVICES)
    s = at_phase(Phase.PASSED)
    assert d.on_container(s, died(action="kill")) == []
    assert d.on_container(s, died(code=137)) == []
    assert d.on_container(s, died(action="start")) == []
    assert len(d.on_container(s, died())) == 1  # the next die is its own


def test_a_container_of_no_node_is_ignored() -> None:
    d = Derivation(ChainView(NODES), SERVICES)
    assert d.on_container(at_phase(Phase.PASSED), died("rehearse-agent")) == []


# --- the machine ---------------------------------------------------------------------


def test_the_machine_asks_why_then_fails_naming_node_code_and_cause() -> None:
    s = at_phase(Phase.PASSED)
    s, actions = decide(s, NodeExited("val-bob", "cid", 1, 29, 5.0))
    assert actions == (ExplainExit("val-bob", "cid", 1),)
    assert s.phase is Phase.PASSED
    s, actions = decide(s, ExitExplained("val-bob", 1, "binary not present", 29, 5.5))
    assert s.phase is Phase.FAILED
    assert s.failure == (
        "val-bob exited (exit code 1) during the upgrade to v1tov2 at height 30: binary not present"
    )
    assert [a.key for a in actions] == ["write_report"]


@pytest.mark.parametrize(
    "state",
    [
        replace(at_phase(Phase.PASSED), absent=frozenset({"val-bob"})),  # stopped on purpose
        at_phase(Phase.PASSED, remediate=True),  # the agent runs it on v2 itself
        at_phase(Phase.PASSED, expect_rejection=True),
    ],
)
def test_an_expected_exit_is_not_a_failure(state: State) -> None:
    s, actions = decide(state, NodeExited("val-bob", "cid", 1, 29, 5.0))
    assert actions == () and s.phase is Phase.PASSED


def test_an_exit_before_the_vote_passed_is_ignored_by_the_machine() -> None:
    s, actions = decide(at_phase(Phase.VOTED), NodeExited("val-bob", "cid", 1, 9, 5.0))
    assert actions == () and s.phase is Phase.VOTED


# --- the cause -----------------------------------------------------------------------


def test_the_cause_is_the_last_telling_line() -> None:
    text = (
        '\x1b[90m12:00PM\x1b[0m INF applying upgrade "v2" at height: 30\n'
        '12:00PM ERR error="failed to find binary: stat /root/.simapp/cosmovisor/upgrades/'
        'v2/bin/checkersd: no such file or directory" module=cosmovisor\n'
        "12:00PM INF shutting down\n"
    )
    assert exit_reason(text).startswith('12:00PM ERR error="failed to find binary')
    assert exit_reason("one\ntwo\n") == "two"
    assert exit_reason("") == "it logged nothing"
    assert len(exit_reason("error " + "x" * 1000)) == 300


# --- the Runner ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_runner_fails_at_once_when_a_node_dies_at_the_halt(tmp_path: Path) -> None:
    r = rig(tmp_path)

    async def body() -> None:
        await drive_blocks(r.chain, phase_is(r, Phase.PASSED), journal=r.journal)
        node = r.chain.nodes[-1]
        # No block follows: only the exit can end the rehearsal before play's limit.
        await r.runner.obs_send.send(ContainerEvent(node, "die", "cid", 1, 1, 1.0))

    final = await play(r, body, limit=5.0)
    assert final.phase is Phase.FAILED
    assert final.failure is not None and "exited (exit code 1)" in final.failure
    assert "binary not present" in final.failure
    assert "explain_exit:" + r.chain.nodes[-1] in r.executor.started
