"""The proposal and the votes, each reconciled with the chain before it is sent.

Sign first, then record, then broadcast: the chain CLI signs offline (a
container with no network, so a container left behind by a killed agent cannot
broadcast anything); the signed bytes and their hash go to the fsynced ledger;
only then does the agent broadcast them itself over RPC, to any node that
answers. After a kill -9 the machine re-issues whatever had not completed, so:

- ``SubmitProposal`` first looks for a proposal for the same plan on chain;
- ``CastVote`` first asks the chain for the voter's vote;
- both then look up each transaction in the ledger by its hash and, if it is
  not in a block, re-send the *same* bytes (accepted at most once by the
  chain), and sign a new transaction only when the ledger holds none.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agent.adapters.chaincli import SignedTx, vote_args
from agent.config import VoterConfig
from agent.core.actions import CastVote, SubmitProposal
from agent.core.chainview import parse_rfc3339
from agent.core.derive import MEASURE_GAPS
from agent.core.facts import Fact, ProposalSubmitted, VoteCast
from agent.core.machine import State
from agent.errors import ProtocolError, TransientError
from agent.runtime.executors.context import LOOK_AGAIN_S, ExecContext

__all__ = ["cast_vote", "submit_proposal"]

log = structlog.get_logger("agent.executor")

_OPEN = {
    "PROPOSAL_STATUS_DEPOSIT_PERIOD",
    "PROPOSAL_STATUS_VOTING_PERIOD",
    "PROPOSAL_STATUS_PASSED",
}


async def _find_proposal(ctx: ExecContext, name: str) -> tuple[int, int, float | None] | None:
    for p in await ctx.rest.proposals():
        if p.upgrade_plan and p.upgrade_plan.name == name and p.status in _OPEN:
            return p.id, p.upgrade_plan.height, parse_rfc3339(p.voting_end_time)
    return None


async def submit_proposal(ctx: ExecContext, action: SubmitProposal, state: State) -> Fact:
    found = await _find_proposal(ctx, action.upgrade_name)
    kind = "submit_proposal"
    if found is None:
        # A transaction signed before a crash may still be on its way into a block.
        sent = await _resend_recorded(ctx, state.rehearsal_id, kind)
        if sent is not None:
            found = await _find_proposal(ctx, action.upgrade_name)
    if found is not None:
        pid, height, end = found
        log.info("proposal_reused", proposal_id=pid, upgrade_height=height)
        return ProposalSubmitted(pid, "", height, reused=True, voting_end=end, **ctx.fact_kw())

    proposer = ctx.cfg.voters[0]
    policy = state.params.height_policy

    def plan(base: int) -> int:
        # From the height ``base``, with the fastest interval seen so far, by the
        # policy the machine planned with; never before the machine's own plan.
        fastest = ctx.view.fastest_interval(MEASURE_GAPS)
        interval = min(action.block_interval, fastest or action.block_interval)
        return max(action.upgrade_height, policy.height(base, interval, action.voting_period))

    async def sign(height: int) -> _Signed:
        args = ctx.cli.proposal_args(
            action.upgrade_name,
            height,
            f"Rehearsal {state.rehearsal_id}: upgrade to {action.upgrade_name}",
        )
        return await _sign(ctx, proposer, args)

    if ctx.view.fastest_interval(MEASURE_GAPS) is None:
        # Signed now for the next block's plan with the estimate the machine planned
        # with, kept in memory only (a kill before it is recorded loses nothing: it
        # never left the agent), and sent as that block arrives if its measured gap
        # does not change the plan; else signed again.
        height = plan(ctx.view.max_height + 1)
        signed = await sign(height)
        base = ctx.view.max_height
        while ctx.view.fastest_interval(MEASURE_GAPS) is None and ctx.view.max_height == base:
            await ctx.wait_blocks(1)
        needed = plan(ctx.view.max_height)
        if height < needed:  # faster blocks in the last gap (or a slow signature)
            log.info("presigned_proposal_replaced", signed_for=height, needed=needed)
            height = needed
            signed = await sign(height)
    else:
        height = plan(ctx.view.max_height)
        signed = await sign(height)
    tx_hash, (code, events) = await _record_send(ctx, state.rehearsal_id, kind, signed)
    if code != 0:
        raise ProtocolError(f"proposal tx {tx_hash} failed with code {code}")
    pid_attr = _event_attr(events, "submit_proposal", "proposal_id")
    if pid_attr is None:
        raise ProtocolError(f"proposal tx {tx_hash} has no proposal_id event")
    proposal = await ctx.rest.proposal(int(pid_attr))
    end = parse_rfc3339(proposal.voting_end_time) if proposal else None
    return ProposalSubmitted(int(pid_attr), tx_hash, height, voting_end=end, **ctx.fact_kw())


async def cast_vote(ctx: ExecContext, action: CastVote, state: State) -> Fact:
    voter = ctx.voter(action.voter)
    address = await ctx.cli.address(voter)
    kind = f"vote:{voter.name}:{action.proposal_id}"
    if await ctx.rest.vote(action.proposal_id, address) is not None:
        return VoteCast(voter.name, action.proposal_id, "", reused=True, **ctx.fact_kw())
    sent = await _resend_recorded(ctx, state.rehearsal_id, kind)
    if sent is not None and sent[1][0] == 0:
        return VoteCast(voter.name, action.proposal_id, sent[0], reused=True, **ctx.fact_kw())
    args = vote_args(action.proposal_id, action.option)
    tx_hash, (code, _) = await _sign_record_send(ctx, state.rehearsal_id, kind, voter, args)
    if code != 0:
        raise ProtocolError(f"vote tx {tx_hash} failed with code {code}")
    return VoteCast(voter.name, action.proposal_id, tx_hash, **ctx.fact_kw())


Included = tuple[int, list[dict[str, Any]]]


async def _resend_recorded(
    ctx: ExecContext, rehearsal: str, kind: str
) -> tuple[str, Included] | None:
    """A recorded transaction of ``kind`` that is (or now gets) in a block, or None."""
    for tx_hash, tx in await ctx.ledger.entries(rehearsal, kind):
        found = await tx_included(ctx, tx_hash, blocks=0)
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
class _Signed:
    tx: SignedTx
    address: str
    sequence: int


async def _sign(ctx: ExecContext, voter: VoterConfig, args: list[str]) -> _Signed:
    address = await ctx.cli.address(voter)
    account = await ctx.rest.account(address)
    sequence = max(account.sequence, ctx.next_sequence.get(address, 0))
    if sequence != account.sequence:
        log.info("sequence_ahead_of_rest", address=address, rest=account.sequence, used=sequence)
    tx = await ctx.cli.sign(
        voter,
        args,
        address=address,
        account_number=account.account_number,
        sequence=sequence,
    )
    return _Signed(tx, address, sequence)


async def _record_send(
    ctx: ExecContext, rehearsal: str, kind: str, one: _Signed
) -> tuple[str, Included]:
    signed = one.tx
    # Recorded before it leaves the agent: a kill from here on is reconciled by hash.
    await ctx.ledger.record(rehearsal, kind, signed.tx_hash, tx=signed.base64)
    result = await ctx.tx_rpc.broadcast_tx_sync(signed.tx_bytes)
    log.info("tx_broadcast", kind=kind, tx_hash=signed.tx_hash, duplicate=result.duplicate)
    if not (result.accepted or result.duplicate):
        raise ProtocolError(
            f"{kind} tx {signed.tx_hash} refused by CheckTx (code {result.code}): "
            f"{result.log[:300]}"
        )
    found = await tx_included(ctx, signed.tx_hash, blocks=10)
    if found is None:
        raise TransientError(f"{kind} tx {signed.tx_hash} not included within 10 blocks")
    if found[0] == 0:  # its sequence is spent: the account's next is past it
        seen = ctx.next_sequence.get(one.address, 0)
        ctx.next_sequence[one.address] = max(seen, one.sequence + 1)
    return signed.tx_hash, found


async def _sign_record_send(
    ctx: ExecContext, rehearsal: str, kind: str, voter: VoterConfig, args: list[str]
) -> tuple[str, Included]:
    return await _record_send(ctx, rehearsal, kind, await _sign(ctx, voter, args))


async def tx_included(ctx: ExecContext, tx_hash: str, *, blocks: int) -> Included | None:
    """(code, events) once the tx is in a block; None if not within ``blocks``
    blocks (0: look once). Looked up on every block and every ``LOOK_AGAIN_S``: the
    tx node may lag the first node to show the block, and indexes after the commit."""
    last = ctx.view.max_height + blocks
    final = blocks == 0
    while True:
        result = await ctx.tx_rpc.tx(tx_hash)
        if result is not None:
            tx_result = result.get("tx_result", {})
            return int(tx_result.get("code", 0) or 0), list(tx_result.get("events", []))
        if final:
            return None
        if ctx.view.max_height >= last:
            # One lookup a moment after the last block: the tx node may lag it.
            final = True
            await ctx.clock.sleep(LOOK_AGAIN_S)
            continue
        await ctx.next_block_or_moment()


def _event_attr(events: Sequence[dict[str, Any]], etype: str, key: str) -> str | None:
    for e in events:
        if e.get("type") != etype:
            continue
        for a in e.get("attributes", []):
            if a.get("key") == key:
                return str(a.get("value"))
    return None
