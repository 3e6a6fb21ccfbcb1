"""The traffic sender: users' transactions from the proposal until after the restart.

Beside the rehearsal, in the daemon's task group. It starts once the proposal is
in: the proposal's height is planned before it is signed, and signing it beside
the traffic's first signatures (2 cores) took 8.7 s, four blocks of the plan's
margin, and the chain reached the height before the tally. It never waits on the
rehearsal and the rehearsal never waits on it, until ``settle`` (called by the
restart's verification) stops the sending, gives the last transactions
``settle_blocks`` blocks to land and returns the book's verdict.

Each account (``[traffic] accounts``) signs offline at its own sequence (a
voter's is never touched) and has at most one transaction the node has not
answered: a transaction whose broadcast reached no node is sent again before the
account signs the next, so a restart window does not turn into a run of
"sequence mismatch" refusals. An accepted transaction in no block
``resend_blocks`` blocks later is sent again, the same bytes, as a wallet would
(a node's restart empties its mempool). Every event is logged before it acts
(``TrafficLog``), so a kill -9 loses no transaction and signs none twice.

Decisions about fates and phases live in ``agent.core.traffic``.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import structlog
from anyio.abc import TaskStatus

from agent.adapters.chaincli import ChainCLI, SignedTx
from agent.adapters.clock import Clock
from agent.adapters.rest import AccountState
from agent.adapters.rpc import sequence_mismatch, tx_hash
from agent.adapters.rpc_answers import BroadcastResult
from agent.config import VoterConfig
from agent.core.chainview import ChainView
from agent.core.facts import Check
from agent.core.templates import fill
from agent.core.traffic import (
    HALT,
    MempoolSeen,
    TrafficBook,
    TrafficEvent,
    TxChecked,
    TxIncluded,
    TxResent,
    TxSent,
    traffic_phase,
)
from agent.errors import AgentError

__all__ = ["CliTrafficSigner", "TrafficSender", "TrafficSettings", "traffic_check"]

log = structlog.get_logger("agent.traffic")

# The longest a loop waits for a block before it looks again (a halt has none);
# at the halt, the mempool is read this often until the nodes go.
LOOK_S = 2.0
HALT_LOOK_S = 0.5
# Per settle block: the most it waits for one (the chain may crawl after a restart).
SETTLE_BLOCK_S = 10.0
TERMINAL = ("failed", "restarted")
# Transactions of one account not yet in a block, at most: a wallet waits, and a
# halt must not pile up an unbounded mempool (or book).
MAX_OPEN = 4


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    args: tuple[str, ...]
    weight: int = 1


@dataclass(frozen=True, slots=True)
class TrafficSettings:
    rate: float
    accounts: tuple[str, ...]
    templates: tuple[Template, ...]
    settle_blocks: int = 12
    resend_blocks: int = 4
    require_none_lost: bool = True


class TrafficSigner(Protocol):
    async def address(self, account: str) -> str: ...

    async def sign(
        self, account: str, args: list[str], *, address: str, account_number: int, sequence: int
    ) -> SignedTx: ...


class TrafficChain(Protocol):
    """What the sender asks the nodes (``RpcPool`` is one)."""

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult: ...

    async def tx(self, tx_hash: str) -> dict[str, Any] | None: ...

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]: ...


class EventLog(Protocol):
    """Where the traffic's events are kept (``TrafficLog``: fsynced, per rehearsal)."""

    async def append(self, event: TrafficEvent) -> None: ...

    async def load(self) -> list[TrafficEvent]: ...


class Accounts(Protocol):
    async def account(self, address: str) -> AccountState: ...


class CliTrafficSigner:
    """Signs in the traffic desk's box with the chain's CLI (a test keyring: no
    password); the SDK line follows the rehearsal's own CLI."""

    def __init__(self, cli: ChainCLI, main: ChainCLI, desk: str) -> None:
        self.cli, self.main, self.desk = cli, main, desk

    def _voter(self, account: str) -> VoterConfig:
        return VoterConfig(name=account, key=account, desk=self.desk)

    async def address(self, account: str) -> str:
        return await self.cli.address(self._voter(account))

    async def sign(
        self, account: str, args: list[str], *, address: str, account_number: int, sequence: int
    ) -> SignedTx:
        self.cli.sdk_line = self.main.sdk_line
        return await self.cli.sign(
            self._voter(account),
            args,
            address=address,
            account_number=account_number,
            sequence=sequence,
        )


@dataclass
class _Account:
    name: str
    address: str = ""
    number: int = -1
    next_seq: int = -1
    busy: bool = False


@dataclass
class TrafficSender:
    settings: TrafficSettings
    signer: TrafficSigner
    chain: TrafficChain
    accounts_api: Accounts
    view: ChainView
    clock: Clock
    wait_blocks: Callable[[int], Awaitable[None]]
    # (the rehearsal's phase, its upgrade height or None), read when a tx is sent.
    phase: Callable[[], tuple[str, int | None]]
    log: EventLog
    book: TrafficBook = field(default_factory=TrafficBook)
    _accounts: list[_Account] = field(default_factory=list)
    _stopping: bool = False
    _final: bool = False
    _count: int = 0

    def __post_init__(self) -> None:
        self._accounts = [_Account(a) for a in self.settings.accounts]
        rounds = [t for t in self.settings.templates for _ in range(t.weight)]
        self._templates = itertools.cycle(rounds)

    # --- the task ------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        for event in await self.log.load():
            self.book.apply(event)
        self._count = len(self.book.txs)
        task_status.started()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_loop)
            await self._send_loop(tg)
            while not self._final:
                await self.clock.sleep(LOOK_S)
            tg.cancel_scope.cancel()

    def _live(self) -> bool:
        phase, _ = self.phase()
        return self.view.max_height > 0 and phase not in TERMINAL and phase != "launched"

    async def _send_loop(self, tg: anyio.abc.TaskGroup) -> None:
        while not self._stopping and not self._live():
            await self.clock.sleep(0.5)
        interval = 1.0 / self.settings.rate
        while not self._stopping and self._live():
            free = [a for a in self._accounts if not a.busy and not self._unanswered(a)]
            if free:
                # The least recently used first: turn by turn while all keep up.
                acct = free[0]
                self._accounts.remove(acct)
                self._accounts.append(acct)
                acct.busy = True
                tg.start_soon(self._send_one, acct)
            await self.clock.sleep(interval)

    def _unanswered(self, acct: _Account) -> bool:
        """A transaction of the account the node never answered, or too many open."""
        mine = [s for s in self.book.open_txs() if s.account == acct.name]
        return len(mine) >= MAX_OPEN or any(self.book.txs[s.hash].check_code is None for s in mine)

    async def _send_one(self, acct: _Account) -> None:
        try:
            await self._ready(acct)
            template = next(self._templates)
            self._count += 1
            to = self._accounts[0] if self._accounts[0] is not acct else self._accounts[-1]
            if not to.address:
                to.address = await self.signer.address(to.name)
            names = {"from": acct.address, "to": to.address}
            args = [fill(a, names, index=self._count) for a in template.args]
            signed = await self.signer.sign(
                acct.name,
                args,
                address=acct.address,
                account_number=acct.number,
                sequence=acct.next_seq,
            )
            phase, upgrade = self.phase()
            sent = TxSent(
                signed.tx_hash,
                acct.name,
                acct.next_seq,
                template.name,
                traffic_phase(phase, self.view.max_height, upgrade),
                self.view.max_height,
                self.clock.wall(),
                signed.base64,
            )
            await self._record(sent)
            acct.next_seq += 1
            await self._broadcast(sent, acct)
        except AgentError as exc:
            log.info("traffic_send_failed", account=acct.name, error=str(exc)[:200])
        finally:
            acct.busy = False

    async def _ready(self, acct: _Account) -> None:
        if not acct.address:
            acct.address = await self.signer.address(acct.name)
        if acct.next_seq < 0:
            state = await self.accounts_api.account(acct.address)
            acct.number = state.account_number
            acct.next_seq = max(state.sequence, self.book.next_sequence(acct.name))

    async def _broadcast(self, sent: TxSent, acct: _Account | None) -> None:
        try:
            r = await self.chain.broadcast_tx_sync(base64.b64decode(sent.tx))
        except AgentError as exc:
            await self._record(TxChecked(sent.hash, -1, at=self.clock.wall(), error=str(exc)[:200]))
            return
        code = 0 if r.accepted or (r.duplicate and r.code == 0) else r.code
        await self._record(TxChecked(sent.hash, code, r.log[:300], self.clock.wall()))
        mismatch = sequence_mismatch(r.log) if code else None
        if acct is None or mismatch is None:
            return
        expected = mismatch[0]
        if expected < sent.sequence:
            # A gap: an earlier one of ours is in no mempool (a node restarted). The
            # same bytes again, in order, fill it now rather than resend_blocks later.
            for gap in self.book.open_txs():
                if gap.account == acct.name and gap.sequence >= expected:
                    await self._resend(gap)
        acct.next_seq = max(expected, self.book.next_sequence(acct.name))
        log.info("traffic_sequence_reset", account=acct.name, next=acct.next_seq)

    async def _resend(self, sent: TxSent) -> None:
        await self._record(TxResent(sent.hash, self.view.max_height, self.clock.wall()))
        log.info("traffic_resend", tx=sent.hash[:16], account=sent.account, seq=sent.sequence)
        await self._broadcast(sent, None)

    async def _record(self, event: TrafficEvent) -> None:
        await self.log.append(event)
        self.book.apply(event)

    # --- blocks: inclusion, sending again, the halt's mempool ------------------------

    async def _watch_loop(self) -> None:
        while not self._final:
            phase, upgrade = self.phase()
            halted = traffic_phase(phase, self.view.max_height, upgrade) == HALT
            await self._block_or(HALT_LOOK_S if halted else LOOK_S)
            try:
                await self._look()
            except AgentError as exc:
                log.info("traffic_look_failed", error=str(exc)[:200])

    async def _block_or(self, seconds: float) -> None:
        """Until the next block or ``seconds`` on the injected clock."""
        async with anyio.create_task_group() as tg:

            async def block() -> None:
                await self.wait_blocks(1)
                tg.cancel_scope.cancel()

            async def moment() -> None:
                await self.clock.sleep(seconds)
                tg.cancel_scope.cancel()

            tg.start_soon(block)
            tg.start_soon(moment)

    async def _look(self) -> None:
        for sent in self.book.open_txs():
            if self.book.txs[sent.hash].check_code is None and sent.height == self.view.max_height:
                continue  # sent in this block, not answered yet: next time
            found = await self.chain.tx(sent.hash)
            if found is not None:
                code = int(found.get("tx_result", {}).get("code", 0) or 0)
                height = int(found.get("height", 0) or 0)
                await self._record(TxIncluded(sent.hash, height, code, self.clock.wall()))
        for sent in self.book.to_resend(self.view.max_height, self.settings.resend_blocks):
            await self._resend(sent)
        phase, upgrade = self.phase()
        if traffic_phase(phase, self.view.max_height, upgrade) == HALT:
            await self._read_mempool()

    async def _read_mempool(self) -> None:
        result = await self.chain.get("unconfirmed_txs", {"limit": "100"})
        hashes = tuple(tx_hash(base64.b64decode(t)) for t in result.get("txs") or [])
        seen = self.book.mempool
        # The fullest read: the v1 mempool grows until its nodes exit, and v2's
        # starts empty at the same height (users wait on what they sent).
        if seen is None or len(hashes) > len(seen.hashes):
            await self._record(MempoolSeen(self.view.max_height, self.clock.wall(), hashes))

    # --- the end ---------------------------------------------------------------------

    async def settle(self) -> Check:
        """Stop sending; wait up to ``settle_blocks`` blocks for what is still open;
        the book's verdict."""
        self._stopping = True
        start = self.view.max_height
        while self.book.open_txs() and self.view.max_height - start < self.settings.settle_blocks:
            with anyio.move_on_after(SETTLE_BLOCK_S) as scope:
                await self.wait_blocks(1)
            if scope.cancelled_caught:
                break  # no block in that long: the chain is not going to settle them
            await self.clock.sleep(0.3)  # the watch loop looks them up on this block
        self._final = True
        return traffic_check(self.book, self.settings.require_none_lost)

    def summary(self) -> dict[str, Any]:
        return self.book.summary(final=self._final)


def traffic_check(book: TrafficBook, require_none_lost: bool) -> Check:
    s = book.summary(final=True)
    t = s["total"]
    codes = ", ".join(f"code {c}: {n}" for c, n in t["rejected_codes"].items())
    parts = [
        f"{t['sent']} sent",
        f"{t['included']} included",
        f"{t['rejected']} rejected" + (f" ({codes})" if codes else ""),
        f"{t['failed']} failed in a block",
        f"{t['lost']} lost",
    ]
    halt = s.get("halt_mempool")
    if halt:
        fates = ", ".join(f"{n} {f}" for f, n in sorted(halt["fates"].items()))
        parts.append(f"the mempool at the halt held {halt['ours']} of ours ({fates or 'none'})")
    lost = book.lost()
    if lost:
        named = (f"{x.hash[:12]} ({x.account} #{x.sequence})" for x in lost[:5])
        parts.append("lost: " + ", ".join(named))
    return Check("traffic_none_lost", not (require_none_lost and lost), "; ".join(parts))
