"""Derivation: from observations to the facts the machine accepts. Pure.

The runtime records each block in the shared ``ChainView`` and hands it here
with the machine's current state; this module decides what the block means:

- ``HeightObserved`` whenever the highest known height rises;
- ``NodesReached(threshold)`` once every node is past ``state.awaiting``
  (the machine sets ``awaiting``; this is the only place that answers it);
  when the machine also asks for the apps (``awaiting_apps``), every app must
  be known to have executed that block too: a block in a node's store is no
  proof (a halted node keeps the block it could not execute, and a stream
  reconnecting to it backfills it). A block that came *live* is proof, as
  CometBFT fires NewBlock after the app's commit; for any other node showing
  the block a ``ReadCommitted`` request asks its app (``abci_info``), the
  moment it shows it, so the last node's read is the only one on the path;
- in ``launched``: a ``ReadGovParams`` request once every node shows block 1 (the runtime
  reads the voting period and hands the answer back), and ``ChainLive`` once
  every node is past ``awaiting``, the block interval is measured or estimated,
  and the voting period is known;
- in ``proposed``/``voted``, a ``ReadProposalStatus`` request on every new
  height (from any node: one node's outage must not blind the agent), at most
  one in flight; every status read is reported (the machine ignores what it
  cannot use yet, so a PASSED read a moment early is seen again next block).

It also says which downtime is planned: the agent's own stack launch and
restart stop every node on purpose, until that action completes and each node
shows a block again, and never longer than the action's timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.core.actions import (
    Action,
    CastVote,
    LaunchStack,
    PrepareState,
    RestartOnV2,
    SubmitProposal,
)
from agent.core.chainview import ChainView
from agent.core.facts import (
    ActionFailed,
    ChainLive,
    Fact,
    HeightObserved,
    NodeExited,
    NodesReached,
    ProposalStatusSeen,
    StackLaunched,
    StackRestarted,
)
from agent.core.machine import Params, Phase, State
from agent.core.observations import ContainerEvent, NewBlock
from agent.core.planning import MEASURE_GAPS  # the gaps the comment below counts

__all__ = [
    "MEASURE_GAPS",
    "REREAD_S",
    "REREADS_PER_BLOCK",
    "Answer",
    "CommittedAnswer",
    "Derivation",
    "GovParamsAnswer",
    "Output",
    "Read",
    "ReadDue",
    "ReadFailed",
    "StatusAnswer",
    "ReadCommitted",
    "ReadGovParams",
    "ReadProposalStatus",
    "action_timeout",
    "ends_downtime",
    "planned_downtime",
]


@dataclass(frozen=True, slots=True)
class ReadGovParams:
    """Read the chain's voting period. Asked at the first block after the launch,
    ahead of the moment it is needed, so ``ChainLive`` comes without a read on the
    path from the block that makes the chain live."""


@dataclass(frozen=True, slots=True)
class ReadProposalStatus:
    """Read the proposal's status; with ``after``, first wait that many seconds (a
    read again within block ``height``: see ``Derivation.on_answer``)."""

    proposal_id: int
    after: float = 0.0
    height: int = 0


@dataclass(frozen=True, slots=True)
class ReadCommitted:
    """``nodes`` show a block past ``threshold``: has each one's app executed it too?
    (``abci_info``'s last block height)."""

    threshold: int
    nodes: tuple[str, ...]

    @property
    def height(self) -> int:
        return self.threshold + 1


Read = ReadGovParams | ReadProposalStatus | ReadCommitted
Output = Fact | Read


# --- what a read brought back: the derivation's only other input ---------------


@dataclass(frozen=True, slots=True)
class GovParamsAnswer:
    voting_period: float
    at: float


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    read: ReadProposalStatus
    status: str | None  # None: the proposal was not found
    at: float


@dataclass(frozen=True, slots=True)
class CommittedAnswer:
    read: ReadCommitted
    heights: Mapping[str, int | None]  # None: the node's app did not answer
    at: float


@dataclass(frozen=True, slots=True)
class ReadFailed:
    """The read failed or timed out: it is asked again on a later block."""

    read: Read
    error: str


@dataclass(frozen=True, slots=True)
class ReadDue:
    """A delayed read's wait is over (``ReadProposalStatus.after``)."""

    read: ReadProposalStatus


Answer = GovParamsAnswer | StatusAnswer | CommittedAnswer | ReadFailed | ReadDue

_STACK_ACTIONS = (LaunchStack.KEY, RestartOnV2.KEY)

# Block header gaps measured before the proposal is sent: one. A CometBFT chain's
# block time is steady from its second block on (the gap from block 1 carries the
# genesis time and is never counted); the plan takes the fastest gap seen, less the
# policy's speed-up allowance, plus a spare block; each further gap would hold the
# proposal back a whole block. (In three bench runs of 2026-12-06 the first gap was
# within 0.3 % of the run's median in two and 10 % slower in one, on a loaded
# machine; no gap of any run was more than 4 % under its median.)
# The proposal is signed a block earlier, as every node shows block 2, with the
# agent's own arrival gap (blocks 1 -> 2) as the estimate (``ChainLive`` comes then),
# and sent the moment the measured gap confirms the plan (else signed again): the
# signature's second in the CLI no longer makes the proposal miss the next block.
# (The machine awaits every node past block 1 in launched.)

# A status read repeated within a block (see ``Derivation._reread_after``).
REREAD_S = 0.25
REREADS_PER_BLOCK = 4


def action_timeout(action: Action, params: Params) -> float:
    """How long an executor may take for ``action`` before it counts as failed."""
    if isinstance(action, LaunchStack):
        return params.launch_timeout
    if isinstance(action, SubmitProposal | CastVote):
        return params.vote_timeout
    if isinstance(action, RestartOnV2):
        return params.restart_timeout
    if isinstance(action, PrepareState):
        return params.state_timeout
    return params.verify_timeout


def planned_downtime(action: Action, params: Params) -> float | None:
    """Seconds of planned downtime (every node) an action opens, or None."""
    if isinstance(action, LaunchStack | RestartOnV2):
        return action_timeout(action, params)
    return None


def ends_downtime(fact: Fact) -> bool:
    """The planned stop is over (its action completed, or failed)."""
    if isinstance(fact, StackLaunched | StackRestarted):
        return True
    return isinstance(fact, ActionFailed) and fact.action in _STACK_ACTIONS


class Derivation:
    """Turns blocks into facts and reads, given the machine's state.

    Holds only what it must remember between blocks: which ``awaiting``
    threshold it already answered, whether a read is in flight, and the last
    proposal status it reported.
    """

    def __init__(self, view: ChainView, services: Mapping[str, str] | None = None) -> None:
        self.view = view
        self._services = dict(services or {})  # Compose service -> node name
        self._killed: set[str] = set()  # services with a kill not yet followed by a die
        self._answered: int | None = None
        self._reading_params = False
        self._voting_period: float | None = None  # from the one ReadGovParams
        self._reading_status = False
        self._reading_apps: set[str] = set()  # nodes whose app is being asked
        # node -> the highest height its app is known to have executed (a live block,
        # or a ReadCommitted answer).
        self._executed: dict[str, int] = {}
        self._rereads: dict[int, int] = {}  # height -> status reads repeated within it

    def restart_chain(self) -> None:
        """The stack was relaunched from genesis: heights start again."""
        self.view.reset()
        self._answered = None
        self._executed.clear()

    def on_container(self, state: State, ev: ContainerEvent) -> list[Output]:
        """``NodeExited`` for a node's container that died on its own (a ``die``
        without a ``kill`` before it: Compose, ``docker stop`` and the agent's own
        faults kill first) while the upgrade is under way (the machine decides
        what it means)."""
        if ev.action == "kill":
            self._killed.add(ev.service)
            return []
        if ev.action == "start":
            self._killed.discard(ev.service)
            return []
        if ev.action != "die":
            return []
        if ev.service in self._killed:
            self._killed.discard(ev.service)
            return []
        if state.phase is not Phase.PASSED:
            return []
        node = self._services.get(ev.service, ev.service)
        if node not in self.view.nodes:
            return []
        return [NodeExited(node, ev.container_id, ev.exit_code, self.view.max_height, ev.at)]

    def on_block(self, state: State, ev: NewBlock, before: int) -> list[Output]:
        """``ev`` raised its node's height; ``before`` is the max height before it."""
        view = self.view
        out: list[Output] = []
        rose = view.max_height > before
        if rose:
            out.append(HeightObserved(view.max_height, ev.at))
        if not ev.backfilled:  # fired after the app's commit: the app executed it
            self._executed[ev.node] = max(self._executed.get(ev.node, 0), ev.height)
        aw = state.awaiting
        if aw is not None and aw != self._answered:
            if state.phase is Phase.LAUNCHED:
                out += self._chain_live(state, aw, ev.at)
            elif state.awaiting_apps:
                out += self._await_apps(state, aw, ev.at)
            elif view.all_above(aw, state.absent):
                self._answered = aw
                out.append(NodesReached(aw, view.max_height, ev.at))
        if (
            rose
            and state.phase in (Phase.PROPOSED, Phase.VOTED)
            and state.proposal_id is not None
            and not self._reading_status
        ):
            self._reading_status = True
            out.append(ReadProposalStatus(state.proposal_id))
        return out

    def _chain_live(self, state: State, threshold: int, at: float) -> list[Output]:
        view = self.view
        if self._voting_period is None:
            # Once every node shows block 1: a node's REST answers "not ready" until
            # its app committed a block, and the REST pool would fail over to (and
            # stay on) another node, which may lag the tx node.
            if self._reading_params or not view.all_above(0, state.absent):
                return []
            self._reading_params = True
            return [ReadGovParams()]
        if not view.all_above(threshold, state.absent):
            return []
        # The measured gap once there is one, the arrival estimate before it.
        interval = view.block_interval(MEASURE_GAPS) or view.arrival_interval()
        if interval is None:
            return []
        self._answered = threshold
        return [
            ChainLive(
                interval,
                self._voting_period,
                view.max_height,
                at,
                fastest_interval=view.fastest_interval(MEASURE_GAPS),
            )
        ]

    def on_answer(self, state: State, answer: Answer) -> list[Output]:
        """What a read's answer means: a fact, a read to send (again), or nothing."""
        if isinstance(answer, GovParamsAnswer):
            return self._gov_params(state, answer)
        if isinstance(answer, StatusAnswer):
            return self._status(state, answer)
        if isinstance(answer, CommittedAnswer):
            reached = self._committed(state, answer)
            return [] if reached is None else [reached]
        if isinstance(answer, ReadDue):
            return self._due(answer.read)
        self._failed(answer.read)
        return []

    def _gov_params(self, state: State, answer: GovParamsAnswer) -> list[Output]:
        """Keep the voting period; ``ChainLive`` if the chain was live already (the
        read came after the block that made it so)."""
        self._reading_params = False
        self._voting_period = answer.voting_period
        aw = state.awaiting
        if state.phase is not Phase.LAUNCHED or aw is None or aw == self._answered:
            return []
        return [f for f in self._chain_live(state, aw, answer.at) if isinstance(f, ChainLive)]

    def _status(self, state: State, answer: StatusAnswer) -> list[Output]:
        """The status as a fact (none when the proposal was not found), and the same
        read again within the block when it may be one block stale."""
        self._reading_status = False
        if answer.status is None:
            return []
        seen = ProposalStatusSeen(
            answer.read.proposal_id, answer.status, self.view.max_height, answer.at
        )
        delay = self._reread_after(state, seen)
        if delay is None:
            return [seen]
        return [seen, ReadProposalStatus(seen.proposal_id, after=delay, height=seen.height)]

    def _unconfirmed(self, state: State, threshold: int) -> tuple[str, ...]:
        """Nodes showing a block past ``threshold`` whose app is not known to have
        executed it."""
        return tuple(
            n
            for n, nv in self.view.nodes.items()
            if n not in state.absent
            and nv.height > threshold
            and self._executed.get(n, 0) <= threshold
        )

    def _apps_reached(self, state: State, threshold: int, at: float) -> NodesReached | None:
        if self._unconfirmed(state, threshold) or not self.view.all_above(threshold, state.absent):
            return None
        self._answered = threshold
        return NodesReached(threshold, self.view.max_height, at)

    def _await_apps(self, state: State, threshold: int, at: float) -> list[Output]:
        reached = self._apps_reached(state, threshold, at)
        if reached is not None:
            return [reached]
        ask = tuple(n for n in self._unconfirmed(state, threshold) if n not in self._reading_apps)
        if not ask:
            return []
        self._reading_apps.update(ask)
        return [ReadCommitted(threshold, ask)]

    def _committed(self, state: State, answer: CommittedAnswer) -> NodesReached | None:
        """Record what the apps said; ``NodesReached`` if that was the last proof
        missing. A node whose app lags (or did not answer: None) is asked again on
        its next block, or any node's, and is named by ``behind``."""
        read, heights, at = answer.read, answer.heights, answer.at
        self._reading_apps.difference_update(read.nodes)
        for n in read.nodes:
            h = heights.get(n)
            if h is not None:
                self._executed[n] = max(self._executed.get(n, 0), h)
        if (
            not state.awaiting_apps
            or state.awaiting != read.threshold
            or self._answered == read.threshold
        ):
            return None
        return self._apps_reached(state, read.threshold, at)

    def _reread_after(self, state: State, fact: ProposalStatusSeen) -> float | None:
        """Seconds until the status is read again before the next block, or None.

        The read follows the first node to show a block; the node that answers it
        may not have committed that block yet. Once the voting period is over by the
        clock, a status still in voting may be one block stale: it is asked again a
        few times within the block, so PASSED is not seen a whole block late."""
        if (
            state.phase is not Phase.VOTED
            or fact.proposal_id != state.proposal_id
            or fact.status != "PROPOSAL_STATUS_VOTING_PERIOD"
            or state.voting_end is None
            or fact.at < state.voting_end
        ):
            return None
        if self._rereads.get(fact.height, 0) >= REREADS_PER_BLOCK:
            return None
        return REREAD_S

    def _due(self, read: ReadProposalStatus) -> list[Output]:
        """The delayed read, now, if it is still useful: no read in flight, and no
        newer block (which brought its own read)."""
        if self._reading_status or self.view.max_height != read.height:
            return []
        self._rereads[read.height] = self._rereads.get(read.height, 0) + 1
        self._reading_status = True
        return [ReadProposalStatus(read.proposal_id)]

    def behind(self, state: State) -> tuple[str, ...]:
        """Who holds up the machine's current wait (for a deadline that ran out)."""
        aw = state.awaiting
        if aw is None:
            return ()
        shown = self.view.behind(aw, state.absent)
        if not state.awaiting_apps:
            return shown
        # A node halted on the old binary can show the block it stored and never
        # executed: its app, not its block store, says it is behind.
        apps = set(self._unconfirmed(state, aw))
        return tuple(n for n in self.view.nodes if n in shown or n in apps)

    def _failed(self, read: Read) -> None:
        """Ask again on the next block."""
        if isinstance(read, ReadGovParams):
            self._reading_params = False
        elif isinstance(read, ReadCommitted):
            self._reading_apps.difference_update(read.nodes)
        else:
            self._reading_status = False
