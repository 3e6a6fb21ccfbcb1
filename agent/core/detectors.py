"""Detectors: which alert conditions hold right now. Pure: no I/O, no clock.

A ``Watchdog`` is fed observations (``observe``) and the upgrade context
(``set_context``), and answers ``evaluate(now)`` with every condition that is
true at ``now``. It keeps no notion of "already alerted": that is the alert
manager's job, so evaluation can be repeated as often as wanted.

What each detector says and its thresholds: ``agent.core.conditions``; the
chain halt, one incident with its cause: ``agent.core.halt``.

Planned downtime (the agent's own compose down/up) is per node: a node's
stall, lag and websocket conditions are off from ``expect_downtime`` until its
first block after ``downtime_over`` (or the window's cap), and no longer.

The planned halt. Once a node reaches ``upgrade_height - 1`` it is expected to
stop there until the new binary takes over, then to catch up: until the resume
deadline its ``stall``, ``lag`` and websocket ``stream_down`` conditions are
suppressed. The halt began when the agent received ``upgrade_height - 1`` from
the first node; the resume deadline is ``resume_budget_s`` after that or after
``predicted_upgrade_time``, whichever is later. Past the deadline each node
still below ``upgrade_height`` gets exactly one ``upgrade_halt`` condition (and
still no stall/lag/stream condition, so one cause gives one alert). A normal
upgrade, where every node resumes within the budget, gives no condition at all.

Only the upgrade-related detectors carry the upgrade name in their key, so
setting the context does not change the keys of conditions already firing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from agent.core.apphash import Split, SplitWatch
from agent.core.chainview import ChainView
from agent.core.conditions import (
    DETECTORS,
    Condition,
    Severity,
    Thresholds,
    UpgradeContext,
    condition_key,
)
from agent.core.containers import ContainerWatch
from agent.core.downtime import PlannedDowntime
from agent.core.halt import HaltWatch
from agent.core.missed import MissedWatch
from agent.core.observations import (
    ContainerEvent,
    NewBlock,
    NodeInfo,
    NodeReach,
    RoundVotes,
    StagedSeen,
    StreamStatus,
    ValidatorKey,
    WatchObservation,
)
from agent.core.staged import StagedWatch

__all__ = [
    "DETECTORS",
    "Condition",
    "Severity",
    "Thresholds",
    "UpgradeContext",
    "Watchdog",
    "condition_key",
]

_LOST_STATUSES = frozenset({"REJECTED", "FAILED"})


class Watchdog:
    """Feed it with ``observe``/``set_context``; ask ``evaluate(now)``.

    ``nodes`` is the shared ``ChainView`` (the rehearsal's runtime updates it
    once per block and the detectors read it) or the watched node names, in
    which case the watchdog keeps a view of its own. ``services`` maps a Compose
    service to its node name when they differ (default: same). ``started_at`` is
    the reference for nodes that never sent a block (default: the first
    ``evaluate``).
    """

    def __init__(
        self,
        nodes: Iterable[str] | ChainView,
        thresholds: Thresholds | None = None,
        *,
        services: Mapping[str, str] | None = None,
        started_at: float | None = None,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.view = nodes if isinstance(nodes, ChainView) else ChainView(list(nodes))
        self._services = dict(services or {})
        self._started_at = started_at
        self.containers = ContainerWatch(self._node_of)
        self._streams_down: dict[str, float] = {}  # source -> down since
        self._context: UpgradeContext | None = None
        self.downtime = PlannedDowntime()
        self.halt = HaltWatch()
        self.staged = StagedWatch()
        self.split = SplitWatch()
        self.missed = MissedWatch()
        self._generation = self.view.generation
        self._halting = False  # the last evaluation saw a halt (or suspected one)
        self._halt_ended_at: float | None = None

    # --- input ------------------------------------------------------------

    def observe(self, obs: WatchObservation) -> None:
        if self.view.generation != self._generation:
            # The chain started again from genesis: the old one's hashes and
            # signatures are not the new one's.
            self.split = SplitWatch()
            self.missed.reset()
            self._generation = self.view.generation
        if isinstance(obs, NewBlock):
            # Idempotent: when the runtime already recorded this block in the
            # shared view, this changes nothing.
            self.view.observe(obs)
            self.missed.observe(obs)
        elif isinstance(obs, StreamStatus):
            if obs.up:
                self._streams_down.pop(obs.source, None)
            else:
                self._streams_down.setdefault(obs.source, obs.at)
        elif isinstance(obs, ContainerEvent):
            self.containers.observe(obs)
        elif isinstance(obs, NodeInfo):
            self.view.observe_info(obs)
            self.halt.observe(obs)
            self.split.observe(obs)
        elif isinstance(obs, NodeReach | RoundVotes):
            self.halt.observe(obs)
        elif isinstance(obs, StagedSeen):
            self.staged.observe(obs)
        elif isinstance(obs, ValidatorKey):
            self.missed.observe(obs)

    def mark_started(self, at: float) -> None:
        """Reference time for nodes that never sent a block: when their sources
        were started, not when this object was built (connecting takes time)."""
        self._started_at = at

    def set_context(self, ctx: UpgradeContext | None) -> None:
        self._context = ctx

    @property
    def context(self) -> UpgradeContext | None:
        return self._context

    def expect_downtime(self, until: float, nodes: Iterable[str] | None = None) -> None:
        """A planned stop (e.g. compose down/up) of ``nodes`` (default: all): no
        stall, lag or stream condition for them before ``until``, or before
        their first block after ``downtime_over`` was called, whichever is first."""
        self.downtime.expect(until, self.view.nodes if nodes is None else nodes)

    def downtime_over(self, at: float, nodes: Iterable[str] | None = None) -> None:
        self.downtime.over(at, self.view.nodes if nodes is None else nodes)

    def quiet_nodes(self, now: float) -> set[str]:
        return self.downtime.quiet(now, self.view.last_block_at())

    # --- derived ------------------------------------------------------------

    def block_interval(self) -> float | None:
        """Median seconds per block (the shared view's one formula)."""
        return self.view.block_interval()

    def halt_began(self) -> float | None:
        """When the first node reached ``upgrade_height - 1`` (None: not yet), as the
        agent received it: the deadline is compared with the agent's clock, never
        with a block header's."""
        ctx = self._context
        if ctx is None or ctx.upgrade_height is None:
            return None
        return self.view.received_at(ctx.upgrade_height - 1)

    def incident(self, now: float) -> str:
        """What is wrong now, for a failure's reason ("" if nothing): the chain's
        halt with its cause, and the nodes whose containers are stopped."""
        excused = self._halted(now) | self.quiet_nodes(now)
        chain = self.halt.condition(self.view, now, self.stall_threshold(), excused)
        one = self._split_or_halt(chain)
        return "; ".join(([one.message] if one else []) + self.containers.stopped())

    def divergence(self) -> Split | None:
        return self.split.current()

    def _split_or_halt(self, chain: Condition | None) -> Condition | None:
        """The chain's one incident: a split of the app hashes is the cause of the
        halt that follows it (no two-thirds agree on the next block), so the halt
        is told as part of it, not raised beside it."""
        split = self.split.condition()
        if split is None:
            return chain
        if chain is None:
            return split
        return replace(split, message=f"{split.message}; {chain.summary}")

    def halt_suspected(self, now: float) -> bool:
        """No block for a while, outside any planned halt or stop: time to read why."""
        excused = self._halted(now) | self.quiet_nodes(now)
        return not set(self.view.nodes) <= excused and self.halt.suspected(
            self.view, now, self.stall_threshold()
        )

    def stall_threshold(self) -> float:
        t = self.thresholds
        if t.stall_after_s is not None:
            return t.stall_after_s
        interval = self.block_interval()
        if interval is None:
            return t.stall_floor_s
        return max(t.stall_floor_s, t.stall_factor * interval)

    def heights(self) -> dict[str, int]:
        return self.view.heights()

    def last_block_at(self) -> dict[str, float | None]:
        return self.view.last_block_at()

    def resume_deadline(self) -> float | None:
        """When the planned halt's budget runs out (None: no halt yet)."""
        ctx = self._context
        began = self.halt_began()
        if ctx is None or ctx.upgrade_height is None or began is None:
            return None
        start = began
        if ctx.predicted_upgrade_time is not None:
            start = max(start, ctx.predicted_upgrade_time)
        return start + self.thresholds.resume_budget_s

    def _halted(self, now: float) -> set[str]:
        """Nodes excused by the planned halt: until the resume deadline, every node
        that reached U-1 (waiting, or resumed and catching up); afterwards only
        those still below U, which ``upgrade_halt`` reports instead."""
        ctx = self._context
        deadline = self.resume_deadline()
        if ctx is None or ctx.upgrade_height is None or deadline is None:
            return set()
        u = ctx.upgrade_height
        if now < deadline:
            return {n for n, nv in self.view.nodes.items() if nv.height >= u - 1}
        # A node at U itself may only hold block U in its store without having
        # executed it (the old binary halts while applying it): not resumed yet.
        return {n for n, nv in self.view.nodes.items() if u - 1 <= nv.height <= u}

    # --- evaluation -----------------------------------------------------------

    def evaluate(self, now: float) -> list[Condition]:
        if self._started_at is None:
            self._started_at = now
        halted = self._halted(now)
        excused = halted | self.quiet_nodes(now)
        out: list[Condition] = []
        limit = self.stall_threshold()
        chain = self.halt.condition(self.view, now, limit, excused)
        one = self._split_or_halt(chain)
        if one is not None:
            out.append(one)
        halting = chain is not None or self.halt.suspected(self.view, now, limit)
        if self._halting and not halting:
            self._halt_ended_at = now
        self._halting = halting
        # Once the chain moves again its nodes get a moment to show the new block:
        # three stalls fired (and resolved a second later) as the first block after
        # a 35 s halt reached them.
        settling = self._halt_ended_at is not None and now < self._halt_ended_at + limit / 3
        if halting or settling:
            # One incident: every node's own stall and stream are part of the halt,
            # and while one is suspected no node stalls apart (a validator frozen
            # one block before the others crossed its threshold first, and its stall
            # fired two seconds before the halt).
            excused = excused | set(self.view.nodes)
        out += self._one_per_node(self._stall(now, excused), self._lag(excused),
                                  self._streams(now, excused))  # fmt: skip
        out += self.containers.conditions(now, self.thresholds)
        out += self.missed.conditions(self.thresholds.missed_blocks)
        out += self._upgrade_halt(now, halted)
        ctx = self._context
        if ctx is not None:
            out += self.staged.conditions(
                self.view, ctx.upgrade_name, ctx.upgrade_height, self.block_interval()
            )
        out += self._proposal()
        disabled = self.thresholds.disabled
        return sorted((c for c in out if c.detector not in disabled), key=lambda c: c.key)

    def _one_per_node(
        self, stalls: list[Condition], lags: list[Condition], streams: list[Condition]
    ) -> list[Condition]:
        """A stalled node is one incident: its lag and its stream are part of the
        stall's alert (node-carol stopped gave three alerts), and a container Docker
        saw stop is named as the stall's cause."""
        stopped = self.containers.stopped_by_node()
        out = []
        for c in stalls:
            cause = stopped.get(c.node or "")
            out.append(replace(c, message=f"{cause}: {c.message}") if cause else c)
        stalled = {c.node for c in stalls}
        return out + [c for c in lags + streams if c.node is None or c.node not in stalled]

    def _stall(self, now: float, halted: set[str]) -> list[Condition]:
        limit = self.stall_threshold()
        out = []
        for n, nv in self.view.nodes.items():
            if n in halted:
                continue
            since = nv.last_block_at if nv.last_block_at is not None else self._started_at
            assert since is not None
            age = now - since
            if age > limit:
                what = f"after height {nv.height}" if nv.height else "since the watch began"
                out.append(
                    Condition(
                        "stall",
                        "critical",
                        f"{n} stalled",
                        f"{n} produced no block for {age:.0f} s {what} (threshold {limit:.0f} s)",
                        node=n,
                    )
                )
        return out

    def _lag(self, halted: set[str]) -> list[Condition]:
        top = max((nv.height for nv in self.view.nodes.values()), default=0)
        out = []
        for n, nv in self.view.nodes.items():
            behind = top - nv.height
            if n not in halted and behind > self.thresholds.lag_blocks:
                out.append(
                    Condition(
                        "lag",
                        "warning",
                        f"{n} lags {behind} blocks",
                        f"{n} is at height {nv.height}, {behind} blocks behind the highest "
                        f"node ({top}); threshold {self.thresholds.lag_blocks}",
                        node=n,
                    )
                )
        return out

    def _streams(self, now: float, halted: set[str]) -> list[Condition]:
        out = []
        for source, since in self._streams_down.items():
            node = source.removeprefix("ws:") if source.startswith("ws:") else None
            if node is not None and node in halted:
                continue  # the node restarts into the new binary; upgrade_halt covers it
            down = now - since
            if down > self.thresholds.stream_down_s:
                what = "Docker events stream" if source == "docker" else f"{source} stream"
                out.append(
                    Condition(
                        "stream_down",
                        "warning",
                        f"{what} down",
                        f"{what} has been down for {down:.0f} s "
                        f"(threshold {self.thresholds.stream_down_s:.0f} s)",
                        node=node,
                    )
                )
        return out

    def _node_of(self, service: str) -> str:
        return self._services.get(service, service)

    def _upgrade_halt(self, now: float, halted: set[str]) -> list[Condition]:
        ctx = self._context
        deadline = self.resume_deadline()
        if ctx is None or ctx.upgrade_height is None or deadline is None or now < deadline:
            return []
        began = self.halt_began()
        assert began is not None
        u = ctx.upgrade_height
        waited = now - began
        out = []
        for n in sorted(halted):
            nv = self.view.nodes[n]
            if nv.height > u:
                continue
            if ctx.expected_version and nv.version and nv.version != ctx.expected_version:
                why = f"{n} still runs the genesis binary (version {nv.version})"
            elif nv.version:
                why = f"{n} runs version {nv.version} but has not produced a block after {u}"
            else:
                why = f"{n} has not produced a block after {u}"
            if f"ws:{n}" in self._streams_down:
                why += "; its websocket is down"
            out.append(
                Condition(
                    "upgrade_halt",
                    "critical",
                    f"{n} did not resume after upgrade {ctx.upgrade_name}",
                    f"halted at upgrade height {u} for {waited:.0f} s; {why}",
                    node=n,
                    upgrade=ctx.upgrade_name,
                )
            )
        return out

    def _proposal(self) -> list[Condition]:
        ctx = self._context
        if ctx is None:
            return []
        status = (ctx.proposal_status or "").upper().removeprefix("PROPOSAL_STATUS_")
        out = []
        if status in _LOST_STATUSES:
            out.append(
                Condition(
                    "proposal_failed",
                    "critical",
                    f"upgrade proposal {ctx.upgrade_name} {status.lower()}",
                    f"the software-upgrade proposal for {ctx.upgrade_name} ended {status}; "
                    "the upgrade will not happen",
                    upgrade=ctx.upgrade_name,
                )
            )
        elif (
            status != "PASSED"
            and ctx.voting_end is not None
            and ctx.predicted_upgrade_time is not None
            and ctx.voting_end > ctx.predicted_upgrade_time
        ):
            late = ctx.voting_end - ctx.predicted_upgrade_time
            out.append(
                Condition(
                    "proposal_late",
                    "critical",
                    f"upgrade {ctx.upgrade_name} would be missed",
                    f"voting ends {late:.0f} s after the predicted time of upgrade height "
                    f"{ctx.upgrade_height}; the chain would pass the height before the "
                    "proposal can pass",
                    upgrade=ctx.upgrade_name,
                )
            )
        return out
