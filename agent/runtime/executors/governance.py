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

from functools import partial

import structlog

from agent.adapters.chaincli import vote_args
from agent.core.actions import CastVote, SubmitProposal
from agent.core.chainview import parse_rfc3339
from agent.core.facts import Fact, ProposalSubmitted, VoteCast
from agent.core.machine import State
from agent.core.planning import gap_measured, send_height, still_reachable
from agent.errors import ProtocolError
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.txs import (
    Signed,
    event_attr,
    record_send,
    resend_recorded,
    sign_record_send,
    sign_tx,
)

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
            return p.id, p.upgrade_plan.height, _voting_end(ctx, p.voting_end_time)
    return None


def _voting_end(ctx: ExecContext, rfc3339: str | None) -> float | None:
    # The chain's clock, moved onto the agent's: every deadline and prediction it
    # is compared with reads the agent's.
    end = parse_rfc3339(rfc3339)
    return None if end is None else ctx.view.to_agent_clock(end)


async def submit_proposal(ctx: ExecContext, action: SubmitProposal, state: State) -> Fact:
    found = await _find_proposal(ctx, action.upgrade_name)
    kind = "submit_proposal"
    if found is None:
        # A transaction signed before a crash may still be on its way into a block;
        # one whose height the chain can no longer reach in time is not sent again.
        sent = await resend_recorded(
            ctx, state.rehearsal_id, kind, still_good=partial(_reachable, ctx, action)
        )
        if sent is not None:
            found = await _find_proposal(ctx, action.upgrade_name)
    if found is not None:
        pid, height, end = found
        log.info("proposal_reused", proposal_id=pid, upgrade_height=height)
        return ProposalSubmitted(pid, "", height, reused=True, voting_end=end, **ctx.fact_kw())

    proposer = ctx.settings.voters[0]
    policy = state.params.height_policy

    def plan(base: int) -> int:
        return send_height(action, policy, ctx.view, base)

    async def sign(height: int) -> Signed:
        args = ctx.cli.proposal_args(
            action.upgrade_name,
            height,
            f"Rehearsal {state.rehearsal_id}: upgrade to {action.upgrade_name}",
            info=state.params.upgrade_info,
        )
        return await sign_tx(ctx, state.rehearsal_id, proposer, args)

    if not gap_measured(ctx.view):
        # Signed now for the next block's plan with the estimate the machine planned
        # with, kept in memory only (a kill before it is recorded loses nothing: it
        # never left the agent), and sent as that block arrives if its measured gap
        # does not change the plan; else signed again.
        height = plan(ctx.view.max_height + 1)
        signed = await sign(height)
        base = ctx.view.max_height
        while not gap_measured(ctx.view) and ctx.view.max_height == base:
            await ctx.wait_blocks(1)
        needed = plan(ctx.view.max_height)
        if height < needed:  # faster blocks in the last gap (or a slow signature)
            log.info("presigned_proposal_replaced", signed_for=height, needed=needed)
            height = needed
            signed = await sign(height)
    else:
        height = plan(ctx.view.max_height)
        signed = await sign(height)
    tx_hash, (code, events) = await record_send(
        ctx, state.rehearsal_id, kind, signed, note={"upgrade_height": height}
    )
    if code != 0:
        raise ProtocolError(f"proposal tx {tx_hash} failed with code {code}")
    pid_attr = event_attr(events, "submit_proposal", "proposal_id")
    if pid_attr is None:
        raise ProtocolError(f"proposal tx {tx_hash} has no proposal_id event")
    proposal = await ctx.rest.proposal(int(pid_attr))
    end = _voting_end(ctx, proposal.voting_end_time) if proposal else None
    return ProposalSubmitted(int(pid_attr), tx_hash, height, voting_end=end, **ctx.fact_kw())


def _reachable(ctx: ExecContext, action: SubmitProposal, note: dict[str, int]) -> bool:
    """Can a proposal signed for ``note["upgrade_height"]`` still pass before that height,
    if it landed in the next block? At the least: one block to land, the voting period
    at the measured pace, one tally block (no margin, no spare). Bytes recorded by an
    agent that kept no note are given the benefit of the doubt."""
    planned = note.get("upgrade_height")
    return True if planned is None else still_reachable(action, ctx.view, planned)


async def cast_vote(ctx: ExecContext, action: CastVote, state: State) -> Fact:
    voter = ctx.voter(action.voter)
    address = await ctx.cli.address(voter)
    kind = f"vote:{voter.name}:{action.proposal_id}"
    if await ctx.rest.vote(action.proposal_id, address) is not None:
        return VoteCast(voter.name, action.proposal_id, "", reused=True, **ctx.fact_kw())
    sent = await resend_recorded(ctx, state.rehearsal_id, kind)
    if sent is not None and sent[1][0] == 0:
        return VoteCast(voter.name, action.proposal_id, sent[0], reused=True, **ctx.fact_kw())
    args = vote_args(action.proposal_id, action.option)
    tx_hash, (code, _) = await sign_record_send(ctx, state.rehearsal_id, kind, voter, args)
    if code != 0:
        raise ProtocolError(f"vote tx {tx_hash} failed with code {code}")
    return VoteCast(voter.name, action.proposal_id, tx_hash, **ctx.fact_kw())
