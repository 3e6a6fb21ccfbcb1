"""Sign first, record, then broadcast: one transaction's way to a block.

The chain CLI signs offline (``ChainCLI.sign``); the signed bytes and their hash
go to the fsynced ledger before they leave the agent; then they are broadcast
over RPC and looked up until a block holds them. After a kill -9,
``resend_recorded`` finds what the ledger holds for the same ``kind`` and
re-sends those very bytes (accepted at most once by the chain), so no
transaction is ever made twice. Used by governance and the declared state.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agent.adapters.chaincli import SignedTx
from agent.adapters.rpc import sequence_mismatch
from agent.config import VoterConfig
from agent.errors import ProtocolError, TransientError
from agent.runtime.executors.context import LOOK_AGAIN_S, ExecContext

__all__ = [
    "Included",
    "Signed",
    "event_attr",
    "record_send",
    "resend_recorded",
    "sign_record_send",
    "sign_tx",
    "tx_included",
]

log = structlog.get_logger("agent.executor")

STALE_WAIT_BLOCKS = 2


Included = tuple[int, list[dict[str, Any]]]


async def resend_recorded(
    ctx: ExecContext,
    rehearsal: str,
    kind: str,
    *,
    still_good: Callable[[dict[str, int]], bool] | None = None,
) -> tuple[str, Included] | None:
    """A recorded transaction of ``kind`` that is (or now gets) in a block, or None.

    ``still_good`` judges a record by its note: one it refuses is looked up (it may
    be in a block already) but never sent again; the caller signs a replacement."""
    notes = await ctx.ledger.notes(rehearsal, kind) if still_good is not None else {}
    for tx_hash, tx in await ctx.ledger.entries(rehearsal, kind):
        found = await tx_included(ctx, tx_hash, blocks=0)
        stale = still_good is not None and not still_good(notes.get(tx_hash, {}))
        if found is None and stale:
            # Never sent again. It may still sit in a mempool from before the kill:
            # a replacement at its sequence would be refused while it does, so it
            # gets two blocks to land (then it is the caller's to judge) or go.
            log.warning("recorded_tx_stale", kind=kind, tx_hash=tx_hash, note=notes.get(tx_hash))
            found = await tx_included(ctx, tx_hash, blocks=STALE_WAIT_BLOCKS)
            if found is None:
                continue
        if found is None and tx is not None:
            result = await ctx.tx_rpc.broadcast_tx_sync(base64.b64decode(tx))
            log.info("tx_resent", kind=kind, tx_hash=tx_hash, duplicate=result.duplicate)
            if result.accepted or result.duplicate:
                found = await tx_included(ctx, tx_hash, blocks=10)
        elif found is None:
            # Recorded by an older agent without its bytes: it may still land.
            found = await tx_included(ctx, tx_hash, blocks=3)
        if found is not None:
            return tx_hash, found
    return None


@dataclass(frozen=True, slots=True)
class Signed:
    tx: SignedTx
    address: str
    sequence: int


async def sign_tx(ctx: ExecContext, rehearsal: str, voter: VoterConfig, args: list[str]) -> Signed:
    address = await ctx.cli.address(voter)
    account = await ctx.rest.account(address)
    # Every sequence a transaction of ours spent, this run or before a restart
    # (journaled): a REST node a block behind must not make us sign at one again.
    spent = max(
        ctx.next_sequence.get(address, 0), await ctx.ledger.next_sequence(rehearsal, address)
    )
    sequence = max(account.sequence, spent)
    if sequence != account.sequence:
        log.info("sequence_ahead_of_rest", address=address, rest=account.sequence, used=sequence)
    tx = await ctx.cli.sign(
        voter,
        args,
        address=address,
        account_number=account.account_number,
        sequence=sequence,
    )
    return Signed(tx, address, sequence)


async def record_send(
    ctx: ExecContext, rehearsal: str, kind: str, one: Signed, note: dict[str, int] | None = None
) -> tuple[str, Included]:
    signed = one.tx
    # Recorded before it leaves the agent: a kill from here on is reconciled by hash.
    await ctx.ledger.record(
        rehearsal, kind, signed.tx_hash, tx=signed.base64,
        note={"sequence": one.sequence, **(note or {})},
    )  # fmt: skip
    result = await ctx.tx_rpc.broadcast_tx_sync(signed.tx_bytes)
    log.info("tx_broadcast", kind=kind, tx_hash=signed.tx_hash, duplicate=result.duplicate)
    if not (result.accepted or result.duplicate):
        raise ProtocolError(
            f"{kind} tx {signed.tx_hash} refused by CheckTx (code {result.code}): "
            f"{result.log[:300]}"
        )
    mismatch = sequence_mismatch(result.log) if result.duplicate else None
    # Refused as "sequence already past": ours committed (the lookup finds it at
    # once), or another transaction spent the sequence, which waiting cannot change.
    found = await tx_included(ctx, signed.tx_hash, blocks=2 if mismatch else 10)
    if found is None and mismatch is not None:
        raise ProtocolError(
            f"{kind} tx {signed.tx_hash}: sequence {one.sequence} of {one.address} is "
            f"already spent on chain (it expects {mismatch[0]}) by no transaction this "
            "rehearsal recorded: another signer uses this key, or an earlier run's "
            "transaction landed late"
        )
    if found is None:
        raise TransientError(f"{kind} tx {signed.tx_hash} not included within 10 blocks")
    if found[0] == 0:  # its sequence is spent: the account's next is past it
        seen = ctx.next_sequence.get(one.address, 0)
        ctx.next_sequence[one.address] = max(seen, one.sequence + 1)
        await ctx.ledger.record_sequence(rehearsal, one.address, one.sequence + 1)
    return signed.tx_hash, found


async def sign_record_send(
    ctx: ExecContext, rehearsal: str, kind: str, voter: VoterConfig, args: list[str]
) -> tuple[str, Included]:
    return await record_send(ctx, rehearsal, kind, await sign_tx(ctx, rehearsal, voter, args))


async def tx_included(ctx: ExecContext, tx_hash: str, *, blocks: int) -> Included | None:
    """(code, events) once the tx is in a block; None if not within ``blocks``
    blocks (0: look once). Looked up on every block and every ``LOOK_AGAIN_S``: the
    tx node may lag the first node to show the block, and indexes after the commit."""
    # Counted from the first height the view knows: a resumed agent may send before
    # its streams brought any block, and "10 blocks after height 0" had passed by
    # the first block it saw (a vote failed 2.6 s after its broadcast).
    last = ctx.view.max_height + blocks if ctx.view.max_height else None
    final = blocks == 0
    while True:
        try:
            result = await ctx.tx_rpc.tx(tx_hash)
        except TransientError as exc:
            # Every node dropped the lookup at once (a CI machine starved them all
            # for a second, and a vote failed for good): one more reason to look
            # again, not an answer. The last lookup's error still ends the wait.
            if final:
                raise
            log.info("tx_lookup_retry", tx=tx_hash[:16], error=str(exc)[:200])
            await ctx.next_block_or_moment()
            continue
        if result is not None:
            tx_result = result.get("tx_result", {})
            return int(tx_result.get("code", 0) or 0), list(tx_result.get("events", []))
        if final:
            return None
        if last is None and ctx.view.max_height:
            last = ctx.view.max_height + blocks
        if last is not None and ctx.view.max_height >= last:
            # One lookup a moment after the last block: the tx node may lag it.
            final = True
            await ctx.clock.sleep(LOOK_AGAIN_S)
            continue
        await ctx.next_block_or_moment()


def event_attr(events: Sequence[dict[str, Any]], etype: str, key: str) -> str | None:
    for e in events:
        if e.get("type") != etype:
            continue
        for a in e.get("attributes", []):
            if a.get("key") == key:
                return str(a.get("value"))
    return None
