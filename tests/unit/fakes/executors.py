"""For the executors' tests: a proposal to submit, a started state, one item."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.adapters.chaincli import SignedTx, vote_args
from agent.core.actions import (
    SubmitProposal,
)
from agent.core.machine import Params, State, initial_state
from fakes import (
    World,
)

SUBMIT = SubmitProposal("v1tov2", 30, block_interval=1.0, voting_period=0.0)


def state(**kw: Any) -> State:
    return replace(initial_state("r1", Params()), started=True, **kw)


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


async def sign_and_send_vote(w: World, voter: str, proposal_id: int) -> SignedTx:
    """A vote signed and broadcast as an earlier agent run would have."""
    v = w.ctx.voter(voter)
    address = await w.cli.address(v)
    account = await w.rest.account(address)
    signed = await w.cli.sign(
        v,
        vote_args(proposal_id, "yes"),
        address=address,
        account_number=account.account_number,
        sequence=account.sequence,
    )
    assert (await w.rpcs["node-carol"].broadcast_tx_sync(signed.tx_bytes)).accepted
    return signed
