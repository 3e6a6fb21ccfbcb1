"""The Runner without Docker: fake executor, reads, sources and journal.

Blocks come from a ``FakeChain`` only when the test advances it; deadlines run on a
``SteppedClock``, so they fire exactly when the test moves time on.
"""

from __future__ import annotations

import gc
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fakes import (
    OK,
    PASSED,
    VOTING,
    FakeChain,
    RecordingJournal,
    drive_blocks,
    settle,
)
from fakes.rig import (
    ALL_KEYS,
    NODES,
    ORDER,
    Rig,
    params,
    phase_is,
    play,
    rig,
    started,
    streams,
)

from agent.adapters.journal import FileJournal
from agent.core.actions import ArmDeadline, WriteReport
from agent.core.apphash import split
from agent.core.chainview import ChainView
from agent.core.derive import REREAD_S, Derivation, ReadProposalStatus, StatusAnswer
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    Begin,
    ChainLive,
    DeadlinePassed,
    NodesReached,
    ProposalStatusSeen,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import PHASE_EDGES, Phase, State, decide, initial_state
from agent.core.observations import ContainerEvent, NewBlock, StreamStatus
from agent.errors import ProtocolError
from agent.runtime.daemon import SPLIT_EVERY_S

pytestmark = pytest.mark.anyio

# --- 1. the happy path ------------------------------------------------------------


async def test_happy_path_runs_every_phase_once_and_writes_the_report(tmp_path: Path) -> None:
    r = rig(tmp_path, watch=True)
    final = await play(r)

    assert final.phase is Phase.RESTARTED and final.failure is None
    assert r.journal.phases == ORDER
    last = await r.journal.load()
    assert last == final and last.finished and last.pending == ()
    # Each action ran exactly once, and every one of them ran.
    assert Counter(r.executor.started) == Counter(ALL_KEYS)
    assert r.executor.completed == r.executor.started
    # The report is on disk and says restarted.
    assert final.report_path == str(tmp_path / "report.json")
    md = await anyio.Path(tmp_path / "report.md").read_text()
    assert "**restarted**" in md
    # Every action was dispatched from a block or a completed action; blocks gave latencies.
    assert r.runner.reaction_latencies
    w = r.watch
    assert w is not None
    assert w.downtimes == [30.0, 30.0]  # launch and restart are planned downtime
    assert w.calls["downtime_over"] == 2
    assert w.calls["sources_started"] == 1
    assert w.calls["state_changed"] == len(r.journal.saved)
    assert w.calls["observe"] > 0
    assert len(r.journal.saved) == 14  # the cancellation tests below cut in each of them


async def test_passed_is_seen_within_the_block_that_tallied_it(tmp_path: Path) -> None:
    """The status read follows the first node with a block; the node that answers
    may not have committed it yet. After the voting end, a status still in voting
    is read again within the block, so PASSED is not seen a block late."""
    r = rig(tmp_path)
    stale = {"left": 0}

    async def body() -> None:
        await drive_blocks(r.chain, phase_is(r, Phase.VOTED), journal=r.journal)
        r.clock.advance(r.reads.voting_period_s + 1.0)  # the voting period is over
        stale["left"] = 1  # the read on the next block still says VOTING_PERIOD
        r.chain.advance()
        for _ in range(20):
            await settle()
            if r.runner.state.phase is Phase.PASSED:
                return
            r.clock.advance(REREAD_S)  # no new block: only a re-read can see it
        raise AssertionError("PASSED not seen without another block")

    def gate() -> bool:
        if r.runner.state.phase is not Phase.VOTED:
            return False
        if stale["left"]:
            stale["left"] -= 1
            return False
        return True

    r.reads.statuses = [VOTING, PASSED]
    r.reads.gate = gate
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.runner.run, None, "r1")
            await body()
            tg.cancel_scope.cancel()
    assert r.reads.calls.count("proposal_status") >= 2


async def test_observer_handles_stream_status_and_container_events(tmp_path: Path) -> None:
    r = rig(tmp_path, watch=True)

    async def body() -> None:
        await drive_blocks(
            r.chain, lambda: r.runner.state.proposal_id is not None, journal=r.journal
        )
        await r.runner.obs_send.send(StreamStatus("ws:val-a", False, "closed", 1.0))
        await r.runner.obs_send.send(ContainerEvent("val-a", "die", "cid", 137, 1, 1.0))
        await r.runner.obs_send.send(ContainerEvent("val-a", "start", "cid", None, 2, 2.0))
        await drive_blocks(r.chain, lambda: bool(r.final), journal=r.journal)

    final = await play(r, body)
    assert final.phase is Phase.RESTARTED
    assert r.watch is not None and r.watch.calls["observe"] > 3


async def test_failed_and_hung_reads_are_asked_again_on_a_later_block(tmp_path: Path) -> None:
    r = rig(tmp_path, read_timeout=0.05)
    r.reads.fail_next = 2

    async def body() -> None:
        await drive_blocks(
            r.chain, lambda: r.runner.state.proposal_id is not None, journal=r.journal
        )
        r.reads.hang = True
        calls = len(r.reads.calls)
        r.chain.advance()
        await anyio.sleep(0.2)  # past read_timeout: the read is given up
        assert len(r.reads.calls) == calls + 1
        r.reads.hang = False
        await drive_blocks(r.chain, lambda: bool(r.final), journal=r.journal)

    final = await play(r, body)
    assert final.phase is Phase.RESTARTED
    assert r.reads.calls.count("voting_period") == 3  # two failures, then the answer


async def test_an_illegal_fact_is_logged_and_ignored(tmp_path: Path) -> None:
    r = rig(tmp_path)

    async def wrong() -> None:
        # The fake answers capture_baseline; a StackLaunched in proposed is illegal.
        await r.runner._fact_send.send(StackLaunched(0, 0.0))

    r.executor.on_start["capture_baseline"] = wrong
    final = await play(r)
    assert final.phase is Phase.RESTARTED


async def test_the_voting_period_is_read_at_the_first_block_not_when_the_chain_is_live(
    tmp_path: Path,
) -> None:
    """The read is done before the block that makes the chain live arrives, so the
    proposal's reaction to that block has no REST read in it."""
    r = rig(tmp_path)
    seen: dict[str, object] = {}

    async def body() -> None:
        await drive_blocks(r.chain, lambda: r.chain.height >= 1, journal=r.journal)
        await drive_blocks(r.chain, lambda: "voting_period" in r.reads.calls, journal=r.journal)
        seen["height_at_read"] = r.chain.height
        await drive_blocks(r.chain, started(r, "submit_proposal"), journal=r.journal)
        seen["height_at_submit"] = r.chain.height
        await drive_blocks(r.chain, lambda: bool(r.final), journal=r.journal)

    final = await play(r, body)
    assert final.phase is Phase.RESTARTED
    assert seen["height_at_read"] == 1
    assert seen["height_at_submit"] == 2
    assert r.reads.calls.count("voting_period") == 1


# --- 2. every deadline -----------------------------------------------------------------


async def _fails_on_deadline(r: Rig, reach: Callable[[], bool], *, blocks: bool = True) -> State:
    async def body() -> None:
        if blocks:
            await drive_blocks(r.chain, reach, journal=r.journal)
        else:
            while not reach():
                await settle()
        await settle()
        r.clock.advance(10_000)

    return await play(r, body)


@pytest.mark.parametrize(
    ("name", "setup", "detail"),
    [
        ("propose", {"hang": "submit_proposal"}, "software-upgrade proposal submitted"),
        ("vote", {"hang": "cast_vote:bob"}, "votes from alice, bob"),
        ("pass", {"statuses": [VOTING]}, "proposal status PASSED"),
        ("upgrade", {"stop_at": Phase.PASSED}, "every node executing upgrade height"),
        ("verify_upgrade", {"hang": "verify_upgrade"}, "upgrade verification"),
        ("restart", {"hang": "restart_on_v2"}, "every node producing blocks on v2"),
        ("verify_restart", {"hang": "verify_restart"}, "restart verification"),
    ],
)
async def test_each_deadline_fails_the_rehearsal_naming_the_wait(
    tmp_path: Path, name: str, setup: dict[str, Any], detail: str
) -> None:
    r = rig(tmp_path)
    if "hang" in setup:
        r.executor.hang.add(setup["hang"])
        reach = started(r, setup["hang"])
    elif "statuses" in setup:
        r.reads.statuses = setup["statuses"]
        reach = phase_is(r, Phase.VOTED)
    else:
        reach = phase_is(r, setup["stop_at"])

    final = await _fails_on_deadline(r, reach)

    assert final.phase is Phase.FAILED
    assert final.failure is not None
    assert final.failure.startswith(f"stalled: no {detail}") and " within " in final.failure
    assert final.transitions[-1].reason == final.failure
    assert final.report_path == str(tmp_path / "report.json")
    assert r.journal.phases[-1] is Phase.FAILED


@pytest.mark.parametrize("remediate", [False, True])
async def test_a_node_showing_the_height_its_app_never_executed_is_named_behind(
    tmp_path: Path, remediate: bool
) -> None:
    """The carol-without-cosmovisor case: a node halted on v1 at the upgrade height
    shows the block (stored, not executed). The checks must not start beside it, and
    the upgrade deadline must name it, so that remediation (when allowed) comes."""
    r = rig(tmp_path, params(remediate=remediate))
    r.executor.hang.add("remediate:full-c")  # the swap does not bring it back
    chain = r.chain

    async def body() -> None:
        await drive_blocks(chain, phase_is(r, Phase.PASSED), journal=r.journal)
        h = r.runner.state.upgrade_height
        assert h is not None and chain.height < h
        while chain.height < h - 1:
            chain.advance()
            await settle()
        # full-c halts at h: it stores the block, its app cannot execute it, and no
        # live NewBlock comes; its stream, reconnecting, backfills the stored block.
        chain.frozen.add("full-c")
        chain.stored_only.add("full-c")
        chain.advance()
        chain.backfill("full-c", h)
        await settle()
        for _ in range(5):  # the others go on
            chain.advance()
            await settle()
        assert "verify_upgrade" not in r.executor.started
        assert r.runner.derivation.behind(r.runner.state) == ("full-c",)
        r.clock.advance(10_000)
        await settle()
        if remediate:
            assert "remediate:full-c" in r.executor.started
            r.clock.advance(10_000)

    final = await play(r, body)
    assert final.phase is Phase.FAILED
    assert final.failure is not None and final.failure.endswith("(behind: full-c)")
    assert "verify_upgrade" not in r.executor.started


async def test_launch_deadline_when_no_block_ever_comes(tmp_path: Path) -> None:
    r = rig(tmp_path)
    final = await _fails_on_deadline(
        r, lambda: "launch_stack" in r.executor.completed, blocks=False
    )
    # No node ever produced a block: the deadline names every one of them.
    assert final.failure == (
        "stalled: no every node producing blocks after launch within 30s"
        " (behind: val-a, val-b, full-c)"
    )
    assert r.journal.phases == [Phase.LAUNCHED, Phase.FAILED]
    assert r.executor.started == ["launch_stack", "write_report"]


async def test_a_superseded_deadline_does_not_fail_the_run(tmp_path: Path) -> None:
    """Moving time on while a later deadline is armed fires only that one."""
    r = rig(tmp_path)

    async def body() -> None:
        await drive_blocks(r.chain, phase_is(r, Phase.VOTED), journal=r.journal)
        r.clock.advance(5)  # within the pass deadline (31 s): nothing happens
        await settle()
        assert r.runner.state.phase is Phase.VOTED
        await drive_blocks(r.chain, lambda: bool(r.final), journal=r.journal)

    final = await play(r, body)
    assert final.phase is Phase.RESTARTED


# --- 3. executor timeout ----------------------------------------------------------------


async def test_an_executor_that_hangs_past_its_timeout_fails_the_action(tmp_path: Path) -> None:
    r = rig(tmp_path, params(launch_timeout=0.1))
    r.executor.hang.add("launch_stack")

    async def body() -> None:
        pass  # no blocks, no clock: only the executor's own timeout can end this

    final = await play(r, body)
    assert final.phase is Phase.FAILED
    assert final.failure == "launch_stack: did not finish within 0s"
    assert "launch_stack" not in r.executor.completed


async def test_a_failure_leads_with_what_the_watchdog_sees_wrong(tmp_path: Path) -> None:
    """Issue 21: a halted chain or a stopped container is the cause; the deadline or
    the executor's timeout only where the agent noticed it. Both paths ask."""
    seen = "chain halted at 4: val-b (50 % of power) missing from prevotes"
    r = rig(tmp_path, watch=True)
    assert r.watch is not None
    r.watch.what_is_wrong = seen
    r.executor.hang.add("cast_vote:bob")
    final = await _fails_on_deadline(r, started(r, "cast_vote:bob"))
    assert final.failure is not None
    assert final.failure.startswith(seen + "; so stalled: no votes from alice, bob within ")

    r = rig(tmp_path / "timeout", params(launch_timeout=0.1), watch=True)
    assert r.watch is not None
    r.watch.what_is_wrong = "node-c's container was stopped at 05:42:19 (Docker, exit code 0)"
    r.executor.hang.add("launch_stack")

    async def body() -> None:
        pass  # only the executor's own timeout can end this

    final = await play(r, body)
    assert final.failure == (
        "node-c's container was stopped at 05:42:19 (Docker, exit code 0); "
        "so launch_stack: did not finish within 0s"
    )


async def test_nodes_that_split_fail_the_rehearsal_at_once_naming_the_node(
    tmp_path: Path,
) -> None:
    """Issue 21, mixed-binary: whatever the rehearsal waits for (here a vote that
    hangs), the watchdog's split ends it, with the split as its reason."""
    r = rig(tmp_path, watch=True)
    assert r.watch is not None
    r.executor.hang.add("cast_vote:bob")
    found = split(9, {"val-a": "A" * 20, "node-c": "A" * 20, "val-b": "B" * 20})
    assert found is not None

    async def body() -> None:
        await drive_blocks(r.chain, started(r, "cast_vote:bob"), journal=r.journal)
        r.clock.advance(SPLIT_EVERY_S)
        await settle()
        assert r.runner.state.phase is Phase.PROPOSED  # no split yet: nothing happens
        assert r.watch is not None
        r.watch.split = found
        r.clock.advance(SPLIT_EVERY_S)
        await settle()

    final = await play(r, body)
    assert final.phase is Phase.FAILED
    assert final.failure == found.message
    assert "val-b diverged from the other nodes" in final.failure


async def test_a_resumed_action_times_out_by_the_journaled_parameters(tmp_path: Path) -> None:
    # Issue 18: deadlines used the journaled parameters, action timeouts the config
    # loaded at the resume; an edited config mixed the two.
    begun = initial_state("r1", params(launch_timeout=0.1))  # as journaled
    begun, _ = decide(begun, Begin("r1", 0, 0.0))  # launch_stack issued, pending
    r2 = rig(tmp_path, params(launch_timeout=1000.0))  # the config loaded now
    r2.executor.hang.add("launch_stack")

    async def body() -> None:
        pass  # only the action's timeout can end this

    final = await play(r2, body, first=begun)
    assert final.phase is Phase.FAILED
    assert final.failure == "launch_stack: did not finish within 0s"


async def test_an_executor_failure_fails_the_rehearsal(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.executor.fail["cast_vote:alice"] = "tx rejected by CheckTx: out of gas"
    final = await play(r)
    assert final.phase is Phase.FAILED
    assert final.failure == "cast_vote:alice: tx rejected by CheckTx: out of gas"


# --- 4. cancellation at each await, then resume -----------------------------------------


def assert_consistent(state: State) -> None:
    pending = {a.key for a in state.pending}
    assert pending <= state.issued
    phases = [t.to_phase for t in state.transitions]
    assert phases[0] is Phase.LAUNCHED
    for a, b in zip(phases, phases[1:], strict=False):
        assert b in PHASE_EDGES[a]
    assert state.phase is phases[-1]


async def _cancelled_run(r: Rig, arm: Callable[[anyio.CancelScope], None]) -> None:
    """Run until ``arm``'s hook cancels the run (as a SIGTERM/kill would stop it).

    The Runner closes its streams itself, in a finally, when it is cancelled."""
    scope = anyio.CancelScope()
    arm(scope)

    async def main() -> None:
        with scope:
            await r.runner.run(None, "r1")
            raise AssertionError("the run ended before the cancellation")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(main)
            await drive_blocks(r.chain, lambda: scope.cancel_called, journal=r.journal)


async def _resume_and_check(tmp_path: Path, r1: Rig) -> tuple[State, Rig]:
    saved = await r1.journal.load()
    assert saved is not None
    assert_consistent(saved)
    pending = {a.key for a in saved.pending}
    done = saved.issued - pending
    r2 = rig(tmp_path, chain=r1.chain, journal=r1.journal)
    final = await play(r2, first=saved)
    assert final.phase is Phase.RESTARTED, final.failure
    # What had completed is never run again; what was pending is re-issued.
    assert not done & set(r2.executor.started)
    assert pending <= set(r2.executor.started)
    assert max(Counter(r2.executor.started).values(), default=1) == 1
    return saved, r2


@pytest.mark.parametrize("n", range(1, 15))
@pytest.mark.parametrize("stored", [True, False], ids=["after-save", "during-save"])
async def test_cancel_around_the_nth_journal_save_then_resume(
    tmp_path: Path, n: int, stored: bool
) -> None:
    r1 = rig(tmp_path)
    count = 0

    def arm(scope: anyio.CancelScope) -> None:
        async def hook(_state: State) -> None:
            nonlocal count
            count += 1
            if count == n:
                scope.cancel()
                if not stored:
                    await anyio.lowlevel.checkpoint()  # cancelled before it is stored

        r1.journal.before_save = hook

    await _cancelled_run(r1, arm)
    assert len(r1.journal.saved) == (n if stored else n - 1)
    if not r1.journal.saved:  # cancelled in the very first save: nothing to resume
        return
    await _resume_and_check(tmp_path, r1)


@pytest.mark.parametrize(
    "key",
    [
        "launch_stack",
        "submit_proposal",
        "cast_vote:bob",
        "capture_baseline",
        "verify_upgrade",
        "restart_on_v2",
        "verify_restart",
        "write_report",
    ],
)
async def test_cancel_while_an_executor_runs_then_resume_reissues_it(
    tmp_path: Path, key: str
) -> None:
    r1 = rig(tmp_path)

    def arm(scope: anyio.CancelScope) -> None:
        async def hook() -> None:
            scope.cancel()
            await anyio.sleep_forever()

        r1.executor.on_start[key] = hook

    await _cancelled_run(r1, arm)
    assert key not in r1.executor.completed
    saved, r2 = await _resume_and_check(tmp_path, r1)
    assert key in {a.key for a in saved.pending}
    assert r2.executor.started.count(key) == 1


async def _streams_of_a_cancelled_run(tmp_path: Path) -> list[Any]:
    r = rig(tmp_path)

    def arm(scope: anyio.CancelScope) -> None:
        async def hook() -> None:
            scope.cancel()
            await anyio.sleep_forever()

        r.executor.on_start["submit_proposal"] = hook

    await _cancelled_run(r, arm)
    assert "submit_proposal" in r.executor.started
    return streams(r.runner)


async def test_a_cancelled_run_closes_its_streams_too(tmp_path: Path) -> None:
    left = await _streams_of_a_cancelled_run(tmp_path)
    assert len(left) == 4
    assert all(s._closed for s in left)  # closed by the Runner's finally, not by the test
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del left
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


async def test_cancel_during_a_file_journal_save_keeps_the_state_being_saved(
    tmp_path: Path,
) -> None:
    """FileJournal.save is shielded: a cancellation mid-save still leaves it on disk."""
    fj = FileJournal(tmp_path / "journal.json")
    inner = RecordingJournal()
    count = 0
    r1 = rig(tmp_path, journal=inner)
    being_saved: list[State] = []

    def arm(scope: anyio.CancelScope) -> None:
        async def hook(state: State) -> None:
            nonlocal count
            count += 1
            if count == 4:
                scope.cancel()
                being_saved.append(state)
            await fj.save(state)

        inner.before_save = hook

    await _cancelled_run(r1, arm)
    on_disk = await fj.load()
    assert on_disk == being_saved[0]
    assert_consistent(on_disk)
    r2 = rig(tmp_path, chain=r1.chain, journal=RecordingJournal(on_disk))
    final = await play(r2, first=on_disk)
    assert final.phase is Phase.RESTARTED


# --- 6. resume from every phase's journal ------------------------------------------------


def _facts() -> list[Any]:
    """A rehearsal's facts (upgrade height 15 with this module's params), in order."""
    t = 1_700_000_000.0
    return [
        Begin("r0", 0, t),  # 1
        StackLaunched(0, t + 1),  # 2
        ChainLive(block_interval=1.0, voting_period=1.0, height=5, at=t + 5),  # 3
        ProposalSubmitted(1, "TXP", 15, voting_end=t + 7, height=6, at=t + 6),  # 4
        VoteCast("alice", 1, "TXA", height=7, at=t + 7),  # 5
        BaselineCaptured((("players", '{"value": null}'),), (), 1, height=7, at=t + 7),  # 6
        VoteCast("bob", 1, "TXB", height=8, at=t + 8),  # 7
        ProposalStatusSeen(1, PASSED, height=9, at=t + 9),  # 8
        NodesReached(14, height=15, at=t + 16),  # 9: every node executed the upgrade height
        UpgradeVerified(OK, height=16, at=t + 16),  # 10
        StackRestarted(16, height=16, at=t + 17),  # 11
        NodesReached(16, height=17, at=t + 18),  # 12
        RestartVerified(OK, height=18, at=t + 19),  # 13
        ReportWritten("old.json", height=18, at=t + 20),  # 14
    ]


def _state_after(n: int, extra: list[Any] | None = None) -> State:
    state = initial_state("r0", params())
    for f in _facts()[:n] + (extra or []):
        state, _ = decide(state, f)
    return state


_FAIL_VOTING = [DeadlinePassed("vote", 7, 1_700_000_010.0, "votes")]
_FAIL = [DeadlinePassed("pass", 9, 1_700_000_010.0, "status")]


@pytest.mark.parametrize(
    ("n", "extra", "outcome", "pending"),
    [
        (1, None, Phase.RESTARTED, {"launch_stack"}),
        (2, None, Phase.RESTARTED, set()),
        (3, None, Phase.RESTARTED, {"submit_proposal"}),
        (4, None, Phase.RESTARTED, {"cast_vote:alice", "cast_vote:bob", "capture_baseline"}),
        (5, None, Phase.RESTARTED, {"cast_vote:bob", "capture_baseline"}),
        (7, None, Phase.RESTARTED, set()),
        (8, None, Phase.RESTARTED, set()),
        (9, None, Phase.RESTARTED, {"verify_upgrade"}),
        (10, None, Phase.RESTARTED, {"restart_on_v2"}),
        (11, None, Phase.RESTARTED, set()),
        (12, None, Phase.RESTARTED, {"verify_restart"}),
        (13, None, Phase.RESTARTED, {"write_report"}),
        (14, None, Phase.RESTARTED, set()),
        (7, _FAIL, Phase.FAILED, {"write_report"}),
        (7, _FAIL + [ReportWritten("r.json")], Phase.FAILED, set()),
        # A failure with a vote pending (see the failure tests below).
    ],
    ids=[
        "launched-launch-pending",
        "launched-stack-up",
        "launched-submit-pending",
        "proposed",
        "proposed-one-vote",
        "voted",
        "passed",
        "passed-verifying",
        "upgraded",
        "upgraded-restarted",
        "upgraded-verifying-restart",
        "restarted-report-pending",
        "restarted-done",
        "failed-report-pending",
        "failed-done",
    ],
)
async def test_resume_from_a_file_journal_reissues_exactly_the_pending_actions(
    tmp_path: Path, n: int, extra: list[Any] | None, outcome: Phase, pending: set[str]
) -> None:
    state = _state_after(n, extra)
    assert {a.key for a in state.pending} == pending
    fj = FileJournal(tmp_path / "journal.json")
    await fj.save(state)
    loaded = await fj.load()
    assert loaded == state

    height = max((f.height for f in _facts()[:n]), default=0)
    r = rig(tmp_path, chain=FakeChain(list(NODES), height=height))
    final = await play(r, first=loaded)

    assert final.phase is outcome
    assert final.finished and final.report_path is not None
    ran = r.executor.started
    assert set(ran[: len(pending)]) == pending  # the re-issued ones come first
    assert not (state.issued - pending) & set(ran), "a completed action ran again"
    assert max(Counter(ran).values(), default=1) == 1
    if state.finished:
        assert ran == [] and final == state
    # Only new deadlines and the re-armed current one were set.
    assert all(not isinstance(a, ArmDeadline) for a in final.pending)


async def test_a_wait_that_stalls_on_an_unreadable_answer_names_it(tmp_path: Path) -> None:
    """The chain's voting period cannot be read (out of range): the launch deadline's
    failure says why the chain never counted as live, not only that it stalled."""
    r = rig(tmp_path)

    async def bad_period() -> float:
        r.reads.calls.append("voting_period")
        raise ProtocolError("voting_period: duration out of range (0 to 10 years): '-5s'")

    r.reads.voting_period = bad_period  # type: ignore[method-assign]
    final = await _fails_on_deadline(r, lambda: "voting_period" in r.reads.calls)
    assert final.phase is Phase.FAILED
    assert final.failure is not None and final.failure.startswith("stalled: no every node")
    assert final.failure.endswith(
        "; the last chain read failed: governance parameters: voting_period: duration out"
        " of range (0 to 10 years): '-5s'"
    )


def test_every_status_read_is_reported_even_when_unchanged() -> None:
    """The machine ignores PASSED while still in ``proposed``: the derivation must say
    it again on the next read, or the agent never learns the proposal passed."""
    view = ChainView(list(NODES))
    d = Derivation(view)
    s = _state_after(4)  # proposed: the votes are on their way
    assert s.phase is Phase.PROPOSED and s.proposal_id is not None
    seen = []
    for h in (5, 6, 7):
        before = view.max_height
        ev = NewBlock(NODES[0], h, "", 1_700_000_000.0 + h)
        view.observe(ev)
        (read,) = [o for o in d.on_block(s, ev, before) if isinstance(o, ReadProposalStatus)]
        out = d.on_answer(s, StatusAnswer(read, PASSED if h > 5 else VOTING, ev.at))
        seen.append(out[0] if out else None)
    assert [f.status if isinstance(f, ProposalStatusSeen) else None for f in seen] == [
        VOTING,
        PASSED,
        PASSED,
    ]
    assert all(isinstance(f, ProposalStatusSeen) for f in seen)


async def test_passed_seen_before_the_last_vote_fact_is_not_lost(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.reads.statuses = [PASSED]
    r.reads.gate = None

    async def late_vote() -> None:
        while "proposal_status" not in r.reads.calls:
            await anyio.lowlevel.checkpoint()

    r.executor.on_start["cast_vote:bob"] = late_vote
    final = await play(r)
    assert final.phase is Phase.RESTARTED, final.failure


async def _run_to_the_end(tmp_path: Path) -> list[Any]:
    """A whole run; only the Runner's four streams outlive it."""
    r = rig(tmp_path)
    done = anyio.Event()

    async def main() -> None:
        r.final.append(await r.runner.run(None, "r1"))
        done.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(main)
            await drive_blocks(r.chain, done.is_set, journal=r.journal)
    assert r.final[0].phase is Phase.RESTARTED
    runner = r.runner
    return [runner.obs_send, runner._obs_recv, runner._fact_send, runner._fact_recv]


async def test_the_runner_closes_its_streams_when_run_returns(tmp_path: Path) -> None:
    streams = await _run_to_the_end(tmp_path)
    assert len(streams) == 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del streams
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


@pytest.mark.parametrize(
    "fact",
    [
        _FAIL_VOTING[0],
        ActionFailed("capture_baseline", "node gone", 7, 1_700_000_010.0),
    ],
    ids=["vote-deadline", "baseline-failed"],
)
def test_failing_keeps_only_the_report_pending(fact: DeadlinePassed | ActionFailed) -> None:
    s = _state_after(5)  # proposed; alice voted; bob's vote and the baseline pending
    assert {a.key for a in s.pending} == {"cast_vote:bob", "capture_baseline"}
    failed, actions = decide(s, fact)
    assert failed.phase is Phase.FAILED
    assert failed.pending == (WriteReport(),)
    assert [a.key for a in actions] == ["write_report"]


async def test_resuming_a_failed_journal_never_casts_a_vote(tmp_path: Path) -> None:
    state = _state_after(5, _FAIL_VOTING)
    assert state.phase is Phase.FAILED
    fj = FileJournal(tmp_path / "journal.json")
    await fj.save(state)
    loaded = await fj.load()
    assert loaded is not None and {a.key for a in loaded.pending} == {"write_report"}

    r = rig(tmp_path, chain=FakeChain(list(NODES), height=7))
    final = await play(r, first=loaded)
    assert final.phase is Phase.FAILED and final.report_path is not None
    assert Counter(r.executor.started) == Counter(["write_report"])
    assert [v for v, _, _ in final.votes] == ["alice"]
