"""The traffic sender assembled from the configuration and the rehearsal's adapters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock
from agent.adapters.failover import RestPool, RpcPool
from agent.adapters.traffic_log import TrafficLog
from agent.config import Config
from agent.core.chainview import ChainView
from agent.core.machine import State
from agent.runtime.clients import Clients
from agent.runtime.traffic import CliTrafficSigner, Template, TrafficSender, TrafficSettings

__all__ = ["make_sender", "traffic_settings"]


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
    tx_node = cfg.chain.tx_node
    rpcs = RpcPool(sorted(c.rpcs.items(), key=lambda kv: kv[0] != tx_node))
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
