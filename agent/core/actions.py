"""Actions: what the pure state machine asks the world to do.

Frozen, slotted dataclasses. Each has a stable ``key``: the machine records
the keys it has issued and never issues the same key twice, except on
``Resumed``, when it re-issues the ones that never completed. Executors make
every action idempotent against the chain (an existing proposal for the same
plan is reused, a vote already cast is not cast again), so a re-issue after a
crash repeats no on-chain action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "Action",
    "LaunchStack",
    "PrepareState",
    "SubmitProposal",
    "CastVote",
    "CaptureBaseline",
    "VerifyUpgrade",
    "RestartOnV2",
    "VerifyRestart",
    "ArmDeadline",
    "WriteReport",
    "InjectFault",
    "RemediateNodes",
    "VerifyNoUpgrade",
    "ExplainExit",
]


@dataclass(frozen=True, slots=True)
class LaunchStack:
    """Compose down, reset the testnet to v1 genesis, Compose up with Cosmovisor.

    ``attach``: the network is already running (the team's own nodes): launch
    nothing, reset nothing; the rehearsal starts from the chain as it is.
    """

    reset: bool = True
    attach: bool = False

    KEY: ClassVar[str] = "launch_stack"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class PrepareState:
    """Send the profile's declared transactions (``[[state.txs]]``), in order, each
    reconciled with the chain like a vote: v1's state before the proposal."""

    KEY: ClassVar[str] = "prepare_state"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class SubmitProposal:
    """Submit the software-upgrade proposal.

    ``upgrade_height`` is the policy's answer when the machine decided; the
    executor recomputes it with the same policy from the height at the moment it
    broadcasts (the CLI takes seconds) and keeps the larger one.
    """

    upgrade_name: str
    upgrade_height: int
    block_interval: float = 1.0
    voting_period: float = 0.0

    KEY: ClassVar[str] = "submit_proposal"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class CastVote:
    voter: str
    proposal_id: int
    option: str = "yes"  # yes, no, abstain, no_with_veto

    @property
    def key(self) -> str:
        return f"cast_vote:{self.voter}"


@dataclass(frozen=True, slots=True)
class CaptureBaseline:
    """Read player infos, balances and the app version before the upgrade."""

    KEY: ClassVar[str] = "capture_baseline"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class VerifyUpgrade:
    upgrade_name: str
    upgrade_height: int

    KEY: ClassVar[str] = "verify_upgrade"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class RestartOnV2:
    """Compose down, then up with the v2 Compose file (state kept); when attached,
    the configured restart command, or nothing (Cosmovisor restarted the nodes)."""

    KEY: ClassVar[str] = "restart_on_v2"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class VerifyRestart:
    last_height: int

    KEY: ClassVar[str] = "verify_restart"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class ArmDeadline:
    """Ask for ``DeadlinePassed(name)`` after ``seconds``, unless re-armed.

    Arming a name replaces any earlier deadline of that name; the machine
    ignores a ``DeadlinePassed`` whose name is no longer its current deadline.
    """

    name: str
    seconds: float
    detail: str = ""

    @property
    def key(self) -> str:
        return f"deadline:{self.name}"


@dataclass(frozen=True, slots=True)
class WriteReport:
    KEY: ClassVar[str] = "write_report"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class InjectFault:
    """A fault a scenario rehearses on purpose (see ``agent.core.scenarios``).

    ``kind``: ``pause`` (the node's container, for ``seconds``), ``disconnect``
    (from its networks, for ``seconds``), ``stop`` (until the restart),
    ``remove_upgrade_binary`` (Cosmovisor's new binary on that node), or
    ``cut_streams`` (every websocket and the Docker events stream, once).
    """

    name: str
    kind: str
    node: str = ""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"fault:{self.name}"


@dataclass(frozen=True, slots=True)
class RemediateNodes:
    """Nodes that did not resume after the upgrade: run them on the new binary."""

    nodes: tuple[str, ...]

    @property
    def key(self) -> str:
        return "remediate:" + ",".join(self.nodes)


@dataclass(frozen=True, slots=True)
class VerifyNoUpgrade:
    """The proposal was rejected: check the chain went past the height on the old binary."""

    upgrade_name: str
    upgrade_height: int

    KEY: ClassVar[str] = "verify_no_upgrade"

    @property
    def key(self) -> str:
        return self.KEY


@dataclass(frozen=True, slots=True)
class ExplainExit:
    """A node's container exited while the upgrade was under way: find out why
    (its last log lines), so the rehearsal fails at once with the cause."""

    node: str
    container_id: str
    exit_code: int | None

    @property
    def key(self) -> str:
        return f"explain_exit:{self.node}"


Action = (
    LaunchStack
    | PrepareState
    | SubmitProposal
    | CastVote
    | CaptureBaseline
    | VerifyUpgrade
    | RestartOnV2
    | VerifyRestart
    | ArmDeadline
    | WriteReport
    | InjectFault
    | RemediateNodes
    | VerifyNoUpgrade
    | ExplainExit
)
