"""The proposal and the votes, each reconciled with the chain before it is sent.

After a kill -9 the machine re-issues whatever had not completed, so:

- ``SubmitProposal`` first looks for a proposal for the same plan on chain,
  then for a proposal transaction it broadcast earlier (the tx ledger), and
  submits only when neither exists;
- ``CastVote`` first asks the chain for the voter's vote, then the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from agent.core.actions import CastVote, SubmitProposal
from agent.core.chainview import parse_rfc3339
from agent.core.facts import Fact, ProposalSubmitted, VoteCast
from agent.core.machine import State
from agent.core.policy import UpgradeHeightPolicy
from agent.errors import ProtocolError, TransientError
from agent.runtime.executors.context import ExecContext

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
    if found is None:
        # A broadcast from before a crash may still be on its way into a block.
        for tx_hash in await ctx.ledger.find(state.rehearsal_id, "submit_proposal"):
            if await tx_included(ctx, tx_hash, blocks=3) is not None:
                found = await _find_proposal(ctx, action.upgrade_name)
                break
    if found is not None:
        pid, height, end = found
        log.info("proposal_reused", proposal_id=pid, upgrade_height=height)
        return ProposalSubmitted(pid, "", height, reused=True, voting_end=end, **ctx.fact_kw())

    t = ctx.cfg.timing
    policy = UpgradeHeightPolicy(t.height_margin_seconds, t.min_blocks_ahead)
    height = max(
        action.upgrade_height,
        policy.height(ctx.view.max_height, action.block_interval, action.voting_period),
    )
    tx = await ctx.cli.submit_upgrade(
        ctx.cfg.voters[0],
        action.upgrade_name,
        height,
        f"Rehearsal {state.rehearsal_id}: upgrade to {action.upgrade_name}",
    )
    await ctx.ledger.record(state.rehearsal_id, "submit_proposal", tx.tx_hash)
    log.info("proposal_broadcast", tx_hash=tx.tx_hash, upgrade_height=height)
    result = await tx_included(ctx, tx.tx_hash, blocks=10)
    if result is None:
        raise TransientError(f"proposal tx {tx.tx_hash} not included within 10 blocks")
    code, events = result
    if code != 0:
        raise ProtocolError(f"proposal tx {tx.tx_hash} failed with code {code}")
    pid_attr = _event_attr(events, "submit_proposal", "proposal_id")
    if pid_attr is None:
        raise ProtocolError(f"proposal tx {tx.tx_hash} has no proposal_id event")
    proposal = await ctx.rest.proposal(int(pid_attr))
    end = parse_rfc3339(proposal.voting_end_time) if proposal else None
    return ProposalSubmitted(int(pid_attr), tx.tx_hash, height, voting_end=end, **ctx.fact_kw())


async def cast_vote(ctx: ExecContext, action: CastVote, state: State) -> Fact:
    voter = ctx.voter(action.voter)
    address = await ctx.cli.address(voter)
    kind = f"vote:{voter.name}:{action.proposal_id}"
    if await ctx.rest.vote(action.proposal_id, address) is not None:
        return VoteCast(voter.name, action.proposal_id, "", reused=True, **ctx.fact_kw())
    for tx_hash in await ctx.ledger.find(state.rehearsal_id, kind):
        r = await tx_included(ctx, tx_hash, blocks=3)
        if r is not None and r[0] == 0:
            return VoteCast(voter.name, action.proposal_id, tx_hash, reused=True, **ctx.fact_kw())
    tx = await ctx.cli.vote(voter, action.proposal_id, "yes")
    await ctx.ledger.record(state.rehearsal_id, kind, tx.tx_hash)
    log.info("vote_broadcast", voter=voter.name, tx_hash=tx.tx_hash)
    r = await tx_included(ctx, tx.tx_hash, blocks=10)
    if r is None:
        raise TransientError(f"vote tx {tx.tx_hash} not included within 10 blocks")
    if r[0] != 0:
        raise ProtocolError(f"vote tx {tx.tx_hash} failed with code {r[0]}")
    return VoteCast(voter.name, action.proposal_id, tx.tx_hash, **ctx.fact_kw())


async def tx_included(
    ctx: ExecContext, tx_hash: str, *, blocks: int
) -> tuple[int, list[dict[str, Any]]] | None:
    """(code, events) once the tx is in a block; None if not within ``blocks``."""
    for _ in range(blocks + 1):
        result = await ctx.tx_rpc.tx(tx_hash)
        if result is not None:
            tx_result = result.get("tx_result", {})
            return int(tx_result.get("code", 0) or 0), list(tx_result.get("events", []))
        await ctx.wait_blocks(1)
    return None


def _event_attr(events: Sequence[dict[str, Any]], etype: str, key: str) -> str | None:
    for e in events:
        if e.get("type") != etype:
            continue
        for a in e.get("attributes", []):
            if a.get("key") == key:
                return str(a.get("value"))
    return None
