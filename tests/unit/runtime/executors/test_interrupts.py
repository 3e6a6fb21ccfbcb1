"""Kill anywhere from signing to inclusion, then resume: one transaction each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fakes import (
    KILL_POINTS,
    FakeLedger,
    SimulatedCrash,
    World,
)
from fakes.executors import SUBMIT, only, sign_and_send_vote, state

from agent.adapters.chaincli import vote_args
from agent.adapters.ledger import TxLedger
from agent.core.actions import (
    CastVote,
)
from agent.core.facts import (
    Fact,
    ProposalSubmitted,
    VoteCast,
)
from agent.runtime.executors.governance import cast_vote, submit_proposal

pytestmark = pytest.mark.anyio


async def test_the_fake_chain_accepts_given_bytes_once(world: World) -> None:
    """What the kill-and-resume tests below rely on, as a real node answers."""
    signed = await sign_and_send_vote(world, "alice", 1)
    rpc = world.rpcs["val-bob"]
    again = await rpc.broadcast_tx_sync(signed.tx_bytes)  # still in the mempool
    assert (again.duplicate, again.accepted, again.code) == (True, False, 0)
    world.chain.advance()
    late = await rpc.broadcast_tx_sync(signed.tx_bytes)  # committed; cache forgotten
    assert (late.duplicate, late.code, late.hash) == (True, 32, signed.tx_hash)
    # Another signature at the same (used) sequence looks the same, and never lands.
    other = world.chain.sign("cosmos1alice", vote_args(1, "no"), 0, 0)
    taken = await rpc.broadcast_tx_sync(other.raw)
    assert (taken.duplicate, taken.code) == (True, 32)
    # Signed ahead of the account: a plain refusal.
    ahead = world.chain.sign("cosmos1alice", vote_args(1, "no"), 0, 5)
    refused = await rpc.broadcast_tx_sync(ahead.raw)
    assert (refused.duplicate, refused.accepted, refused.code) == (False, False, 32)
    world.chain.advance(3)
    assert [t.hash for t in world.chain.committed] == [signed.tx_hash]
    assert world.chain.sequences["cosmos1alice"] == 1
    # Signing the same thing at the same sequence gives the same bytes.
    assert world.chain.sign("cosmos1alice", vote_args(1), 0, 0).hash == signed.tx_hash


async def interrupt(w: World, point: str, mode: str, call: Callable[[], Awaitable[Any]]) -> None:
    """Run ``call`` until it reaches ``point``; there kill it (raise) or cancel it."""
    scope = anyio.CancelScope()

    async def stop() -> None:
        if mode == "kill":
            raise SimulatedCrash(f"killed at {point}")
        scope.cancel()
        await anyio.lowlevel.checkpoint()

    w.chain.kill_at[point] = stop
    with scope:
        try:
            await call()
        except SimulatedCrash:
            pass
        else:
            pytest.fail(f"{point} was never reached")
    assert point not in w.chain.kill_at  # it stopped exactly there
    assert mode == "kill" or scope.cancelled_caught


@pytest.mark.parametrize("resume", ["at-once", "after-a-block"])
@pytest.mark.parametrize("mode", ["kill", "cancel"])
@pytest.mark.parametrize("point", KILL_POINTS)
async def test_interrupted_governance_resumes_to_exactly_one_tx_each(
    ledger_world: World, point: str, mode: str, resume: str
) -> None:
    """Killed after the ledger write, after the broadcast, while waiting for inclusion
    or right after it, for the proposal and for each vote; each resumed (before or after
    the next block). The chain ends with one proposal and one vote per voter, and the
    resume never signed again: it looked up or re-sent the recorded bytes."""
    w = ledger_world
    s = state()
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("proposal", lambda: submit_proposal(w.ctx, SUBMIT, s)),
        ("alice", lambda: cast_vote(w.ctx, CastVote("alice", 1), s)),
        ("bob", lambda: cast_vote(w.ctx, CastVote("bob", 1), s)),
    ]
    for what, call in calls:
        await interrupt(w, point, mode, call)
        if resume == "after-a-block":
            w.chain.advance()
        fact = await call()
        if what == "proposal":
            assert isinstance(fact, ProposalSubmitted) and fact.proposal_id == 1 and fact.reused
        else:
            assert isinstance(fact, VoteCast) and fact.voter == what and fact.reused
    w.chain.advance(3)
    assert [(p.id, p.name) for p in w.chain.proposals] == [(1, "v1tov2")]
    assert sorted(w.chain.vote_txs) == [(1, "cosmos1alice"), (1, "cosmos1bob")]
    # One signature per transaction: no second signature at a new sequence.
    assert [(t.sender, t.sequence) for t in w.chain.signed] == [
        ("cosmos1alice", 0),
        ("cosmos1alice", 1),
        ("cosmos1bob", 0),
    ]
    assert [t.hash for t in w.chain.committed] == [t.hash for t in w.chain.signed]
    assert {r.hash for r in w.chain.broadcasts} == {t.hash for t in w.chain.signed}
    assert w.chain.mempool == []


@pytest.mark.parametrize("point", ["recorded", "broadcast", "tx_lookup"])
async def test_a_tx_dropped_from_the_mempool_is_resent_with_the_same_bytes(
    ledger_world: World, point: str
) -> None:
    """Killed before inclusion, then every node restarted and forgot its mempool: the
    resume sends the recorded bytes again; they land once."""
    w = ledger_world
    await interrupt(w, point, "kill", lambda: cast_vote(w.ctx, CastVote("alice", 1), state()))
    w.chain.mempool.clear()
    w.chain.advance()
    fact = await cast_vote(w.ctx, CastVote("alice", 1), state())
    signed = only(w.chain.signed)
    assert isinstance(fact, VoteCast) and fact.reused and fact.tx_hash == signed.hash
    accepted = [r.hash for r in w.chain.broadcasts if r.accepted]
    assert accepted == [signed.hash] * (1 if point == "recorded" else 2)
    assert w.chain.vote_txs == [(1, "cosmos1alice")]


@pytest.mark.parametrize("resume", ["at-once", "after-a-block"])
async def test_a_crash_after_signing_before_the_ledger_signs_again_and_sends_once(
    ledger_world: World, resume: str
) -> None:
    """The CLI container printed the signed bytes, then the agent died before writing
    the ledger: nothing was broadcast, so the resume signs afresh (at the same
    sequence, giving the same bytes) and the chain gets one transaction."""
    w = ledger_world
    s = state()
    calls: list[tuple[str, Callable[[], Awaitable[Fact]]]] = [
        ("submit_proposal", lambda: submit_proposal(w.ctx, SUBMIT, s)),
        ("vote:alice:1", lambda: cast_vote(w.ctx, CastVote("alice", 1), s)),
    ]
    for kind, call in calls:
        await interrupt(w, "signed", "kill", call)
        assert w.chain.signed[-1].hash not in {r.hash for r in w.chain.broadcasts}
        assert await w.ledger.entries("r1", kind) == []
        if resume == "after-a-block":
            w.chain.advance()
        fact = await call()
        assert isinstance(fact, ProposalSubmitted | VoteCast) and not fact.reused
        first, second = w.chain.signed[-2:]
        assert (first.sender, first.sequence) == (second.sender, second.sequence)
        assert first.hash == second.hash
        assert len(await w.ledger.entries("r1", kind)) == 1
    assert len(w.chain.committed_of("proposal")) == 1
    assert w.chain.vote_txs == [(1, "cosmos1alice")]
    assert len(w.chain.broadcasts) == 2 and all(r.accepted for r in w.chain.broadcasts)


async def test_ledger_fake_and_real_agree(tmp_path: Path) -> None:
    """The FakeLedger used above behaves as TxLedger does."""
    for ledger in (FakeLedger(), TxLedger(tmp_path / "l.jsonl")):
        await ledger.record("r", "k", "A", tx="QQ==")
        await ledger.record("r2", "k", "B", tx="Qg==")
        await ledger.record("r", "k", "C")
        await ledger.record("r", "k2", "D", tx="RA==")
        assert await ledger.find("r", "k") == ["A", "C"]
        assert await ledger.entries("r", "k") == [("A", "QQ=="), ("C", None)]
