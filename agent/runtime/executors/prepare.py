"""The profile's declared transactions before the proposal (``[[state.txs]]``).

Each repetition of each declared transaction is its own ledger entry
(``state:<name>:<i>``), sent in order by the sign-record-send path
(``executors.txs``): after a kill -9 one that is already in a block is taken as
it is, one recorded but not in a block is re-sent byte for byte, and only one
never recorded is signed. A transaction the chain refuses, or executes with a
non-zero code, fails the rehearsal before any proposal: the state would not be
the one the profile declared.
"""

from __future__ import annotations

import structlog

from agent.adapters.sdk import valoper_address
from agent.core.actions import PrepareState
from agent.core.facts import Fact, StatePrepared, StateTx
from agent.core.machine import State
from agent.core.templates import fill, placeholders
from agent.errors import ProtocolError
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.txs import resend_recorded, sign_record_send

__all__ = ["prepare_state"]

log = structlog.get_logger("agent.executor")


async def prepare_state(ctx: ExecContext, _action: PrepareState, state: State) -> Fact:
    declared = ctx.settings.state_txs
    addresses = await ctx.addresses(p.name for t in declared for p in placeholders(t.tx))
    done: list[StateTx] = []
    for t in declared:
        voter = ctx.voter(t.from_)
        for i in range(1, t.repeat + 1):
            kind = f"state:{t.name}:{i}"
            sent = await resend_recorded(ctx, state.rehearsal_id, kind)
            reused = sent is not None
            if sent is None:
                args = [fill(a, addresses, index=i, valoper=valoper_address) for a in t.tx]
                sent = await sign_record_send(ctx, state.rehearsal_id, kind, voter, args)
            tx_hash, (code, _events) = sent
            if code != 0:
                raise ProtocolError(
                    f"declared tx {t.name} #{i} ({tx_hash}) failed in its block with code {code}"
                )
            log.info("state_tx_done", name=t.name, index=i, tx_hash=tx_hash, reused=reused)
            done.append(StateTx(t.name, i, tx_hash, code, reused))
    return StatePrepared(tuple(done), **ctx.fact_kw())
