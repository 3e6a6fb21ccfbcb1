"""Failover across equivalent endpoints: the same chain served by several nodes.

A call goes to the endpoint that answered last; on a transient error
(connection refused, timeout, HTTP 5xx) the next one is tried, in configured
order. A definite answer (including "not found") is never retried elsewhere:
another node would say the same. ``RestPool`` and ``RpcPool`` offer the
methods the runtime uses, with the signatures of ``RestClient`` and
``HttpCometRPC``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

from agent.adapters.rest import AccountState, GovParams, Proposal, RestClient, UpgradePlan
from agent.adapters.rpc import AbciInfo, BroadcastResult, CometRPC
from agent.adapters.sdk import GovApi
from agent.errors import TransientError

__all__ = ["Failover", "RestPool", "RpcPool"]

log = structlog.get_logger("agent.adapters.failover")

C = TypeVar("C")
R = TypeVar("R")


class Failover(Generic[C]):
    def __init__(self, endpoints: Sequence[tuple[str, C]]) -> None:
        if not endpoints:
            raise ValueError("failover needs at least one endpoint")
        self.endpoints = list(endpoints)
        self._current = 0

    @property
    def current(self) -> str:
        return self.endpoints[self._current][0]

    async def call(self, what: str, fn: Callable[[C], Awaitable[R]]) -> R:
        n = len(self.endpoints)
        last: TransientError | None = None
        for step in range(n):
            i = (self._current + step) % n
            name, client = self.endpoints[i]
            try:
                result = await fn(client)
            except TransientError as exc:
                last = exc
                if n > 1:
                    log.info("endpoint_failover", call=what, endpoint=name, error=str(exc)[:200])
                continue
            if i != self._current:
                log.warning("endpoint_switched", call=what, endpoint=name, previous=self.current)
                self._current = i
            return result
        assert last is not None
        raise last


class RestPool(Failover[RestClient]):
    """``before_gov``: awaited before every gov read (``LazyLine``: the SDK line, hence
    the gov API, is settled on first need)."""

    before_gov: Callable[[], Awaitable[object]] | None = None

    async def _gov(self) -> None:
        if self.before_gov is not None:
            await self.before_gov()

    @property
    def gov_api(self) -> GovApi:
        return self.endpoints[0][1].gov_api

    @gov_api.setter
    def gov_api(self, api: GovApi) -> None:
        """Every endpoint serves the same chain: they all read the same gov API."""
        for _, client in self.endpoints:
            client.gov_api = api

    async def sdk_version(self) -> str | None:
        return await self.call("sdk_version", lambda c: c.sdk_version())

    async def gov_v1_voting_params(self) -> dict[str, Any] | None:
        return await self.call("gov_v1_voting_params", lambda c: c.gov_v1_voting_params())

    async def proposals(self) -> list[Proposal]:
        await self._gov()
        return await self.call("proposals", lambda c: c.proposals())

    async def proposal(self, proposal_id: int) -> Proposal | None:
        await self._gov()
        return await self.call("proposal", lambda c: c.proposal(proposal_id))

    async def vote(self, proposal_id: int, voter: str) -> str | None:
        await self._gov()
        return await self.call("vote", lambda c: c.vote(proposal_id, voter))

    async def current_plan(self) -> UpgradePlan | None:
        return await self.call("current_plan", lambda c: c.current_plan())

    async def applied_plan(self, name: str) -> int:
        return await self.call("applied_plan", lambda c: c.applied_plan(name))

    async def balance(self, address: str, denom: str) -> int:
        return await self.call("balance", lambda c: c.balance(address, denom))

    async def gov_params(self) -> GovParams:
        await self._gov()
        return await self.call("gov_params", lambda c: c.gov_params())

    async def get_path(self, path: str) -> dict[str, Any]:
        return await self.call("get_path", lambda c: c.get_path(path))

    async def account(self, address: str) -> AccountState:
        return await self.call("account", lambda c: c.account(address))


class RpcPool(Failover[CometRPC]):
    async def tx(self, tx_hash: str) -> dict[str, Any] | None:
        return await self.call("tx", lambda c: c.tx(tx_hash))

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.call("get", lambda c: c.get(method, params))

    async def abci_info(self) -> AbciInfo:
        return await self.call("abci_info", lambda c: c.abci_info())

    async def abci_query(self, path: str, data: bytes) -> bytes | None:
        return await self.call("abci_query", lambda c: c.abci_query(path, data))

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
        # Safe to send again to another node: the same signed bytes are accepted once.
        return await self.call("broadcast_tx_sync", lambda c: c.broadcast_tx_sync(tx_bytes))
