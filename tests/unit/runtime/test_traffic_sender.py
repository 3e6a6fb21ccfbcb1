"""The traffic sender against a simulated chain: mempool, blocks, a halt whose
restart empties the mempool, a node that does not answer, a kill and a resume."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.adapters.chaincli import SignedTx
from agent.adapters.clock import FakeClock
from agent.adapters.rest import AccountState
from agent.adapters.rpc import tx_hash
from agent.adapters.rpc_answers import BroadcastResult
from agent.adapters.traffic_log import TrafficLog
from agent.core.chainview import ChainView
from agent.core.observations import NewBlock
from agent.core.traffic import HALT, TrafficBook, TrafficEvent, TxSent
from agent.errors import TransientError
from agent.runtime.blocks import BlockWaiter
from agent.runtime.traffic import Template, TrafficSender, TrafficSettings

pytestmark = pytest.mark.anyio

ACCOUNTS = ("traffic-1", "traffic-2")


class SimChain:
    """Checks sequences like CheckTx, includes the mempool in order like a proposer."""

    def __init__(self) -> None:
        self.height = 1
        self.mempool: list[tuple[str, str, int, bytes]] = []
        self.committed: dict[str, int] = {}
        self.seq: dict[str, int] = {}  # committed next sequence
        self.check: dict[str, int] = {}  # CheckTx's next sequence (committed + mempool)
        self.down = False
        self.censor: set[int] = set()  # sequences a proposer never includes
        self.fresh = False  # just restarted: CheckTx refuses signatures until a commit

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
        if self.down:
            raise TransientError("broadcast_tx_sync: connection refused")
        doc = json.loads(tx_bytes)
        h = tx_hash(tx_bytes)
        if h in self.committed or any(m[0] == h for m in self.mempool):
            return BroadcastResult(0, "tx already exists in cache", h, duplicate=True)
        want = self.check.get(doc["a"], 0)
        if doc["s"] != want:  # the ante handler checks the sequence, then the signature
            log = f"account sequence mismatch, expected {want}, got {doc['s']}: incorrect"
            return BroadcastResult(32, log, h, "sdk", duplicate=want > doc["s"])
        if self.fresh:
            log = "signature verification failed; please verify account number (0)"
            return BroadcastResult(4, log, h, "sdk")
        self.mempool.append((h, doc["a"], doc["s"], tx_bytes))
        self.check[doc["a"]] = want + 1
        return BroadcastResult(0, "", h)

    async def tx(self, h: str) -> dict[str, Any] | None:
        if h not in self.committed:
            return None
        return {"height": str(self.committed[h]), "tx_result": {"code": 0}}

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        assert method == "unconfirmed_txs"
        if self.down:
            raise TransientError("unconfirmed_txs: connection refused")
        return {"txs": [base64.b64encode(m[3]).decode() for m in self.mempool]}

    def block(self) -> None:
        self.fresh = False
        self.height += 1
        kept: list[tuple[str, str, int, bytes]] = []
        for m in self.mempool:
            if m[2] in self.censor or m[2] != self.seq.get(m[1], 0):
                kept.append(m)
                continue
            self.committed[m[0]] = self.height
            self.seq[m[1]] = m[2] + 1
        self.mempool = kept

    def restart(self) -> None:
        self.mempool.clear()
        self.check = dict(self.seq)

    async def account(self, address: str) -> AccountState:
        return AccountState(7, self.seq.get(address.removeprefix("addr-"), 0))


class Signer:
    async def address(self, account: str) -> str:
        return f"addr-{account}"

    async def sign(
        self, account: str, args: list[str], *, address: str, account_number: int, sequence: int
    ) -> SignedTx:
        raw = json.dumps({"a": account, "s": sequence, "args": args}).encode()
        return SignedTx(raw, tx_hash(raw))


class MemoryLog:
    """The traffic log in memory: every step stays on the event loop, so the test's
    turns decide the order, not a worker thread's timing."""

    def __init__(self) -> None:
        self.events: list[TrafficEvent] = []

    async def append(self, event: TrafficEvent) -> None:
        self.events.append(event)

    async def load(self) -> list[TrafficEvent]:
        return list(self.events)


class Rig:
    def __init__(
        self, tmp: Path, chain: SimChain | None = None, log: MemoryLog | None = None, **kw: Any
    ) -> None:
        self.chain = chain or SimChain()
        self.clock = FakeClock()
        self.view = ChainView(["n"])
        self.blocks = BlockWaiter(self.view)
        self.phase: list[Any] = ["proposed", None]
        settings = TrafficSettings(
            rate=5.0,
            accounts=ACCOUNTS,
            templates=(Template("send", ("bank", "send", "{from}", "{to}", "1u")),),
            **kw,
        )
        self.log = log or MemoryLog()
        self.sender = TrafficSender(
            settings, Signer(), self.chain, self.chain, self.view, self.clock,
            self.blocks.wait_blocks, lambda: (self.phase[0], self.phase[1]), self.log,
        )  # fmt: skip
        self.observe()

    def observe(self) -> None:
        self.view.observe(NewBlock("n", self.chain.height, "", self.clock.wall()))
        self.blocks.notify()

    async def idle(self, turns: int = 20) -> None:
        for _ in range(turns):
            await anyio.lowlevel.checkpoint()

    async def produce(self, n: int, turns: int = 20) -> None:
        for _ in range(n):
            await self.idle(turns)
            self.chain.block()
            self.observe()

    async def until(self, job: Callable[[], Awaitable[Any]]) -> Any:
        """Blocks keep coming while ``job`` runs (the settle waits on them)."""
        out: list[Any] = []

        async def run() -> None:
            out.append(await job())

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            for _ in range(200):
                if out:
                    break
                # Slow enough that the sender's look at each block (a dozen fsynced
                # writes) ends before the next: real blocks are a second apart.
                await self.produce(1, turns=80)
        return out[0]


def assert_one_accepted_per_sequence(book: TrafficBook) -> None:
    """No two transactions the chain accepted share an account's sequence (a refused
    one's sequence is free again, and may be signed anew)."""
    taken: dict[tuple[str, int], str] = {}
    for h, t in book.txs.items():
        if t.check_code == 0 or t.included is not None:
            key = (t.sent.account, t.sent.sequence)
            assert taken.setdefault(key, h) == h, key


def committed_sequences(chain: SimChain, log: list[Any]) -> dict[str, list[int]]:
    by_hash = {e.hash: e for e in log if isinstance(e, TxSent)}
    got: dict[str, list[int]] = {}
    for h in sorted(chain.committed, key=lambda h: (by_hash[h].account, by_hash[h].sequence)):
        got.setdefault(by_hash[h].account, []).append(by_hash[h].sequence)
    return got


async def test_traffic_through_a_halt_whose_restart_empties_the_mempool(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    async with anyio.create_task_group() as tg:
        await tg.start(r.sender.run)
        await r.produce(4)
        r.phase[:] = ["passed", r.chain.height + 3]
        await r.produce(2)  # the last v1 block: the chain halts here
        await r.idle(200)  # users keep sending into the halted chain's mempool
        in_mempool = len(r.chain.mempool)
        r.chain.down = True  # the nodes exit; Cosmovisor swaps the binary
        await r.idle(200)
        r.chain.restart()  # v2 starts: an empty mempool, a CheckTx at height 0
        r.chain.fresh = True
        r.chain.down = False
        r.phase[0] = "upgraded"
        check = await r.until(r.sender.settle)
        tg.cancel_scope.cancel()
    assert in_mempool > 0
    assert check.passed, check.evidence
    s = r.sender.summary()
    assert s["final"] and s["total"]["lost"] == 0 and s["total"]["pending"] == 0
    assert s["total"]["resent"] > 0  # what the restart dropped went again
    assert HALT in s["phases"]
    halt = s["halt_mempool"]
    # Read while the chain stood still: what users had sent into it by then.
    assert 0 < halt["ours"] <= in_mempool and "lost" not in halt["fates"]
    # Every sequence of every account landed once, none skipped, none signed twice.
    for acct, seqs in committed_sequences(r.chain, await r.log.load()).items():
        assert seqs == list(range(len(seqs))), acct
    assert_one_accepted_per_sequence(r.sender.book)


async def test_a_node_just_restarted_refusing_signatures_loses_nothing(tmp_path: Path) -> None:
    # stream-cuts under traffic: after the restart a new send found a gap, the gap's
    # accepted transactions went again to a node whose CheckTx still read height 0
    # (code 4), and the one refused was closed: the next waited for it until the end.
    r = Rig(tmp_path)
    async with anyio.create_task_group() as tg:
        await tg.start(r.sender.run)
        await r.produce(3)
        await r.idle(6)  # a send or two in flight, not the account's limit
        r.chain.restart()
        r.chain.fresh = True
        await r.idle(60)  # new sends meet the gap; what goes again meets code 4
        check = await r.until(r.sender.settle)
        tg.cancel_scope.cancel()
    assert check.passed, check.evidence
    assert r.sender.summary()["total"]["refused_again_codes"].get("4"), r.sender.summary()


async def test_an_account_waits_for_an_answer_before_signing_its_next(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.chain.down = True
    async with anyio.create_task_group() as tg:
        await tg.start(r.sender.run)
        await r.idle(300)
        # One each: the node never answered, so nothing after it was signed.
        assert len(r.sender.book.txs) == len(ACCOUNTS)
        r.chain.down = False
        check = await r.until(r.sender.settle)
        tg.cancel_scope.cancel()
    assert check.passed, check.evidence
    assert r.sender.summary()["total"]["rejected"] == 0


async def test_a_transaction_no_block_takes_is_lost_and_fails_the_check(tmp_path: Path) -> None:
    r = Rig(tmp_path, settle_blocks=6)
    r.chain.censor = {2}
    async with anyio.create_task_group() as tg:
        await tg.start(r.sender.run)
        await r.produce(5)
        check = await r.until(r.sender.settle)
        tg.cancel_scope.cancel()
    assert not check.passed
    assert "lost: " in check.evidence and "#2" in check.evidence
    assert r.sender.summary()["total"]["lost"] >= 2  # sequence 2 of each account


async def test_lost_transactions_pass_when_the_profile_allows_them(tmp_path: Path) -> None:
    r = Rig(tmp_path, settle_blocks=4, require_none_lost=False)
    r.chain.censor = {1}
    async with anyio.create_task_group() as tg:
        await tg.start(r.sender.run)
        await r.produce(3)
        check = await r.until(r.sender.settle)
        tg.cancel_scope.cancel()
    assert check.passed and "lost: " in check.evidence


async def test_a_killed_sender_resumes_without_signing_a_sequence_twice(tmp_path: Path) -> None:
    first = Rig(tmp_path)
    async with anyio.create_task_group() as tg:
        await tg.start(first.sender.run)
        await first.produce(3)
        await first.idle(100)
        tg.cancel_scope.cancel()  # the kill: some sent, some still in the mempool
    assert first.chain.mempool
    first.chain.restart()  # and the node lost them too
    second = Rig(tmp_path, chain=first.chain, log=first.log)
    async with anyio.create_task_group() as tg:
        await tg.start(second.sender.run)
        await second.produce(3)
        check = await second.until(second.sender.settle)
        tg.cancel_scope.cancel()
    assert check.passed, check.evidence
    log = await second.log.load()
    assert_one_accepted_per_sequence(second.sender.book)
    for acct, seqs in committed_sequences(second.chain, log).items():
        assert seqs == list(range(len(seqs))), acct


async def test_the_log_on_disk_gives_back_what_was_written(tmp_path: Path) -> None:
    from agent.core.traffic import MempoolSeen, TxChecked, TxIncluded, TxResent

    log = TrafficLog(tmp_path, "r1")
    events: list[TrafficEvent] = [
        TxSent("A", "t1", 0, "send", "voted", 5, 1.0, "AAAA"), TxChecked("A", 0, "", 2.0),
        TxResent("A", 9, 3.0), TxIncluded("A", 10, 0, 4.0), MempoolSeen(9, 2.5, ("A", "B")),
    ]  # fmt: skip
    for e in events:
        await log.append(e)

    def torn() -> None:  # a kill mid-write
        with log.path.open("a") as fh:
            fh.write('{"type": "TxSent", "hash": "torn')

    await anyio.to_thread.run_sync(torn)
    assert await log.load() == events
    assert await TrafficLog(tmp_path, "r2").load() == []


async def test_sends_go_to_a_node_at_the_tip_first_the_tx_node_among_equals() -> None:
    from agent.runtime.traffic_wiring import TipFirst

    asked: list[str] = []

    class Node:
        def __init__(self, name: str) -> None:
            self.name = name

        async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
            asked.append(self.name)
            return BroadcastResult(0, "", tx_hash(tx_bytes))

    view = ChainView(["val-a", "node-c", "sentry-b"])
    for n, h in (("val-a", 7), ("node-c", 7), ("sentry-b", 7)):
        view.observe(NewBlock(n, h, "", 1.0))
    tip = TipFirst({n: Node(n) for n in view.nodes}, view, "node-c")  # type: ignore[misc]
    await tip.broadcast_tx_sync(b"x")
    view.observe(NewBlock("sentry-b", 8, "", 2.0))  # node-c lags (halted, catching up)
    await tip.broadcast_tx_sync(b"y")
    assert asked == ["node-c", "sentry-b"]


async def test_nothing_is_sent_before_the_proposal_is_in(tmp_path: Path) -> None:
    # Signed beside the traffic's first signatures, the proposal took 8.7 s and landed
    # four blocks after its height was planned: the chain reached that height first.
    r = Rig(tmp_path)
    r.phase[0] = "launched"
    async with anyio.create_task_group() as tg:
        await tg.start(r.sender.run)
        await r.produce(3)
        assert r.sender.book.txs == {}
        r.phase[0] = "proposed"
        await r.produce(2)
        tg.cancel_scope.cancel()
    assert {s.sent.phase for s in r.sender.book.txs.values()} == {"proposed"}
