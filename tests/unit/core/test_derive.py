"""The derivation: which blocks mean which facts, by tables like the machine's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from agent.core.actions import (
    CaptureBaseline,
    CastVote,
    LaunchStack,
    PrepareState,
    RestartOnV2,
    SubmitProposal,
    VerifyUpgrade,
)
from agent.core.chainview import ChainView
from agent.core.derive import (
    MEASURE_GAPS,
    REREAD_S,
    REREADS_PER_BLOCK,
    Answer,
    CommittedAnswer,
    Derivation,
    GovParamsAnswer,
    Output,
    Read,
    ReadCommitted,
    ReadDue,
    ReadFailed,
    ReadGovParams,
    ReadProposalStatus,
    StatusAnswer,
    action_timeout,
    ends_downtime,
    planned_downtime,
)
from agent.core.facts import (
    ActionFailed,
    ChainLive,
    HeightObserved,
    NodesReached,
    ProposalStatusSeen,
    StackLaunched,
    StackRestarted,
    VoteCast,
)
from agent.core.machine import Params, Phase, State, initial_state
from agent.core.observations import NewBlock

NODES = ("a", "b", "c")
T0 = 1_700_000_000.0


def block(node: str, height: int, at: float) -> NewBlock:
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return NewBlock(node, height, stamp, at)


def state(phase: Phase, awaiting: int | None = None, proposal_id: int | None = None) -> State:
    s = initial_state("r", Params())
    return replace(s, started=True, phase=phase, awaiting=awaiting, proposal_id=proposal_id)


def fact_of(d: Derivation, s: State, answer: Answer) -> object | None:
    """The one fact a read's answer brings (None: none), asserting it asks nothing."""
    out = d.on_answer(s, answer)
    assert len(out) <= 1 and not [o for o in out if isinstance(o, Read)], out
    return out[0] if out else None


def feed(d: Derivation, s: State, blocks: list[NewBlock]) -> list[object]:
    out: list[object] = []
    for b in blocks:
        before = d.view.max_height
        if d.view.observe(b):
            out += d.on_block(s, b, before)
    return out


def chain(nodes: tuple[str, ...], heights: range, start: float = T0) -> list[NewBlock]:
    return [block(n, h, start + h) for h in heights for n in nodes]


# --- height observed --------------------------------------------------------------


def test_height_observed_only_when_the_highest_height_rises() -> None:
    d = Derivation(ChainView(NODES))
    out = feed(d, state(Phase.PROPOSED), [block("a", 5, T0), block("b", 4, T0), block("a", 6, T0)])
    heights = [o.height for o in out if isinstance(o, HeightObserved)]
    assert heights == [5, 6]


# --- nodes reached ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "blocks", "expected"),
    [
        # not every node past the threshold yet
        (Phase.PASSED, chain(("a", "b"), range(9, 12)), []),
        # every node past 10: answered once
        (Phase.PASSED, chain(NODES, range(9, 12)), [NodesReached(10, 11, T0 + 11)]),
        (Phase.UPGRADED, chain(NODES, range(9, 14)), [NodesReached(10, 11, T0 + 11)]),
    ],
)
def test_nodes_reached_table(phase: Phase, blocks: list[NewBlock], expected: list[object]) -> None:
    d = Derivation(ChainView(NODES))
    out = feed(d, state(phase, awaiting=10), blocks)
    assert [o for o in out if isinstance(o, NodesReached)] == expected


def test_nodes_reached_answers_a_new_threshold_again() -> None:
    d = Derivation(ChainView(NODES))
    feed(d, state(Phase.PASSED, awaiting=10), chain(NODES, range(9, 12)))
    out = feed(d, state(Phase.UPGRADED, awaiting=20), chain(NODES, range(12, 22)))
    assert [o.threshold for o in out if isinstance(o, NodesReached)] == [20]


def backfilled(nodes: tuple[str, ...], height: int, at: float) -> list[NewBlock]:
    return [replace(block(n, height, at), backfilled=True) for n in nodes]


def awaiting_apps(threshold: int) -> State:
    return replace(state(Phase.PASSED, awaiting=threshold, proposal_id=1), awaiting_apps=True)


def test_when_the_apps_are_awaited_a_live_block_is_proof_enough() -> None:
    """CometBFT fires NewBlock after the app's commit: blocks that came live prove
    their apps executed them, and nothing is read."""
    d = Derivation(ChainView(NODES))
    out = feed(d, awaiting_apps(10), chain(NODES, range(9, 12)))
    assert not [o for o in out if isinstance(o, ReadCommitted)]
    assert [o for o in out if isinstance(o, NodesReached)] == [NodesReached(10, 11, T0 + 11)]


def test_a_backfilled_block_brings_a_read_of_that_node_alone() -> None:
    """After the upgrade halt every node's stream reconnects and backfills the
    height: each node's app is asked as it shows it, so when the last one shows it
    only its own read stands between the block and the checks."""
    d = Derivation(ChainView(NODES))
    s = awaiting_apps(10)
    feed(d, s, chain(NODES, range(9, 11)))
    reads: list[object] = []
    for n in NODES:
        reads += [
            o
            for o in feed(d, s, backfilled((n,), 11, T0 + 11))
            if not isinstance(o, HeightObserved)
        ]
    assert reads == [ReadCommitted(10, (n,)) for n in NODES]
    assert fact_of(d, s, CommittedAnswer(ReadCommitted(10, ("a",)), {"a": 11}, T0 + 12)) is None
    assert fact_of(d, s, CommittedAnswer(ReadCommitted(10, ("b",)), {"b": 11}, T0 + 12)) is None
    fact = fact_of(d, s, CommittedAnswer(ReadCommitted(10, ("c",)), {"c": 11}, T0 + 12))
    assert fact == NodesReached(10, 11, T0 + 12)
    later = feed(d, s, chain(NODES, range(12, 13)))  # answered: neither asked nor answered again
    assert not [o for o in later if isinstance(o, ReadCommitted | NodesReached)]


def test_an_app_behind_its_blocks_holds_the_answer_and_is_named_behind() -> None:
    d = Derivation(ChainView(NODES))
    s = awaiting_apps(10)
    feed(d, s, chain(NODES, range(9, 11)))
    reads = [o for o in feed(d, s, backfilled(NODES, 11, T0 + 11)) if isinstance(o, ReadCommitted)]
    assert reads == [ReadCommitted(10, (n,)) for n in NODES]
    # While they are in flight, another block asks nothing again.
    assert not [o for o in feed(d, s, chain(("a",), range(12, 13))) if isinstance(o, ReadCommitted)]
    # c shows block 11 but its app stopped at 10 (halted, the block stored); b is
    # restarting and does not answer.
    answers: list[dict[str, int | None]] = [{"a": 11}, {"b": None}, {"c": 10}]
    assert [
        fact_of(d, s, CommittedAnswer(r, a, T0 + 12)) for r, a in zip(reads, answers, strict=True)
    ] == [None] * 3
    assert d.view.behind(10) == ()  # the blocks alone say nobody is behind
    assert d.behind(s) == ("b", "c")
    # Asked again on the next block, any node's; now every app has it.
    again = [o for o in feed(d, s, chain(("a",), range(13, 14))) if isinstance(o, ReadCommitted)]
    assert again == [ReadCommitted(10, ("b", "c"))]
    assert fact_of(d, s, CommittedAnswer(again[0], {"b": 12, "c": 11}, T0 + 14)) == NodesReached(
        10, 13, T0 + 14
    )
    assert d.behind(s) == ()
    # A node the scenario took away is neither asked nor waited for.
    gone = replace(s, absent=frozenset({"c"}))
    d2 = Derivation(ChainView(NODES))
    reads = [o for o in feed(d2, gone, backfilled(NODES, 11, T0)) if isinstance(o, ReadCommitted)]
    assert reads == [ReadCommitted(10, ("a",)), ReadCommitted(10, ("b",))]


def test_a_failed_apps_read_is_asked_again_on_the_next_block() -> None:
    d = Derivation(ChainView(NODES))
    s = awaiting_apps(10)
    (read,) = [o for o in feed(d, s, backfilled(("a",), 11, T0)) if isinstance(o, ReadCommitted)]
    assert not [o for o in feed(d, s, chain(("b",), range(12, 13))) if isinstance(o, ReadCommitted)]
    d.on_answer(s, ReadFailed(read, "connection refused"))
    again = [o for o in feed(d, s, chain(("b",), range(13, 14))) if isinstance(o, ReadCommitted)]
    assert again == [read]


# --- chain live -----------------------------------------------------------------------


def live_facts(out: list[object]) -> list[ChainLive]:
    return [o for o in out if isinstance(o, ChainLive)]


def test_the_chain_is_live_at_block_2_with_the_arrival_gap() -> None:
    """The voting period is read at the first block, ahead of need. Block 2's header
    gap from block 1 carries the genesis time, so the first estimate is the agent's
    own: blocks 1 and 2 arriving live. The proposal is signed with it while the
    first header gap (2-3) is measured."""
    d = Derivation(ChainView(NODES))
    s = state(Phase.LAUNCHED, awaiting=1)
    assert MEASURE_GAPS == 1
    genesis = [NewBlock(n, 1, "2026-01-01T00:00:00Z", T0 + 1) for n in NODES]
    # Not before every node shows block 1: a node's REST is "not ready" until its
    # app committed a block, and the REST pool would fail over and stay away.
    assert not [o for o in feed(d, s, genesis[:1]) if isinstance(o, ReadGovParams)]
    out = feed(d, s, genesis[1:])
    reads = [o for o in out if isinstance(o, ReadGovParams)]
    assert reads == [ReadGovParams()] and not live_facts(out)
    assert fact_of(d, s, GovParamsAnswer(20.0, T0 + 1.1)) is None  # not live yet
    out = feed(d, s, [block(n, 2, T0 + 2.5) for n in NODES])
    # No read on the path: the block that makes the chain live brings ChainLive.
    assert not [o for o in out if isinstance(o, ReadGovParams)]
    assert live_facts(out) == [ChainLive(1.5, 20.0, 2, T0 + 2.5, fastest_interval=None)]
    # Answered: further blocks neither read nor go live again.
    later = feed(d, s, chain(NODES, range(3, 6)))
    assert not [o for o in later if isinstance(o, ReadGovParams | ChainLive)]


def test_a_voting_period_read_that_comes_late_brings_chain_live_itself() -> None:
    d = Derivation(ChainView(NODES))
    s = state(Phase.LAUNCHED, awaiting=1)
    out = feed(d, s, chain(NODES, range(1, 4)))
    (read,) = [o for o in out if isinstance(o, ReadGovParams)]  # one, still in flight
    assert not live_facts(out)
    live = fact_of(d, s, GovParamsAnswer(20.0, T0 + 9))
    assert live == ChainLive(1.0, 20.0, 3, T0 + 9, fastest_interval=1.0)


def test_without_live_arrivals_the_chain_is_live_at_the_first_header_gap() -> None:
    """Blocks 1 and 2 backfilled (the streams connected late) give no arrival gap:
    the estimate waits for the header gap 2-3."""
    d = Derivation(ChainView(NODES))
    s = state(Phase.LAUNCHED, awaiting=1)
    late = [
        replace(block(n, h, T0 + h), at=T0 + 2.05, backfilled=True) for h in (1, 2) for n in NODES
    ]
    out = feed(d, s, late)
    d.on_answer(s, GovParamsAnswer(20.0, T0 + 2.1))
    assert not live_facts(out)
    out = feed(d, s, chain(NODES, range(3, 4)))
    assert live_facts(out) == [ChainLive(1.0, 20.0, 3, T0 + 3, fastest_interval=1.0)]


def test_a_failed_gov_params_read_is_asked_again_on_the_next_block() -> None:
    d = Derivation(ChainView(NODES))
    s = state(Phase.LAUNCHED, awaiting=1)
    reads = [o for o in feed(d, s, chain(NODES, range(1, 6))) if isinstance(o, ReadGovParams)]
    d.on_answer(s, ReadFailed(reads[0], "connection refused"))
    again = [o for o in feed(d, s, chain(NODES, range(6, 7))) if isinstance(o, ReadGovParams)]
    assert again == [ReadGovParams()]


def test_restart_chain_forgets_heights_and_answers() -> None:
    d = Derivation(ChainView(NODES))
    feed(d, state(Phase.PASSED, awaiting=10), chain(NODES, range(9, 12)))
    d.restart_chain()
    assert d.view.max_height == 0
    # A relaunched chain starts at 1 again and is seen (not dropped as stale).
    out = feed(d, state(Phase.LAUNCHED, awaiting=2), chain(NODES, range(1, 6)))
    assert any(isinstance(o, ReadGovParams) for o in out)


# --- proposal status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "proposal_id", "reads"),
    [
        (Phase.LAUNCHED, None, 0),
        (Phase.PROPOSED, 1, 1),
        (Phase.VOTED, 1, 1),
        (Phase.PASSED, 1, 0),
        (Phase.UPGRADED, 1, 0),
    ],
)
def test_status_read_by_phase(phase: Phase, proposal_id: int | None, reads: int) -> None:
    d = Derivation(ChainView(NODES))
    out = feed(d, state(phase, proposal_id=proposal_id), [block("a", 5, T0)])
    assert len([o for o in out if isinstance(o, ReadProposalStatus)]) == reads


def test_status_is_read_from_any_node_one_at_a_time_and_every_read_reported() -> None:
    d = Derivation(ChainView(NODES))
    s = state(Phase.VOTED, proposal_id=7)
    # node-carol ("c") is down: blocks from "a" alone still trigger the read.
    (read,) = [o for o in feed(d, s, [block("a", 5, T0)]) if isinstance(o, ReadProposalStatus)]
    assert not feed(d, s, [block("a", 6, T0 + 1)])[1:]  # in flight: no second read
    seen = fact_of(d, s, StatusAnswer(read, "PROPOSAL_STATUS_VOTING_PERIOD", T0 + 1))
    assert seen == ProposalStatusSeen(7, "PROPOSAL_STATUS_VOTING_PERIOD", 6, T0 + 1)
    # The same status again is still reported: the machine may not have been able
    # to use it the first time (PASSED read while the last vote was in flight).
    (read,) = [o for o in feed(d, s, [block("b", 7, T0)]) if isinstance(o, ReadProposalStatus)]
    again = fact_of(d, s, StatusAnswer(read, "PROPOSAL_STATUS_VOTING_PERIOD", T0 + 2))
    assert again is not None
    (read,) = [o for o in feed(d, s, [block("b", 8, T0)]) if isinstance(o, ReadProposalStatus)]
    passed = fact_of(d, s, StatusAnswer(read, "PROPOSAL_STATUS_PASSED", T0 + 3))
    assert isinstance(passed, ProposalStatusSeen) and passed.status == "PROPOSAL_STATUS_PASSED"
    assert d.on_answer(s, StatusAnswer(read, None, T0 + 4)) == []  # not found: nothing


def test_a_failed_status_read_is_asked_again() -> None:
    d = Derivation(ChainView(NODES))
    s = state(Phase.VOTED, proposal_id=7)
    (read,) = [o for o in feed(d, s, [block("a", 5, T0)]) if isinstance(o, ReadProposalStatus)]
    d.on_answer(s, ReadFailed(read, "connection refused"))
    assert [o for o in feed(d, s, [block("a", 6, T0)]) if isinstance(o, ReadProposalStatus)]


VOTING = "PROPOSAL_STATUS_VOTING_PERIOD"


def _voted(voting_end: float | None) -> State:
    return replace(state(Phase.VOTED, proposal_id=7), voting_end=voting_end)


@pytest.mark.parametrize(
    ("phase", "status", "at", "again"),
    [
        (Phase.VOTED, VOTING, T0 + 20.5, True),  # over by the clock, still voting: stale?
        (Phase.VOTED, VOTING, T0 + 19.5, False),  # still in its voting period
        (Phase.VOTED, "PROPOSAL_STATUS_PASSED", T0 + 20.5, False),  # the answer is in
        (Phase.PROPOSED, VOTING, T0 + 20.5, False),  # the machine cannot use PASSED yet
    ],
)
def test_a_status_still_voting_after_the_voting_end_is_read_again_within_the_block(
    phase: Phase, status: str, at: float, again: bool
) -> None:
    d = Derivation(ChainView(NODES))
    s = replace(_voted(T0 + 20.0), phase=phase)
    (read,) = [o for o in feed(d, s, [block("a", 30, T0)]) if isinstance(o, ReadProposalStatus)]
    out = d.on_answer(s, StatusAnswer(read, status, at))
    assert out[0] == ProposalStatusSeen(7, status, 30, at)
    assert (out[1:] == [ReadProposalStatus(7, after=REREAD_S, height=30)]) is again


def test_a_reread_is_sent_only_while_no_newer_block_came_and_a_few_times_a_block() -> None:
    d = Derivation(ChainView(NODES))
    s = _voted(T0 + 20.0)
    (read,) = [o for o in feed(d, s, [block("a", 30, T0)]) if isinstance(o, ReadProposalStatus)]
    later = ReadProposalStatus(7, after=REREAD_S, height=30)
    assert d.on_answer(s, StatusAnswer(read, VOTING, T0 + 21))[1:] == [later]
    out: list[Output] = []
    for _ in range(REREADS_PER_BLOCK):
        assert d.on_answer(s, ReadDue(later)) == [read]  # its wait is over: now
        assert d.on_answer(s, ReadDue(later)) == []  # one in flight
        out = d.on_answer(s, StatusAnswer(read, VOTING, T0 + 21))
        assert isinstance(out[0], ProposalStatusSeen)
    assert out[1:] == []  # enough for this block
    (read,) = [o for o in feed(d, s, [block("a", 31, T0)]) if isinstance(o, ReadProposalStatus)]
    out = d.on_answer(s, StatusAnswer(read, VOTING, T0 + 22))
    assert out[1:] == [ReadProposalStatus(7, after=REREAD_S, height=31)]  # a new block: again
    assert d.on_answer(s, ReadDue(later)) == []  # a reread planned at 30 is moot at 31


# --- planned downtime and timeouts ----------------------------------------------------

P = Params(
    launch_timeout=11.0,
    vote_timeout=22.0,
    restart_timeout=33.0,
    verify_timeout=44.0,
    state_timeout=55.0,
)


@pytest.mark.parametrize(
    ("action", "timeout", "downtime"),
    [
        (LaunchStack(reset=True), 11.0, 11.0),
        (SubmitProposal("u", 10, 1.0, 20.0), 22.0, None),
        (CastVote("alice", 1), 22.0, None),
        (CaptureBaseline(), 44.0, None),
        (VerifyUpgrade("u", 10), 44.0, None),
        (RestartOnV2(), 33.0, 33.0),
        (PrepareState(), 55.0, None),
    ],
)
def test_timeouts_and_planned_downtime(
    action: object, timeout: float, downtime: float | None
) -> None:
    assert action_timeout(action, P) == timeout  # type: ignore[arg-type]
    assert planned_downtime(action, P) == downtime  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fact", "ends"),
    [
        (StackLaunched(1, T0), True),
        (StackRestarted(30, height=30, at=T0), True),
        (ActionFailed("launch_stack", "boom", 0, T0), True),
        (ActionFailed("restart_on_v2", "boom", 0, T0), True),
        (ActionFailed("cast_vote:alice", "boom", 0, T0), False),
        (VoteCast("alice", 1, "TX"), False),
    ],
)
def test_which_facts_end_planned_downtime(fact: object, ends: bool) -> None:
    assert ends_downtime(fact) is ends  # type: ignore[arg-type]
