"""Executors on a fake chain: stack, governance (sign first; kill anywhere and resume),
verification."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog
import structlog.testing
from fakes import (
    GENESIS,
    KILL_POINTS,
    PLAYER_PREFIX,
    VOTING,
    CommandRecorder,
    FakeLedger,
    FakeProposal,
    PlayerInfo,
    SimulatedCrash,
    World,
    make_world,
    rfc3339,
)

from agent.adapters.chaincli import SignedTx, vote_args
from agent.adapters.ledger import TxLedger
from agent.config import height_policy
from agent.core.actions import (
    CaptureBaseline,
    CastVote,
    ExplainExit,
    InjectFault,
    LaunchStack,
    PrepareState,
    RemediateNodes,
    RestartOnV2,
    SubmitProposal,
    VerifyNoUpgrade,
    VerifyRestart,
    VerifyUpgrade,
    WriteReport,
)
from agent.core.chainview import ChainView
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    Fact,
    NoUpgradeVerified,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import Params, State, initial_state
from agent.core.observations import NewBlock
from agent.errors import (
    DockerUnavailable,
    EnvironmentProblem,
    ProtocolError,
    TransientError,
    is_environment_failure,
)
from agent.runtime.executors import HANDLERS, Executor
from agent.runtime.executors.governance import cast_vote, submit_proposal
from agent.runtime.executors.stack import launch, restart
from agent.runtime.executors.txs import tx_included
from agent.runtime.executors.verify import (
    capture_baseline,
    verify_no_upgrade,
    verify_restart,
    verify_upgrade,
)

pytestmark = pytest.mark.anyio

SUBMIT = SubmitProposal("v1tov2", 30, block_interval=1.0, voting_period=0.0)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> World:
    """A world on the default config with the bundled profile; a test changes the config
    by indirect parametrization: ``{"extra": {...sections}, "profile": bool}`` (the
    config is parsed here: the loader reads the cwd, which must not happen in the loop)."""
    opts: dict[str, Any] = getattr(request, "param", {})
    w = make_world(tmp_path, extra=opts.get("extra"), profile=opts.get("profile", True))
    rec = CommandRecorder(w.chain)
    monkeypatch.setattr("agent.runtime.executors.stack.run_command", rec)
    monkeypatch.setattr("agent.adapters.docker.run_command", rec)  # docker exec, inspect
    w.commands = rec
    return w


def state(**kw: Any) -> State:
    return replace(initial_state("r1", Params()), started=True, **kw)


# --- at launch: v2 staged -----------------------------------------------------------


async def test_a_node_without_v2_staged_fails_the_launch_naming_it(world: World) -> None:
    assert world.commands is not None
    cid = world.chain.containers["val-bob"]
    world.commands.unstaged.add(cid)
    with pytest.raises(EnvironmentProblem) as err:
        await launch(world.ctx, LaunchStack(reset=True), state())
    text = str(err.value)
    assert "val-bob: no " in text and "/cosmovisor/upgrades/v1tov2/bin/checkersd" in text
    assert "val-alice" not in text
    assert world.chain.signed == [] and world.chain.broadcasts == []  # nothing on chain
    assert is_environment_failure(text)  # exit 2


async def test_every_node_staged_lets_the_launch_complete(world: World) -> None:
    assert world.commands is not None
    fact = await launch(world.ctx, LaunchStack(reset=True), state())
    assert isinstance(fact, StackLaunched)
    staged = [a for a in world.commands.argvs if "staged" in a]
    assert len(staged) == len(world.cfg.nodes)  # each running node asked once


async def test_an_attached_launch_asks_no_container(world: World) -> None:
    assert world.commands is not None
    await launch(world.ctx, LaunchStack(reset=False, attach=True), state())
    assert not [a for a in world.commands.argvs if "staged" in a]


# --- 7. stack ------------------------------------------------------------------------


async def test_launch_downs_resets_checks_ports_and_ups_with_cosmovisor(world: World) -> None:
    s = world.cfg.stack
    fact = await launch(world.ctx, LaunchStack(reset=True), state())
    assert isinstance(fact, StackLaunched)
    assert world.compose.calls == [
        ("down", [s.base_file, s.cosmovisor_file]),
        ("up", [s.base_file, s.cosmovisor_file]),
    ]
    assert world.commands is not None
    staged = [a for a in world.commands.argvs if "staged" in a]
    assert [a for a in world.commands.argvs if a not in staged] == [
        list(s.reset_command),
        list(s.ports_check_command),
    ]


async def test_launch_without_reset_only_checks_ports(world: World) -> None:
    await launch(world.ctx, LaunchStack(reset=False), state())
    assert world.commands is not None
    assert [a for a in world.commands.argvs if "staged" not in a] == [
        list(world.cfg.stack.ports_check_command)
    ]


async def test_restart_samples_balances_then_ups_on_v2(world: World) -> None:
    s = world.cfg.stack
    world.chain.balances = {"cosmos1alice": 5, "cosmos1bob": 7}
    fact = await restart(world.ctx, RestartOnV2(), state())
    assert fact == StackRestarted(
        last_height=10,
        balances=(("cosmos1alice", 5), ("cosmos1bob", 7)),
        height=10,
        at=world.clock.wall(),
    )
    # One `up` with the v2 file recreates every node in place (no down).
    assert world.compose.calls == [("up", [s.base_file, s.v2_file, "--remove-orphans"])]


async def test_launch_on_a_fresh_machine_takes_nothing_down(world: World) -> None:
    s = world.cfg.stack
    world.chain.containers.clear()
    await launch(world.ctx, LaunchStack(reset=True), state())
    assert world.compose.calls == [("up", [s.base_file, s.cosmovisor_file])]


async def test_restart_reads_no_chain_store_any_more(world: World) -> None:
    """The agent knows no chain: the restart samples balances only (no leaderboard)."""
    fact = await Executor(world.ctx).run(RestartOnV2(), state())
    assert isinstance(fact, StackRestarted)
    assert world.chain.queries == []


@pytest.mark.parametrize(
    "world",
    [{"extra": {"stack": {"restart_command": ["systemctl", "restart", "x"]}}}],
    indirect=True,
)
async def test_restart_in_attach_mode_runs_the_restart_command_only(world: World) -> None:
    w, rec = world, world.commands
    assert rec is not None
    fact = await restart(w.ctx, RestartOnV2(), state(params=Params(attach=True)))
    assert isinstance(fact, StackRestarted)
    assert rec.argvs == [["systemctl", "restart", "x"]]
    assert w.compose.calls == []


async def test_launch_in_attach_mode_touches_nothing(world: World) -> None:
    fact = await launch(world.ctx, LaunchStack(reset=False, attach=True), state())
    assert isinstance(fact, StackLaunched)
    assert world.compose.calls == [] and world.commands is not None
    assert world.commands.argvs == []


# --- 7. governance -----------------------------------------------------------------------


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


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


async def sign_and_send_vote(w: World, voter: str, proposal_id: int) -> SignedTx:
    """A vote signed and broadcast as an earlier agent run would have."""
    v = w.ctx.voter(voter)
    address = await w.cli.address(v)
    account = await w.rest.account(address)
    signed = await w.cli.sign(
        v,
        vote_args(proposal_id, "yes"),
        address=address,
        account_number=account.account_number,
        sequence=account.sequence,
    )
    assert (await w.rpcs["node-carol"].broadcast_tx_sync(signed.tx_bytes)).accepted
    return signed


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


# --- the fake chain accepts given signed bytes at most once -------------------------------


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


# --- 5. kill anywhere from signing to inclusion, then resume -------------------------------


@pytest.fixture
def ledger_world(tmp_path: Path) -> World:
    """A world with the real, file-backed TxLedger."""
    return make_world(tmp_path, ledger=TxLedger(tmp_path / "state" / "txs.jsonl"))


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


# --- 7. verification -----------------------------------------------------------------------
# The bundled profile's checks (config.toml) run for real: their program is
# prod-sim/checks/leaderboard.py, fed the fake chain's raw store and CLI answers.

PLAYERS = [
    PlayerInfo("cosmos1p1", 3, 1, 0),
    PlayerInfo("cosmos1p2", 5, 0, 0),
    PlayerInfo("cosmos1p3", 0, 2, 1),
]
BOARD = [("cosmos1p2", 5), ("cosmos1p1", 3)]
H = 12  # upgrade height; the world is at 10


async def baseline_of(w: World) -> BaselineCaptured:
    """The baseline as capture_baseline takes it from the fake chain with PLAYERS."""
    w.chain.players = list(PLAYERS)
    fact = await capture_baseline(w.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    return fact


def good_upgrade(w: World) -> None:
    w.chain.applied["v1tov2"] = H
    w.chain.app_version = dict.fromkeys(w.chain.nodes, 2)
    w.chain.cli_leaderboard = list(BOARD)
    w.chain.leaderboard = list(BOARD)


def names(checks: Any) -> dict[str, bool]:
    return {c.name: c.passed for c in checks}


def docs(reads: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {n: json.loads(t) for n, t in reads}


async def test_capture_baseline_takes_the_declared_reads_balances_and_app_version(
    world: World,
) -> None:
    world.chain.players = list(PLAYERS)
    world.chain.balances = {"cosmos1alice": 9}
    # Every node answers "invalid height" twice (restarting): each read tries them all.
    world.chain.query_errors = 2 * len(world.chain.nodes)
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    assert [n for n, _ in fact.reads] == ["players"]  # only what some check needs before
    raw = base64.b64decode(docs(fact.reads)["players"]["value"])
    assert [PLAYER_PREFIX + p.index.encode() in raw for p in PLAYERS] == [True] * 3
    assert fact.balances == (("cosmos1alice", 9), ("cosmos1bob", 0))
    assert fact.app_version == 1
    assert world.chain.height == 12  # retried on the next two blocks


async def test_a_read_refused_by_one_node_is_answered_by_the_next(world: World) -> None:
    world.chain.players = list(PLAYERS)
    world.chain.query_errors = 1  # the tx node is restarting
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    assert docs(fact.reads)["players"]["value"]
    assert world.chain.height == 10  # no block waited for
    assert world.ctx.tx_rpc.current != world.cfg.chain.tx_node


async def test_a_read_that_gives_up_is_recorded_as_an_error_document(world: World) -> None:
    world.chain.query_errors = 10_000
    start = world.ctx.clock.monotonic()
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)  # the baseline is still taken
    assert "invalid height" in docs(fact.reads)["players"]["__error__"]
    assert world.chain.height == 15  # retried on each of the next 5 blocks,
    assert world.ctx.clock.monotonic() - start >= 15.0  # then each second for 15 s


async def test_verify_upgrade_passes_on_a_good_chain(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    assert names(fact.checks) == {
        "cosmovisor_current": True,
        "applied_plan_height": True,
        "app_version_changed": True,
        "leaderboard_migrated": True,
        "app_hash_agree": True,
    }
    migrated = {c.name: c.evidence for c in fact.checks}["leaderboard_migrated"]
    assert "computed from 3 players" in migrated
    # Every app executed h, and no block past it was waited for.
    assert world.view.all_above(H - 1) and world.chain.height == H
    # The reads after the upgrade: the check's, and what "restarted" compares with.
    assert [n for n, _ in fact.reads] == ["leaderboard_cli", "leaderboard_store"]
    assert ("cli", (("checkers", "show-leaderboard"), True)) in world.chain.queries


def _link(w: World) -> None:
    cid = w.chain.containers["val-bob"]
    w.chain.links[cid] = "/root/.checkers-upgrade/cosmovisor/genesis"


def _container(w: World) -> None:
    del w.chain.containers["sentry-bob"]


def _applied(w: World) -> None:
    w.chain.applied["v1tov2"] = 0


def _version(w: World) -> None:
    w.chain.app_version["node-carol"] = 1


def _board(w: World) -> None:
    w.chain.cli_leaderboard = [("cosmos1p1", 3)]


def _order(w: World) -> None:
    w.chain.cli_leaderboard = list(reversed(BOARD))


def _board_cli(w: World) -> None:
    w.cli.leaderboard_error = ProtocolError("no JSON object in CLI output")


def _hash(w: World) -> None:
    w.chain.app_hash_override[("val-alice", H + 1)] = "DIVERGEDHASH000"


@pytest.mark.parametrize(
    ("break_it", "check", "evidence"),
    [
        (_link, "cosmovisor_current", "val-bob -> /root/.checkers-upgrade/cosmovisor/genesis"),
        (_container, "cosmovisor_current", "sentry-bob -> error: no running container"),
        (_applied, "applied_plan_height", "applied at 0, planned 12"),
        (_version, "app_version_changed", "node-carol=1 (v1)"),
        (_board, "leaderboard_migrated", "show-leaderboard [('cosmos1p1', 3)]; computed from"),
        (_order, "leaderboard_migrated", "[('cosmos1p1', 3), ('cosmos1p2', 5)]; computed"),
        (_board_cli, "leaderboard_migrated", "read failed: leaderboard_cli: no JSON object"),
        (_hash, "app_hash_agree", "val-alice=DIVERGEDHASH"),
    ],
    ids=["link", "container", "applied", "version", "board", "order", "board_cli", "hash"],
)
async def test_verify_upgrade_fails_each_check_with_evidence(
    world: World, break_it: Callable[[World], None], check: str, evidence: str
) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    break_it(world)
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


async def test_verify_upgrade_without_a_baseline_fails(world: World) -> None:
    good_upgrade(world)
    world.chain.cli_leaderboard = [("cosmos1p2", 5)]
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state())
    assert isinstance(fact, UpgradeVerified)
    failed = {c.name: c.evidence for c in fact.checks if not c.passed}
    assert set(failed) == {"app_version_changed", "baseline", "leaderboard_migrated"}
    assert failed["baseline"] == "the baseline was never read before the upgrade"
    assert failed["app_version_changed"].startswith("before None")
    assert "computed from 0 players []" in failed["leaderboard_migrated"]


async def test_verify_upgrade_waits_for_each_node_to_commit_the_height(world: World) -> None:
    """The view may show the upgrade height on a node whose app has not executed it
    (halted with the block in its store): checks wait for the app's own height."""
    b = await baseline_of(world)
    good_upgrade(world)
    chain = world.chain
    chain.frozen.add("node-carol")  # halted on v1, still at 10
    chain.app_version["node-carol"] = 1
    world.view.observe(NewBlock("node-carol", H, chain.block_time(H), GENESIS + H))
    real_wait = world.ctx.wait_blocks

    async def carol_swapped_later(n: int) -> None:
        await real_wait(n)
        if chain.height >= H + 2 and "node-carol" in chain.frozen:
            chain.frozen.discard("node-carol")  # Cosmovisor started v2; it replays
            chain.app_version["node-carol"] = 2

    world.ctx.wait_blocks = carol_swapped_later
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    assert all(names(fact.checks).values()), fact.checks
    assert chain.heights["node-carol"] >= H


async def test_the_applied_plan_is_asked_again_while_rest_is_not_up(world: World) -> None:
    """An SDK v0.50 node's REST answers 503 until its gRPC server is up, a moment
    after the node committed the upgrade height."""
    b = await baseline_of(world)
    good_upgrade(world)
    real = world.rest.applied_plan
    refusals = [1]

    async def not_yet(name: str) -> int:
        if refusals[0]:
            refusals[0] -= 1
            raise TransientError("GET /cosmos/upgrade/v1beta1/applied_plan/v1tov2: HTTP 503")
        return await real(name)

    world.rest.applied_plan = not_yet  # type: ignore[method-assign]
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    assert names(fact.checks)["applied_plan_height"] and refusals == [0]


async def test_a_node_that_never_commits_the_height_is_named(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.runtime.executors.verify.COMMITTED_WITHIN_S", 0.5)
    b = await baseline_of(world)
    good_upgrade(world)
    world.chain.frozen.add("node-carol")  # halted on v1 for good
    world.chain.app_version["node-carol"] = 1
    with pytest.raises(ProtocolError) as info:
        await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert str(info.value) == (
        f"upgrade height {H} not committed within 0.5s by: node-carol (app at 10 (v1))"
    )


async def test_app_hashes_are_read_at_the_height_from_each_app(world: World) -> None:
    """The state after h is the app's own last hash while it is at h, and block h+1's
    header once it has gone on: no block past h is waited for, and a node already
    past it is compared by its header."""
    b = await baseline_of(world)
    good_upgrade(world)
    chain = world.chain
    chain.advance(H - chain.height)  # every node executed the height
    chain.frozen = set(chain.nodes) - {"val-alice"}
    chain.advance(1)  # val-alice alone has gone on to h+1

    async def no_more_blocks(n: int) -> None:
        await anyio.sleep_forever()

    world.ctx.wait_blocks = no_more_blocks
    with anyio.fail_after(5):
        fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    hashes = {c.name: c for c in fact.checks}["app_hash_agree"]
    assert hashes.passed, hashes
    assert f"after {H}: val-alice=APPHASH0000" in hashes.evidence
    assert chain.heights == {**dict.fromkeys(chain.nodes, H), "val-alice": H + 1}


async def test_an_app_whose_own_hash_differs_at_the_height_fails_the_check(
    world: World,
) -> None:
    """A node still at h is judged by its app's hash (what h+1 will carry)."""
    b = await baseline_of(world)
    good_upgrade(world)
    chain = world.chain
    chain.advance(H - chain.height)
    chain.app_hash_override[("sentry-bob", H + 1)] = "FORKEDHASH0000"
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    hashes = {c.name: c for c in fact.checks}["app_hash_agree"]
    assert not hashes.passed
    assert "sentry-bob=FORKEDHASH00" in hashes.evidence
    assert chain.height == H


@pytest.mark.parametrize(
    ("world", "off"),
    [
        ({"extra": {"verify": {"disable": [off]}}}, off)
        for off in (
            "cosmovisor_current",
            "applied_plan_height",
            "app_version_changed",
            "app_hash_agree",
        )
    ],
    indirect=["world"],
)
async def test_verify_disable_removes_a_builtin_upgrade_check(world: World, off: str) -> None:
    w = world
    b = await baseline_of(w)
    good_upgrade(w)
    w.chain.applied["v1tov2"] = 0  # would fail applied_plan_height
    fact = await verify_upgrade(w.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    got = names(fact.checks)
    assert off not in got and "leaderboard_migrated" in got
    assert len(got) == 4
    if off == "app_hash_agree":
        assert w.chain.height == H  # the height committed; nothing waited for h+1


async def test_verify_upgrade_skips_absent_nodes(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    # val-bob was stopped by a fault: no container, still v1, a diverged hash, no blocks.
    del world.chain.containers["val-bob"]
    world.chain.app_version["val-bob"] = 1
    world.chain.app_hash_override[("val-bob", H + 1)] = "OLDHASH"
    world.chain.frozen.add("val-bob")
    s = state(baseline=b, absent=frozenset({"val-bob"}))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), s)
    assert isinstance(fact, UpgradeVerified)
    assert all(c.passed for c in fact.checks), fact.checks
    assert all("val-bob" not in c.evidence for c in fact.checks)


async def test_attach_mode_skips_cosmovisor_current(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    _link(world)  # would fail: the containers are not ours to inspect
    s = state(baseline=b, params=Params(attach=True))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), s)
    assert isinstance(fact, UpgradeVerified)
    assert "cosmovisor_current" not in names(fact.checks)
    assert all(c.passed for c in fact.checks)
    assert world.commands is not None and world.commands.argvs == []  # no docker exec


async def test_remediated_nodes_are_not_asked_for_their_cosmovisor_link(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    _link(world)  # val-bob runs v2 from the v2 Compose file, not by Cosmovisor
    s = state(baseline=b, remediated=("val-bob",))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), s)
    assert isinstance(fact, UpgradeVerified)
    current = only([c for c in fact.checks if c.name == "cosmovisor_current"])
    assert current.passed and current.evidence.endswith("remediated by the agent: val-bob")
    assert world.commands is not None
    assert all("cid-val-bob" not in a for a in world.commands.argvs)


async def restarted_state(w: World, **kw: Any) -> State:
    """After the upgrade on a good chain: the baseline and the reads after the upgrade."""
    b = await baseline_of(w)
    good_upgrade(w)
    up = await verify_upgrade(w.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(up, UpgradeVerified)
    base: dict[str, Any] = dict(
        baseline=b,
        upgrade_reads=up.reads,
        restart_last_height=8,
        restart_balances=(("cosmos1alice", 5), ("cosmos1bob", 7)),
    )
    base.update(kw)
    w.chain.balances = {"cosmos1alice": 5, "cosmos1bob": 7}
    return state(**base)


async def test_verify_restart_passes_on_a_good_chain(world: World) -> None:
    s = await restarted_state(world)
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified)
    assert names(fact.checks) == {
        "blocks_resumed": True,
        "leaderboard_kept": True,
        "balances_kept": True,
    }


async def test_verify_restart_with_an_empty_leaderboard_kept_empty(world: World) -> None:
    world.chain.leaderboard = []
    s = await restarted_state(world)
    world.chain.leaderboard = []  # good_upgrade stored BOARD; the migration stored none
    s = replace(s, upgrade_reads=(("leaderboard_store", _stored_read([])),))
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified) and all(c.passed for c in fact.checks), fact


def _stored_read(rows: list[tuple[str, int]]) -> str:
    doc = {"winners": [{"playerAddress": a, "wonCount": str(n)} for a, n in rows]}
    return json.dumps({"value": base64.b64encode(json.dumps(doc).encode()).decode()})


@pytest.mark.parametrize(
    ("last", "mutate", "check", "evidence"),
    [
        (12, None, "blocks_resumed", "last before restart 12; now val-alice=12"),
        (8, {"leaderboard": [("cosmos1p2", 5)]}, "leaderboard_kept", "after [('cosmos1p2', 5)]"),
        (8, {"leaderboard": None}, "leaderboard_kept", "after None"),
        (8, {"balances": {"cosmos1alice": 5}}, "balances_kept", "after [('cosmos1alice', 5), "),
    ],
    ids=["blocks", "leaderboard-changed", "leaderboard-gone", "balances"],
)
async def test_verify_restart_fails_each_check_with_evidence(
    world: World, last: int, mutate: dict[str, Any] | None, check: str, evidence: str
) -> None:
    s = await restarted_state(world)
    for k, v in (mutate or {}).items():
        setattr(world.chain, k, v)
    fact = await verify_restart(world.ctx, VerifyRestart(last), s)
    assert isinstance(fact, RestartVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


async def test_a_failed_read_after_the_restart_fails_its_check_naming_the_read(
    world: World,
) -> None:
    s = await restarted_state(world)
    world.chain.query_errors = 1000
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified)
    kept = only([c for c in fact.checks if c.name == "leaderboard_kept"])
    assert not kept.passed
    assert kept.evidence.startswith("read failed: leaderboard_store: ")
    assert "invalid height" in kept.evidence


@pytest.mark.parametrize(
    "world",
    [{"extra": {"verify": {"disable": ["blocks_resumed", "balances_kept"]}}}],
    indirect=True,
)
async def test_verify_disable_removes_builtin_restart_checks(world: World) -> None:
    w = world
    s = await restarted_state(w)
    fact = await verify_restart(w.ctx, VerifyRestart(10_000), s)
    assert isinstance(fact, RestartVerified)
    assert names(fact.checks) == {"leaderboard_kept": True}


@pytest.mark.parametrize("world", [{"profile": False}], indirect=True)
async def test_without_a_profile_only_builtin_checks_run(world: World) -> None:
    w = world
    fact = await capture_baseline(w.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured) and fact.reads == ()
    good_upgrade(w)
    up = await verify_upgrade(w.ctx, VerifyUpgrade("v1tov2", H), state(baseline=fact))
    assert isinstance(up, UpgradeVerified) and up.reads == ()
    assert set(names(up.checks)) == {
        "cosmovisor_current",
        "applied_plan_height",
        "app_version_changed",
        "app_hash_agree",
    }
    assert w.chain.queries == []


# --- verify_no_upgrade (scenario: the proposal is rejected) --------------------------------


async def test_verify_no_upgrade_passes_when_the_chain_ran_on(world: World) -> None:
    world.chain.advance(5)  # 15 > H on every node, still v1
    s = state(baseline=BaselineCaptured((), (), app_version=1))
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), s)
    assert isinstance(fact, NoUpgradeVerified)
    assert names(fact.checks) == {
        "no_plan_applied": True,
        "ran_past_height": True,
        "app_version_unchanged": True,
    }


def _np_applied(w: World) -> None:
    w.chain.applied["v1tov2"] = H


def _np_halted(w: World) -> None:
    w.chain.frozen.add("val-alice")


def _np_version(w: World) -> None:
    w.chain.app_version["node-carol"] = 2


@pytest.mark.parametrize(
    ("break_it", "check", "evidence"),
    [
        (_np_applied, "no_plan_applied", "applied_plan height 12"),
        (_np_halted, "ran_past_height", "planned 12; now val-alice=10"),
        (_np_version, "app_version_unchanged", "node-carol=2 (v2)"),
    ],
    ids=["applied", "halted", "version"],
)
async def test_verify_no_upgrade_fails_each_check_with_evidence(
    world: World, break_it: Callable[[World], None], check: str, evidence: str
) -> None:
    break_it(world)
    world.chain.advance(5)
    s = state(baseline=BaselineCaptured((), (), app_version=1))
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), s)
    assert isinstance(fact, NoUpgradeVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


async def test_verify_no_upgrade_ignores_absent_nodes_and_needs_a_baseline(world: World) -> None:
    world.chain.frozen.add("val-bob")
    world.chain.app_version["val-bob"] = 7
    world.chain.advance(5)
    s = state(baseline=BaselineCaptured((), (), app_version=1), absent=frozenset({"val-bob"}))
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), s)
    assert isinstance(fact, NoUpgradeVerified) and all(c.passed for c in fact.checks)
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), state())
    assert isinstance(fact, NoUpgradeVerified)
    assert names(fact.checks)["app_version_unchanged"] is False


# --- 7. Executor.run ----------------------------------------------------------------------


async def test_every_action_type_has_a_handler(world: World) -> None:
    assert set(HANDLERS) == {
        LaunchStack,
        PrepareState,
        ExplainExit,
        SubmitProposal,
        CastVote,
        CaptureBaseline,
        VerifyUpgrade,
        RestartOnV2,
        VerifyRestart,
        WriteReport,
        InjectFault,
        RemediateNodes,
        VerifyNoUpgrade,
    }


async def test_executor_runs_write_report(world: World) -> None:
    s = state()
    fact = await Executor(world.ctx).run(WriteReport(), s)
    assert isinstance(fact, ReportWritten) and fact.path.endswith("report.json")
    assert world.reports == [s]


async def test_executor_turns_agent_errors_into_action_failed(world: World) -> None:
    world.chain.include = False
    fact = await Executor(world.ctx).run(SUBMIT, state())
    tx_hash = only(world.ledger.records)[2]
    assert fact == ActionFailed(
        "submit_proposal",
        f"submit_proposal tx {tx_hash} not included within 10 blocks",
        height=world.view.max_height,
        at=world.clock.wall(),
    )


async def test_executor_turns_a_crash_into_action_failed(world: World) -> None:
    async def boom(*_a: Any) -> Any:
        raise KeyError("oops")

    # Captured, not rendered: the console renderer's rich traceback reads the source
    # files (blocking I/O the blockbuster fixture refuses).
    with structlog.testing.capture_logs() as logs:
        fact = await Executor(world.ctx, {LaunchStack: boom}).run(LaunchStack(), state())
    assert isinstance(fact, ActionFailed)
    assert fact.reason == "internal error: KeyError('oops')"
    crashed = only([e for e in logs if e["event"] == "action_crashed"])
    assert crashed["action"] == "launch_stack" and crashed["log_level"] == "error"


async def test_executor_without_a_handler_fails_the_action(world: World) -> None:
    fact = await Executor(world.ctx, {}).run(RestartOnV2(), state())
    assert isinstance(fact, ActionFailed) and fact.reason.startswith("no executor for")


async def test_ledger_fake_and_real_agree(tmp_path: Path) -> None:
    """The FakeLedger used above behaves as TxLedger does."""
    for ledger in (FakeLedger(), TxLedger(tmp_path / "l.jsonl")):
        await ledger.record("r", "k", "A", tx="QQ==")
        await ledger.record("r2", "k", "B", tx="Qg==")
        await ledger.record("r", "k", "C")
        await ledger.record("r", "k2", "D", tx="RA==")
        assert await ledger.find("r", "k") == ["A", "C"]
        assert await ledger.entries("r", "k") == [("A", "QQ=="), ("C", None)]


@pytest.mark.parametrize(
    "world", [{"extra": {"stack": {"reset_command": [], "ports_check_command": []}}}],
    indirect=True,
)  # fmt: skip
async def test_launch_runs_no_empty_stack_command(world: World) -> None:
    await launch(world.ctx, LaunchStack(reset=True), state())
    assert world.commands is not None
    assert [a for a in world.commands.argvs if "staged" not in a] == []
    assert [c[0] for c in world.compose.calls] == ["down", "up"]


async def test_docker_down_stops_the_run_instead_of_failing_the_action(world: World) -> None:
    # Failing the action journaled the rehearsal as failed, unresumable (L7).
    async def docker_down(ctx: Any, action: Any, state: Any) -> Any:
        raise DockerUnavailable("the Docker daemon is unreachable: gone", "start it")

    executor = Executor(world.ctx, {LaunchStack: docker_down})
    with pytest.raises(DockerUnavailable):
        await executor.run(LaunchStack(reset=True), state())

    async def other(ctx: Any, action: Any, state: Any) -> Any:
        raise EnvironmentProblem("host ports check failed", "free them")

    failed = await Executor(world.ctx, {LaunchStack: other}).run(LaunchStack(reset=True), state())
    assert isinstance(failed, ActionFailed)  # the run's own report says why (exit 2)
    assert failed.environment

    async def rehearsal(ctx: Any, action: Any, state: Any) -> Any:
        raise ProtocolError("environment problem: said by a node, not the machine's")

    plain = await Executor(world.ctx, {LaunchStack: rehearsal}).run(LaunchStack(), state())
    assert isinstance(plain, ActionFailed) and not plain.environment


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
