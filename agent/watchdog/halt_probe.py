"""Reads why the chain halted, while it is halting: the watchdog's eyes on consensus.

Once the watchdog suspects a halt (no block for a third of the stall threshold),
every few seconds this asks each node's ``status`` (does its RPC answer? which
validator key is it?) and each node that answers for its ``dump_consensus_state``:
who has not prevoted or precommitted in the stuck round, as the best-connected
node sees it.
Both go to the watchdog as observations, so the halt's one alert names its cause
when it fires. Nothing is asked while blocks come: a healthy chain costs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import anyio
import structlog

from agent.adapters.clock import Clock
from agent.adapters.rpc_answers import ConsensusDump, ValidatorInfo
from agent.core.halt import round_votes
from agent.core.observations import NodeReach, RoundVotes, WatchObservation
from agent.errors import AgentError

__all__ = ["HaltProbe", "HaltReads", "PROBE_EVERY_S"]

log = structlog.get_logger("agent.watch")

PROBE_EVERY_S = 3.0  # while a halt is suspected


@runtime_checkable
class HaltReads(Protocol):
    async def validator_info(self) -> ValidatorInfo: ...

    async def dump_consensus_state(self) -> ConsensusDump: ...


class HaltProbe:
    def __init__(
        self,
        rpcs: Mapping[str, object],
        clock: Clock,
        request_s: float,
        suspected: Callable[[float], bool],
        observe: Callable[[WatchObservation], None],
    ) -> None:
        # Only clients that can read consensus (the real RPC client can).
        self.rpcs = {n: r for n, r in rpcs.items() if isinstance(r, HaltReads)}
        self.clock = clock
        self.request_s = request_s
        self.suspected = suspected
        self.observe = observe
        self.names: dict[str, str] = {}  # validator address -> node
        self._due = 0.0

    async def run(self) -> None:
        while True:
            now = self.clock.wall()
            if now >= self._due and self.rpcs and self.suspected(now):
                self._due = now + PROBE_EVERY_S
                await self.probe()
            await self.clock.sleep(1.0)

    async def probe(self) -> None:
        answered: list[str] = []

        async def status(name: str, rpc: HaltReads) -> None:
            try:
                with anyio.fail_after(self.request_s):
                    info = await rpc.validator_info()
            except (AgentError, TimeoutError) as exc:
                self.observe(
                    NodeReach(name, False, str(exc)[:200] or "timed out", self.clock.wall())
                )
                return
            if info.address:
                self.names[info.address.upper()] = name
            answered.append(name)
            self.observe(NodeReach(name, True, "", self.clock.wall()))

        async with anyio.create_task_group() as tg:
            for name, rpc in self.rpcs.items():
                tg.start_soon(status, name, rpc)
        # Every node that answers is asked: a validator cut off from the others sees
        # only its own vote and would blame them. The view most nodes share is the
        # network's (then the least power missing, then the latest round).
        rounds: list[RoundVotes] = []

        async def dump(name: str) -> None:
            votes = await self._round(name, self.rpcs[name])
            if votes is not None:
                rounds.append(votes)

        async with anyio.create_task_group() as tg:
            for name in answered:
                tg.start_soon(dump, name)
        if rounds:
            shared = Counter(v.missing_prevotes for v in rounds)
            votes = min(
                rounds,
                key=lambda v: (-shared[v.missing_prevotes], v.missing_power_pct, -v.round, v.node),
            )
            log.info("halt_round", node=votes.node, height=votes.height, round=votes.round,
                     missing_prevotes=votes.missing_prevotes)  # fmt: skip
            self.observe(votes)

    async def _round(self, name: str, rpc: HaltReads) -> RoundVotes | None:
        try:
            with anyio.fail_after(self.request_s):
                d = await rpc.dump_consensus_state()
        except (AgentError, TimeoutError) as exc:
            log.info("halt_round_unread", node=name, error=str(exc)[:200])
            return None
        return round_votes(
            name, d.height, d.round, d.validators, d.prevoted, d.precommitted, self.names,
            self.clock.wall(),
        )  # fmt: skip
