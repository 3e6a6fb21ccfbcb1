"""The watch service: detectors, alerts, metrics and heartbeat as tasks.

Used inside ``rehearse run`` (with the rehearsal's state as context) and by
``rehearse watch`` (attached to any chain, launching nothing; the context then
comes from the chain's own upgrade plan). Observations are fed with
``observe``; everything time-based runs in ``run``'s tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
import structlog
from anyio.abc import TaskStatus

from agent.adapters.clock import Clock
from agent.adapters.failover import RestPool
from agent.adapters.files import read_json_lines
from agent.adapters.retention import rotate
from agent.adapters.rpc import CometRPC
from agent.config import Config
from agent.config.watch import WatchSettings
from agent.core.apphash import Split
from agent.core.chainview import ChainView
from agent.core.machine import Phase, State
from agent.core.observations import NewBlock, Observation, WatchObservation
from agent.core.verdict import AlertRecord
from agent.errors import AgentError
from agent.watchdog import (
    AlertManager,
    Condition,
    FileAlertStore,
    Heartbeat,
    MetricsServer,
    NodeInfo,
    Notification,
    UpgradeContext,
    Watchdog,
    WatchMetrics,
    build_sinks,
)
from agent.watchdog.halt_probe import HaltProbe
from agent.watchdog.staged_probe import StagedProbe

__all__ = ["WatchService", "context_from_state"]

log = structlog.get_logger("agent.watch")

# The alert history rotates at this size (one older generation kept): about ten
# thousand notifications, far more than a rehearsal's report reads.
HISTORY_MAX_BYTES = 2_000_000

NODE_INFO_EVERY_S = 10.0  # abci_info per node, to name the binary a halted node runs
NODE_INFO_BURST = 10  # up to this many nodes are polled at once; more are spread
PLAN_EVERY_S = 10.0  # watch mode: how often the chain's upgrade plan is re-read


def context_from_state(state: State) -> UpgradeContext:
    status = None
    if state.phase is Phase.PASSED or state.phase is Phase.UPGRADED:
        status = "PROPOSAL_STATUS_PASSED"
    return UpgradeContext(
        state.params.upgrade_name,
        state.upgrade_height,
        state.predicted_upgrade_time,
        state.voting_end,
        status,
        "v2",
    )


class WatchService:
    """``settings``: [watch], [metrics], [alerts]; ``nodes``: (name, Compose service)
    of each node watched; ``request_s``: one RPC request's deadline."""

    def __init__(
        self,
        settings: WatchSettings,
        nodes: Sequence[tuple[str, str]],
        request_s: float,
        rpcs: dict[str, CometRPC],
        clock: Clock,
        *,
        view: ChainView | None = None,
        phase: Callable[[], str | None] = lambda: None,
        rest: RestPool | None = None,
        http: httpx.AsyncClient | None = None,
        scope: str = "watch",
    ) -> None:
        self.scope = scope  # whose alerts: "watch", or a rehearsal's id
        self.http = http  # shared with the RPC clients; None: run() makes its own
        self.settings = settings
        self.request_s = request_s
        self.rpcs = rpcs
        self.clock = clock
        self.phase = phase
        self.rest = rest
        self.dog = Watchdog(
            view if view is not None else [name for name, _ in nodes],
            self.settings.watch.thresholds,
            services={service: name for name, service in nodes},
            started_at=clock.wall(),
        )
        self.metrics = WatchMetrics()
        self.metrics.attach(
            self.dog, clock.wall, phase=lambda: self.phase(), alerts_firing=self._alerts_firing
        )
        self.alerts: AlertManager | None = None
        self._info_due = 0.0
        self._plan_due = 0.0
        self._info_after_upgrade: set[str] = set()
        self.halt_probe = HaltProbe(rpcs, clock, request_s, self.dog.halt_suspected, self.observe)
        # Watch mode with Docker: looks for the plan's binary in each node's container.
        self.staged_probe: StagedProbe | None = None
        self.ready = anyio.Event()

    @classmethod
    def for_config(
        cls, cfg: Config, rpcs: dict[str, CometRPC], clock: Clock, **kw: Any
    ) -> WatchService:
        nodes = [(n.name, n.service or n.name) for n in cfg.nodes]
        return cls(cfg.watch, nodes, cfg.timing.rpc_timeout, rpcs, clock, **kw)

    # --- inputs --------------------------------------------------------------

    def observe(self, obs: Observation | WatchObservation) -> None:
        self.dog.observe(obs)
        self.metrics.observe(obs)
        if isinstance(obs, NewBlock) and not obs.backfilled:
            self._info_on_upgrade(obs)

    def _info_on_upgrade(self, block: NewBlock) -> None:
        """A node's first block at or past the planned upgrade height comes from the
        binary that swapped in: its info is read at once, not up to a polling period
        later (the live view's version column said v1 while v2 committed blocks)."""
        ctx = self.dog.context
        height = ctx.upgrade_height if ctx is not None else None
        if height is None or block.height < height or block.node in self._info_after_upgrade:
            return
        self._info_after_upgrade.add(block.node)
        self._info_due = 0.0

    def set_context(self, ctx: UpgradeContext | None) -> None:
        self.dog.set_context(ctx)

    # --- the daemon's hooks (agent.runtime.daemon.WatchHooks) ---------------------

    def state_changed(self, state: State) -> None:
        self.dog.set_context(context_from_state(state))

    def incident(self) -> str:
        """What the watchdog sees wrong now (a failure leads with it)."""
        return self.dog.incident(self.clock.wall())

    def divergence(self) -> Split | None:
        """Nodes that disagree on the state after one block, if any."""
        return self.dog.divergence()

    def expect_downtime(self, seconds: float) -> None:
        """The agent stops the stack on purpose, for at most ``seconds``."""
        self.dog.expect_downtime(until=self.clock.wall() + seconds)

    def downtime_over(self) -> None:
        """The planned stop completed: each node's window ends with its next block."""
        self.dog.downtime_over(self.clock.wall())

    def sources_started(self) -> None:
        self.dog.mark_started(self.clock.wall())

    # --- tasks ----------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        s = self.settings
        async with AsyncExitStack() as stack:
            client = self.http
            if client is None:
                client = await stack.enter_async_context(httpx.AsyncClient())
            self.alerts = AlertManager(
                FileAlertStore(s.watch.alert_state_file),
                build_sinks(s.sinks, client, self.clock),
                self.clock,
                for_s=s.watch.for_s,
                scope=self.scope,
            )
            async with anyio.create_task_group() as tg:
                # Delivery first: the outbox a restart finds goes to its workers,
                # and no sink ever holds up evaluation.
                await tg.start(self.alerts.run_delivery)
                await self.alerts.load()
                if s.metrics.enabled:
                    server = MetricsServer(
                        self.metrics.registry,
                        s.metrics.host,
                        s.metrics.port,
                        allow_remote=s.metrics.allow_remote,
                    )
                    port = await tg.start(server.serve)
                    log.info("metrics_listening", host=s.metrics.host, port=port)
                heartbeat = Heartbeat(s.watch.heartbeat_file)
                tg.start_soon(heartbeat.run, self._beat_state, s.watch.heartbeat_interval_s)
                tg.start_soon(self._poll_loop)
                self.ready.set()
                task_status.started()
                await self._evaluate_loop()

    def _beat_state(self) -> tuple[str | None, int, dict[str, object]]:
        if self.alerts is None:
            return self.phase(), 0, {}
        return self.phase(), len(self.alerts.firing), self.alerts.delivery.health()

    def _alerts_firing(self) -> int:
        return len(self.alerts.firing) if self.alerts else 0

    async def _evaluate_loop(self) -> None:
        # Stall detection is about time passing without blocks, so this one loop
        # is on a timer by nature; everything else reacts to events.
        assert self.alerts is not None
        restored = dict(self.alerts.firing)
        loaded_at = self.clock.wall()
        while True:
            now = self.clock.wall()
            conditions = self.dog.evaluate(now)
            if "alert_delivery" not in self.settings.watch.disabled:
                conditions += self.alerts.delivery.conditions()
            if restored:
                conditions += self._hold_restored(restored, conditions, now - loaded_at)
            sent = await self.alerts.update(conditions, now)
            for n in sent:
                self.metrics.observe(n)
            if sent:
                await self._record_history(sent, now)
            await self.clock.sleep(self.settings.watch.evaluate_interval_s)

    @property
    def history_file(self) -> Path:
        """Every notification of every run, one JSON line each (for the report)."""
        f = self.settings.watch.alert_state_file
        return f.with_name(f.stem + "-history.jsonl")

    async def _record_history(self, sent: list[Notification], now: float) -> None:
        lines = [
            json.dumps(
                {
                    "detector": n.detector,
                    "node": n.node,
                    "event": "fired" if n.status == "firing" else "resolved",
                    "at": now,
                    "message": n.message,
                }
            )
            for n in sent
        ]

        def append() -> None:
            self.history_file.parent.mkdir(parents=True, exist_ok=True)
            # Append-only, but never unbounded: one older generation is kept.
            rotate(self.history_file, HISTORY_MAX_BYTES)
            with open(self.history_file, "a", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")

        try:
            await anyio.to_thread.run_sync(append)
        except OSError as exc:
            log.warning("alert_history_unwritable", path=str(self.history_file), error=str(exc))

    async def alert_history(self, since: float) -> list[AlertRecord]:
        """Notifications sent at or after ``since`` (a restart of the agent included)."""

        def read() -> list[AlertRecord]:
            docs: list[dict[str, Any]] = []
            older = self.history_file.with_name(self.history_file.name + ".1")
            for path in (older, self.history_file):  # a rehearsal may span a rotation
                try:
                    docs += read_json_lines(path)
                except OSError:
                    pass
            out = []
            for d in docs:
                try:
                    rec = AlertRecord(
                        str(d["detector"]),
                        None if d.get("node") is None else str(d["node"]),
                        str(d["event"]),
                        float(d["at"]),
                        str(d.get("message", "")),
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # a record missing a field
                if rec.at >= since:
                    out.append(rec)
            return out

        return await anyio.to_thread.run_sync(read)

    def _settle_s(self) -> float:
        t = self.settings.watch.thresholds
        stall = t.stall_after_s if t.stall_after_s is not None else t.stall_floor_s
        return max(stall, t.stream_down_s) + 2 * self.settings.watch.evaluate_interval_s

    def _hold_restored(
        self, restored: dict[str, Notification], conditions: list[Condition], elapsed: float
    ) -> list[Condition]:
        """Keep alerts restored from disk firing until the detectors can judge them.

        Right after a restart the detectors know nothing yet (a stalled node
        simply has no history), so without this every restored alert would
        resolve at the first evaluation and fire again a few seconds later. A
        restored alert is held until its detector reports it again, its node
        shows a new block, or the settle time (the longest detector threshold)
        has passed; then it resolves normally, exactly once.
        """
        reported = {c.key for c in conditions}
        seen = self.dog.last_block_at()
        held: list[Condition] = []
        for key, n in list(restored.items()):
            alive = n.node is not None and seen.get(n.node) is not None
            if key in reported or alive or elapsed >= self._settle_s():
                del restored[key]
                continue
            held.append(Condition(n.detector, n.severity, n.summary, n.message, n.node, n.upgrade))  # type: ignore[arg-type]
        return held

    async def _poll_loop(self) -> None:
        # Separate from evaluation: a paused or dead node answers slowly, and its
        # deadline must not delay anyone's alert. Node info and the plan each have
        # their own task, so a slow round of one never delays the other.
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._node_info_loop)
            tg.start_soon(self.halt_probe.run)  # asks only while a halt is suspected
            if self.rest is not None:
                tg.start_soon(self._plan_loop)
            if self.staged_probe is not None:
                tg.start_soon(self.staged_probe.run)  # asks only while a plan is ahead

    async def _plan_loop(self) -> None:
        while True:
            now = self.clock.wall()
            if now >= self._plan_due:
                self._plan_due = now + PLAN_EVERY_S
                await self._poll_plan()
            await self.clock.sleep(1.0)

    async def _node_info_loop(self) -> None:
        while True:
            now = self.clock.wall()
            if now >= self._info_due:
                self._info_due = now + NODE_INFO_EVERY_S
                await self._poll_node_info()
            await self.clock.sleep(max(0.0, min(1.0, self._info_due - self.clock.wall())))

    async def _poll_node_info(self) -> None:
        """One abci_info per node, spread over the polling period rather than all
        at once: 200 nodes make 20 requests a second, not a burst of 200 every 10 s
        (the round still ends in about one period, each request under its deadline)."""

        async def one(name: str, rpc: CometRPC) -> None:
            try:
                with anyio.fail_after(self.request_s):
                    info = await rpc.abci_info()
            except (AgentError, TimeoutError):
                return
            self.observe(
                NodeInfo(name, info.app_version, info.version, self.clock.wall(),
                         info.last_block_height, info.last_block_app_hash)
            )  # fmt: skip

        nodes = list(self.rpcs.items())
        # A handful of nodes is polled at once, as ever; more are spread over most
        # of the period.
        gap = 0.8 * NODE_INFO_EVERY_S / len(nodes) if len(nodes) > NODE_INFO_BURST else 0.0
        async with anyio.create_task_group() as tg:
            for i, (name, rpc) in enumerate(nodes):
                if i and gap:
                    await self.clock.sleep(gap)
                tg.start_soon(one, name, rpc)

    def plan_ahead(self) -> tuple[str, int] | None:
        """The chain's planned upgrade while its height is still ahead (watch mode)."""
        ctx = self.dog.context
        if ctx is None or ctx.upgrade_height is None:
            return None
        top = max(self.dog.heights().values(), default=0)
        return (ctx.upgrade_name, ctx.upgrade_height) if top < ctx.upgrade_height else None

    async def _poll_plan(self) -> None:
        """Watch mode: the chain's scheduled upgrade gives the halt its context."""
        assert self.rest is not None
        try:
            with anyio.fail_after(self.request_s):
                plan = await self.rest.current_plan()
        except (AgentError, TimeoutError):
            return
        if plan is None:
            return
        interval = self.dog.block_interval() or 1.0
        heights = self.dog.heights()
        top = max(heights.values(), default=0)
        predicted = self.clock.wall() + max(0, plan.height - top) * interval
        self.dog.set_context(UpgradeContext(plan.name, plan.height, predicted, None, None, None))
