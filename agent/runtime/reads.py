"""Chain reads: what the derivation asks of the chain, asked, and the answer given back.

The one place that maps a read request (``agent.core.derive.Read``) to the
``ChainReads`` call that serves it. Every read has a deadline; a failure is an
answer too (``ReadFailed``), so the derivation asks again on a later block. A
delayed read (``ReadProposalStatus.after``) waits here, then reports ``ReadDue``:
whether it is still worth sending is the derivation's decision, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import anyio
import structlog

from agent.adapters.clock import Clock
from agent.core.derive import (
    Answer,
    CommittedAnswer,
    GovParamsAnswer,
    Read,
    ReadCommitted,
    ReadDue,
    ReadFailed,
    ReadGovParams,
    ReadProposalStatus,
    StatusAnswer,
)
from agent.errors import AgentError

__all__ = ["READ_NAMES", "ChainReads", "ReadAsker"]

log = structlog.get_logger("agent.daemon")

READ_NAMES: dict[type, str] = {
    ReadGovParams: "governance parameters",
    ReadCommitted: "the apps' committed heights",
    ReadProposalStatus: "the proposal's status",
}


class ChainReads(Protocol):
    """The chain reads the derivation asks for (REST with failover; each node's RPC)."""

    async def voting_period(self) -> float: ...

    async def proposal_status(self, proposal_id: int) -> str | None: ...

    async def app_heights(self, nodes: Sequence[str]) -> dict[str, int | None]:
        """Each node's last height its app executed (``abci_info``), all at once;
        None for a node that did not answer."""
        ...


class ReadAsker:
    """Asks each read within ``timeout``; remembers the last failure until a read
    succeeds (a deadline that runs out names it as the likely cause)."""

    def __init__(self, reads: ChainReads, clock: Clock, timeout: float) -> None:
        self.reads = reads
        self.clock = clock
        self.timeout = timeout
        self.last_error: str | None = None
        self._last_status: str | None = None

    async def ask(self, read: Read) -> Answer:
        if isinstance(read, ReadProposalStatus) and read.after > 0:
            await self.clock.sleep(read.after)
            return ReadDue(read)
        try:
            with anyio.fail_after(self.timeout):
                answer = await self._ask(read)
        except (AgentError, TimeoutError) as exc:
            error = str(exc)[:300] or "timed out"
            self.last_error = f"{READ_NAMES[type(read)]}: {error}"
            log.info("chain_read_failed", read=type(read).__name__, error=error[:200])
            return ReadFailed(read, error)
        self.last_error = None
        return answer

    async def _ask(self, read: Read) -> Answer:
        if isinstance(read, ReadGovParams):
            period = await self.reads.voting_period()
            log.info("gov_params", voting_period=period)
            return GovParamsAnswer(period, self.clock.wall())
        if isinstance(read, ReadCommitted):
            heights = await self.reads.app_heights(read.nodes)
            log.debug("apps_committed", height=read.height, apps=heights)
            return CommittedAnswer(read, heights, self.clock.wall())
        status = await self.reads.proposal_status(read.proposal_id)
        if status is not None and status != self._last_status:
            log.info("proposal_status", proposal_id=read.proposal_id, status=status)
        self._last_status = status if status is not None else self._last_status
        return StatusAnswer(read, status, self.clock.wall())
