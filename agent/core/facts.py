"""Facts: the events the pure state machine accepts.

Facts are derived by the daemon from observations (blocks, Docker events,
chain queries) and from the results of actions. Each is a frozen, slotted
dataclass carrying ``height`` (the highest block height the agent knew of
when the fact was established) and ``at`` (wall time), so every transition
can record both without the machine touching a clock or the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Check",
    "Fact",
    "Begin",
    "Resumed",
    "StackLaunched",
    "ChainLive",
    "StateTx",
    "StatePrepared",
    "ProposalSubmitted",
    "VoteCast",
    "BaselineCaptured",
    "ProposalStatusSeen",
    "HeightObserved",
    "NodesReached",
    "UpgradeVerified",
    "StackRestarted",
    "RestartVerified",
    "ReportWritten",
    "ActionFailed",
    "DeadlinePassed",
    "FaultInjected",
    "NodesRemediated",
    "NoUpgradeVerified",
    "NodeExited",
    "ExitExplained",
]


@dataclass(frozen=True, slots=True)
class Check:
    """One verification with its verdict and the evidence behind it."""

    name: str
    passed: bool
    evidence: str


@dataclass(frozen=True, slots=True)
class Begin:
    """A new rehearsal starts (no unfinished one in the journal, or --fresh)."""

    rehearsal_id: str
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Resumed:
    """The agent restarted and loaded an unfinished rehearsal from its journal."""

    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class StackLaunched:
    """Compose brought the stack up (Cosmovisor file, freshly reset testnet)."""

    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class ChainLive:
    """Every node produces blocks; what the upgrade height depends on was measured."""

    block_interval: float  # seconds, median over recent blocks
    voting_period: float  # seconds, read from the chain's gov params
    height: int = 0
    at: float = 0.0
    # The shortest recent interval, to plan the upgrade height conservatively.
    fastest_interval: float | None = None


@dataclass(frozen=True, slots=True)
class StateTx:
    """One declared transaction in a block: ``name`` and its repetition ``index``."""

    name: str
    index: int
    tx_hash: str
    code: int = 0
    reused: bool = False  # found in a block after a restart, not sent again


@dataclass(frozen=True, slots=True)
class StatePrepared:
    """Every declared transaction is in a block: the state the migration will meet."""

    txs: tuple[StateTx, ...]
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class ProposalSubmitted:
    proposal_id: int
    tx_hash: str
    upgrade_height: int
    reused: bool = False  # found on chain after a restart, not submitted again
    voting_end: float | None = None  # wall time the voting period ends, when known
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class VoteCast:
    voter: str
    proposal_id: int
    tx_hash: str
    reused: bool = False  # the chain already had this vote
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class BaselineCaptured:
    """State read before the upgrade, to compare against after it."""

    reads: tuple[tuple[str, str], ...]  # the profile's declared reads: name, JSON text
    balances: tuple[tuple[str, int], ...]  # address, amount of the bond denom
    app_version: int
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class ProposalStatusSeen:
    proposal_id: int
    status: str  # PROPOSAL_STATUS_*
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class HeightObserved:
    """The highest height across nodes went up."""

    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class NodesReached:
    """Every watched node produced a block above ``threshold``."""

    threshold: int
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class UpgradeVerified:
    checks: tuple[Check, ...]
    height: int = 0
    at: float = 0.0
    reads: tuple[tuple[str, str], ...] = ()  # declared reads after the upgrade


@dataclass(frozen=True, slots=True)
class StackRestarted:
    """The stack was stopped and started on the v2 Compose file."""

    last_height: int  # highest height seen before the stop
    balances: tuple[tuple[str, int], ...] = ()  # sampled just before the stop
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class RestartVerified:
    checks: tuple[Check, ...]
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class ReportWritten:
    path: str
    height: int = 0
    at: float = 0.0
    # The scenario's expectation judged against what happened (None: not judged).
    verdict_met: bool | None = None
    verdict: str = ""


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """An action gave up (after its own retries and deadline). ``environment``: the
    machine was at fault (an image missing, a port busy), not the rehearsal."""

    action: str  # the action's key
    reason: str
    height: int = 0
    at: float = 0.0
    environment: bool = False
    # What the watchdog saw wrong when it gave up (a halted chain and why, stopped
    # containers): the failure leads with it, not with the action that waited.
    incident: str = ""


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    """A deadline armed by the machine ran out.

    ``behind``: the nodes not yet past the height the machine was awaiting (the
    derivation fills it), so a stalled upgrade names who stalled it.
    """

    name: str
    height: int = 0
    at: float = 0.0
    detail: str = field(default="")
    behind: tuple[str, ...] = ()
    # The last chain read that failed while the deadline ran, if any: a wait that
    # stalls on an unreadable answer says so, not only that it stalled.
    cause: str = ""
    incident: str = ""  # as ActionFailed's: the cause the watchdog saw


@dataclass(frozen=True, slots=True)
class FaultInjected:
    """A scenario's fault was applied (``absent``: a node now gone until the restart)."""

    name: str
    detail: str
    absent: tuple[str, ...] = ()
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class NodesRemediated:
    nodes: tuple[str, ...]
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class NoUpgradeVerified:
    checks: tuple[Check, ...]
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeExited:
    """A node's container died on its own (no ``kill`` before it: not a stop)."""

    node: str
    container_id: str
    exit_code: int | None
    height: int = 0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class AppHashesDiverged:
    """Nodes at one height disagree on the app hash after it (``agent.core.apphash``):
    a node runs a binary that computes another state, and the chain cannot go on."""

    detail: str  # the split, named (``Split.message``)
    divergent: tuple[str, ...]
    height: int = 0  # the block after which the hashes differ
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class ExitExplained:
    """Why a node's container exited: its last telling log line."""

    node: str
    exit_code: int | None
    reason: str
    height: int = 0
    at: float = 0.0


Fact = (
    Begin
    | Resumed
    | StackLaunched
    | ChainLive
    | StatePrepared
    | ProposalSubmitted
    | VoteCast
    | BaselineCaptured
    | ProposalStatusSeen
    | HeightObserved
    | NodesReached
    | UpgradeVerified
    | StackRestarted
    | RestartVerified
    | ReportWritten
    | ActionFailed
    | DeadlinePassed
    | FaultInjected
    | NodesRemediated
    | NoUpgradeVerified
    | NodeExited
    | ExitExplained
    | AppHashesDiverged
)
