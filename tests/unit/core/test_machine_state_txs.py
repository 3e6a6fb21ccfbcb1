"""The machine's step for declared transactions ([[state.txs]]) before the proposal."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.core import codec
from agent.core.actions import ArmDeadline, PrepareState, SubmitProposal
from agent.core.facts import (
    ActionFailed,
    Begin,
    ChainLive,
    DeadlinePassed,
    ProposalSubmitted,
    Resumed,
    StackLaunched,
    StatePrepared,
    StateTx,
)
from agent.core.machine import Params, Phase, State, decide, initial_state

PARAMS = Params(state_txs=("delegate", "send"), state_timeout=77.0)
TXS = (StateTx("delegate", 1, "TXD"), StateTx("send", 1, "TXS", reused=True))


def run(facts: list[Any], state: State | None = None) -> tuple[State, list[Any]]:
    state = state or initial_state("r", PARAMS)
    out: list[Any] = []
    for f in facts:
        state, actions = decide(state, f)
        out.extend(actions)
    return state, out


LIVE = [
    Begin("r", 0, 0.0),
    StackLaunched(0, 1.0),
    ChainLive(block_interval=1.0, voting_period=20.0, height=3, at=5.0),
]


def test_chain_live_asks_for_the_state_first_with_its_own_deadline() -> None:
    state, actions = run(LIVE)
    assert [a for a in actions if isinstance(a, PrepareState)] == [PrepareState()]
    assert not any(isinstance(a, SubmitProposal) for a in actions)
    deadline = [a for a in actions if isinstance(a, ArmDeadline)][-1]
    assert (deadline.name, deadline.seconds) == ("prepare", 77.0)
    assert "delegate, send" in deadline.detail
    assert state.phase is Phase.LAUNCHED


def test_the_proposal_is_planned_from_the_height_the_state_was_ready_at() -> None:
    state, _ = run(LIVE)
    early = decide(state, StatePrepared(TXS, height=4, at=6.0))[1]
    late_state, late = decide(state, StatePrepared(TXS, height=40, at=45.0))
    early_h = [a for a in early if isinstance(a, SubmitProposal)][0].upgrade_height
    late_h = [a for a in late if isinstance(a, SubmitProposal)][0].upgrade_height
    assert late_h == early_h + 36
    assert late_state.state_txs == TXS
    assert [a.key for a in late_state.pending] == ["submit_proposal"]
    assert [a.name for a in late if isinstance(a, ArmDeadline)] == ["propose"]


def test_a_second_chain_live_while_preparing_sends_no_proposal() -> None:
    state, _ = run(LIVE)
    state, actions = decide(state, ChainLive(1.0, 20.0, height=5, at=7.0))
    assert actions == ()
    assert [a.key for a in state.pending] == ["prepare_state"]


def test_a_duplicate_state_prepared_sends_one_proposal() -> None:
    state, _ = run([*LIVE, StatePrepared(TXS, height=5, at=7.0)])
    state, actions = decide(state, StatePrepared(TXS, height=6, at=8.0))
    assert actions == ()
    state, _ = decide(state, ProposalSubmitted(1, "TXP", 40, height=7, at=9.0))
    assert state.phase is Phase.PROPOSED


def test_a_resume_while_preparing_reissues_the_step_and_its_deadline() -> None:
    state, _ = run(LIVE)
    state = codec.decode(codec.encode(state))  # through the journal
    _, actions = decide(state, Resumed(4, 9.0))
    assert PrepareState() in actions
    assert any(isinstance(a, ArmDeadline) and a.name == "prepare" for a in actions)
    assert not any(isinstance(a, SubmitProposal) for a in actions)


def test_a_failed_declared_tx_fails_the_rehearsal_before_any_proposal() -> None:
    state, _ = run(LIVE)
    state, actions = decide(state, ActionFailed("prepare_state", "send #1 failed", 5, 8.0))
    assert state.phase is Phase.FAILED
    assert state.failure == "prepare_state: send #1 failed"
    assert [a.key for a in actions] == ["write_report"]
    state, actions = decide(state, StatePrepared(TXS, height=6, at=9.0))
    assert actions == ()


def test_the_prepare_deadline_fails_the_rehearsal_naming_the_txs() -> None:
    state, _ = run(LIVE)
    state, _ = decide(state, DeadlinePassed("prepare", height=50, at=90.0))
    assert state.phase is Phase.FAILED
    assert "declared transactions delegate, send" in (state.failure or "")


def test_without_declared_txs_the_proposal_follows_chain_live_at_once() -> None:
    state, actions = run(LIVE, initial_state("r", replace(PARAMS, state_txs=())))
    assert [a.key for a in actions if not isinstance(a, ArmDeadline)] == [
        "launch_stack",
        "submit_proposal",
    ]
    assert state.state_txs == ()
