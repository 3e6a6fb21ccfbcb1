"""The rehearsal's state, and the only ways a step of the machine changes it.

Pure, no I/O. ``State`` is what the journal persists; ``Params`` is the part of
the configuration (and the scenario) the machine reads, journaled with it so a
resume decides with the same numbers. The handlers in ``agent.core.machine``
change a state only through ``issue`` (actions, each key once), ``complete``,
``advance`` (a phase change ``PHASE_EDGES`` allows) and ``fail``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from agent.core.actions import (
    Action,
    ArmDeadline,
    InjectFault,
    LaunchStack,
    RemediateNodes,
    WriteReport,
)
from agent.core.facts import BaselineCaptured, Check, Fact, StateTx
from agent.core.policy import UpgradeHeightPolicy
from agent.errors import IllegalTransition

__all__ = [
    "Phase",
    "Params",
    "FaultPlan",
    "Transition",
    "Deadline",
    "State",
    "Result",
    "Stamped",
    "Handler",
    "initial_state",
    "issue",
    "complete",
    "advance",
    "fail",
    "ignore",
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


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Inject ``fault`` when ``trigger`` happens: a phase's value (the phase was
    entered), ``"stack_launched"`` (the stack is up, before the chain is live),
    ``"halt"`` (the last block before a passed upgrade's height was seen) or
    ``"upgrade+N"`` (the chain reached N blocks past that height). ``fault`` may
    also be an operator's act, such as swapping a node by hand."""

    trigger: str
    fault: InjectFault | RemediateNodes


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
    # The plan's info (Cosmovisor's download URLs), over the configured one ("": that).
    upgrade_info: str = ""
    download_nodes: tuple[str, ...] = ()  # nodes that fetch v2 at the halt: none staged
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
# A handler takes one fact type (``TABLE`` picks it by the fact's type, so each
# handler names its own); ``Any`` here only because a Callable's parameter is
# contravariant: no single type admits ``begin(state, Begin)`` and its siblings.
Handler = Callable[[State, Any], Result]


class Stamped(Protocol):
    """What a phase change records of the fact that caused it: every fact has it."""

    @property
    def height(self) -> int: ...

    @property
    def at(self) -> float: ...


# --- helpers --------------------------------------------------------------


def issue(state: State, *actions: Action) -> Result:
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


def complete(state: State, key: str) -> State:
    return replace(state, pending=tuple(a for a in state.pending if a.key != key))


def advance(state: State, to: Phase, fact: Stamped, reason: str) -> State:
    if to not in PHASE_EDGES[state.phase]:
        raise IllegalTransition(f"{state.phase.value} -> {to.value} is not an allowed phase change")
    t = Transition(state.phase, to, int(fact.height), float(fact.at), reason)
    return replace(state, phase=to, transitions=state.transitions + (t,))


def fail(state: State, fact: Stamped, reason: str, *, environment: bool = False) -> Result:
    state = advance(state, Phase.FAILED, fact, reason)
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
    return issue(state, WriteReport())


def ignore(state: State, _fact: Fact) -> Result:
    return state, ()
