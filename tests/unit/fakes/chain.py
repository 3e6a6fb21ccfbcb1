"""A fake chain: heights, accounts, mempool, proposals, the checkers store.

How it models signed bytes: see the package docstring."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from anyio.streams.memory import MemoryObjectSendStream

from agent.adapters.chaincli import SignedTx
from agent.adapters.rest import AccountState
from agent.adapters.rpc import TX_IN_CACHE, BroadcastResult, RPCError, tx_hash
from agent.adapters.rpc_answers import broadcast_error, parse_broadcast
from agent.core.chainview import ChainView
from agent.core.observations import NewBlock, Observation
from fakes.config import GENESIS, LEADERBOARD_KEY, PLAYER_PREFIX, VOTING, PlayerInfo, rfc3339

# Where ``FakeChain.kill_at`` can kill a transaction on its way: after the ledger
# write, after the broadcast, during the lookup, at the block that includes it.
KILL_POINTS = ["recorded", "broadcast", "tx_lookup", "block"]


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
