"""The daemon: one task group owns every task.

Data flow::

    websocket NewBlock x N ─┐
    Docker events ──────────┼─> observations (bounded stream) ─> observer
                            │        (ChainView; derives facts: ChainLive,
                            │         NodesReached, HeightObserved,
                            │         ProposalStatusSeen on new blocks)
    executors' results ─────┴────────────> facts (bounded stream) ─> machine loop
    deadline timers ───────────────────────┘     decide(state, fact) -> actions
                                                 journal.save(state)
                                                 dispatch actions -> executors

The machine loop is the only writer of the state. Everything else reads the
latest snapshot. Nothing here sleeps on a loop: chain status is read when a
new block arrives.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import structlog
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.compose import Compose, detect_compose
from agent.adapters.docker_events import DockerEventSource
from agent.adapters.journal import FileJournal, Journal
from agent.adapters.ledger import TxLedger
from agent.adapters.rest import RestClient
from agent.adapters.rpc import HttpCometRPC
from agent.adapters.ws import NewBlockSource
from agent.config import Config, read_password
from agent.core.actions import (
    Action,
    ArmDeadline,
    CastVote,
    LaunchStack,
    RestartOnV2,
    SubmitProposal,
)
from agent.core.chainview import ChainView
from agent.core.facts import (
    ActionFailed,
    Begin,
    ChainLive,
    DeadlinePassed,
    Fact,
    HeightObserved,
    NodesReached,
    ProposalStatusSeen,
    Resumed,
    StackLaunched,
    StackRestarted,
)
from agent.core.machine import Params, Phase, State, decide, initial_state
from agent.core.observations import ContainerEvent, NewBlock, Observation, StreamStatus
from agent.core.policy import UpgradeHeightPolicy
from agent.errors import AgentError, ConfigError, IllegalTransition
from agent.runtime import report as report_mod
from agent.runtime.executor import Executor
from agent.watchdog.service import WatchService, context_from_state

__all__ = ["Runner", "params_from_config", "run_rehearsal", "RunStats"]

log = structlog.get_logger("agent.runtime.daemon")

OBSERVATION_BUFFER = 1024
FACT_BUFFER = 256


def params_from_config(cfg: Config) -> Params:
    t = cfg.timing
    return Params(
        upgrade_name=cfg.chain.upgrade_name,
        voters=tuple(v.name for v in cfg.voters),
        height_policy=UpgradeHeightPolicy(t.height_margin_seconds, t.min_blocks_ahead),
        launch_timeout=t.launch_timeout,
        vote_timeout=t.vote_timeout,
        pass_grace=t.pass_grace,
        resume_budget=t.resume_budget,
        verify_timeout=t.verify_timeout,
        restart_timeout=t.restart_timeout,
    )


@dataclass
class RunStats:
    """Figures the benchmark reads back (bounded)."""

    reaction_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    observations: int = 0
    facts: int = 0


class Runner:
    def __init__(
        self,
        cfg: Config,
        journal: Journal,
        executor: Executor,
        view: ChainView,
        rest: RestClient,
        clock: Clock,
        rpcs: dict[str, HttpCometRPC],
        watch: WatchService | None = None,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.executor = executor
        self.view = view
        self.rest = rest
        self.clock = clock
        self.rpcs = rpcs
        self.watch = watch
        self.state: State = initial_state("", params_from_config(cfg))
        self.stats = RunStats()
        obs_send, obs_recv = anyio.create_memory_object_stream[Observation](OBSERVATION_BUFFER)
        fact_send, fact_recv = anyio.create_memory_object_stream[Fact](FACT_BUFFER)
        self.obs_send: MemoryObjectSendStream[Observation] = obs_send
        self.obs_recv: MemoryObjectReceiveStream[Observation] = obs_recv
        self.fact_send: MemoryObjectSendStream[Fact] = fact_send
        self.fact_recv: MemoryObjectReceiveStream[Fact] = fact_recv
        self._deadlines: dict[str, anyio.CancelScope] = {}
        self._new_height = anyio.Event()
        self._sources_started = False
        self._derived: int | None = None  # the awaiting threshold already answered
        self._status_polling = False
        self._last_status: str | None = None
        self._triggers: dict[int, float] = {}  # id(fact) -> monotonic time of its NewBlock
        self._tg: TaskGroup | None = None
        self._done = anyio.Event()

    # --- the loops ---------------------------------------------------------------

    async def run(self, first: State | None, fresh_id: str | None) -> State:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            if self.watch is not None:
                await tg.start(self.watch.run)
            tg.start_soon(self._observer)
            if first is None:
                assert fresh_id is not None
                self.state = initial_state(fresh_id, params_from_config(self.cfg))
                await self.fact_send.send(Begin(fresh_id, 0, self.clock.wall()))
            else:
                self.state = first
                if "launch_stack" in self.state.issued and not self._launch_pending():
                    await self._start_sources()
                await self.fact_send.send(Resumed(self.view.max_height, self.clock.wall()))
            tg.start_soon(self._machine_loop)
            await self._done.wait()
            tg.cancel_scope.cancel()
        return self.state

    def _launch_pending(self) -> bool:
        return any(isinstance(a, LaunchStack) for a in self.state.pending)

    async def _machine_loop(self) -> None:
        async for fact in self.fact_recv:
            self.stats.facts += 1
            await self._apply(fact)
            if self.state.terminal and self.state.report_path is not None:
                self._done.set()
                return
            if self.state.terminal and "write_report" not in {a.key for a in self.state.pending}:
                # The report could not be written; the outcome stands.
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
                self.watch.set_context(context_from_state(new))
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
            if trigger is not None and not isinstance(a, ArmDeadline):
                latency = time.monotonic() - trigger
                self.stats.reaction_latencies.append(latency)
                log.info(
                    "action_dispatched",
                    action=a.key,
                    height=self.view.max_height,
                    reaction_ms=round(latency * 1000, 2),
                )
            elif not isinstance(a, ArmDeadline):
                log.info("action_dispatched", action=a.key, height=self.view.max_height)
        if isinstance(fact, StackRestarted):
            # Heights continue after the restart; "first block" is the first above it.
            log.info("stack_restarted", last_height=fact.last_height)
        if isinstance(fact, StackLaunched):
            self.view.reset()
            self._derived = None
            await self._start_sources()

    def _dispatch(self, action: Action) -> None:
        assert self._tg is not None
        if isinstance(action, ArmDeadline):
            old = self._deadlines.pop(action.name, None)
            if old is not None:
                old.cancel()
            for name, scope in list(self._deadlines.items()):
                # One deadline at a time: arming a new phase's wait retires the old one.
                scope.cancel()
                del self._deadlines[name]
            scope = anyio.CancelScope()
            self._deadlines[action.name] = scope
            self._tg.start_soon(self._deadline, action, scope)
            return
        if self.watch is not None and isinstance(action, LaunchStack | RestartOnV2):
            # Planned downtime: no stall alerts for nodes we are stopping on purpose.
            self.watch.expect_downtime(self._action_timeout(action))
        self._tg.start_soon(self._execute, action, self.state)

    async def _deadline(self, a: ArmDeadline, scope: anyio.CancelScope) -> None:
        with scope:
            await self.clock.sleep(a.seconds)
            log.warning(
                "deadline_passed", deadline=a.name, seconds=a.seconds, height=self.view.max_height
            )
            await self.fact_send.send(
                DeadlinePassed(a.name, self.view.max_height, self.clock.wall(), a.detail)
            )

    def _action_timeout(self, action: Action) -> float:
        t = self.cfg.timing
        if isinstance(action, LaunchStack):
            return t.launch_timeout
        if isinstance(action, SubmitProposal | CastVote):
            return t.vote_timeout
        if isinstance(action, RestartOnV2):
            return t.restart_timeout
        return t.verify_timeout

    async def _execute(self, action: Action, state: State) -> None:
        timeout = self._action_timeout(action)
        with anyio.move_on_after(timeout) as scope:
            fact = await self.executor.run(action, state)
        if scope.cancelled_caught:
            fact = ActionFailed(
                action.key,
                f"did not finish within {timeout:.0f}s",
                self.view.max_height,
                self.clock.wall(),
            )
        await self.fact_send.send(fact)

    # --- observations -> facts -------------------------------------------------------

    async def _start_sources(self) -> None:
        if self._sources_started:
            return
        self._sources_started = True
        assert self._tg is not None
        for node in self.cfg.nodes:
            src = NewBlockSource(
                node.name, node.ws, self.rpcs[node.name], self.obs_send.clone(), clock=self.clock
            )
            await self._tg.start(src.run)
        docker = DockerEventSource(self.cfg.stack.project, self.obs_send.clone(), clock=self.clock)
        await self._tg.start(docker.run)
        if self.watch is not None:
            self.watch.dog.mark_started(self.clock.wall())
        log.info("sources_started", nodes=len(self.cfg.nodes))

    async def _observer(self) -> None:
        async for obs in self.obs_recv:
            self.stats.observations += 1
            if self.watch is not None:
                self.watch.observe(obs)
            if isinstance(obs, NewBlock):
                await self._on_block(obs, time.monotonic())
            elif isinstance(obs, StreamStatus):
                log.info("stream_status", source=obs.source, up=obs.up, reason=obs.reason)
            elif isinstance(obs, ContainerEvent):
                lvl = log.warning if obs.action in {"die", "oom", "kill"} else log.debug
                lvl(
                    "container_event",
                    service=obs.service,
                    action=obs.action,
                    exit_code=obs.exit_code,
                )

    async def _on_block(self, ev: NewBlock, received: float) -> None:
        before = self.view.max_height
        if not self.view.observe(ev):
            return
        self._new_height.set()
        self._new_height = anyio.Event()
        s = self.state
        if before == 0:
            log.info("first_block", node=ev.node, height=ev.height)
        if self.view.max_height > before:
            log.debug("height_advanced", node=ev.node, height=ev.height)
            await self._send_derived(HeightObserved(self.view.max_height, ev.at), received)
        if (
            s.awaiting is not None
            and s.awaiting != self._derived
            and self.view.all_above(s.awaiting)
        ):
            if s.phase is Phase.LAUNCHED:
                interval = self.view.block_interval()
                if interval is not None:
                    self._derived = s.awaiting
                    assert self._tg is not None
                    self._tg.start_soon(self._chain_live, interval, received)
            else:
                self._derived = s.awaiting
                await self._send_derived(
                    NodesReached(s.awaiting, self.view.max_height, ev.at), received
                )
        if (
            s.phase in (Phase.PROPOSED, Phase.VOTED)
            and s.proposal_id is not None
            and ev.node == self.cfg.chain.tx_node
            and not self._status_polling
        ):
            self._status_polling = True
            assert self._tg is not None
            self._tg.start_soon(self._poll_status, s.proposal_id, received)

    async def _send_derived(self, fact: Fact, received: float) -> None:
        self._triggers[id(fact)] = received
        if len(self._triggers) > 256:  # facts the machine never saw (shutdown) must not pile up
            self._triggers.pop(next(iter(self._triggers)))
        await self.fact_send.send(fact)

    async def _chain_live(self, interval: float, received: float) -> None:
        try:
            with anyio.fail_after(self.cfg.timing.rpc_timeout * 3):
                params = await self.rest.gov_params()
        except (AgentError, TimeoutError) as exc:
            log.warning("gov_params_unavailable", error=str(exc))
            self._derived = None  # ask again on the next block
            return
        fact = ChainLive(interval, params.voting_period, self.view.max_height, self.clock.wall())
        log.info(
            "chain_live",
            block_interval=round(interval, 3),
            voting_period=params.voting_period,
            height=self.view.max_height,
        )
        await self._send_derived(fact, received)

    async def _poll_status(self, proposal_id: int, received: float) -> None:
        try:
            with anyio.fail_after(self.cfg.timing.rpc_timeout * 2):
                p = await self.rest.proposal(proposal_id)
        except (AgentError, TimeoutError) as exc:
            log.debug("proposal_status_unavailable", error=str(exc))
            return
        finally:
            self._status_polling = False
        if p is None or p.status == self._last_status:
            return
        self._last_status = p.status
        log.info(
            "proposal_status", proposal_id=proposal_id, status=p.status, height=self.view.max_height
        )
        await self._send_derived(
            ProposalStatusSeen(proposal_id, p.status, self.view.max_height, self.clock.wall()),
            received,
        )

    async def wait_blocks(self, n: int) -> None:
        target = self.view.max_height + n
        while self.view.max_height < target:
            await self._new_height.wait()


@asynccontextmanager
async def _clients(cfg: Config) -> AsyncIterator[tuple[dict[str, HttpCometRPC], RestClient]]:
    async with AsyncExitStack() as stack:
        timeout = httpx.Timeout(cfg.timing.rpc_timeout)
        rpcs: dict[str, HttpCometRPC] = {}
        for n in cfg.nodes:
            rpcs[n.name] = await stack.enter_async_context(
                HttpCometRPC(n.rpc, timeout=cfg.timing.rpc_timeout)
            )
        rest = await stack.enter_async_context(
            RestClient(cfg.rest_url, timeout=timeout.read or 5.0)
        )
        yield rpcs, rest


async def run_rehearsal(cfg: Config, *, fresh: bool = False, clock: Clock | None = None) -> State:
    """Run (or resume) a rehearsal to its end; return the final state."""
    clock = clock or SystemClock()
    password = read_password(cfg)
    journal = FileJournal(cfg.state_dir / "journal.json")
    state = await journal.load()
    if state is not None and (fresh or state.terminal):
        archived = await anyio.to_thread.run_sync(journal.archive)
        log.info("journal_archived", path=str(archived), previous=state.phase.value)
        state = None
    fresh_id = None
    if state is None:
        fresh_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        log.info("rehearsal_new", rehearsal_id=fresh_id)
    else:
        log.info("rehearsal_resumed", rehearsal_id=state.rehearsal_id, phase=state.phase.value)

    cc = cfg.stack.compose_command
    prefix = await detect_compose() if cc == "auto" else list(cc)
    compose = Compose(
        prefix,
        cfg.stack.project,
        cfg.compose_dir,
        env={"REHEARSE_TESTNET_DIR": str(cfg.testnet_dir)},
        timeout=cfg.timing.command_timeout,
    )
    cli = ChainCLI(cfg, password)
    if state is None:
        # Bad input stops here, before anything is launched: the password must
        # open every voter's keyring.
        for v in cfg.voters:
            try:
                await cli.address(v)
            except AgentError as exc:
                raise ConfigError(
                    "keyring.password_env"
                    if not cfg.keyring.password_file
                    else "keyring.password_file",
                    cfg.keyring.password_file or cfg.keyring.password_env,
                    f"does not open voter {v.name}'s keyring in {cfg.path(v.desk)}: {exc}",
                ) from None
    view = ChainView([n.name for n in cfg.nodes])
    async with _clients(cfg) as (rpcs, rest):
        runner: Runner

        async def write(s: State) -> Path:
            return await report_mod.write_report(
                s, cfg.path(cfg.agent.report_json), cfg.path(cfg.agent.report_md)
            )

        async def wait_blocks(n: int) -> None:
            await runner.wait_blocks(n)

        executor = Executor(
            cfg,
            compose=compose,
            cli=cli,
            rpcs=dict(rpcs),
            rest=rest,
            view=view,
            ledger=TxLedger(cfg.state_dir / "txs.jsonl"),
            clock=clock,
            write_report=write,
            wait_blocks=wait_blocks,
        )
        watch = WatchService(cfg, dict(rpcs), clock, phase=lambda: runner.state.phase.value)
        runner = Runner(cfg, journal, executor, view, rest, clock, rpcs, watch)
        final = await runner.run(state, fresh_id)
    log.info(
        "rehearsal_finished",
        outcome=final.phase.value,
        failure=final.failure,
        report=final.report_path,
    )
    return final
