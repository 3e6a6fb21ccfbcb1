"""Executors on a fake chain: stack, governance (with crash/resume), verification."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakes import (
    VOTING,
    CommandRecorder,
    FakeLedger,
    FakeProposal,
    SimulatedCrash,
    World,
    make_world,
)

from agent import checkers
from agent.adapters.ledger import TxLedger
from agent.core.actions import (
    CaptureBaseline,
    CastVote,
    LaunchStack,
    RestartOnV2,
    SubmitProposal,
    VerifyRestart,
    VerifyUpgrade,
    WriteReport,
)
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import Params, State, initial_state
from agent.errors import ProtocolError, TransientError
from agent.runtime.executors import HANDLERS, Executor
from agent.runtime.executors.governance import cast_vote, submit_proposal
from agent.runtime.executors.stack import launch, restart
from agent.runtime.executors.verify import capture_baseline, verify_restart, verify_upgrade

pytestmark = pytest.mark.anyio

SUBMIT = SubmitProposal("v1tov2", 30, block_interval=1.0, voting_period=0.0)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    w = make_world(tmp_path)
    rec = CommandRecorder(w.chain)
    monkeypatch.setattr("agent.runtime.executors.stack.run_command", rec)
    monkeypatch.setattr("agent.runtime.executors.verify.run_command", rec)
    w.commands = rec
    return w


def state(**kw: Any) -> State:
    return replace(initial_state("r1", Params()), started=True, **kw)


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
    assert world.commands.argvs == [list(s.reset_command), list(s.ports_check_command)]


async def test_launch_without_reset_only_checks_ports(world: World) -> None:
    await launch(world.ctx, LaunchStack(reset=False), state())
    assert world.commands is not None
    assert world.commands.argvs == [list(world.cfg.stack.ports_check_command)]


async def test_restart_samples_state_then_ups_on_v2(world: World) -> None:
    s = world.cfg.stack
    world.chain.balances = {"cosmos1alice": 5, "cosmos1bob": 7}
    world.chain.leaderboard = [("cosmos1p2", 5)]
    fact = await restart(world.ctx, RestartOnV2(), state())
    assert fact == StackRestarted(
        last_height=10,
        balances=(("cosmos1alice", 5), ("cosmos1bob", 7)),
        leaderboard=(("cosmos1p2", 5),),
        height=10,
        at=world.clock.wall(),
    )
    assert world.compose.calls == [
        ("down", [s.base_file, s.cosmovisor_file]),
        ("up", [s.base_file, s.v2_file]),
    ]


async def test_restart_without_a_stored_leaderboard_fails_and_keeps_the_stack(
    world: World,
) -> None:
    fact = await Executor(world.ctx).run(RestartOnV2(), state())
    assert isinstance(fact, ActionFailed)
    assert fact.reason == "no leaderboard in the checkers store"
    assert world.compose.calls == []  # it gave up before stopping anything
    assert world.chain.height == 15  # retried on each of the next 5 blocks


# --- 7. governance -----------------------------------------------------------------------


async def test_submit_broadcasts_records_and_waits_for_inclusion(world: World) -> None:
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    assert (fact.proposal_id, fact.reused) == (1, False)
    assert fact.upgrade_height == 30  # the policy's answer at height 10 is lower
    assert fact.voting_end is not None
    assert [(p.name, p.height) for p in world.chain.proposals] == [("v1tov2", 30)]
    assert world.ledger.entries == [("r1", "submit_proposal", fact.tx_hash)]


async def test_submit_recomputes_a_later_height_from_the_current_one(world: World) -> None:
    action = replace(SUBMIT, upgrade_height=5, voting_period=20.0)
    fact = await submit_proposal(world.ctx, action, state())
    assert isinstance(fact, ProposalSubmitted)
    t = world.cfg.timing
    assert fact.upgrade_height == 10 + max(
        t.min_blocks_ahead, int((20.0 + t.height_margin_seconds) / 1.0)
    )


async def test_submit_reuses_an_open_proposal_for_the_same_plan(world: World) -> None:
    world.chain.proposals += [
        FakeProposal(1, "other", 50),
        FakeProposal(2, "v1tov2", 40, status="PROPOSAL_STATUS_REJECTED"),
        FakeProposal(3, "v1tov2", 44, status=VOTING),
    ]
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted)
    assert (fact.proposal_id, fact.upgrade_height, fact.reused, fact.tx_hash) == (3, 44, True, "")
    assert world.chain.broadcasts == []


async def test_submit_ignores_a_rejected_proposal_and_submits_anew(world: World) -> None:
    world.chain.proposals.append(FakeProposal(1, "v1tov2", 40, "PROPOSAL_STATUS_REJECTED"))
    fact = await submit_proposal(world.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and fact.proposal_id == 2 and not fact.reused


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ({"tx_code": 5}, ProtocolError, "failed with code 5"),
        ({"tx_events": False}, ProtocolError, "has no proposal_id event"),
        ({"include": False}, TransientError, "not included within 10 blocks"),
    ],
)
async def test_submit_failures(
    world: World, setup: dict[str, Any], error: type[Exception], message: str
) -> None:
    for k, v in setup.items():
        setattr(world.chain, k, v)
    with pytest.raises(error, match=message):
        await submit_proposal(world.ctx, SUBMIT, state())


async def test_vote_broadcasts_and_waits_for_inclusion(world: World) -> None:
    fact = await cast_vote(world.ctx, CastVote("bob", 1), state())
    assert isinstance(fact, VoteCast) and fact.tx_hash and not fact.reused
    assert world.chain.votes == {(1, "cosmos1bob"): "VOTE_OPTION_YES"}
    assert world.ledger.entries == [("r1", "vote:bob:1", fact.tx_hash)]


async def test_vote_skips_a_vote_already_on_chain(world: World) -> None:
    world.chain.votes[(1, "cosmos1alice")] = "VOTE_OPTION_YES"
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert fact == VoteCast("alice", 1, "", reused=True, height=10, at=world.clock.wall())
    assert world.chain.broadcasts == []


async def test_vote_found_through_the_ledger_is_not_cast_again(world: World) -> None:
    tx = world.chain.broadcast("vote", 1, "cosmos1alice", "VOTE_OPTION_YES")
    world.chain.advance()
    await world.ledger.record("r1", "vote:alice:1", tx)
    del world.chain.votes[(1, "cosmos1alice")]  # REST lags behind the block
    fact = await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert isinstance(fact, VoteCast) and fact.reused and fact.tx_hash == tx
    assert len(world.chain.broadcasts) == 1


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ({"tx_code": 13}, ProtocolError, "failed with code 13"),
        ({"include": False}, TransientError, "not included within 10 blocks"),
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


# --- 5. kill between "broadcast" and "ledger written" ------------------------------------


async def test_kill_after_the_proposal_broadcast_then_resume_finds_it_on_chain(
    world: World,
) -> None:
    world.cli.crash_after_broadcast = True
    with pytest.raises(SimulatedCrash):
        await submit_proposal(world.ctx, SUBMIT, state())
    assert world.ledger.entries == []  # killed before the ledger was written
    world.chain.advance()  # the agent is down for a block; the tx is included
    fact = await submit_proposal(world.ctx, SUBMIT, state())  # the resume
    assert isinstance(fact, ProposalSubmitted) and fact.reused
    assert len(world.chain.proposals) == 1 and len(world.chain.broadcasts) == 1


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="defect: a kill after the proposal broadcast and before ledger.record, resumed "
    "while the tx is still in the mempool, finds neither a proposal nor a ledger entry "
    "and broadcasts a second proposal",
)
async def test_kill_after_the_proposal_broadcast_resumed_while_in_the_mempool(
    world: World,
) -> None:
    world.cli.crash_after_broadcast = True
    with pytest.raises(SimulatedCrash):
        await submit_proposal(world.ctx, SUBMIT, state())
    await submit_proposal(world.ctx, SUBMIT, state())  # resumed before the next block
    world.chain.advance(3)
    assert len(world.chain.proposals) == 1


async def test_kill_after_the_ledger_record_then_resume_waits_for_the_tx(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the real TxLedger: recorded, then killed; the resume looks the tx up."""
    ledger = TxLedger(tmp_path / "txs.jsonl")
    w = make_world(tmp_path, ledger=ledger)
    real_record = ledger.record

    async def record_then_die(*a: Any) -> None:
        await real_record(*a)
        raise SimulatedCrash("killed after the ledger write")

    monkeypatch.setattr(ledger, "record", record_then_die)
    with pytest.raises(SimulatedCrash):
        await submit_proposal(w.ctx, SUBMIT, state())
    monkeypatch.setattr(ledger, "record", real_record)
    assert w.chain.proposals == []  # still in the mempool
    fact = await submit_proposal(w.ctx, SUBMIT, state())
    assert isinstance(fact, ProposalSubmitted) and fact.reused and fact.proposal_id == 1
    assert len(w.chain.proposals) == 1 and len(w.chain.broadcasts) == 1


async def test_kill_after_a_vote_broadcast_then_resume_finds_it_on_chain(world: World) -> None:
    world.chain.proposals.append(FakeProposal(1, "v1tov2", 30))
    for voter in ("alice", "bob"):
        world.cli.crash_after_broadcast = True
        with pytest.raises(SimulatedCrash):
            await cast_vote(world.ctx, CastVote(voter, 1), state())
        world.chain.advance()
        fact = await cast_vote(world.ctx, CastVote(voter, 1), state())
        assert isinstance(fact, VoteCast) and fact.reused
    assert sorted(world.chain.vote_txs) == [(1, "cosmos1alice"), (1, "cosmos1bob")]
    assert len(world.chain.proposals) == 1


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="defect: a kill after the vote broadcast and before ledger.record, resumed while "
    "the vote is still in the mempool, casts the vote a second time (a second tx and fee; "
    "the chain keeps the last one)",
)
async def test_kill_after_a_vote_broadcast_resumed_while_in_the_mempool(world: World) -> None:
    world.chain.proposals.append(FakeProposal(1, "v1tov2", 30))
    world.cli.crash_after_broadcast = True
    with pytest.raises(SimulatedCrash):
        await cast_vote(world.ctx, CastVote("alice", 1), state())
    await cast_vote(world.ctx, CastVote("alice", 1), state())
    assert world.chain.vote_txs == [(1, "cosmos1alice")]


# --- 7. verification -----------------------------------------------------------------------

PLAYERS = [
    checkers.PlayerInfo("cosmos1p1", 3, 1, 0),
    checkers.PlayerInfo("cosmos1p2", 5, 0, 0),
    checkers.PlayerInfo("cosmos1p3", 0, 2, 1),
]
BOARD = [("cosmos1p2", 5), ("cosmos1p1", 3)]
H = 12  # upgrade height; the world is at 10


def baseline() -> BaselineCaptured:
    return BaselineCaptured(
        tuple((p.index, p.won, p.lost, p.forfeited) for p in PLAYERS), (), app_version=1
    )


def good_upgrade(w: World) -> None:
    w.chain.applied["v1tov2"] = H
    w.chain.app_version = dict.fromkeys(w.chain.nodes, 2)
    w.chain.cli_leaderboard = list(BOARD)


def names(checks: Any) -> dict[str, bool]:
    return {c.name: c.passed for c in checks}


async def test_capture_baseline_reads_players_balances_and_app_version(world: World) -> None:
    world.chain.players = list(PLAYERS)
    world.chain.balances = {"cosmos1alice": 9}
    world.chain.query_errors = 2  # the node answers "invalid height" twice
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    assert fact.players == baseline().players
    assert fact.balances == (("cosmos1alice", 9), ("cosmos1bob", 0))
    assert fact.app_version == 1
    assert world.chain.height == 12  # retried on the next two blocks


async def test_reads_give_up_after_the_next_blocks(world: World) -> None:
    world.chain.query_errors = 100
    with pytest.raises(TransientError):
        await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert world.chain.height == 15


async def test_verify_upgrade_passes_on_a_good_chain(world: World) -> None:
    good_upgrade(world)
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=baseline()))
    assert isinstance(fact, UpgradeVerified)
    assert names(fact.checks) == {
        "cosmovisor_current": True,
        "applied_plan_height": True,
        "app_version_changed": True,
        "leaderboard_cli": True,
        "app_hash_agree": True,
    }
    assert world.view.all_above(H)  # it waited for block h+1 on every node


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
        (_board, "leaderboard_cli", "got [('cosmos1p1', 3)], expected"),
        (_board_cli, "leaderboard_cli", "show-leaderboard failed: no JSON object"),
        (_hash, "app_hash_agree", "val-alice=DIVERGEDHASH"),
    ],
)
async def test_verify_upgrade_fails_each_check_with_evidence(
    world: World, break_it: Callable[[World], None], check: str, evidence: str
) -> None:
    good_upgrade(world)
    break_it(world)
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=baseline()))
    assert isinstance(fact, UpgradeVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


async def test_verify_upgrade_without_a_baseline_fails(world: World) -> None:
    good_upgrade(world)
    world.chain.cli_leaderboard = []
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state())
    assert isinstance(fact, UpgradeVerified)
    failed = {c.name: c.evidence for c in fact.checks if not c.passed}
    assert set(failed) == {"app_version_changed", "baseline"}
    assert failed["baseline"] == "player infos were never read before the upgrade"
    assert failed["app_version_changed"].startswith("before None")


def restarted_state(**kw: Any) -> State:
    base: dict[str, Any] = dict(
        restart_last_height=8,
        restart_balances=(("cosmos1alice", 5), ("cosmos1bob", 7)),
        restart_leaderboard=tuple(BOARD),
    )
    base.update(kw)
    return state(**base)


def good_restart(w: World) -> None:
    w.chain.balances = {"cosmos1alice": 5, "cosmos1bob": 7}
    w.chain.leaderboard = list(BOARD)


async def test_verify_restart_passes_on_a_good_chain(world: World) -> None:
    good_restart(world)
    fact = await verify_restart(world.ctx, VerifyRestart(8), restarted_state())
    assert isinstance(fact, RestartVerified)
    assert names(fact.checks) == {
        "blocks_resumed": True,
        "leaderboard_kept": True,
        "balances_kept": True,
    }


async def test_verify_restart_with_an_empty_leaderboard_kept_empty(world: World) -> None:
    good_restart(world)
    world.chain.leaderboard = []
    s = restarted_state(restart_leaderboard=())
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified) and all(c.passed for c in fact.checks)


@pytest.mark.parametrize(
    ("last", "mutate", "check", "evidence"),
    [
        (10, None, "blocks_resumed", "last before restart 10; now val-alice=10"),
        (8, {"leaderboard": [("cosmos1p2", 5)]}, "leaderboard_kept", "after [('cosmos1p2', 5)]"),
        (8, {"balances": {"cosmos1alice": 5}}, "balances_kept", "after [('cosmos1alice', 5), "),
    ],
)
async def test_verify_restart_fails_each_check_with_evidence(
    world: World, last: int, mutate: dict[str, Any] | None, check: str, evidence: str
) -> None:
    good_restart(world)
    for k, v in (mutate or {}).items():
        setattr(world.chain, k, v)
    fact = await verify_restart(world.ctx, VerifyRestart(last), restarted_state())
    assert isinstance(fact, RestartVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


# --- 7. Executor.run ----------------------------------------------------------------------


async def test_every_action_type_has_a_handler(world: World) -> None:
    assert set(HANDLERS) == {
        LaunchStack,
        SubmitProposal,
        CastVote,
        CaptureBaseline,
        VerifyUpgrade,
        RestartOnV2,
        VerifyRestart,
        WriteReport,
    }


async def test_executor_runs_write_report(world: World) -> None:
    s = state()
    fact = await Executor(world.ctx).run(WriteReport(), s)
    assert isinstance(fact, ReportWritten) and fact.path.endswith("report.json")
    assert world.reports == [s]


async def test_executor_turns_agent_errors_into_action_failed(world: World) -> None:
    world.chain.include = False
    fact = await Executor(world.ctx).run(SUBMIT, state())
    tx_hash = world.ledger.entries[0][2]
    assert fact == ActionFailed(
        "submit_proposal",
        f"proposal tx {tx_hash} not included within 10 blocks",
        height=world.view.max_height,
        at=world.clock.wall(),
    )


async def test_executor_turns_a_crash_into_action_failed(world: World) -> None:
    async def boom(*_a: Any) -> Any:
        raise KeyError("oops")

    fact = await Executor(world.ctx, {LaunchStack: boom}).run(LaunchStack(), state())
    assert isinstance(fact, ActionFailed)
    assert fact.reason == "internal error: KeyError('oops')"


async def test_executor_without_a_handler_fails_the_action(world: World) -> None:
    fact = await Executor(world.ctx, {}).run(RestartOnV2(), state())
    assert isinstance(fact, ActionFailed) and fact.reason.startswith("no executor for")


async def test_ledger_fake_and_real_agree(tmp_path: Path) -> None:
    """The FakeLedger used above behaves as TxLedger does."""
    for ledger in (FakeLedger(), TxLedger(tmp_path / "l.jsonl")):
        await ledger.record("r", "k", "A")
        await ledger.record("r2", "k", "B")
        await ledger.record("r", "k", "C")
        assert await ledger.find("r", "k") == ["A", "C"]
