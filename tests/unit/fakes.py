"""Fakes for the runtime's unit tests: one fake chain shared by RPC, REST, CLI and Compose.

``FakeChain`` holds what a tiny Cosmos chain would: per-node heights (blocks advance
only when the test calls ``advance``), accounts with sequences, a mempool whose
transactions are included at the next block, proposals, votes, balances, the checkers
store and the Cosmovisor links. ``FakeRPC``/``FakeRest``/``FakeCLI``/``FakeCompose``
are views onto it, so a transaction signed by the fake CLI and broadcast over one fake
RPC is found over any other.

Transactions are modelled as the chain treats signed bytes: the fake CLI signs
deterministically (the bytes are JSON of the ``tx`` arguments, the signer, its account
number and sequence), so signing the same thing at the same sequence gives the same
bytes and hash. The chain accepts given bytes at most once: bytes already in the
mempool are a duplicate (the node's cache, code 0), bytes at a sequence the account
has moved past are refused with code 32 (a duplicate to the agent: "look it up"), and
every answer goes through the real ``parse_broadcast``/``broadcast_error``.

``FakeChain.kill_at`` arms one-shot hooks at named points (``signed``, ``recorded``,
``broadcast``, ``tx_lookup``, ``block``) so a test can kill (raise) or cancel the
executor exactly there.

For the daemon: ``ScriptedExecutor`` answers each action with its fact (and can be
told to hang or fail), ``FakeReads`` answers the two chain reads, ``FakeSource``
pushes the chain's ``NewBlock`` observations into the stream the Runner hands to the
source factory, ``RecordingJournal`` keeps every saved state, and ``SteppedClock``
is a ``FakeClock`` whose ``sleep`` waits until the test advances time (deadlines fire
exactly when the test says so).
"""

from __future__ import annotations

import copy
import json
import sys
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from agent.adapters.chaincli import SignedTx, proposal_args
from agent.adapters.clock import FakeClock
from agent.adapters.process import CommandResult
from agent.adapters.rest import AccountState, Proposal, UpgradePlan
from agent.adapters.rpc import (
    TX_IN_CACHE,
    AbciInfo,
    BlockHeader,
    BroadcastResult,
    RPCError,
    broadcast_error,
    parse_broadcast,
    tx_hash,
)
from agent.config import Config, VoterConfig, load_config, parse_config
from agent.core import codec
from agent.core.actions import (
    Action,
    CaptureBaseline,
    CastVote,
    ExplainExit,
    LaunchStack,
    RestartOnV2,
    SubmitProposal,
    VerifyRestart,
    VerifyUpgrade,
    WriteReport,
)
from agent.core.chainview import ChainView
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    Check,
    ExitExplained,
    Fact,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import Phase, State
from agent.core.observations import NewBlock, Observation
from agent.errors import (
    AgentError,
    ConnectError,
    DeadlineExceeded,
    ProtocolError,
    TransientError,
)
from agent.runtime import report as report_mod
from agent.runtime.executors.context import ExecContext

REPO = Path(__file__).resolve().parents[2]
LEADERBOARD_PROGRAM = REPO / "prod-sim" / "checks" / "leaderboard.py"
sys.path.insert(0, str(LEADERBOARD_PROGRAM.parent))

from leaderboard import (  # noqa: E402 (the profile's program, imported from its directory)
    LEADERBOARD_KEY,
    PLAYER_PREFIX,
    PlayerInfo,
)

GENESIS = 1_700_000_000.0
VOTING = "PROPOSAL_STATUS_VOTING_PERIOD"
PASSED = "PROPOSAL_STATUS_PASSED"
OK = (Check("fake", True, "fine"),)
DEPOSIT = "10000000upawn"


class SimulatedCrash(BaseException):
    """A kill -9 stand-in: a BaseException, so no ``except Exception`` swallows it."""


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _load_profile() -> dict[str, Any]:
    """The bundled profile's ``[[reads]]``/``[[checks]]`` (and ``[verify]``) from config.toml.

    The programs run with the interpreter running the tests, by absolute path, so a
    test's ``base_dir`` (the program's cwd) may be anywhere. Read once, at import (no
    file I/O inside the event loop).
    """
    doc = tomllib.loads((REPO / "config.toml").read_text())
    checks = []
    for c in doc["checks"]:
        c = dict(c)
        if c.get("program"):
            c["program"] = [sys.executable, str(REPO / c["program"][-1])]
        checks.append(c)
    return {
        # The schema's defaults are chain-neutral (simd): the bundled chain's [chain]
        # as the kit fills it (program checkersd, its images and homes).
        "chain": load_config(REPO / "config.toml").chain.model_dump(mode="json"),
        # A hand-written stack names its reset and port check (no defaults).
        "stack": {"reset_command": ["reset-homes"], "ports_check_command": ["check-ports"]},
        "reads": doc["reads"],
        "checks": checks,
        "verify": doc.get("verify", {}),
    }


PROFILE = _load_profile()


def profile_sections() -> dict[str, Any]:
    return copy.deepcopy(PROFILE)


def make_config(
    base_dir: Path, extra: dict[str, Any] | None = None, *, profile: bool = True
) -> Config:
    """The documented defaults (five nodes, voters alice and bob) and the bundled
    profile's reads and checks, via the loader; ``extra`` sections merged on top."""
    raw: dict[str, Any] = profile_sections() if profile else {}
    raw.update(extra or {})
    return parse_config(raw, base_dir)


# --- the chain --------------------------------------------------------------------


@dataclass
class FakeProposal:
    id: int
    name: str
    height: int
    status: str = VOTING
    voting_end: float = 0.0


@dataclass(frozen=True)
class FakeTx:
    """Signed bytes as the fake chain reads them (see the module doc)."""

    raw: bytes
    hash: str
    sender: str
    sequence: int
    # ("proposal", name, height) | ("vote", pid, address, option) | ("state", *args)
    what: tuple[Any, ...]

    @classmethod
    def decode(cls, raw: bytes) -> FakeTx:
        doc = json.loads(raw)
        args, sender = doc["args"], doc["from"]
        what: tuple[Any, ...]
        if args[:2] == ["upgrade", "software-upgrade"]:
            what = ("proposal", args[2], int(args[args.index("--upgrade-height") + 1]))
        elif args[:2] == ["gov", "vote"]:
            what = ("vote", int(args[2]), sender, f"VOTE_OPTION_{args[3].upper()}")
        elif args[:2] in (["bank", "send"], ["staking", "delegate"]):
            what = ("state", *args)  # a profile's declared transaction
        else:
            raise AssertionError(f"the fake chain knows no tx {args!r}")
        return cls(raw, tx_hash(raw), sender, int(doc["sequence"]), what)

    @property
    def signed(self) -> SignedTx:
        return SignedTx(self.raw, self.hash)


@dataclass
class FakeChain:
    nodes: list[str]
    height: int = 0
    interval: float = 1.0
    heights: dict[str, int] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)  # nodes that produce no blocks
    mempool: list[FakeTx] = field(default_factory=list)
    txs: dict[str, dict[str, Any]] = field(default_factory=dict)  # committed: hash -> /tx
    committed: list[FakeTx] = field(default_factory=list)
    signed: list[FakeTx] = field(default_factory=list)  # every signature the CLI made
    broadcasts: list[BroadcastResult] = field(default_factory=list)  # every answer
    sequences: dict[str, int] = field(default_factory=dict)  # address -> committed seq
    account_numbers: dict[str, int] = field(default_factory=dict)
    check_code: int = 0  # CheckTx refuses new transactions with this code
    down: set[str] = field(default_factory=set)  # nodes whose RPC refuses connections
    lost_answers: int = 0  # the next N broadcasts reach the mempool; the answer times out
    kill_at: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    proposals: list[FakeProposal] = field(default_factory=list)
    votes: dict[tuple[int, str], str] = field(default_factory=dict)
    vote_txs: list[tuple[int, str]] = field(default_factory=list)
    voting_period: float = 20.0
    tx_code: int = 0
    tx_events: bool = True
    include: bool = True  # mempool transactions get into the next block
    balances: dict[str, int] = field(default_factory=dict)
    # The checkers store, encoded as the module writes it (see ``store``).
    players: list[PlayerInfo] = field(default_factory=list)
    leaderboard: list[tuple[str, int]] | None = None  # the stored one (None: absent)
    cli_leaderboard: list[tuple[str, int]] | None = None  # what show-leaderboard says
    kv: dict[bytes, bytes] = field(default_factory=dict)  # any other raw store entries
    rpc_docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # RPC method -> result
    rest_docs: dict[str, dict[str, Any]] = field(default_factory=dict)  # REST path -> JSON
    queries: list[tuple[str, Any]] = field(default_factory=list)  # every declared read asked
    applied: dict[str, int] = field(default_factory=dict)
    app_version: dict[str, int] = field(default_factory=dict)
    app_hash_override: dict[tuple[str, int], str] = field(default_factory=dict)
    # Nodes whose last block is stored, not executed (halted on the old binary at the
    # upgrade height): their app is one height behind their block store.
    stored_only: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)  # container id -> current link
    containers: dict[str, str] = field(default_factory=dict)  # service -> container id
    query_errors: int = 0  # the next N abci queries fail (a node restarting)
    views: list[ChainView] = field(default_factory=list)
    streams: list[tuple[str, MemoryObjectSendStream[Observation]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for n in self.nodes:
            self.heights.setdefault(n, self.height)
            self.app_version.setdefault(n, 1)

    # blocks
    def block_time(self, h: int) -> str:
        return rfc3339(GENESIS + h * self.interval)

    def backfill(self, node: str, height: int) -> None:
        """``node`` shows ``height`` by its RPC, not live: what a stream reconnecting to
        it fetches (the block may be stored only: see ``stored_only``)."""
        self.heights[node] = height
        ev = NewBlock(node, height, self.block_time(height), GENESIS + height, backfilled=True)
        for v in self.views:
            v.observe(ev)
        for src_node, send in self.streams:
            if src_node == node:
                send.send_nowait(ev)

    def advance(self, n: int = 1) -> None:
        """``n`` new blocks on every node that is not frozen; include the mempool."""
        for _ in range(n):
            self.height += 1
            if self.include:
                for tx in self.mempool:
                    self._include(tx)
                self.mempool.clear()
            for node in self.nodes:
                if node in self.frozen:
                    continue
                self.heights[node] = self.height
                ev = NewBlock(
                    node, self.height, self.block_time(self.height), GENESIS + self.height
                )
                for v in self.views:
                    v.observe(ev)
                for src_node, send in self.streams:
                    if src_node == node:
                        send.send_nowait(ev)

    def app_height(self, node: str) -> int:
        return self.heights[node] - (1 if node in self.stored_only else 0)

    def app_hash(self, node: str, h: int) -> str:
        return self.app_hash_override.get((node, h), f"APPHASH{h:08d}ABCDEF")

    # the raw store
    @property
    def store(self) -> dict[bytes, bytes]:
        """The checkers store as raw KV: player infos and the leaderboard, as JSON values."""
        out = dict(self.kv)
        for p in self.players:
            out[PLAYER_PREFIX + p.index.encode()] = json.dumps(
                {
                    "index": p.index,
                    "wonCount": str(p.won),
                    "lostCount": str(p.lost),
                    "forfeitedCount": str(p.forfeited),
                }
            ).encode()
        if self.leaderboard is not None:
            out[LEADERBOARD_KEY] = json.dumps(leaderboard_doc(self.leaderboard)).encode()
        return out

    # transactions
    async def hit(self, point: str) -> None:
        """Run the hook armed at ``point`` (once), e.g. a simulated kill."""
        hook = self.kill_at.pop(point, None)
        if hook is not None:
            await hook()

    def account(self, address: str) -> AccountState:
        number = self.account_numbers.setdefault(address, len(self.account_numbers))
        return AccountState(number, self.sequences.get(address, 0))

    def sign(self, address: str, args: list[str], account_number: int, sequence: int) -> FakeTx:
        """Deterministic "signature": equal inputs give equal bytes (as RFC 6979 does)."""
        doc = {"args": args, "from": address, "account": account_number, "sequence": sequence}
        tx = FakeTx.decode(json.dumps(doc, sort_keys=True).encode())
        self.signed.append(tx)
        return tx

    def broadcast_tx(self, tx_bytes: bytes) -> BroadcastResult:
        """CheckTx as a node runs it, answered through the real result mapping."""
        tx = FakeTx.decode(tx_bytes)
        if any(m.hash == tx.hash for m in self.mempool):
            err = RPCError("broadcast_tx_sync", -32603, "Internal error", TX_IN_CACHE)
            result = broadcast_error(err, tx.hash)
        else:
            # The check state's sequence: committed ones plus what waits in the mempool.
            expected = self.sequences.get(tx.sender, 0) + sum(
                1 for m in self.mempool if m.sender == tx.sender
            )
            doc: dict[str, Any] = {"code": 0, "data": "", "log": "", "codespace": ""}
            if tx.sequence != expected:
                doc.update(
                    code=32,
                    codespace="sdk",
                    log=f"account sequence mismatch, expected {expected}, "
                    f"got {tx.sequence}: incorrect account sequence",
                )
            elif self.check_code:
                doc.update(code=self.check_code, codespace="sdk", log="insufficient fees")
            else:
                self.mempool.append(tx)
            result = parse_broadcast({**doc, "hash": tx.hash}, tx.hash)
        self.broadcasts.append(result)
        return result

    def _include(self, tx: FakeTx) -> None:
        # The ante handler bumps the sequence even when the message then fails.
        self.sequences[tx.sender] = self.sequences.get(tx.sender, 0) + 1
        self.committed.append(tx)
        events: list[dict[str, Any]] = []
        what = tx.what
        if self.tx_code == 0:
            if what[0] == "proposal":
                _, name, height = what
                pid = len(self.proposals) + 1
                self.proposals.append(
                    FakeProposal(pid, name, height, voting_end=GENESIS + 10_000.0)
                )
                if self.tx_events:
                    attrs = [{"key": "proposal_id", "value": str(pid)}]
                    events.append({"type": "submit_proposal", "attributes": attrs})
            elif what[0] == "vote":
                _, pid, addr, option = what
                self.votes[(pid, addr)] = option
                self.vote_txs.append((pid, addr))
        self.txs[tx.hash] = {"tx_result": {"code": self.tx_code, "events": events}}

    def committed_of(self, kind: str) -> list[FakeTx]:
        return [t for t in self.committed if t.what[0] == kind]

    def proposals_for(self, name: str) -> list[FakeProposal]:
        return [p for p in self.proposals if p.name == name]


def encode_kv_pairs(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """kv.Pairs{repeated Pair{key=1, value=2}}, as /store/<name>/subspace answers."""

    def ld(num: int, payload: bytes) -> bytes:
        out = bytes([num << 3 | 2])
        n = len(payload)
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out + payload

    return b"".join(ld(1, ld(1, k) + ld(2, v)) for k, v in pairs)


def leaderboard_doc(rows: list[tuple[str, int]]) -> dict[str, Any]:
    return {"winners": [{"playerAddress": a, "wonCount": str(w)} for a, w in rows]}


class FakeRPC:
    def __init__(self, chain: FakeChain, node: str) -> None:
        self.chain = chain
        self.node = node

    def _reach(self) -> None:
        if self.node in self.chain.down:
            raise ConnectError(f"{self.node}:26657: connection refused")

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
        await anyio.lowlevel.checkpoint()
        self._reach()
        result = self.chain.broadcast_tx(tx_bytes)
        await self.chain.hit("broadcast")  # the node has it; the answer is on its way
        if self.chain.lost_answers > 0:
            self.chain.lost_answers -= 1
            raise DeadlineExceeded(f"POST {self.node}:26657: read timed out")
        return result

    async def tx(self, tx_hash: str) -> dict[str, Any] | None:
        await anyio.lowlevel.checkpoint()
        self._reach()
        await self.chain.hit("tx_lookup")
        return self.chain.txs.get(tx_hash)

    async def abci_info(self) -> AbciInfo:
        self._reach()
        c = self.chain
        h = c.app_height(self.node)
        return AbciInfo(
            c.app_version[self.node],
            f"v{c.app_version[self.node]}",
            h,
            c.app_hash(self.node, h + 1),  # the hash block h+1 will carry
        )

    async def block_header(self, height: int | None = None) -> BlockHeader:
        h = self.chain.heights[self.node] if height is None else height
        return BlockHeader(h, self.chain.block_time(h), self.chain.app_hash(self.node, h))

    async def abci_query(self, path: str, data: bytes, height: int | None = None) -> bytes | None:
        self._reach()
        c = self.chain
        if c.query_errors > 0:
            c.query_errors -= 1
            raise TransientError("invalid height: node restarting")
        c.queries.append(("abci", (path, data)))
        store = c.store
        if path.endswith("/subspace"):
            rows = sorted((k, v) for k, v in store.items() if k.startswith(data))
            return encode_kv_pairs(rows) or None
        if path.endswith("/key"):
            return store.get(data)
        raise TransientError(f"abci_query {path}: unknown path")

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        self._reach()
        self.chain.queries.append(("rpc", (method, params)))
        doc = self.chain.rpc_docs.get(method)
        if doc is None:
            raise RPCError(method, -32601, "Method not found", "")
        return doc


class FakeRest:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain

    def _proposal(self, p: FakeProposal) -> Proposal:
        return Proposal(
            p.id,
            p.status,
            p.name,
            False,
            None,
            None,
            rfc3339(p.voting_end),
            UpgradePlan(p.name, p.height),
        )

    async def proposals(self) -> list[Proposal]:
        await anyio.lowlevel.checkpoint()
        return [self._proposal(p) for p in self.chain.proposals]

    async def proposal(self, proposal_id: int) -> Proposal | None:
        for p in self.chain.proposals:
            if p.id == proposal_id:
                return self._proposal(p)
        return None

    async def vote(self, proposal_id: int, voter: str) -> str | None:
        return self.chain.votes.get((proposal_id, voter))

    async def applied_plan(self, name: str) -> int:
        return self.chain.applied.get(name, 0)

    async def balance(self, address: str, denom: str) -> int:
        return self.chain.balances.get(address, 0)

    async def account(self, address: str) -> AccountState:
        await anyio.lowlevel.checkpoint()
        return self.chain.account(address)

    async def get_path(self, path: str) -> dict[str, Any]:
        self.chain.queries.append(("rest", path))
        doc = self.chain.rest_docs.get(path)
        if doc is None:
            raise ProtocolError(f"GET {path}: HTTP 501: Not Implemented")
        return doc


class FakeCLI:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.leaderboard_error: AgentError | None = None
        self.warmed: list[dict[str, bool]] = []
        self.released = 0

    async def address(self, voter: VoterConfig) -> str:
        return f"cosmos1{voter.name}"

    def proposal_args(self, name: str, height: int, summary: str) -> list[str]:
        return proposal_args(name, height, summary, DEPOSIT)

    async def sign(
        self,
        voter: VoterConfig,
        args: list[str],
        *,
        address: str,
        account_number: int,
        sequence: int,
    ) -> SignedTx:
        await anyio.lowlevel.checkpoint()
        assert address == await self.address(voter), "signed as someone else"
        tx = self.chain.sign(address, list(args), account_number, sequence)
        await self.chain.hit("signed")  # the container printed the bytes
        return tx.signed

    async def warm(self, *, voters: bool = True, v1: bool = False, v2: bool = False) -> None:
        await anyio.lowlevel.checkpoint()
        self.warmed.append({"voters": voters, "v1": v1, "v2": v2})

    async def release_network(self) -> None:
        await anyio.lowlevel.checkpoint()
        self.released += 1

    async def query(self, args: list[str], *, v2: bool, node: str | None = None) -> dict[str, Any]:
        """``checkersd query <args> --output json``: the fake knows show-leaderboard."""
        await anyio.lowlevel.checkpoint()
        self.chain.queries.append(("cli", (tuple(args), v2)))
        if self.leaderboard_error is not None:
            raise self.leaderboard_error
        if list(args) != ["checkers", "show-leaderboard"]:
            raise ProtocolError(f"the fake CLI knows no query {args!r}")
        if not v2:
            raise ProtocolError('unknown command "show-leaderboard" for "checkers" (v1)')
        rows = self.chain.cli_leaderboard
        if rows is None:
            rows = self.chain.leaderboard or []
        return {"Leaderboard": leaderboard_doc(rows)}


class FakeCompose:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.calls: list[tuple[str, list[str]]] = []

    async def up(
        self, files: list[str], services: Iterable[str] = (), *, remove_orphans: bool = False
    ) -> CommandResult:
        extra = [f"service:{x}" for x in services] + (
            ["--remove-orphans"] if remove_orphans else []
        )
        self.calls.append(("up", [*files, *extra]))
        return CommandResult(("compose", "up"), 0, "", "")

    async def down(self, files: list[str]) -> CommandResult:
        self.calls.append(("down", list(files)))
        return CommandResult(("compose", "down"), 0, "", "")

    async def has_containers(self) -> bool:
        return bool(self.chain.containers)

    async def container_ids(self) -> dict[str, str]:
        return dict(self.chain.containers)


class FakeLedger:
    """In-memory ``TxLedger``: record, find and entries by (rehearsal, kind)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, str, str | None]] = []
        self.noted: dict[tuple[str, str, str], dict[str, int]] = {}
        self.sequences: dict[tuple[str, str], int] = {}

    async def record_sequence(self, rehearsal: str, address: str, next_sequence: int) -> None:
        await anyio.lowlevel.checkpoint()
        key = (rehearsal, address)
        self.sequences[key] = max(self.sequences.get(key, 0), next_sequence)

    async def next_sequence(self, rehearsal: str, address: str) -> int:
        return self.sequences.get((rehearsal, address), 0)

    async def record(
        self,
        rehearsal: str,
        kind: str,
        tx_hash: str,
        tx: str | None = None,
        note: dict[str, int] | None = None,
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self.records.append((rehearsal, kind, tx_hash, tx))
        if note:
            self.noted[(rehearsal, kind, tx_hash)] = dict(note)

    async def notes(self, rehearsal: str, kind: str) -> dict[str, dict[str, int]]:
        return {h: n for (r, k, h), n in self.noted.items() if r == rehearsal and k == kind}

    async def find(self, rehearsal: str, kind: str) -> list[str]:
        return [h for h, _ in await self.entries(rehearsal, kind)]

    async def entries(self, rehearsal: str, kind: str) -> list[tuple[str, str | None]]:
        return [(h, t) for r, k, h, t in self.records if r == rehearsal and k == kind]


def hook_ledger(ledger: Any, chain: FakeChain) -> None:
    """Make ``ledger.record`` run the chain's ``recorded`` hook once it has written."""
    real = ledger.record

    async def record(*a: Any, **kw: Any) -> None:
        await real(*a, **kw)
        await chain.hit("recorded")

    ledger.record = record


class CommandRecorder:
    """Stands in for ``agent.adapters.process.run_command`` (monkeypatched)."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.argvs: list[list[str]] = []
        self.unstaged: set[str] = set()  # containers without v2 under the plan name

    async def __call__(self, argv: Iterable[str], **_kw: Any) -> CommandResult:
        args = [str(a) for a in argv]
        self.argvs.append(args)
        if args[:2] == ["docker", "exec"] and "staged" in args:
            if args[2] in self.unstaged:
                home, name, binary = args[-3:]
                path = f"{home}/cosmovisor/upgrades/{name}/bin/{binary}\n"
                return CommandResult(tuple(args), 3, path, "")
            return CommandResult(tuple(args), 0, "", "")
        if args[:2] == ["docker", "exec"]:
            link = self.chain.links.get(args[2], "")
            return CommandResult(tuple(args), 0, link + "\n", "")
        return CommandResult(tuple(args), 0, "", "")


@dataclass
class World:
    """A fake chain with every adapter the executors use, and an ExecContext on it."""

    cfg: Config
    chain: FakeChain
    view: ChainView
    cli: FakeCLI
    rest: FakeRest
    compose: FakeCompose
    rpcs: dict[str, FakeRPC]
    ledger: Any
    clock: FakeClock
    ctx: ExecContext
    reports: list[State]
    commands: CommandRecorder | None = None  # set when run_command is monkeypatched


def make_world(
    base_dir: Path,
    *,
    ledger: Any = None,
    height: int = 10,
    extra: dict[str, Any] | None = None,
    profile: bool = True,
) -> World:
    cfg = make_config(base_dir, extra, profile=profile)
    names = [n.name for n in cfg.nodes]
    chain = FakeChain(names, height=height)
    view = ChainView(names)
    chain.views.append(view)
    for n in cfg.nodes:
        # Three blocks seen: the block time is measured (two gaps), as when the
        # machine asks for a proposal.
        for h in range(max(1, height - 2), height + 1):
            view.observe(NewBlock(n.name, h, chain.block_time(h), GENESIS + h))
        cid = f"cid-{n.service or n.name}"
        chain.containers[n.service or n.name] = cid
        chain.links[cid] = f"{cfg.chain.daemon_home}/cosmovisor/upgrades/{cfg.chain.upgrade_name}"
    cli, rest, compose = FakeCLI(chain), FakeRest(chain), FakeCompose(chain)
    rpcs = {n: FakeRPC(chain, n) for n in names}
    clock = FakeClock(wall=GENESIS + 100)
    reports: list[State] = []

    async def write_report(state: State) -> Path:
        reports.append(state)
        return base_dir / "report.json"

    async def wait_blocks(n: int) -> None:
        await anyio.lowlevel.checkpoint()
        chain.advance(n)
        await chain.hit("block")

    ledger = FakeLedger() if ledger is None else ledger
    hook_ledger(ledger, chain)
    ctx = ExecContext(
        cfg,
        compose=compose,  # type: ignore[arg-type]
        cli=cli,  # type: ignore[arg-type]
        rpcs=rpcs,  # type: ignore[arg-type]
        rest=rest,  # type: ignore[arg-type]
        view=view,
        ledger=ledger,
        clock=clock,
        write_report=write_report,
        wait_blocks=wait_blocks,
    )
    return World(cfg, chain, view, cli, rest, compose, rpcs, ledger, clock, ctx, reports)


# --- for the daemon ---------------------------------------------------------------


class SteppedClock(FakeClock):
    """``sleep`` returns only once the test ``advance``d time past its end."""

    def __init__(self) -> None:
        super().__init__(wall=GENESIS)
        self._wake = anyio.Event()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._wake.set()
        self._wake = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        until = self.monotonic() + max(0.0, seconds)
        while self.monotonic() < until:
            await self._wake.wait()


class FakeSource:
    """Subscribes to the chain's blocks of one node and forwards them to the Runner."""

    def __init__(self, chain: FakeChain, node: str, send: MemoryObjectSendStream[Observation]):
        self.chain = chain
        self.node = node
        self.send = send

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.chain.streams.append((self.node, self.send))
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            self.chain.streams.remove((self.node, self.send))


def source_factory(
    chain: FakeChain,
) -> Callable[[MemoryObjectSendStream[Observation]], list[FakeSource]]:
    def make(send: MemoryObjectSendStream[Observation]) -> list[FakeSource]:
        return [FakeSource(chain, n, send) for n in chain.nodes]

    return make


class FakeReads:
    """Voting period and a proposal-status sequence that moves on only when ``gate()``;
    the apps' heights are ``chain``'s."""

    def __init__(
        self,
        statuses: list[str] | None = None,
        *,
        voting_period: float = 1.0,
        gate: Callable[[], bool] | None = None,
        chain: FakeChain | None = None,
    ) -> None:
        self.chain = chain
        self.statuses = statuses or [VOTING, PASSED]
        self.voting_period_s = voting_period
        self.gate = gate
        self.i = 0
        self.calls: list[str] = []
        self.fail_next = 0  # the next N reads raise an AgentError
        self.hang = False

    async def _enter(self, what: str) -> None:
        self.calls.append(what)
        await anyio.lowlevel.checkpoint()
        if self.hang:
            await anyio.sleep_forever()
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError(f"{what}: connection refused")

    async def voting_period(self) -> float:
        await self._enter("voting_period")
        return self.voting_period_s

    async def app_heights(self, nodes: Sequence[str]) -> dict[str, int | None]:
        await self._enter("app_heights")
        assert self.chain is not None, "FakeReads(chain=...) answers the apps' heights"
        c = self.chain
        return {n: None if n in c.down else c.app_height(n) for n in nodes}

    async def proposal_status(self, proposal_id: int) -> str | None:
        await self._enter("proposal_status")
        status = self.statuses[self.i]
        if self.i < len(self.statuses) - 1 and (self.gate is None or self.gate()):
            self.i += 1
        return status


class ScriptedExecutor:
    """An ``ActionRunner`` answering each action with its fact.

    ``hang``: keys that never finish; ``fail``: key -> reason (``ActionFailed``);
    ``on_start``: key -> async hook run before answering (e.g. cancel the test).
    """

    def __init__(
        self,
        view: ChainView,
        clock: FakeClock,
        chain: FakeChain | None = None,
        *,
        report_dir: Path | None = None,
        voting_period: float = 1.0,
    ) -> None:
        self.view = view
        self.clock = clock
        self.chain = chain
        self.report_dir = report_dir
        self.voting_period = voting_period
        self.started: list[str] = []
        self.completed: list[str] = []
        self.hang: set[str] = set()
        self.fail: dict[str, str] = {}
        self.on_start: dict[str, Callable[[], Awaitable[None]]] = {}
        self.running = anyio.Event()

    def kw(self) -> dict[str, Any]:
        return {"height": self.view.max_height, "at": self.clock.wall()}

    async def run(self, action: Action, state: State) -> Fact:
        key = action.key
        self.started.append(key)
        self.running.set()
        hook = self.on_start.get(key)
        if hook is not None:
            await hook()
        if key in self.hang:
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        if key in self.fail:
            fact: Fact = ActionFailed(key, self.fail[key], **self.kw())
        else:
            fact = await self._answer(action, state)
        self.completed.append(key)
        return fact

    async def _answer(self, action: Action, state: State) -> Fact:
        kw = self.kw()
        if isinstance(action, LaunchStack):
            return StackLaunched(**kw)
        if isinstance(action, SubmitProposal):
            end = self.clock.wall() + self.voting_period
            return ProposalSubmitted(1, "TXP", action.upgrade_height, voting_end=end, **kw)
        if isinstance(action, CastVote):
            return VoteCast(action.voter, action.proposal_id, f"TX{action.voter}", **kw)
        if isinstance(action, CaptureBaseline):
            reads = (("players", json.dumps({"value": None})),)
            return BaselineCaptured(reads, (("cosmos1alice", 5),), 1, **kw)
        if isinstance(action, VerifyUpgrade):
            return UpgradeVerified(OK, **kw)
        if isinstance(action, RestartOnV2):
            return StackRestarted(self.view.max_height, **kw)
        if isinstance(action, VerifyRestart):
            return RestartVerified(OK, **kw)
        if isinstance(action, ExplainExit):
            return ExitExplained(action.node, action.exit_code, "binary not present", **kw)
        if isinstance(action, WriteReport):
            if self.report_dir is None:
                return ReportWritten("memory", **kw)
            path = await report_mod.write_report(
                state, self.report_dir / "report.json", self.report_dir / "report.md"
            )
            return ReportWritten(str(path), **kw)
        raise AssertionError(f"unscripted action {action!r}")


class RecordingJournal:
    """A ``Journal`` in memory; keeps every saved state (through the codec)."""

    def __init__(self, first: State | None = None) -> None:
        self.saved: list[str] = []
        self.before_save: Callable[[State], Awaitable[None]] | None = None
        self.busy = 0
        if first is not None:
            self.saved.append(json.dumps(codec.encode(first)))

    @property
    def states(self) -> list[State]:
        return [codec.decode(json.loads(s)) for s in self.saved]

    @property
    def phases(self) -> list[Phase]:
        """Each phase the saved states went through, in order, without repeats."""
        out: list[Phase] = []
        for s in self.states:
            if not out or out[-1] is not s.phase:
                out.append(s.phase)
        return out

    async def load(self) -> State | None:
        if not self.saved:
            return None
        state = codec.decode(json.loads(self.saved[-1]))
        assert isinstance(state, State)
        return state

    async def save(self, state: State) -> None:
        self.busy += 1
        try:
            if self.before_save is not None:
                await self.before_save(state)
            self.saved.append(json.dumps(codec.encode(state)))
        finally:
            self.busy -= 1


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


async def drive_blocks(
    chain: FakeChain,
    until: Callable[[], bool],
    *,
    journal: RecordingJournal | None = None,
    max_blocks: int = 4000,
) -> None:
    """Produce blocks one at a time, letting the daemon settle between them.

    ``max_blocks`` is generous: how many blocks go by before the runner is done
    depends on how its tasks interleave with this producer (50 checkpoints per
    block are not always enough for a resumed one), and 400 ran out now and then
    on a 2-core machine. The callers' ``fail_after`` is the real bound."""
    for _ in range(max_blocks):
        await settle()
        while journal is not None and journal.busy:
            await anyio.sleep(0.001)
            await settle()
        if until():
            return
        chain.advance()
    raise AssertionError(f"condition not reached within {max_blocks} blocks")


class RecordingBoxes:
    """``Boxes`` without Docker: records which box each call ran in."""

    def __init__(self) -> None:
        self.used: list[Any] = []  # agent.adapters.clibox.Box
        self.forgotten: list[Any] = []

    async def exec_prefix(self, box: Any) -> list[str]:
        await anyio.lowlevel.checkpoint()
        self.used.append(box)
        return ["docker", "exec", "-i", f"box{len(self.used)}"]

    def forget(self, box: Any) -> None:
        self.forgotten.append(box)

    async def warm(self, *boxes: Any) -> None:
        for b in boxes:
            await self.exec_prefix(b)

    async def remove_on(self, network: str) -> None:
        await anyio.lowlevel.checkpoint()

    async def close(self) -> None:
        await anyio.lowlevel.checkpoint()
