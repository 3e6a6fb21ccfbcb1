"""What every executor shares: the adapters, the view, and two helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import structlog

from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock
from agent.adapters.compose import Compose
from agent.adapters.docker import Docker
from agent.adapters.failover import RestPool, RpcPool
from agent.adapters.ledger import TxLedger
from agent.adapters.process import CommandRunner, run_command
from agent.adapters.rest import RestClient
from agent.adapters.rpc import CometRPC
from agent.config import VoterConfig
from agent.core.chainview import ChainView
from agent.core.facts import Check
from agent.core.machine import State
from agent.errors import AgentError, ProtocolError
from agent.runtime.executors.settings import ExecSettings

__all__ = ["ExecContext", "TrafficSettle"]

log = structlog.get_logger("agent.executor")

T = TypeVar("T")

# The longest ``next_block_or_moment`` waits before its caller looks again.
LOOK_AGAIN_S = 0.2


class TrafficSettle(Protocol):
    async def settle(self) -> Check:
        """Stop the traffic, let its last transactions land, and judge it."""
        ...


@dataclass
class ExecContext:
    settings: ExecSettings
    compose: Compose
    cli: ChainCLI
    rpcs: dict[str, CometRPC]
    rest: RestPool | RestClient
    view: ChainView
    ledger: TxLedger
    clock: Clock
    write_report: Callable[[State], Awaitable[Path]]
    # Waits until `n` more blocks were seen (driven by NewBlock, not a sleep loop).
    wait_blocks: Callable[[int], Awaitable[None]]
    # Closes every event stream connection (scenario stream-cuts); None: no proxy.
    cut_streams: Callable[[], Awaitable[int]] | None = None
    # The scenario's verdict on a finished state: (met, findings); None: not judged.
    judge: Callable[[State], Awaitable[tuple[bool, list[str]]]] | None = None
    # address -> the lowest sequence its account can have now: one past the last of
    # our transactions from it seen in a block. The REST node asked for the account
    # may not have that block yet (a sentry after a failover), and a sequence read
    # from it would sign a second transaction at the first one's sequence.
    next_sequence: dict[str, int] = field(default_factory=dict)
    # Every docker CLI call outside Compose and the CLI boxes.
    docker: Docker = field(default_factory=Docker)
    # The stack's own commands (reset, ports check, an attached network's restart).
    run: CommandRunner = run_command
    # The profile's check programs (their verdict on the reads, on stdin).
    programs: CommandRunner = run_command
    # The traffic through the upgrade ([traffic]); None: no traffic.
    traffic: TrafficSettle | None = None

    def fact_kw(self) -> dict[str, Any]:
        return {"height": self.view.max_height, "at": self.clock.wall()}

    @cached_property
    def tx_rpc(self) -> RpcPool:
        """Transaction lookups and state queries: the tx node first, then any other
        node when it cannot be reached (they all hold the same chain)."""
        tx_node = self.settings.chain.tx_node
        order = sorted(self.rpcs.items(), key=lambda kv: kv[0] != tx_node)
        return RpcPool(order)

    async def next_block_or_moment(self) -> None:
        """Until the next block or ``LOOK_AGAIN_S``, whichever comes first.

        A block wakes waiters as soon as the *first* node has it; the node asked
        next (the tx node a hop or two behind, its indexer after the commit, the
        last node of five) may not have it yet. Looking again within the block
        saves waiting a whole block for the answer."""
        with anyio.move_on_after(LOOK_AGAIN_S):
            await self.wait_blocks(1)

    def voter(self, name: str) -> VoterConfig:
        for v in self.settings.voters:
            if v.name == name:
                return v
        raise ProtocolError(f"unknown voter {name!r}")

    async def addresses(self, names: Iterable[str]) -> dict[str, str]:
        """voter name -> account address, for the voters ``names`` holds (the
        placeholders a declared tx or read names; ``agent.core.templates``)."""
        wanted = set(names)
        return {v.name: await self.cli.address(v) for v in self.settings.voters if v.name in wanted}

    async def on_next_blocks(
        self, what: str, fn: Callable[[], Awaitable[T]], blocks: int = 5, seconds: float = 15.0
    ) -> T:
        """Call ``fn``; on an error, retry on each next block, for at least ``blocks``
        blocks and ``seconds`` seconds.

        A node that just restarted answers queries with "invalid height" until its
        first new block is committed, and its REST gateway answers 503 until its gRPC
        server listens: SDK v0.46 starts that server five seconds after the API
        (server/grpc StartGRPCServer), over five one-second blocks. This absorbs both
        without a sleep."""
        start = self.clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await fn()
            except AgentError as exc:
                if attempt > blocks and self.clock.monotonic() - start >= seconds:
                    raise
                log.info("read_retry", what=what, error=str(exc)[:200], attempt=attempt)
                if attempt > blocks:  # the blocks are spent: once a second until `seconds`
                    await self.clock.sleep(1.0)
                else:
                    await self.wait_blocks(1)
