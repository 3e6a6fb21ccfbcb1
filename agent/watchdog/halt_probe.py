"""Reads why the chain halted, while it is halting: the watchdog's eyes on consensus.

Each node's validator key is learnt while the chain is healthy. Once the
watchdog suspects a halt (no block for a third of the stall threshold),
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
from agent.core.observations import NodeReach, ValidatorKey, WatchObservation
from agent.errors import AgentError

__all__ = ["LEARN_EVERY_S", "PROBE_EVERY_S", "HaltProbe", "HaltReads"]

log = structlog.get_logger("agent.watch")

PROBE_EVERY_S = 3.0  # while a halt is suspected
# Until every node said which validator key it holds: often, since a rehearsal
# launches its nodes as the watch starts, and a validator may freeze a few blocks
# later (the e2e run named val-alice by her address when this was 30 s).
LEARN_EVERY_S = 3.0


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
        self._learnt: set[str] = set()  # nodes that said which key they hold
        self._due = 0.0

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._learn_loop)
            await self._probe_loop()

    async def _learn_loop(self) -> None:
        """Each node's validator key, learnt while the chain is healthy: a validator
        that freezes cannot say which key it holds once the halt begins."""
        while self.rpcs:
            unknown = [n for n in self.rpcs if n not in self._learnt]
            if not unknown:
                return
            async with anyio.create_task_group() as tg:
                for name in unknown:
                    tg.start_soon(self._status, name, self.rpcs[name], False)
            await self.clock.sleep(LEARN_EVERY_S)

    async def _probe_loop(self) -> None:
        while True:
            now = self.clock.wall()
            if now >= self._due and self.rpcs and self.suspected(now):
                self._due = now + PROBE_EVERY_S
                await self.probe()
            await self.clock.sleep(1.0)

    async def _status(self, name: str, rpc: HaltReads, report: bool) -> bool:
        """Does ``name`` answer? (``report``: say so to the watchdog.) Keeps its key."""
        try:
            with anyio.fail_after(self.request_s):
                info = await rpc.validator_info()
        except (AgentError, TimeoutError) as exc:
            if report:
                error = str(exc)[:200] or "timed out"
                self.observe(NodeReach(name, False, error, self.clock.wall()))
            return False
        first = name not in self._learnt
        self._learnt.add(name)
        if info.address:
            self.names[info.address.upper()] = name
            if first:  # how commits' signatures are named (agent.core.missed)
                self.observe(
                    ValidatorKey(name, info.address.upper(), info.voting_power, self.clock.wall())
                )
        if report:
            self.observe(NodeReach(name, True, "", self.clock.wall()))
        return True

    async def probe(self) -> None:
        # Every node that answers is asked for its round at once (a silent one must
        # not hold up the others'): a validator cut off from the others sees only its
        # own vote and would blame them. The view most nodes share is the network's
        # (then the least power missing, then the latest round).
        dumps: list[tuple[str, ConsensusDump]] = []

        async def one(name: str, rpc: HaltReads) -> None:
            if await self._status(name, rpc, True):
                d = await self._dump(name, rpc)
                if d is not None:
                    dumps.append((name, d))

        async with anyio.create_task_group() as tg:
            for name, rpc in self.rpcs.items():
                tg.start_soon(one, name, rpc)
        # Named once every answer is in: a key learnt from one node names it in all.
        at = self.clock.wall()
        rounds = [
            round_votes(n, d.height, d.round, d.validators, d.prevoted, d.precommitted,
                        self.names, at)
            for n, d in dumps
        ]  # fmt: skip
        if rounds:
            shared = Counter(v.missing_prevotes for v in rounds)
            votes = min(
                rounds,
                key=lambda v: (-shared[v.missing_prevotes], v.missing_power_pct, -v.round, v.node),
            )
            log.info("halt_round", node=votes.node, height=votes.height, round=votes.round,
                     missing_prevotes=votes.missing_prevotes)  # fmt: skip
            self.observe(votes)

    async def _dump(self, name: str, rpc: HaltReads) -> ConsensusDump | None:
        try:
            with anyio.fail_after(self.request_s):
                return await rpc.dump_consensus_state()
        except (AgentError, TimeoutError) as exc:
            log.info("halt_round_unread", node=name, error=str(exc)[:200])
            return None
