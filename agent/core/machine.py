"""The rehearsal state machine: pure, no I/O.

``decide(state, fact) -> (state, actions)``. Every decision about the
rehearsal's progress lives in this file (its state and the ways a step changes
it, in ``agent.core.state``); the phases are an Enum, each
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

from agent.core import scenario_steps as scen
from agent.core import steps
from agent.core.facts import (
    ActionFailed,
    AppHashesDiverged,
    BaselineCaptured,
    Begin,
    ChainLive,
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
    UpgradeVerified,
    VoteCast,
)

# The state's types are re-exported: callers name the machine, not its parts.
from agent.core.state import (
    PHASE_EDGES,
    TERMINAL,
    Deadline,
    FaultPlan,
    Handler,
    Params,
    Phase,
    Result,
    State,
    Transition,
    ignore,
    initial_state,
)
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


# --- the table ------------------------------------------------------------

_ANY_PHASE: dict[type, Handler] = {
    NodeExited: ignore,  # before the upgrade is under way: the watchdog's alert
    ExitExplained: ignore,
    Resumed: steps.resumed,
    ActionFailed: steps.action_failed,
    DeadlinePassed: steps.deadline_passed,
    HeightObserved: ignore,  # the status read at that height decides (steps.status_seen)
    FaultInjected: scen.fault_injected,
    AppHashesDiverged: ignore,  # after the end: the report tells it no more
}

_LIVE: dict[type, Handler] = {
    **_ANY_PHASE,
    NodesReached: steps.nodes_reached,
    # Whatever the rehearsal waits for, a chain whose nodes disagree on its state
    # will not give it: the split is the failure, said at once.
    AppHashesDiverged: steps.app_hashes_diverged,
}

_VOTING: dict[type, Handler] = {
    **_LIVE,
    ChainLive: ignore,
    ProposalSubmitted: steps.proposal_submitted,
    VoteCast: steps.vote_cast,
    BaselineCaptured: steps.baseline,
    ProposalStatusSeen: steps.status_seen,
    NoUpgradeVerified: scen.no_upgrade_verified,
}

TABLE: dict[Phase, dict[type, Handler]] = {
    Phase.LAUNCHED: {
        **_LIVE,
        Begin: steps.begin,
        StackLaunched: steps.stack_launched,
        ChainLive: steps.chain_live,
        StatePrepared: steps.state_prepared,
        ProposalSubmitted: steps.proposal_submitted,
    },
    # Voting: the same facts before and after the last vote (the handlers tell
    # the two phases apart where it matters).
    Phase.PROPOSED: _VOTING,
    Phase.VOTED: _VOTING,
    Phase.PASSED: {
        **_LIVE,
        ProposalSubmitted: steps.proposal_submitted,
        VoteCast: steps.vote_cast,
        BaselineCaptured: steps.baseline,
        ProposalStatusSeen: steps.status_seen,
        UpgradeVerified: steps.upgrade_verified,
        NodesRemediated: scen.nodes_remediated,
        NodeExited: scen.node_exited,
        ExitExplained: scen.exit_explained,
    },
    Phase.UPGRADED: {
        **_LIVE,
        ProposalStatusSeen: ignore,
        VoteCast: steps.vote_cast,
        StackRestarted: steps.stack_restarted,
        RestartVerified: steps.restart_verified,
    },
    Phase.RESTARTED: {
        **_ANY_PHASE,
        NodesReached: ignore,
        ProposalStatusSeen: ignore,
        ReportWritten: steps.report_written,
    },
    Phase.FAILED: {
        **_ANY_PHASE,
        NodesReached: ignore,
        ProposalStatusSeen: ignore,
        VoteCast: ignore,
        BaselineCaptured: ignore,
        ProposalSubmitted: ignore,
        StackLaunched: ignore,
        StackRestarted: ignore,
        ChainLive: ignore,
        StatePrepared: ignore,
        UpgradeVerified: ignore,
        RestartVerified: ignore,
        NodesRemediated: ignore,
        NoUpgradeVerified: ignore,
        ReportWritten: steps.report_written,
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
    return scen.scenario_faults(state, new, actions, fact)
