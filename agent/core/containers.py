"""Containers: what the Docker events say of each node's container. Pure.

``container_died`` (a die without a ``kill`` before it: ``docker stop`` and
``compose down`` kill first), ``restart_loop`` and ``oom`` conditions, and which
nodes' containers are stopped now (deliberately or not), for a failure's evidence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.core.conditions import Condition, Thresholds
from agent.core.observations import ContainerEvent

__all__ = ["ContainerWatch"]

# A die this soon after a kill of the same service is a deliberate stop.
_KILL_GRACE_S = 30.0


@dataclass
class _Container:
    running: bool = True
    died_at: float | None = None  # an unexpected death (no kill before it)
    stopped_at: float | None = None  # the last die, deliberate or not
    exit_code: int | None = None
    last_kill_at: float | None = None
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    oom_at: float | None = None


class ContainerWatch:
    def __init__(self, node_of: Callable[[str], str]) -> None:
        self.node_of = node_of  # Compose service -> node name
        self.by_service: dict[str, _Container] = {}

    def observe(self, ev: ContainerEvent) -> None:
        c = self.by_service.setdefault(ev.service, _Container())
        if ev.action == "kill":
            c.last_kill_at = ev.at
        elif ev.action == "die":
            deliberate = c.last_kill_at is not None and ev.at - c.last_kill_at <= _KILL_GRACE_S
            c.running = False
            c.stopped_at = ev.at
            c.died_at = None if deliberate else ev.at
            c.exit_code = ev.exit_code
        elif ev.action == "start":
            c.running = True
            c.died_at = None
            c.starts.append(ev.at)
        elif ev.action == "oom":
            c.oom_at = ev.at

    def conditions(self, now: float, t: Thresholds) -> list[Condition]:
        out = []
        for service, c in self.by_service.items():
            node = self.node_of(service)
            if c.died_at is not None and not c.running:
                out.append(
                    Condition(
                        "container_died",
                        "critical",
                        f"{service} container died",
                        f"{service} container died unexpectedly (exit code {c.exit_code}) "
                        f"{now - c.died_at:.0f} s ago and has not started again",
                        node=node,
                    )
                )
            recent = [s for s in c.starts if now - s <= t.restart_loop_window_s]
            if len(recent) >= t.restart_loop_count:
                out.append(
                    Condition(
                        "restart_loop",
                        "critical",
                        f"{service} restart loop",
                        f"{service} container started {len(recent)} times in the last "
                        f"{t.restart_loop_window_s:.0f} s (threshold {t.restart_loop_count})",
                        node=node,
                    )
                )
            if c.oom_at is not None and now - c.oom_at <= t.oom_hold_s:
                out.append(
                    Condition(
                        "oom",
                        "critical",
                        f"{service} OOM-killed",
                        f"{service} was killed by the kernel's OOM killer "
                        f"{now - c.oom_at:.0f} s ago",
                        node=node,
                    )
                )
        return out

    def stopped(self) -> list[str]:
        """Each node whose container is stopped now, with when and how, for people."""
        return [text for _node, text in sorted(self.stopped_by_node().items())]

    def stopped_by_node(self) -> dict[str, str]:
        out = {}
        for service, c in self.by_service.items():
            if c.running or c.stopped_at is None:
                continue
            at = datetime.fromtimestamp(c.stopped_at, UTC).strftime("%H:%M:%S")
            how = "died unexpectedly" if c.died_at is not None else "was stopped"
            code = "" if c.exit_code is None else f", exit code {c.exit_code}"
            node = self.node_of(service)
            out[node] = f"{node}'s container {how} at {at} (Docker{code})"
        return out
