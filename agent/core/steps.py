"""The rehearsal's main path, one handler per fact: launch, live, proposal, votes,
pass, upgrade, restart, report; and the deadlines and failures that end it.

Pure, no I/O. ``agent.core.machine.TABLE`` says which handler takes which fact in
which phase; these say what the fact changes and which actions follow.
"""

from __future__ import annotations

from dataclasses import replace

from agent.core.actions import (
    Action,
    ArmDeadline,
    CaptureBaseline,
    CastVote,
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
from agent.core.facts import (
    ActionFailed,
    AppHashesDiverged,
    BaselineCaptured,
    Begin,
    ChainLive,
    DeadlinePassed,
    NodesReached,
    ProposalStatusSeen,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    Resumed,
    StackLaunched,
    StackRestarted,
    StatePrepared,
    UpgradeVerified,
    VoteCast,
)
from agent.core.policy import UpgradeHeightPolicy
from agent.core.state import (
    Phase,
    Result,
    State,
    Transition,
    advance,
    complete,
    fail,
    issue,
)
from agent.errors import IllegalTransition

# Statuses after which a proposal can never pass.
_LOST = frozenset({"PROPOSAL_STATUS_REJECTED", "PROPOSAL_STATUS_FAILED"})


# --- handlers -------------------------------------------------------------


def begin(state: State, fact: Begin) -> Result:
    if state.started:
        return state, ()  # a replayed Begin starts nothing twice
    t = Transition(None, Phase.LAUNCHED, fact.height, fact.at, "rehearsal begins")
    state = replace(state, started=True, transitions=(t,))
    p = state.params
    return issue(
        state,
        LaunchStack(reset=not p.attach, attach=p.attach),
        ArmDeadline("launch", p.launch_timeout, "every node producing blocks after launch"),
    )


def resumed(state: State, _fact: Resumed) -> Result:
    """Re-issue what never completed; re-arm the current deadline in full."""
    again: list[Action] = list(state.pending)
    if state.deadline is not None:
        d = state.deadline
        again.append(ArmDeadline(d.name, d.seconds, d.detail))
    if (
        state.terminal
        and state.report_path is None
        and not any(isinstance(a, WriteReport) for a in state.pending)
    ):
        state, extra = issue(state, WriteReport())
        again.extend(extra)
    return state, tuple(again)


# After a launch, the height every node must be past before the chain counts as live:
# block 2 brings the first block-time estimate (see agent.core.derive).
LIVE_AT = 1


def stack_launched(state: State, fact: StackLaunched) -> Result:
    # After a reset the chain restarts at height 1.
    return replace(complete(state, LaunchStack.KEY), awaiting=LIVE_AT), ()


def chain_live(state: State, fact: ChainLive) -> Result:
    if LaunchStack.KEY in {a.key for a in state.pending}:
        raise IllegalTransition("chain live reported before the stack launch completed")
    p = state.params
    state = replace(
        state,
        awaiting=None,
        block_interval=fact.block_interval,
        plan_interval=min(fact.block_interval, fact.fastest_interval or fact.block_interval),
        voting_period=fact.voting_period,
    )
    if p.state_txs and PrepareState.KEY in {a.key for a in state.pending}:
        return state, ()  # the proposal waits for the declared transactions
    if p.state_txs and PrepareState.KEY not in state.issued:
        # The state the migration will meet first; the proposal's height is planned
        # once it is in (the chain moved on meanwhile).
        return issue(
            state,
            PrepareState(),
            ArmDeadline(
                "prepare", p.state_timeout, "declared transactions " + ", ".join(p.state_txs)
            ),
        )
    return _propose(state, fact.height)


def _propose(state: State, height: int) -> Result:
    p = state.params
    interval = state.plan_interval or state.block_interval or 1.0
    voting_period = state.voting_period or 0.0
    upgrade_height = p.height_policy.height(height, interval, voting_period)
    return issue(
        state,
        SubmitProposal(p.upgrade_name, upgrade_height, interval, voting_period),
        ArmDeadline("propose", p.vote_timeout, "software-upgrade proposal submitted"),
    )


def state_prepared(state: State, fact: StatePrepared) -> Result:
    if PrepareState.KEY not in {a.key for a in state.pending}:
        return state, ()  # a duplicate: the proposal was already asked for
    state = replace(complete(state, PrepareState.KEY), state_txs=fact.txs)
    return _propose(state, fact.height)


def proposal_submitted(state: State, fact: ProposalSubmitted) -> Result:
    if state.phase is not Phase.LAUNCHED:
        if fact.proposal_id == state.proposal_id:
            return state, ()  # duplicate
        raise IllegalTransition(
            f"second proposal {fact.proposal_id} while tracking {state.proposal_id}"
        )
    p = state.params
    interval = state.block_interval or 1.0
    voting_end = fact.voting_end
    if voting_end is None:
        voting_end = fact.at + (state.voting_period or 0.0)
    predicted = UpgradeHeightPolicy.predicted_time(
        fact.upgrade_height, fact.height, interval, fact.at
    )
    state = replace(
        complete(state, SubmitProposal.KEY),
        proposal_id=fact.proposal_id,
        proposal_tx=fact.tx_hash,
        proposal_reused=fact.reused,
        upgrade_height=fact.upgrade_height,
        voting_end=voting_end,
        predicted_upgrade_time=predicted,
    )
    how = "found on chain" if fact.reused else "submitted"
    state = advance(state, Phase.PROPOSED, fact, f"proposal {fact.proposal_id} {how}")
    votes = [
        CastVote(v, fact.proposal_id, p.vote_option(v)) for v in p.voters if v not in state.voted
    ]
    return issue(
        state,
        *votes,
        CaptureBaseline(),
        ArmDeadline("vote", p.vote_timeout, f"votes from {', '.join(p.voters)}"),
    )


def vote_cast(state: State, fact: VoteCast) -> Result:
    if fact.voter in state.voted:
        return complete(state, f"cast_vote:{fact.voter}"), ()
    if fact.voter not in state.params.voters:
        raise IllegalTransition(f"vote from unexpected voter {fact.voter!r}")
    state = replace(
        complete(state, f"cast_vote:{fact.voter}"),
        votes=state.votes + ((fact.voter, fact.tx_hash, fact.reused),),
    )
    if state.phase is Phase.PROPOSED and state.voted >= set(state.params.voters):
        options = {p for _, p in state.params.vote_options} | {"yes"}
        how = "yes" if options == {"yes"} else "as the scenario says"
        state = advance(state, Phase.VOTED, fact, f"every voter voted {how}")
        wait = max(0.0, (state.voting_end or fact.at) - fact.at) + state.params.pass_grace
        return issue(state, ArmDeadline("pass", wait, "proposal status PASSED"))
    return state, ()


def baseline(state: State, fact: BaselineCaptured) -> Result:
    return replace(complete(state, CaptureBaseline.KEY), baseline=fact), ()


def status_seen(state: State, fact: ProposalStatusSeen) -> Result:
    if fact.proposal_id != state.proposal_id:
        return state, ()  # someone else's proposal
    if fact.status in _LOST:
        if state.rejected is not None:
            return state, ()
        if state.params.expect_rejection and state.upgrade_height is not None:
            # Follow it to the end: the chain must run past the height on v1.
            p = state.params
            interval = state.block_interval or 1.0
            until = max(0, state.upgrade_height + 1 - fact.height) * interval
            state = replace(state, rejected=fact.status, awaiting=state.upgrade_height)
            return issue(
                state,
                ArmDeadline(
                    "past_height",
                    until + p.resume_budget,
                    f"every node past height {state.upgrade_height} on the old binary",
                ),
            )
        return fail(state, fact, f"proposal {fact.proposal_id} ended {fact.status}")
    # The chain past the upgrade height before PASSED was seen fails the rehearsal
    # only when a status read at that height says the proposal did not pass: an
    # agent resumed after the upgrade sees a block past the height first, and the
    # status saying PASSED a moment later (a block alone once failed such a resume).
    h = state.upgrade_height
    if (
        fact.status != "PROPOSAL_STATUS_PASSED"
        and state.rejected is None
        and h is not None
        and state.phase in (Phase.PROPOSED, Phase.VOTED)
        and fact.height >= h
    ):
        return fail(
            state,
            fact,
            f"upgrade height {h} reached at {fact.height} before the proposal passed "
            f"(still {fact.status})",
        )
    if fact.status != "PROPOSAL_STATUS_PASSED" or state.phase is not Phase.VOTED:
        return state, ()
    upgrade_height = state.upgrade_height
    assert upgrade_height is not None
    p = state.params
    state = advance(state, Phase.PASSED, fact, f"proposal {fact.proposal_id} passed")
    interval = state.block_interval or 1.0
    until_height = max(0, upgrade_height - fact.height) * interval
    # Block upgrade_height is the first one the new binary commits, and its state
    # (the migration's) is what the checks read: they start once every node shows
    # it *and* every node's app executed it. A node halted there on the old binary
    # may hold the block stored, not executed (a stream reconnecting to it
    # backfills it), so the block alone proves nothing: waiting for the height
    # alone once started the checks beside such a node, and the remediation of a
    # node without Cosmovisor never came. (Waiting for a block past it cost a block.)
    state = replace(state, awaiting=upgrade_height - 1, awaiting_apps=True)
    delay = p.remediation_delay if p.remediate else 0.0
    return issue(
        state,
        ArmDeadline(
            "upgrade",
            until_height + p.resume_budget + delay,
            f"every node executing upgrade height {state.upgrade_height} on v2",
        ),
    )


def nodes_reached(state: State, fact: NodesReached) -> Result:
    if state.awaiting is None or fact.threshold != state.awaiting:
        return state, ()  # stale
    p = state.params
    state = replace(state, awaiting=None, awaiting_apps=False)
    if state.rejected is not None and state.upgrade_height is not None:
        return issue(
            state,
            VerifyNoUpgrade(p.upgrade_name, state.upgrade_height),
            ArmDeadline(VerifyNoUpgrade.KEY, p.verify_timeout, "checks that nothing upgraded"),
        )
    if state.phase is Phase.PASSED:
        assert state.upgrade_height is not None
        return issue(
            state,
            VerifyUpgrade(p.upgrade_name, state.upgrade_height),
            ArmDeadline(VerifyUpgrade.KEY, p.verify_timeout, "upgrade verification"),
        )
    if state.phase is Phase.UPGRADED and state.restart_last_height is not None:
        return issue(
            state,
            VerifyRestart(state.restart_last_height),
            ArmDeadline(VerifyRestart.KEY, p.verify_timeout, "restart verification"),
        )
    return state, ()


def upgrade_verified(state: State, fact: UpgradeVerified) -> Result:
    state = replace(
        complete(state, VerifyUpgrade.KEY), upgrade_checks=fact.checks, upgrade_reads=fact.reads
    )
    failed = [c.name for c in fact.checks if not c.passed]
    if failed or not fact.checks:
        reason = "upgrade checks failed: " + ", ".join(failed or ["none ran"])
        # Nodes that disagree on the migrated state are the finding, not a detail.
        split = [c.evidence for c in fact.checks if c.name == "app_hash_agree" and not c.passed]
        return fail(state, fact, _cause_first(split[0] if split else "", reason))
    state = advance(state, Phase.UPGRADED, fact, f"{len(fact.checks)} upgrade checks passed")
    p = state.params
    return issue(
        state,
        RestartOnV2(),
        ArmDeadline("restart", p.restart_timeout, "every node producing blocks on v2"),
    )


def stack_restarted(state: State, fact: StackRestarted) -> Result:
    state = complete(state, RestartOnV2.KEY)
    return (
        replace(
            state,
            restart_last_height=fact.last_height,
            restart_balances=fact.balances,
            awaiting=fact.last_height,
        ),
        (),
    )


def restart_verified(state: State, fact: RestartVerified) -> Result:
    state = replace(complete(state, VerifyRestart.KEY), restart_checks=fact.checks)
    failed = [c.name for c in fact.checks if not c.passed]
    if failed or not fact.checks:
        return fail(state, fact, "restart checks failed: " + ", ".join(failed or ["none ran"]))
    state = advance(state, Phase.RESTARTED, fact, f"{len(fact.checks)} restart checks passed")
    state = replace(state, deadline=None)
    return issue(state, WriteReport())


def report_written(state: State, fact: ReportWritten) -> Result:
    state = complete(state, WriteReport.KEY)
    return replace(
        state, report_path=fact.path, verdict_met=fact.verdict_met, verdict=fact.verdict
    ), ()


def action_failed(state: State, fact: ActionFailed) -> Result:
    state = complete(state, fact.action)
    if state.terminal:
        return state, ()  # e.g. the report could not be written: nothing more to do
    return fail(
        state,
        fact,
        _cause_first(fact.incident, f"{fact.action}: {fact.reason}"),
        environment=fact.environment,
    )


def app_hashes_diverged(state: State, fact: AppHashesDiverged) -> Result:
    return fail(state, fact, fact.detail)


def _cause_first(incident: str, waited: str) -> str:
    """A failure says what went wrong (a halted chain, a stopped container) before
    which wait ran out: the wait is only where the agent noticed."""
    return f"{incident}; so {waited}" if incident else waited


def deadline_passed(state: State, fact: DeadlinePassed) -> Result:
    if state.terminal or state.deadline is None or state.deadline.name != fact.name:
        return state, ()  # superseded by a later deadline
    d = state.deadline
    p = state.params
    behind = tuple(n for n in fact.behind if n not in state.absent)
    if d.name == "upgrade" and p.remediate and behind and not state.remediated:
        return issue(
            state,
            RemediateNodes(behind),
            ArmDeadline(
                "remediate",
                p.resume_budget,
                f"{', '.join(behind)} executing upgrade height {state.upgrade_height} on v2",
            ),
        )
    who = f" (behind: {', '.join(behind)})" if behind else ""
    why = f"; the last chain read failed: {fact.cause}" if fact.cause else ""
    waited = f"stalled: no {d.detail or d.name} within {d.seconds:.0f}s{who}{why}"
    return fail(state, fact, _cause_first(fact.incident, waited))
