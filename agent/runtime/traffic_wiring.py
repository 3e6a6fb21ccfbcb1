"""The traffic sender assembled from the configuration and the rehearsal's adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock
from agent.adapters.failover import RestPool, RpcPool
from agent.adapters.rpc import CometRPC
from agent.adapters.rpc_answers import BroadcastResult
from agent.adapters.traffic_log import TrafficLog
from agent.config import Config
from agent.core.chainview import ChainView
from agent.core.machine import State
from agent.runtime.clients import Clients
from agent.runtime.traffic import CliTrafficSigner, Template, TrafficSender, TrafficSettings

__all__ = ["TipFirst", "make_sender", "traffic_settings"]


class TipFirst:
    """Users reach a chain through endpoints that keep up with it: each call goes to
    a node at the chain's tip first (the tx node among equals), then the others.
    Sent to the tx node while it lagged (carol on v1, halted, then catching up on
    v2), accepted transactions sat in its mempool and never reached a block."""

    def __init__(self, rpcs: Mapping[str, CometRPC], view: ChainView, tx_node: str) -> None:
        self.rpcs, self.view, self.tx_node = dict(rpcs), view, tx_node

    def pool(self) -> RpcPool:
        heights = self.view.heights()
        order = sorted(
            self.rpcs.items(), key=lambda kv: (-heights.get(kv[0], 0), kv[0] != self.tx_node)
        )
        return RpcPool(order)

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
        return await self.pool().broadcast_tx_sync(tx_bytes)

    async def tx(self, tx_hash: str) -> dict[str, Any] | None:
        return await self.pool().tx(tx_hash)

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.pool().get(method, params)


def traffic_settings(cfg: Config) -> TrafficSettings:
    t = cfg.traffic
    return TrafficSettings(
        rate=t.rate,
        accounts=tuple(t.accounts),
        templates=tuple(
            Template(x.name, tuple(x.tx), x.weight) for x in t.templates(cfg.chain.denom)
        ),
        settle_blocks=t.settle_blocks,
        resend_blocks=t.resend_blocks,
        require_none_lost=t.require_none_lost,
    )


def make_sender(
    cfg: Config,
    cli: ChainCLI,
    c: Clients,
    view: ChainView,
    clock: Clock,
    wait_blocks: Callable[[int], Awaitable[None]],
    state: Callable[[], State],
    rehearsal: str,
) -> TrafficSender:
    # The accounts' own CLI: their desk's test keyring, no password; the same boxes
    # (closed with the rehearsal's CLI).
    settings = replace(cli.s, keyring_backend="test", voters=())
    traffic_cli = ChainCLI(settings, "", cli.sdk_line, boxes=cli.boxes)
    rpcs = TipFirst(c.rpcs, view, cfg.chain.tx_node)
    rest = c.rest
    assert isinstance(rest, RestPool)

    def phase() -> tuple[str, int | None]:
        s = state()
        return s.phase.value, s.upgrade_height

    return TrafficSender(
        traffic_settings(cfg),
        CliTrafficSigner(traffic_cli, cli, str(cfg.path(cfg.traffic.desk))),
        rpcs,
        rest,
        view,
        clock,
        wait_blocks,
        phase,
        TrafficLog(cfg.state_dir, rehearsal),
    )
