"""The daemon: one task group owns every task; it only moves data.

::

    sources (ws NewBlock x N, Docker events)
        -> observations (bounded stream) -> observer:
               view.observe(block)            (agent.core.chainview)
               derivation.on_block(state, ..) (agent.core.derive) -> facts | reads
        reads (gov params, proposal status, apps' heights) -> answers
               -> derivation.on_answer(state, ..) -> facts | reads
        executors' results, deadline timers -> facts (bounded stream)
        -> machine loop: decide(state, fact)  (agent.core.machine) -> actions
               journal.save(state); dispatch actions -> executors

Every decision is in ``agent.core``: this module never branches on a phase.
The machine loop is the only writer of the state; everything else reads the
latest snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from agent.adapters.blocklog import BlockLog
from agent.adapters.clock import Clock
from agent.adapters.journal import Journal
from agent.core.actions import Action, ArmDeadline
from agent.core.apphash import Split
from agent.core.chainview import ChainView
from agent.core.derive import (
    Derivation,
    Output,
    Read,
    ReadCommitted,
    ReadDue,
    ReadGovParams,
    ReadProposalStatus,
    action_timeout,
    ends_downtime,
    planned_downtime,
)
from agent.core.facts import (
    ActionFailed,
    AppHashesDiverged,
    Begin,
    ChainLive,
    DeadlinePassed,
    Fact,
    Resumed,
    StackLaunched,
)
from agent.core.machine import TERMINAL, Params, State, decide, initial_state
from agent.core.observations import ContainerEvent, NewBlock, Observation, StreamStatus
from agent.errors import IllegalTransition
from agent.runtime.blocks import BlockWaiter
from agent.runtime.reads import ChainReads, ReadAsker

__all__ = ["ActionRunner", "ChainReads", "Runner", "Source", "SourceFactory", "WatchHooks"]

log = structlog.get_logger("agent.daemon")

OBSERVATION_BUFFER = 1024
FACT_BUFFER = 256
LATENCY_KEEP = 4096
# How often the daemon asks the watchdog whether the nodes' app hashes split (it
# learns them every NODE_INFO_EVERY_S): cheap, a dictionary look-up.
SPLIT_EVERY_S = 2.0


class ActionRunner(Protocol):
    async def run(self, action: Action, state: State) -> Fact:
        """Perform ``action``; return its fact; never raise but for cancellation."""
        ...


class Source(Protocol):
    async def run(self, *, task_status: TaskStatus[None] = ...) -> None: ...


SourceFactory = Callable[[MemoryObjectSendStream[Observation]], Sequence[Source]]


class WatchHooks(Protocol):
    """What the daemon tells the watchdog (``agent.watchdog.service.WatchService``)."""

    async def run(self, *, task_status: TaskStatus[None] = ...) -> None: ...

    def observe(self, obs: Observation) -> None: ...

    def state_changed(self, state: State) -> None: ...

    def expect_downtime(self, seconds: float) -> None: ...

    def downtime_over(self) -> None: ...

    def incident(self) -> str: ...

    def divergence(self) -> Split | None: ...

    def sources_started(self) -> None: ...


class Runner:
    def __init__(
        self,
        params: Params,
        journal: Journal,
        executor: ActionRunner,
        reads: ChainReads,
        view: ChainView,
        clock: Clock,
        sources: SourceFactory,
        *,
        watch: WatchHooks | None = None,
        read_timeout: float = 10.0,
        block_log: BlockLog | None = None,
        services: Mapping[str, str] | None = None,
        companions: Sequence[Source] = (),
    ) -> None:
        self.params = params
        # Tasks beside the rehearsal for its whole length (the traffic sender).
        self.companions = tuple(companions)
        self.journal = journal
        self.executor = executor
        self.reads = reads
        self.view = view
        self.clock = clock
        self.sources = sources
        self.watch = watch
        self.read_timeout = read_timeout
        self.block_log = block_log
        self.state: State = initial_state("", params)
        self.derivation = Derivation(view, services)  # services: Compose service -> node
        self.asker = ReadAsker(reads, clock, read_timeout)
        self.blocks = BlockWaiter(view)
        self.reaction_latencies: list[float] = []  # seconds, NewBlock received -> dispatched
        obs_send, obs_recv = anyio.create_memory_object_stream[Observation](OBSERVATION_BUFFER)
        fact_send, fact_recv = anyio.create_memory_object_stream[Fact](FACT_BUFFER)
        self.obs_send: MemoryObjectSendStream[Observation] = obs_send
        self._obs_recv: MemoryObjectReceiveStream[Observation] = obs_recv
        self._fact_send: MemoryObjectSendStream[Fact] = fact_send
        self._fact_recv: MemoryObjectReceiveStream[Fact] = fact_recv
        self._deadline: tuple[str, anyio.CancelScope] | None = None
        # (name, clock.monotonic() when armed) of the current wait, for the live view.
        self.deadline_armed: tuple[str, float] | None = None
        self._sources_started = False
        self._triggers: dict[int, float] = {}  # id(fact) -> monotonic time of its NewBlock
        self._last_received = 0.0  # monotonic time of the latest block that was news
        self._tg: TaskGroup | None = None
        self._done = anyio.Event()

    # --- the loops ---------------------------------------------------------------

    async def run(self, first: State | None, fresh_id: str | None) -> State:
        """Run a new rehearsal (``first`` None) or resume ``first`` to its end."""
        try:
            return await self._run(first, fresh_id)
        finally:
            # Also when cancelled (a signal): no stream is left open.
            for stream in (self.obs_send, self._obs_recv, self._fact_send, self._fact_recv):
                stream.close()

    async def _run(self, first: State | None, fresh_id: str | None) -> State:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            if self.watch is not None:
                await tg.start(self.watch.run)
            tg.start_soon(self._observer)
            for companion in self.companions:
                await tg.start(companion.run)
            if self.block_log is not None:
                self.block_log.open(first.rehearsal_id if first is not None else fresh_id or "")
                await tg.start(self.block_log.run)
            if first is None:
                assert fresh_id is not None
                self.state = initial_state(fresh_id, self.params)
                await self._fact_send.send(Begin(fresh_id, 0, self.clock.wall()))
            else:
                self.state = first
                if self.state.stack_up:
                    await self._start_sources()
                await self._fact_send.send(Resumed(self.view.max_height, self.clock.wall()))
            tg.start_soon(self._machine_loop)
            if self.watch is not None:
                tg.start_soon(self._split_loop, self.watch)
            await self._done.wait()
            tg.cancel_scope.cancel()
        return self.state

    async def _split_loop(self, watch: WatchHooks) -> None:
        """Nodes that disagree on the chain's state end the rehearsal, whatever it
        waits for: the watchdog compares their app hashes (it polls them)."""
        while not self.state.finished:
            found = watch.divergence()
            if found is not None and self.state.phase not in TERMINAL:
                log.error("app_hashes_diverged", height=found.height, nodes=found.divergent)
                await self._fact_send.send(
                    AppHashesDiverged(found.message, found.divergent, found.height,
                                      self.clock.wall())
                )  # fmt: skip
                return
            await self.clock.sleep(SPLIT_EVERY_S)

    async def _machine_loop(self) -> None:
        async for fact in self._fact_recv:
            await self._apply(fact)
            if self.state.finished:
                self._done.set()
                return

    async def _apply(self, fact: Fact) -> None:
        old = self.state
        try:
            new, actions = decide(old, fact)
        except IllegalTransition as exc:
            log.error(
                "illegal_fact", fact=type(fact).__name__, phase=old.phase.value, error=str(exc)
            )
            return
        if new != old:
            self.state = new
            await self.journal.save(new)
            if self.watch is not None:
                self.watch.state_changed(new)
            for t in new.transitions[len(old.transitions) :]:
                log.info(
                    "phase_changed",
                    phase=t.to_phase.value,
                    previous=t.from_phase.value if t.from_phase else None,
                    height=t.height,
                    reason=t.reason,
                )
        trigger = self._triggers.pop(id(fact), None)
        for a in actions:
            self._dispatch(a)
            if isinstance(a, ArmDeadline):
                continue
            if trigger is not None:
                latency = self.clock.monotonic() - trigger
                self.reaction_latencies.append(latency)
                del self.reaction_latencies[:-LATENCY_KEEP]
                log.info(
                    "action_dispatched",
                    action=a.key,
                    height=self.view.max_height,
                    reaction_ms=round(latency * 1000, 2),
                )
            else:
                log.info("action_dispatched", action=a.key, height=self.view.max_height)
        if self.watch is not None and ends_downtime(fact):
            self.watch.downtime_over()
        if isinstance(fact, StackLaunched):
            self.derivation.restart_chain()
            await self._start_sources()

    def _dispatch(self, action: Action) -> None:
        assert self._tg is not None
        if isinstance(action, ArmDeadline):
            # One deadline at a time: arming a new wait retires the old one.
            if self._deadline is not None:
                self._deadline[1].cancel()
            scope = anyio.CancelScope()
            self._deadline = (action.name, scope)
            self.deadline_armed = (action.name, self.clock.monotonic())
            self._tg.start_soon(self._run_deadline, action, scope)
            return
        # The rehearsal's own parameters (journaled when it began), as its deadlines
        # use: a resume with an edited config must not mix two sets.
        downtime = planned_downtime(action, self.state.params)
        if self.watch is not None and downtime is not None:
            self.watch.expect_downtime(downtime)
        self._tg.start_soon(self._execute, action, self.state)

    def _incident(self) -> str:
        return self.watch.incident() if self.watch is not None else ""

    async def _run_deadline(self, a: ArmDeadline, scope: anyio.CancelScope) -> None:
        with scope:
            await self.clock.sleep(a.seconds)
            log.warning(
                "deadline_passed", deadline=a.name, seconds=a.seconds, height=self.view.max_height
            )
            behind = self.derivation.behind(self.state)
            await self._fact_send.send(
                DeadlinePassed(
                    a.name,
                    self.view.max_height,
                    self.clock.wall(),
                    a.detail,
                    behind,
                    cause=self.asker.last_error or "",
                    incident=self._incident(),
                )
            )

    async def _execute(self, action: Action, state: State) -> None:
        timeout = action_timeout(action, state.params)
        with anyio.move_on_after(timeout) as scope:
            fact = await self.executor.run(action, state)
            if isinstance(fact, ActionFailed) and not fact.environment and not fact.incident:
                fact = replace(fact, incident=self._incident())
        if scope.cancelled_caught:
            fact = ActionFailed(
                action.key,
                f"did not finish within {timeout:.0f}s",
                self.view.max_height,
                self.clock.wall(),
                incident=self._incident(),
            )
        await self._fact_send.send(fact)

    # --- observations -> facts -------------------------------------------------------

    async def _start_sources(self) -> None:
        if self._sources_started:
            return
        self._sources_started = True
        assert self._tg is not None
        sources = self.sources(self.obs_send)
        for src in sources:
            await self._tg.start(src.run)
        if self.watch is not None:
            self.watch.sources_started()
        log.info("sources_started", sources=len(sources))

    async def _observer(self) -> None:
        async for obs in self._obs_recv:
            received = self.clock.monotonic()
            if isinstance(obs, NewBlock):
                before = self.view.max_height
                if self.view.observe(obs):
                    self._last_received = received
                    if self.block_log is not None:
                        self.block_log.record(obs)
                    if before == 0:
                        log.info("first_block", node=obs.node, height=obs.height)
                    if self.view.max_height > before:
                        self.blocks.notify()
                    for out in self.derivation.on_block(self.state, obs, before):
                        await self._emit(out, received)
            elif isinstance(obs, StreamStatus):
                log.info("stream_status", source=obs.source, up=obs.up, reason=obs.reason)
            elif isinstance(obs, ContainerEvent):
                lvl = log.warning if obs.action in {"die", "oom", "kill"} else log.debug
                lvl("container_event", service=obs.service, action=obs.action, code=obs.exit_code)
                for out in self.derivation.on_container(self.state, obs):
                    await self._emit(out, received)
            if self.watch is not None:
                self.watch.observe(obs)

    async def _emit(self, out: Output, received: float) -> None:
        """Every derivation output takes this path: a read is asked in its own task
        (and its answer derived in turn), a fact goes to the machine."""
        if isinstance(out, ReadGovParams | ReadProposalStatus | ReadCommitted):
            assert self._tg is not None
            self._tg.start_soon(self._read, out, received)
            return
        await self._send_derived(out, received)

    async def _send_derived(self, fact: Fact, received: float) -> None:
        if isinstance(fact, ChainLive):
            log.info(
                "chain_live",
                block_interval=round(fact.block_interval, 3),
                voting_period=fact.voting_period,
                height=fact.height,
            )
        self._triggers[id(fact)] = received
        if len(self._triggers) > 256:  # facts the machine never saw (shutdown) must not pile up
            self._triggers.pop(next(iter(self._triggers)))
        await self._fact_send.send(fact)

    async def _read(self, read: Read, received: float) -> None:
        answer = await self.asker.ask(read)
        if isinstance(read, ReadGovParams):
            # Read ahead; if the chain went live while it was in flight, the block
            # that made it so is the one this answer keeps waiting.
            received = self._last_received
        elif isinstance(answer, ReadDue):
            received = self.clock.monotonic()  # a read again within the block: from now
        for out in self.derivation.on_answer(self.state, answer):
            await self._emit(out, received)
