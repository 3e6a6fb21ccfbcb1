"""The chain's clients for a run or a watch: one RPC client per node, the REST pool,
and the daemon's ``ChainReads`` over them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import httpx

from agent.adapters.chaincli import ChainCLI
from agent.adapters.failover import RestPool
from agent.adapters.httpjson import HttpClients
from agent.adapters.rest import RestClient
from agent.adapters.rpc import CometRPC, HttpCometRPC
from agent.adapters.sdk import LazyLine, SdkLine, gov_api
from agent.concurrency import gather
from agent.config import Config
from agent.errors import AgentError

__all__ = ["Clients", "NodeReads", "clients"]


class NodeReads:
    """The daemon's ``ChainReads``: governance over Cosmos REST (any node that serves
    it), each app's committed height over its node's RPC."""

    def __init__(self, rest: RestPool, rpcs: dict[str, CometRPC]) -> None:
        self.rest = rest
        self.rpcs = rpcs

    async def voting_period(self) -> float:
        return (await self.rest.gov_params()).voting_period

    async def proposal_status(self, proposal_id: int) -> str | None:
        p = await self.rest.proposal(proposal_id)
        return None if p is None else p.status

    async def app_heights(self, nodes: Sequence[str]) -> dict[str, int | None]:
        async def height(name: str) -> int | None:
            rpc = self.rpcs.get(name)
            if rpc is None:
                return None
            try:
                return (await rpc.abci_info()).last_block_height
            except AgentError:  # restarting, say: asked again on the next block
                return None

        got = await gather(*(partial(height, n) for n in nodes))
        return dict(zip(nodes, got, strict=True))


@dataclass
class Clients:
    rpcs: dict[str, CometRPC]
    rests: dict[str, RestClient]
    http: httpx.AsyncClient | None = None  # for the alert sinks (same TLS context)

    @property
    def rest(self) -> RestPool | None:
        """Every REST endpoint, the transaction node's first (None: no node serves REST)."""
        return RestPool(list(self.rests.items())) if self.rests else None


@asynccontextmanager
async def clients(cfg: Config, *, need_rest: bool = False) -> AsyncIterator[Clients]:
    """One RPC client per node and a REST client (when needed or a node serves REST).

    They share one TLS context, and one connection pool per origin
    (``HttpClients``): the cost per node is a few kB, not a TLS context each."""
    if need_rest:
        cfg.rest_url  # noqa: B018 (raises the config error when no node serves REST)
    async with HttpClients() as http:
        rpcs: dict[str, CometRPC] = {
            n.name: HttpCometRPC(n.rpc, timeout=cfg.timing.rpc_timeout, client=http.for_url(n.rpc))
            for n in cfg.nodes
        }
        rests: dict[str, RestClient] = {}
        tx_first = sorted(cfg.nodes, key=lambda n: n.name != cfg.chain.tx_node)
        for n in tx_first:
            if n.rest:
                rests[n.name] = RestClient(
                    n.rest, timeout=cfg.timing.rpc_timeout, client=http.for_url(n.rest)
                )
        yield Clients(rpcs, rests, http.default)


def follow_sdk_line(cfg: Config, cli: ChainCLI, rest: RestPool) -> None:
    """Point the CLI's command forms and the REST client's gov API at the chain's
    SDK line: the configured one, or, with ``sdk_line = "auto"``, the one the first
    gov read detects (the chain is up by then). The REST pool shares the client."""
    rest.gov_api = gov_api(cli.sdk_line)
    if cfg.chain.sdk_line != "auto":
        return

    def use(line: SdkLine) -> None:
        cli.sdk_line, rest.gov_api = line, gov_api(line)

    rest.before_gov = LazyLine(rest, use, deadline=cfg.timing.sdk_probe_s)
