"""Governance: the proposal and the votes, signed first, recorded, broadcast, found."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fakes import (
    GENESIS,
    VOTING,
    FakeProposal,
    World,
    make_world,
    rfc3339,
)
from fakes.executors import SUBMIT, only, sign_and_send_vote, state

from agent.config import height_policy
from agent.core.actions import (
    CastVote,
)
from agent.core.chainview import ChainView
from agent.core.facts import (
    ActionFailed,
    ProposalSubmitted,
    VoteCast,
)
from agent.errors import (
    ProtocolError,
    TransientError,
)
from agent.runtime.executors import Executor
from agent.runtime.executors.governance import cast_vote, submit_proposal
from agent.runtime.executors.txs import tx_included

pytestmark = pytest.mark.anyio


async def test_submit_signs_records_broadcasts_and_waits_for_inclusion(world: World) -> None:
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    assert (fact.proposal_id, fact.reused) == (1, False)
    assert fact.upgrade_height == 30  # the policy's answer at height 10 is lower
    assert fact.voting_end is not None
    assert [(p.name, p.height) for p in world.chain.proposals] == [("v1tov2", 30)]
    signed = only(world.chain.signed)
    assert (signed.sender, signed.sequence) == ("cosmos1alice", 0)  # the first voter
    assert signed.what == ("proposal", "v1tov2", 30)
    assert fact.tx_hash == signed.hash
    # The ledger holds the hash and the very bytes, so a resume can send them again.
    assert world.ledger.records == [("r1", "submit_proposal", signed.hash, signed.signed.base64)]
    assert [t.hash for t in world.chain.committed] == [signed.hash]
    assert world.cli.infos == [""]  # the configured info


async def test_the_ledger_holds_the_tx_before_it_is_broadcast(world: World) -> None:
    seen: dict[str, Any] = {}

    async def at_record() -> None:
        seen["broadcasts_when_recorded"] = list(world.chain.broadcasts)

    async def at_broadcast() -> None:
        seen["ledger_when_broadcast"] = list(world.ledger.records)

    world.chain.kill_at.update(recorded=at_record, broadcast=at_broadcast)
    fact = await cast_vote(world.ctx, CastVote("bob", 1), state())
    assert isinstance(fact, VoteCast)
    assert seen["broadcasts_when_recorded"] == []
    assert [h for _, _, h, _ in seen["ledger_when_broadcast"]] == [fact.tx_hash]


async def test_submit_signs_at_the_accounts_current_sequence(world: World) -> None:
    world.chain.sequences["cosmos1alice"] = 7
    world.chain.account_numbers["cosmos1alice"] = 3
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and not fact.reused
    assert only(world.chain.signed).sequence == 7
    assert json.loads(only(world.chain.signed).raw)["account"] == 3
    assert world.chain.sequences["cosmos1alice"] == 8


async def test_a_vote_after_the_proposal_is_not_signed_at_its_sequence_by_a_lagging_rest(
    world: World,
) -> None:
    """CI, 2026-12-06: REST had failed over to a sentry (the tx node's REST was not
    ready at block 1); the sentry had not applied the proposal's block when alice's
    vote was signed, gave the proposal's sequence again, and CheckTx refused the vote
    (code 32, taken for a duplicate): it never landed. The sequence of a transaction
    of ours seen in a block is spent, whatever a lagging node says."""
    chain = world.chain
    chain.sequences["cosmos1alice"] = 1
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    assert only(chain.signed).sequence == 1 and chain.sequences["cosmos1alice"] == 2
    real = chain.account

    def lagging(address: str) -> Any:  # the REST node is a block behind
        got = real(address)
        return got._replace(sequence=got.sequence - 1) if address == "cosmos1alice" else got

    chain.account = lagging  # type: ignore[method-assign]
    vote = await cast_vote(world.ctx, CastVote("alice", fact.proposal_id), state())
    assert isinstance(vote, VoteCast) and not vote.reused
    assert chain.signed[-1].sequence == 2
    assert chain.sequences["cosmos1alice"] == 3  # it landed


async def test_a_restarted_agent_never_signs_below_a_journaled_sequence(
    ledger_world: World,
) -> None:
    """Issue 19 L3: the next sequence lived in memory only. Restarted after the
    proposal landed, with the REST node a block behind, the agent signed the vote at
    the proposal's spent sequence. The ledger (a real file) now holds it."""
    w = ledger_world
    chain = w.chain
    chain.sequences["cosmos1alice"] = 1
    fact = await submit_proposal(w.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    w.ctx.next_sequence.clear()  # a new process: nothing in memory
    real = chain.account

    def lagging(address: str) -> Any:
        got = real(address)
        return got._replace(sequence=got.sequence - 1) if address == "cosmos1alice" else got

    chain.account = lagging  # type: ignore[method-assign]
    vote = await cast_vote(w.ctx, CastVote("alice", fact.proposal_id), state())
    assert isinstance(vote, VoteCast)
    assert chain.signed[-1].sequence == 2 and chain.sequences["cosmos1alice"] == 3


async def test_a_sequence_spent_by_another_signer_is_named_as_such(world: World) -> None:
    chain = world.chain

    async def someone_else() -> None:  # after our signature, before our broadcast
        chain.sequences["cosmos1alice"] = chain.sequences.get("cosmos1alice", 0) + 1

    chain.kill_at["recorded"] = someone_else
    with pytest.raises(ProtocolError, match="another signer uses this key") as info:
        await submit_proposal(world.ctx, SUBMIT, state())
    assert "cosmos1alice" in str(info.value) and "already spent" in str(info.value)
    assert world.ctx.view.max_height <= 10 + 2 + 1  # it did not wait out 10 blocks


async def test_submit_recomputes_a_later_height_from_the_current_one(world: World) -> None:
    action = replace(SUBMIT, upgrade_height=5, voting_period=20.0)
    fact = await submit_proposal(world.ctx, action, state())
    assert isinstance(fact, ProposalSubmitted)
    assert fact.upgrade_height == 10 + height_policy(world.cfg.timing).blocks_ahead(1.0, 20.0)
    assert only(world.chain.signed).what[2] == fact.upgrade_height


@pytest.fixture
def early(tmp_path: Path) -> World:
    """A chain at height 2: no block gap measured yet (block 1's is never counted)."""
    return make_world(tmp_path, height=2)


async def test_a_proposal_is_signed_ahead_and_sent_as_the_next_block_arrives(
    early: World,
) -> None:
    w = early
    signed_before_block: list[int] = []
    real_wait = w.ctx.wait_blocks

    async def wait(n: int) -> None:
        signed_before_block.append(len(w.chain.signed))
        await real_wait(n)

    w.ctx.wait_blocks = wait
    action = replace(SUBMIT, upgrade_height=5, voting_period=20.0)
    fact = await submit_proposal(w.ctx, action, state())
    assert isinstance(fact, ProposalSubmitted)
    assert signed_before_block[0] == 1  # the signature came before the block
    assert len(w.chain.signed) == 1 and len(w.ledger.records) == 1
    # The plan the first measured gap gives from the block the proposal was sent at.
    assert fact.upgrade_height == 3 + height_policy(w.cfg.timing).blocks_ahead(1.0, 20.0)


async def test_a_proposal_signed_ahead_is_replaced_when_the_last_gap_changes_the_plan(
    early: World,
) -> None:
    """A measured gap faster than the estimate needs a later height: the early
    signature is dropped unrecorded (it never left the agent) and the proposal
    signed again."""
    w = early
    slow = w.chain.block_time

    def faster_after_2(h: int) -> str:
        return slow(h) if h <= 2 else rfc3339(GENESIS + 2 + (h - 2) * 0.5)

    w.chain.block_time = faster_after_2  # type: ignore[method-assign]
    action = replace(SUBMIT, upgrade_height=5, voting_period=20.0)
    fact = await submit_proposal(w.ctx, action, state())
    assert isinstance(fact, ProposalSubmitted)
    assert len(w.chain.signed) == 2 and len(w.ledger.records) == 1
    assert len(w.chain.broadcasts) == 1
    assert w.ledger.records[0][2] == fact.tx_hash
    assert fact.upgrade_height == 3 + height_policy(w.cfg.timing).blocks_ahead(0.5, 20.0)
    assert only(w.chain.signed[1:]).what[2] == fact.upgrade_height


async def test_a_scenarios_plan_info_goes_into_the_proposal(world: World) -> None:
    """auto-download: the plan names where Cosmovisor fetches v2, and its checksum."""
    info = '{"binaries": {"any": "http://downloads:8080/checkersd?checksum=sha256:ab"}}'
    p = replace(state().params, upgrade_info=info)
    fact = await submit_proposal(world.ctx, SUBMIT, state(params=p))
    assert isinstance(fact, ProposalSubmitted)
    assert world.cli.infos == [info]


async def test_submit_reuses_an_open_proposal_for_the_same_plan(world: World) -> None:
    world.chain.proposals += [
        FakeProposal(1, "other", 50),
        FakeProposal(2, "v1tov2", 40, status="PROPOSAL_STATUS_REJECTED"),
        FakeProposal(3, "v1tov2", 44, status=VOTING),
    ]
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    assert (fact.proposal_id, fact.upgrade_height, fact.reused, fact.tx_hash) == (3, 44, True, "")
    assert world.chain.signed == [] and world.chain.broadcasts == []


async def test_submit_ignores_a_rejected_proposal_and_submits_anew(world: World) -> None:
    world.chain.proposals.append(FakeProposal(1, "v1tov2", 40, "PROPOSAL_STATUS_REJECTED"))
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and fact.proposal_id == 2 and not fact.reused
    assert len(world.chain.committed_of("proposal")) == 1


async def test_a_tx_indexed_after_its_block_is_found_before_the_next_block(
    world: World,
) -> None:
    """The block wakes the waiter when the first node has it; the tx node's lookup
    may miss it for a moment (a hop behind, its indexer after the commit). The
    lookup is repeated within the block, not a whole block later."""
    chain = world.chain
    misses_after_block = 2

    async def one_block_then_none(n: int) -> None:
        if chain.height > 10:
            await anyio.sleep_forever()  # the next block would come after the deadline
        chain.advance(n)

    for rpc in world.rpcs.values():
        real = rpc.tx

        async def lagging(
            tx_hash: str, real: Callable[[str], Awaitable[dict[str, Any] | None]] = real
        ) -> dict[str, Any] | None:
            nonlocal misses_after_block
            found = await real(tx_hash)
            if found is not None and misses_after_block > 0:
                misses_after_block -= 1
                return None  # in the block, not yet in this node's index
            return found

        rpc.tx = lagging  # type: ignore[method-assign]
    world.ctx.wait_blocks = one_block_then_none
    with anyio.fail_after(10):
        fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert isinstance(fact, VoteCast) and not fact.reused
    assert chain.height == 11 and misses_after_block == 0
    assert chain.vote_txs == [(1, "cosmos1alice")]


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ({"tx_code": 5}, ProtocolError, "failed with code 5"),
        ({"tx_events": False}, ProtocolError, "has no proposal_id event"),
        ({"include": False}, TransientError, "not included within 10 blocks"),
        ({"check_code": 13}, ProtocolError, r"refused by CheckTx \(code 13\): insufficient fees"),
    ],
)
async def test_submit_failures(
    world: World, setup: dict[str, Any], error: type[Exception], message: str
) -> None:
    for k, v in setup.items():
        setattr(world.chain, k, v)
    with pytest.raises(error, match=message):
        await submit_proposal(world.ctx, SUBMIT, state())
    assert len(world.chain.signed) == 1  # one signature, whatever became of it


async def test_vote_signs_broadcasts_and_waits_for_inclusion(world: World) -> None:
    fact = await cast_vote(world.ctx, CastVote("bob", 1), state())
    assert isinstance(fact, VoteCast) and fact.tx_hash and not fact.reused
    assert world.chain.votes == {(1, "cosmos1bob"): "VOTE_OPTION_YES"}
    signed = only(world.chain.signed)
    assert (signed.sender, signed.what) == (
        "cosmos1bob",
        ("vote", 1, "cosmos1bob", "VOTE_OPTION_YES"),
    )
    assert world.ledger.records == [("r1", "vote:bob:1", fact.tx_hash, signed.signed.base64)]


@pytest.mark.parametrize("option", ["no", "abstain", "no_with_veto"])
async def test_vote_casts_the_actions_option(world: World, option: str) -> None:
    fact = await cast_vote(world.ctx, CastVote("bob", 1, option), state())
    assert isinstance(fact, VoteCast) and not fact.reused
    assert world.chain.votes == {(1, "cosmos1bob"): f"VOTE_OPTION_{option.upper()}"}


async def test_vote_skips_a_vote_already_on_chain(world: World) -> None:
    world.chain.votes[(1, "cosmos1alice")] = "VOTE_OPTION_YES"
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert fact == VoteCast("alice", 1, "", reused=True, height=10, at=world.clock.wall())
    assert world.chain.signed == [] and world.chain.broadcasts == []


async def test_vote_found_through_the_ledger_is_not_cast_again(world: World) -> None:
    signed = await sign_and_send_vote(world, "alice", 1)
    world.chain.advance()
    await world.ledger.record("r1", "vote:alice:1", signed.tx_hash, tx=signed.base64)
    del world.chain.votes[(1, "cosmos1alice")]  # REST lags behind the block
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert isinstance(fact, VoteCast) and fact.reused and fact.tx_hash == signed.tx_hash
    assert len(world.chain.signed) == 1 and len(world.chain.broadcasts) == 1
    assert world.chain.vote_txs == [(1, "cosmos1alice")]


async def test_a_recorded_hash_without_bytes_is_waited_for(world: World) -> None:
    """A ledger line from an agent that did not keep the bytes: looked up for a few
    blocks, not signed again while it may still land."""
    signed = await sign_and_send_vote(world, "alice", 1)
    await world.ledger.record("r1", "vote:alice:1", signed.tx_hash)
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert isinstance(fact, VoteCast) and fact.reused and fact.tx_hash == signed.tx_hash
    assert len(world.chain.signed) == 1 and world.chain.vote_txs == [(1, "cosmos1alice")]


async def test_a_recorded_hash_without_bytes_that_never_lands_is_signed_anew(
    world: World,
) -> None:
    await world.ledger.record("r1", "vote:alice:1", "AB" * 32)  # lost with the mempool
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert isinstance(fact, VoteCast) and not fact.reused
    assert world.chain.height == 10 + 3 + 1  # three blocks of lookups, one for inclusion
    assert len(world.chain.signed) == 1 and world.chain.vote_txs == [(1, "cosmos1alice")]


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ({"tx_code": 13}, ProtocolError, "failed with code 13"),
        ({"include": False}, TransientError, "not included within 10 blocks"),
        ({"check_code": 13}, ProtocolError, r"vote:alice:1 tx \w+ refused by CheckTx"),
    ],
)
async def test_vote_failures(
    world: World, setup: dict[str, Any], error: type[Exception], message: str
) -> None:
    for k, v in setup.items():
        setattr(world.chain, k, v)
    with pytest.raises(error, match=message):
        await cast_vote(world.ctx, CastVote("alice", 1), state())


async def test_vote_by_an_unknown_voter_fails(world: World) -> None:
    fact = await Executor(world.ctx).run(CastVote("mallory", 1), state())
    assert isinstance(fact, ActionFailed) and "unknown voter 'mallory'" in fact.reason


async def test_the_tx_node_down_fails_over_to_another_node(world: World) -> None:
    tx_node = world.cfg.chain.tx_node
    world.chain.down.add(tx_node)
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and fact.proposal_id == 1
    assert world.ctx.tx_rpc.current != tx_node
    assert len(world.chain.broadcasts) == 1 and len(world.chain.committed) == 1


async def test_a_broadcast_whose_answer_was_lost_is_a_duplicate_on_the_next_node(
    world: World,
) -> None:
    """The tx node took the bytes but its answer timed out; the next node already has
    them (gossip) and says so. That is not a refusal: the agent waits for inclusion."""
    world.chain.lost_answers = 1
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert isinstance(fact, VoteCast) and not fact.reused
    answers = [(r.accepted, r.duplicate) for r in world.chain.broadcasts]
    assert answers == [(True, False), (False, True)]
    assert world.chain.vote_txs == [(1, "cosmos1alice")] and len(world.chain.signed) == 1


async def test_a_lookup_after_a_resume_counts_blocks_from_the_first_height_seen(
    world: World,
) -> None:
    # CI, 2026-12-07 (agent-crash): resumed, the agent sent bob's vote before its
    # streams brought a block; "10 blocks after height 0" had passed at the first
    # block seen, and the vote failed 2.6 s after its broadcast.
    fresh = ChainView(list(world.view.nodes))
    world.chain.views.append(fresh)
    world.ctx.view = fresh  # a new process: no height known yet
    start = world.chain.height
    assert await tx_included(world.ctx, "AB" * 32, blocks=10) is None
    assert world.chain.height - start >= 10


async def test_a_lookup_every_node_drops_at_once_is_tried_again(world: World) -> None:
    # CI, a starved machine: every node closed the tx lookup's connection in the
    # same second, and the vote failed for good; a lookup is retried until the
    # wait's own end instead.
    names = set(world.rpcs)
    outage = anyio.Event()

    async def all_down() -> None:
        world.chain.down |= names
        outage.set()

    world.chain.kill_at["broadcast"] = all_down

    async def revive() -> None:
        await outage.wait()
        await anyio.sleep(0.5)  # a few lookups fail on every node meanwhile
        world.chain.down.clear()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(revive)
            fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and fact.proposal_id == 1
    assert len(world.chain.committed) == 1
