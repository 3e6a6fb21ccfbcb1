"""The rehearsal state machine: pure, no I/O.

``decide(state, fact) -> (state, actions)``. Everything that affects the
rehearsal's progress lives in this file; the phases are an Enum, each
(phase, fact type) pair that is legal has exactly one entry in ``TABLE``, and
any other pair raises ``IllegalTransition``. Model: h11 ``_state.py``.

Phases, in order: launched -> proposed -> voted -> passed -> upgraded ->
restarted; any of them may go to failed. ``PHASE_EDGES`` is the only list of
allowed phase changes, so no phase can be skipped.

Idempotence: every action has a key; an issued key is never issued again, so
a duplicated or replayed fact never repeats an action. Actions issued but not
completed stay in ``pending`` (persisted by the journal); after a crash,
``Resumed`` re-issues exactly those, and the executors reconcile them with the
chain (reuse the proposal, skip a vote already cast).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from agent.core.actions import (
    Action,
    ArmDeadline,
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
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    Begin,
    ChainLive,
    Check,
    DeadlinePassed,
    ExitExplained,
    Fact,
    FaultInjected,
    HeightObserved,
    NodeExited,
    NodesReached,
    NodesRemediated,
    NoUpgradeVerified,
    ProposalStatusSeen,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    Resumed,
    StackLaunched,
    StackRestarted,
    StatePrepared,
    StateTx,
    UpgradeVerified,
    VoteCast,
)
from agent.core.policy import UpgradeHeightPolicy
from agent.errors import IllegalTransition

__all__ = [
    "Phase",
    "Params",
    "FaultPlan",
    "Transition",
    "Deadline",
    "State",
    "initial_state",
    "decide",
    "TABLE",
    "PHASE_EDGES",
    "TERMINAL",
]


class Phase(enum.Enum):
    LAUNCHED = "launched"
    PROPOSED = "proposed"
    VOTED = "voted"
    PASSED = "passed"
    UPGRADED = "upgraded"
    RESTARTED = "restarted"
    FAILED = "failed"


TERMINAL = frozenset({Phase.RESTARTED, Phase.FAILED})

PHASE_EDGES: dict[Phase, frozenset[Phase]] = {
    Phase.LAUNCHED: frozenset({Phase.PROPOSED, Phase.FAILED}),
    Phase.PROPOSED: frozenset({Phase.VOTED, Phase.FAILED}),
    Phase.VOTED: frozenset({Phase.PASSED, Phase.FAILED}),
    Phase.PASSED: frozenset({Phase.UPGRADED, Phase.FAILED}),
    Phase.UPGRADED: frozenset({Phase.RESTARTED, Phase.FAILED}),
    Phase.RESTARTED: frozenset(),
    Phase.FAILED: frozenset(),
}

# Statuses after which a proposal can never pass.
_LOST = frozenset({"PROPOSAL_STATUS_REJECTED", "PROPOSAL_STATUS_FAILED"})


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Inject ``fault`` when ``trigger`` happens: a phase's value (the phase was
    entered) or ``"stack_launched"`` (the stack is up, before the chain is live)."""

    trigger: str
    fault: InjectFault


@dataclass(frozen=True, slots=True)
class Params:
    """What the machine needs from the configuration (and the scenario)."""

    upgrade_name: str = "v1tov2"
    voters: tuple[str, ...] = ("alice", "bob")
    height_policy: UpgradeHeightPolicy = field(default_factory=UpgradeHeightPolicy)
    launch_timeout: float = 180.0  # launch until every node produces blocks
    # The profile's declared transactions before the proposal ([[state.txs]] names).
    state_txs: tuple[str, ...] = ()
    state_timeout: float = 300.0  # chain live until every declared tx is in a block
    vote_timeout: float = 90.0  # proposal submitted until every vote is in
    pass_grace: float = 30.0  # after the voting end, until PASSED is seen
    resume_budget: float = 90.0  # after the predicted upgrade time, until v2 blocks
    verify_timeout: float = 120.0  # for each verification
    restart_timeout: float = 180.0  # down + up on v2 until blocks resume
    # The scenario (agent.core.scenarios): what it injects and what it changes.
    scenario: str = "happy"
    vote_options: tuple[tuple[str, str], ...] = ()  # voter -> option; default yes
    faults: tuple[FaultPlan, ...] = ()
    expect_rejection: bool = False  # a rejected proposal is followed to its end
    remediate: bool = False  # nodes that did not resume are run on v2 by the agent
    remediation_delay: float = 15.0  # after the resume budget, so the alert comes first
    launch_overlays: tuple[str, ...] = ()  # extra Compose files for the launch
    attach: bool = False  # drive an upgrade on a network that is already running

    def vote_option(self, voter: str) -> str:
        return dict(self.vote_options).get(voter, "yes")


@dataclass(frozen=True, slots=True)
class Transition:
    """One phase change, with the height and wall time it happened at."""

    from_phase: Phase | None
    to_phase: Phase
    height: int
    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class Deadline:
    name: str
    seconds: float
    detail: str


@dataclass(frozen=True, slots=True)
class State:
    rehearsal_id: str
    params: Params
    phase: Phase = Phase.LAUNCHED
    started: bool = False
    issued: frozenset[str] = frozenset()
    pending: tuple[Action, ...] = ()
    deadline: Deadline | None = None
    # Awaiting "every node produced a block above this height" (None: not waiting),
    # and, with awaiting_apps, "and every node's app executed it".
    awaiting: int | None = None
    awaiting_apps: bool = False
    block_interval: float | None = None
    plan_interval: float | None = None  # the interval the upgrade height is planned with
    voting_period: float | None = None
    state_txs: tuple[StateTx, ...] = ()  # the declared transactions, once all are in
    proposal_id: int | None = None
    proposal_tx: str | None = None
    proposal_reused: bool = False
    upgrade_height: int | None = None
    voting_end: float | None = None
    predicted_upgrade_time: float | None = None
    votes: tuple[tuple[str, str, bool], ...] = ()  # voter, tx hash, reused
    baseline: BaselineCaptured | None = None
    upgrade_checks: tuple[Check, ...] = ()
    restart_last_height: int | None = None
    restart_balances: tuple[tuple[str, int], ...] = ()
    upgrade_reads: tuple[tuple[str, str], ...] = ()  # declared reads after the upgrade
    restart_checks: tuple[Check, ...] = ()
    transitions: tuple[Transition, ...] = ()
    failure: str | None = None
    # The failure was the machine's (exit 2), not the rehearsal's: said by the
    # fact that failed it, never guessed from the failure's text.
    environment_failure: bool = False
    report_path: str | None = None
    # Scenarios: faults applied, nodes gone until the restart, nodes the agent
    # swapped to v2 itself, the status of a rejected proposal, the verdict.
    faults_done: tuple[tuple[str, str], ...] = ()
    absent: frozenset[str] = frozenset()
    remediated: tuple[str, ...] = ()
    rejected: str | None = None
    verdict_met: bool | None = None
    verdict: str = ""

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL

    @property
    def stack_up(self) -> bool:
        """The stack was launched (its sources can be started)."""
        return LaunchStack.KEY in self.issued and not any(
            isinstance(a, LaunchStack) for a in self.pending
        )

    @property
    def finished(self) -> bool:
        """Nothing more to do: terminal, and the report written (or given up on)."""
        if not self.terminal:
            return False
        return self.report_path is not None or not any(
            isinstance(a, WriteReport) for a in self.pending
        )

    @property
    def voted(self) -> frozenset[str]:
        return frozenset(v for v, _, _ in self.votes)


def initial_state(rehearsal_id: str, params: Params) -> State:
    return State(rehearsal_id=rehearsal_id, params=params)


Result = tuple[State, tuple[Action, ...]]
F = TypeVar("F")
Handler = Callable[[State, Any], Result]


# --- helpers --------------------------------------------------------------


def _issue(state: State, *actions: Action) -> Result:
    """Issue actions whose key was never issued; deadlines may be re-armed."""
    out: list[Action] = []
    issued = set(state.issued)
    pending = list(state.pending)
    deadline = state.deadline
    for a in actions:
        if isinstance(a, ArmDeadline):
            deadline = Deadline(a.name, a.seconds, a.detail)
            out.append(a)
            continue
        if a.key in issued:
            continue
        issued.add(a.key)
        pending.append(a)
        out.append(a)
    return replace(
        state, issued=frozenset(issued), pending=tuple(pending), deadline=deadline
    ), tuple(out)


def _complete(state: State, key: str) -> State:
    return replace(state, pending=tuple(a for a in state.pending if a.key != key))


def _advance(state: State, to: Phase, fact: Any, reason: str) -> State:
    if to not in PHASE_EDGES[state.phase]:
        raise IllegalTransition(f"{state.phase.value} -> {to.value} is not an allowed phase change")
    t = Transition(state.phase, to, int(fact.height), float(fact.at), reason)
    return replace(state, phase=to, transitions=state.transitions + (t,))


def _fail(state: State, fact: Any, reason: str, *, environment: bool = False) -> Result:
    state = _advance(state, Phase.FAILED, fact, reason)
    # Nothing else is re-issued after a failure (a resumed agent must not cast a
    # vote for a rehearsal that already failed); only the report remains.
    pending = tuple(a for a in state.pending if isinstance(a, WriteReport))
    state = replace(
        state,
        failure=reason,
        environment_failure=environment,
        deadline=None,
        awaiting=None,
        awaiting_apps=False,
        pending=pending,
    )
    return _issue(state, WriteReport())


def _ignore(state: State, _fact: Any) -> Result:
    return state, ()


# --- handlers -------------------------------------------------------------


def _begin(state: State, fact: Begin) -> Result:
    if state.started:
        return state, ()  # a replayed Begin starts nothing twice
    t = Transition(None, Phase.LAUNCHED, fact.height, fact.at, "rehearsal begins")
    state = replace(state, started=True, transitions=(t,))
    p = state.params
    return _issue(
        state,
        LaunchStack(reset=not p.attach, attach=p.attach),
        ArmDeadline("launch", p.launch_timeout, "every node producing blocks after launch"),
    )


def _resumed(state: State, _fact: Resumed) -> Result:
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
        state, extra = _issue(state, WriteReport())
        again.extend(extra)
    return state, tuple(again)


# After a launch, the height every node must be past before the chain counts as live:
# block 2 brings the first block-time estimate (see agent.core.derive).
LIVE_AT = 1


def _stack_launched(state: State, fact: StackLaunched) -> Result:
    # After a reset the chain restarts at height 1.
    return replace(_complete(state, LaunchStack.KEY), awaiting=LIVE_AT), ()


def _chain_live(state: State, fact: ChainLive) -> Result:
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
        return _issue(
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
    return _issue(
        state,
        SubmitProposal(p.upgrade_name, upgrade_height, interval, voting_period),
        ArmDeadline("propose", p.vote_timeout, "software-upgrade proposal submitted"),
    )


def _state_prepared(state: State, fact: StatePrepared) -> Result:
    if PrepareState.KEY not in {a.key for a in state.pending}:
        return state, ()  # a duplicate: the proposal was already asked for
    state = replace(_complete(state, PrepareState.KEY), state_txs=fact.txs)
    return _propose(state, fact.height)


def _proposal_submitted(state: State, fact: ProposalSubmitted) -> Result:
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
        _complete(state, SubmitProposal.KEY),
        proposal_id=fact.proposal_id,
        proposal_tx=fact.tx_hash,
        proposal_reused=fact.reused,
        upgrade_height=fact.upgrade_height,
        voting_end=voting_end,
        predicted_upgrade_time=predicted,
    )
    how = "found on chain" if fact.reused else "submitted"
    state = _advance(state, Phase.PROPOSED, fact, f"proposal {fact.proposal_id} {how}")
    votes = [
        CastVote(v, fact.proposal_id, p.vote_option(v)) for v in p.voters if v not in state.voted
    ]
    return _issue(
        state,
        *votes,
        CaptureBaseline(),
        ArmDeadline("vote", p.vote_timeout, f"votes from {', '.join(p.voters)}"),
    )


def _vote_cast(state: State, fact: VoteCast) -> Result:
    if fact.voter in state.voted:
        return _complete(state, f"cast_vote:{fact.voter}"), ()
    if fact.voter not in state.params.voters:
        raise IllegalTransition(f"vote from unexpected voter {fact.voter!r}")
    state = replace(
        _complete(state, f"cast_vote:{fact.voter}"),
        votes=state.votes + ((fact.voter, fact.tx_hash, fact.reused),),
    )
    if state.phase is Phase.PROPOSED and state.voted >= set(state.params.voters):
        options = {p for _, p in state.params.vote_options} | {"yes"}
        how = "yes" if options == {"yes"} else "as the scenario says"
        state = _advance(state, Phase.VOTED, fact, f"every voter voted {how}")
        wait = max(0.0, (state.voting_end or fact.at) - fact.at) + state.params.pass_grace
        return _issue(state, ArmDeadline("pass", wait, "proposal status PASSED"))
    return state, ()


def _baseline(state: State, fact: BaselineCaptured) -> Result:
    return replace(_complete(state, CaptureBaseline.KEY), baseline=fact), ()


def _status_seen(state: State, fact: ProposalStatusSeen) -> Result:
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
            return _issue(
                state,
                ArmDeadline(
                    "past_height",
                    until + p.resume_budget,
                    f"every node past height {state.upgrade_height} on the old binary",
                ),
            )
        return _fail(state, fact, f"proposal {fact.proposal_id} ended {fact.status}")
    if fact.status != "PROPOSAL_STATUS_PASSED" or state.phase is not Phase.VOTED:
        return state, ()
    upgrade_height = state.upgrade_height
    assert upgrade_height is not None
    p = state.params
    state = _advance(state, Phase.PASSED, fact, f"proposal {fact.proposal_id} passed")
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
    return _issue(
        state,
        ArmDeadline(
            "upgrade",
            until_height + p.resume_budget + delay,
            f"every node executing upgrade height {state.upgrade_height} on v2",
        ),
    )


def _height_observed(state: State, fact: HeightObserved) -> Result:
    h = state.upgrade_height
    if state.rejected is not None:
        return state, ()  # running past the height is what a rejection should do
    if h is not None and state.phase in (Phase.PROPOSED, Phase.VOTED) and fact.height >= h:
        return _fail(
            state, fact, f"upgrade height {h} reached at {fact.height} before the proposal passed"
        )
    return state, ()


def _nodes_reached(state: State, fact: NodesReached) -> Result:
    if state.awaiting is None or fact.threshold != state.awaiting:
        return state, ()  # stale
    p = state.params
    state = replace(state, awaiting=None, awaiting_apps=False)
    if state.rejected is not None and state.upgrade_height is not None:
        return _issue(
            state,
            VerifyNoUpgrade(p.upgrade_name, state.upgrade_height),
            ArmDeadline(VerifyNoUpgrade.KEY, p.verify_timeout, "checks that nothing upgraded"),
        )
    if state.phase is Phase.PASSED:
        assert state.upgrade_height is not None
        return _issue(
            state,
            VerifyUpgrade(p.upgrade_name, state.upgrade_height),
            ArmDeadline(VerifyUpgrade.KEY, p.verify_timeout, "upgrade verification"),
        )
    if state.phase is Phase.UPGRADED and state.restart_last_height is not None:
        return _issue(
            state,
            VerifyRestart(state.restart_last_height),
            ArmDeadline(VerifyRestart.KEY, p.verify_timeout, "restart verification"),
        )
    return state, ()


def _upgrade_verified(state: State, fact: UpgradeVerified) -> Result:
    state = replace(
        _complete(state, VerifyUpgrade.KEY), upgrade_checks=fact.checks, upgrade_reads=fact.reads
    )
    failed = [c.name for c in fact.checks if not c.passed]
    if failed or not fact.checks:
        return _fail(state, fact, "upgrade checks failed: " + ", ".join(failed or ["none ran"]))
    state = _advance(state, Phase.UPGRADED, fact, f"{len(fact.checks)} upgrade checks passed")
    p = state.params
    return _issue(
        state,
        RestartOnV2(),
        ArmDeadline("restart", p.restart_timeout, "every node producing blocks on v2"),
    )


def _stack_restarted(state: State, fact: StackRestarted) -> Result:
    state = _complete(state, RestartOnV2.KEY)
    return (
        replace(
            state,
            restart_last_height=fact.last_height,
            restart_balances=fact.balances,
            awaiting=fact.last_height,
        ),
        (),
    )


def _restart_verified(state: State, fact: RestartVerified) -> Result:
    state = replace(_complete(state, VerifyRestart.KEY), restart_checks=fact.checks)
    failed = [c.name for c in fact.checks if not c.passed]
    if failed or not fact.checks:
        return _fail(state, fact, "restart checks failed: " + ", ".join(failed or ["none ran"]))
    state = _advance(state, Phase.RESTARTED, fact, f"{len(fact.checks)} restart checks passed")
    state = replace(state, deadline=None)
    return _issue(state, WriteReport())


def _report_written(state: State, fact: ReportWritten) -> Result:
    state = _complete(state, WriteReport.KEY)
    return replace(
        state, report_path=fact.path, verdict_met=fact.verdict_met, verdict=fact.verdict
    ), ()


def _fault_injected(state: State, fact: FaultInjected) -> Result:
    state = _complete(state, f"fault:{fact.name}")
    if any(name == fact.name for name, _ in state.faults_done):
        return state, ()
    return replace(
        state,
        faults_done=state.faults_done + ((fact.name, fact.detail),),
        absent=state.absent | frozenset(fact.absent),
    ), ()


def _nodes_remediated(state: State, fact: NodesRemediated) -> Result:
    state = _complete(state, RemediateNodes(fact.nodes).key)
    return replace(state, remediated=tuple(sorted(set(state.remediated) | set(fact.nodes)))), ()


def _no_upgrade_verified(state: State, fact: NoUpgradeVerified) -> Result:
    state = replace(_complete(state, VerifyNoUpgrade.KEY), upgrade_checks=fact.checks)
    failed = [c.name for c in fact.checks if not c.passed]
    verdict = "and nothing upgraded" if not failed else "but checks failed: " + ", ".join(failed)
    return _fail(state, fact, f"proposal {state.proposal_id} ended {state.rejected} {verdict}")


def _node_exited(state: State, fact: NodeExited) -> Result:
    """A node died on its own while the upgrade is under way. Unless a scenario stopped
    it, or nodes that do not resume are to be remediated, waiting out the upgrade
    deadline would only hide the cause (Cosmovisor exits when the plan's binary is
    missing): find the cause and fail at once."""
    p = state.params
    if fact.node in state.absent or p.remediate or p.expect_rejection:
        return state, ()
    return _issue(state, ExplainExit(fact.node, fact.container_id, fact.exit_code))


def _exit_explained(state: State, fact: ExitExplained) -> Result:
    state = _complete(state, f"explain_exit:{fact.node}")
    code = "?" if fact.exit_code is None else str(fact.exit_code)
    return _fail(
        state,
        fact,
        f"{fact.node} exited (exit code {code}) during the upgrade to "
        f"{state.params.upgrade_name} at height {state.upgrade_height}: {fact.reason}",
    )


def _action_failed(state: State, fact: ActionFailed) -> Result:
    state = _complete(state, fact.action)
    if state.terminal:
        return state, ()  # e.g. the report could not be written: nothing more to do
    return _fail(state, fact, f"{fact.action}: {fact.reason}", environment=fact.environment)


def _deadline_passed(state: State, fact: DeadlinePassed) -> Result:
    if state.terminal or state.deadline is None or state.deadline.name != fact.name:
        return state, ()  # superseded by a later deadline
    d = state.deadline
    p = state.params
    behind = tuple(n for n in fact.behind if n not in state.absent)
    if d.name == "upgrade" and p.remediate and behind and not state.remediated:
        return _issue(
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
    return _fail(state, fact, f"stalled: no {d.detail or d.name} within {d.seconds:.0f}s{who}{why}")


# --- the table ------------------------------------------------------------

_ANY_PHASE: dict[type, Handler] = {
    NodeExited: _ignore,  # before the upgrade is under way: the watchdog's alert
    ExitExplained: _ignore,
    Resumed: _resumed,
    ActionFailed: _action_failed,
    DeadlinePassed: _deadline_passed,
    HeightObserved: _height_observed,
    FaultInjected: _fault_injected,
}

_LIVE: dict[type, Handler] = {**_ANY_PHASE, NodesReached: _nodes_reached}

_VOTING: dict[type, Handler] = {
    **_LIVE,
    ChainLive: _ignore,
    ProposalSubmitted: _proposal_submitted,
    VoteCast: _vote_cast,
    BaselineCaptured: _baseline,
    ProposalStatusSeen: _status_seen,
    NoUpgradeVerified: _no_upgrade_verified,
}

TABLE: dict[Phase, dict[type, Handler]] = {
    Phase.LAUNCHED: {
        **_LIVE,
        Begin: _begin,
        StackLaunched: _stack_launched,
        ChainLive: _chain_live,
        StatePrepared: _state_prepared,
        ProposalSubmitted: _proposal_submitted,
    },
    # Voting: the same facts before and after the last vote (the handlers tell
    # the two phases apart where it matters).
    Phase.PROPOSED: _VOTING,
    Phase.VOTED: _VOTING,
    Phase.PASSED: {
        **_LIVE,
        ProposalSubmitted: _proposal_submitted,
        VoteCast: _vote_cast,
        BaselineCaptured: _baseline,
        ProposalStatusSeen: _status_seen,
        UpgradeVerified: _upgrade_verified,
        NodesRemediated: _nodes_remediated,
        NodeExited: _node_exited,
        ExitExplained: _exit_explained,
    },
    Phase.UPGRADED: {
        **_LIVE,
        ProposalStatusSeen: _ignore,
        VoteCast: _vote_cast,
        StackRestarted: _stack_restarted,
        RestartVerified: _restart_verified,
    },
    Phase.RESTARTED: {
        **_ANY_PHASE,
        NodesReached: _ignore,
        ProposalStatusSeen: _ignore,
        ReportWritten: _report_written,
    },
    Phase.FAILED: {
        **_ANY_PHASE,
        NodesReached: _ignore,
        ProposalStatusSeen: _ignore,
        VoteCast: _ignore,
        BaselineCaptured: _ignore,
        ProposalSubmitted: _ignore,
        StackLaunched: _ignore,
        StackRestarted: _ignore,
        ChainLive: _ignore,
        StatePrepared: _ignore,
        UpgradeVerified: _ignore,
        RestartVerified: _ignore,
        NodesRemediated: _ignore,
        NoUpgradeVerified: _ignore,
        ReportWritten: _report_written,
    },
}


def decide(state: State, fact: Fact) -> Result:
    """Apply one fact; return the new state and the actions to perform, in order."""
    if not state.started and not isinstance(fact, Begin | Resumed):
        raise IllegalTransition(f"{type(fact).__name__} before the rehearsal began")
    handler = TABLE[state.phase].get(type(fact))
    if handler is None:
        raise IllegalTransition(
            f"{type(fact).__name__} is not accepted in phase {state.phase.value}"
        )
    new, actions = handler(state, fact)
    return _scenario_faults(state, new, actions, fact)


def _scenario_faults(old: State, new: State, actions: tuple[Action, ...], fact: Fact) -> Result:
    """Inject the scenario's faults whose trigger this step reached (once each)."""
    if not new.params.faults or new.terminal:
        return new, actions
    triggers = {t.to_phase.value for t in new.transitions[len(old.transitions) :]}
    if isinstance(fact, StackLaunched):
        triggers.add("stack_launched")
    due = [plan.fault for plan in new.params.faults if plan.trigger in triggers]
    if not due:
        return new, actions
    new, more = _issue(new, *due)
    return new, actions + more
