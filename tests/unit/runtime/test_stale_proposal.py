"""Issue 19 M3: a proposal recorded before a kill, whose upgrade height the chain can
no longer reach in time when the agent resumes, is never sent again: a replacement is
signed at the same sequence for a height that can be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import SimulatedCrash, World, make_world

from agent.adapters.ledger import TxLedger
from agent.core.actions import SubmitProposal
from agent.core.facts import ProposalSubmitted
from agent.core.machine import Params, State, initial_state
from agent.runtime.executors.governance import submit_proposal

pytestmark = pytest.mark.anyio

SUBMIT = SubmitProposal("v1tov2", 30, block_interval=1.0, voting_period=10.0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, ledger=TxLedger(tmp_path / "state" / "txs.jsonl"))


def state() -> State:
    return initial_state("r1", Params())


async def killed_after_recording(w: World) -> str:
    """The proposal is signed and recorded, then the agent dies before it is sent."""

    async def die() -> None:
        raise SimulatedCrash("killed after the ledger write")

    w.chain.kill_at["recorded"] = die
    with pytest.raises(SimulatedCrash):
        await submit_proposal(w.ctx, SUBMIT, state())
    entries: list[tuple[str, str | None]] = await w.ledger.entries("r1", "submit_proposal")
    [(tx_hash, _)] = entries
    assert w.chain.broadcasts == []
    return tx_hash


async def test_a_stale_recorded_proposal_is_replaced_at_the_same_sequence(world: World) -> None:
    w = world
    old = await killed_after_recording(w)
    notes = await w.ledger.notes("r1", "submit_proposal")
    assert notes[old]["upgrade_height"] >= 30 and notes[old]["sequence"] == 0
    w.chain.advance(200)  # the agent was down for 200 blocks
    fact = await submit_proposal(w.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and not fact.reused
    assert fact.upgrade_height > w.chain.height + 10  # reachable from where the chain is
    assert old not in {b.hash for b in w.chain.broadcasts}  # the stale bytes never left
    [proposal] = w.chain.committed_of("proposal")
    assert proposal.hash != old and proposal.sequence == 0  # the same sequence, replaced
    assert [(p.name, p.height) for p in w.chain.proposals] == [("v1tov2", fact.upgrade_height)]


async def test_a_recorded_proposal_still_reachable_is_sent_as_it_is(world: World) -> None:
    """The usual resume (a block later): the same bytes, no second signature."""
    w = world
    old = await killed_after_recording(w)
    w.chain.advance()
    fact = await submit_proposal(w.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    assert [t.hash for t in w.chain.committed_of("proposal")] == [old]
    assert len(w.chain.signed) == 1
