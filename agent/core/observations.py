"""Events: frozen, slotted dataclasses.

Two families share this module:

- *observations* produced by the event sources (websocket, Docker, RPC polls):
  ``NewBlock``, ``StreamStatus``, ``ContainerEvent``;
- *facts* fed to the pure state machine (see ``machine``), produced by the
  daemon from observations and from the results of actions.

Every event carries ``at`` (wall-clock seconds since the epoch, from the
injected clock) so that the machine can record when a transition happened
without reading a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "NewBlock",
    "StreamStatus",
    "ContainerEvent",
    "NodeInfo",
    "NodeReach",
    "RoundVotes",
    "StagedSeen",
    "ValidatorKey",
    "Observation",
    "WatchObservation",
]


@dataclass(frozen=True, slots=True)
class NewBlock:
    """A block seen on one node (from its websocket, or backfilled over RPC)."""

    node: str
    height: int
    block_time: str  # RFC 3339, as CometBFT sends it
    at: float  # wall time it was received
    backfilled: bool = False
    # The validator addresses whose signature committed the block before it (its
    # last_commit; a nil precommit counts). None: not carried (a backfilled header).
    signed: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A source's stream went down or came back.

    ``source`` is ``"ws:<node>"`` for a websocket or ``"docker"`` for Docker events.
    """

    source: str
    up: bool
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """A Docker container event of the watched Compose project."""

    service: str  # Compose service name (com.docker.compose.service label)
    action: str  # start, die, oom, kill, stop, restart, pause, unpause, ...
    container_id: str
    exit_code: int | None
    time_nano: int
    at: float


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node's versions, as its ``abci_info`` reports them (polled).

    Tells which binary a node runs, so a node stuck at the upgrade height can be
    reported as "still runs the genesis binary" rather than just "silent".
    """

    node: str
    app_version: int  # the app's protocol version (changes with the upgrade)
    version: str  # the binary's version string, e.g. "v1", "v2.0.1"
    at: float  # wall time it was read
    # The app's last block and its hash after it: nodes at one height must agree
    # (``agent.core.apphash``). 0 / "": not reported.
    height: int = 0
    app_hash: str = ""


@dataclass(frozen=True, slots=True)
class NodeReach:
    """Whether a node's RPC answered a poll (``error``: why not)."""

    node: str
    ok: bool
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class RoundVotes:
    """The consensus round a node is in (``dump_consensus_state``), with who has not
    voted: the cause of a halt. Validators are named by node where their address
    is known, else by the address's first 12 hex digits."""

    node: str  # the node that answered
    height: int
    round: int
    missing_prevotes: tuple[str, ...]
    missing_precommits: tuple[str, ...]
    missing_power_pct: float  # of the total voting power, missing from the prevotes
    at: float
    missing_precommit_pct: float = 0.0  # the same, from the precommits


Observation = NewBlock | StreamStatus | ContainerEvent


@dataclass(frozen=True, slots=True)
class StagedSeen:
    """Watch mode: whether ``node``'s Cosmovisor has a binary staged for ``plan``
    (``path``: the one it lacks, when not)."""

    node: str
    plan: str
    staged: bool
    path: str
    at: float


@dataclass(frozen=True, slots=True)
class ValidatorKey:
    """The validator key a node holds (``status`` ``validator_info``): how a
    commit's signatures are named by node. ``power`` 0: the key is in no
    validator set (a sentry's or a full node's)."""

    node: str
    address: str  # upper-case hex
    power: int
    at: float


WatchObservation = (
    NewBlock
    | StreamStatus
    | ContainerEvent
    | NodeInfo
    | NodeReach
    | RoundVotes
    | StagedSeen
    | ValidatorKey
)
