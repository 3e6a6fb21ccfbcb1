"""Views onto the fake chain as the agent's clients see it: RPC, REST, the chain
CLI (and its boxes), and the transaction ledger."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from agent.adapters.chaincli import SignedTx, proposal_args
from agent.adapters.rest import AccountState, Proposal, UpgradePlan
from agent.adapters.rpc import (
    AbciInfo,
    BlockHeader,
    BroadcastResult,
    RPCError,
)
from agent.config import VoterConfig
from agent.errors import (
    AgentError,
    ConnectError,
    DeadlineExceeded,
    ProtocolError,
    TransientError,
)
from fakes.chain import FakeChain, FakeProposal, encode_kv_pairs, leaderboard_doc
from fakes.config import DEPOSIT, rfc3339


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
        self.infos: list[str] = []  # the plan info each proposal was signed with

    async def address(self, voter: VoterConfig) -> str:
        return f"cosmos1{voter.name}"

    def proposal_args(self, name: str, height: int, summary: str, *, info: str = "") -> list[str]:
        self.infos.append(info)
        return proposal_args(name, height, summary, DEPOSIT, info=info or "{}")

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
