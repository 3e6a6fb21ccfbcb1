"""The alert manager: conditions in, FIRING/RESOLVED notifications out, exactly once.

``update(conditions, now)`` compares the conditions that hold now with the
persisted firing set:

- a new key fires once (after holding ``for_s[detector]`` seconds, if set: a
  condition that clears before that never notifies, so a blip does not give a
  trigger-then-resolve pair);
- a key that is gone resolves once;
- an unchanged key sends nothing.

The firing set is saved atomically before anything is sent, together with an
outbox of the notifications to deliver; the outbox is cleared once they were
handed to every sink. After a kill -9 a restarted manager reloads the firing set
(so a firing alert is not announced again as new), delivers what the outbox
still holds, and resolves on its first ``update`` every alert the detectors no
longer report, so nothing stays stuck firing.

The log sink is always on; other sinks come from ``sinks.build_sinks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import anyio
import structlog
from anyio.abc import TaskStatus

from agent.adapters.clock import Clock
from agent.adapters.files import move_aside, read_json, write_json_atomic
from agent.core.detectors import Condition
from agent.errors import CorruptState
from agent.watchdog.delivery import Delivery

__all__ = [
    "AlertManager",
    "AlertStore",
    "AlertStoreCorrupt",
    "FileAlertStore",
    "MemoryAlertStore",
    "Notification",
    "Sink",
]

log = structlog.get_logger("agent.watchdog.alerts")

FORMAT_VERSION = 1
Status = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Notification:
    """What every sink receives; ``to_json()`` is the generic webhook payload."""

    status: Status
    key: str
    severity: str
    summary: str
    message: str
    node: str | None
    detector: str
    upgrade: str | None
    started_at: float
    resolved_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Notification:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__})

    @classmethod
    def firing(cls, c: Condition, started_at: float) -> Notification:
        return cls(
            "firing",
            c.key,
            c.severity,
            c.summary,
            c.message,
            c.node,
            c.detector,
            c.upgrade,
            started_at,
        )


class Sink(Protocol):
    """Delivers notifications. Must not raise for delivery failures: it retries
    as it sees fit, then logs and gives up, returning False (True or None: sent)."""

    name: str

    async def send(self, n: Notification) -> bool | None: ...


class AlertStoreCorrupt(CorruptState):
    """The alert state file cannot be read back. It is moved aside (exit 2), so a
    supervisor's restart starts with no alert firing instead of failing forever."""

    hint = "the next start begins with no alert firing (the old file is kept)"


@dataclass(frozen=True, slots=True)
class StoredState:
    firing: dict[str, Notification]
    outbox: tuple[Notification, ...] = ()
    scope: str = ""  # whose alerts these are: a rehearsal's id, or "watch"


class AlertStore(Protocol):
    async def load(self) -> StoredState: ...

    async def save(self, state: StoredState) -> None: ...


def _encode(state: StoredState) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "firing": {k: n.to_json() for k, n in state.firing.items()},
        "outbox": [n.to_json() for n in state.outbox],
        "scope": state.scope,
    }


def _decode(doc: Any, where: str) -> StoredState:
    try:
        if doc.get("version") != FORMAT_VERSION:
            raise AlertStoreCorrupt(f"{where}: unsupported version {doc.get('version')!r}")
        firing = {k: Notification.from_json(v) for k, v in doc["firing"].items()}
        outbox = tuple(Notification.from_json(v) for v in doc["outbox"])
        scope = doc.get("scope", "")  # absent in files written before scopes
        if not isinstance(scope, str):
            raise TypeError(f"scope is {type(scope).__name__}, not a string")
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise AlertStoreCorrupt(f"{where}: {exc!r}") from exc
    return StoredState(firing, outbox, scope)


class FileAlertStore:
    """The firing set in a JSON file, written with ``files.write_json_atomic``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> StoredState:
        return await anyio.to_thread.run_sync(self._load)

    async def save(self, state: StoredState) -> None:
        # Shielded: a cancellation mid-write must not lose a state change.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(write_json_atomic, self.path, _encode(state))

    def _load(self) -> StoredState:
        try:
            doc = read_json(self.path)
            return StoredState({}) if doc is None else _decode(doc, str(self.path))
        except (ValueError, AlertStoreCorrupt) as exc:
            moved = move_aside(self.path)
            raise AlertStoreCorrupt(
                f"alert state {self.path} is unreadable ({exc}); moved it to {moved}",
                moved_to=str(moved),
            ) from exc


class MemoryAlertStore:
    """For tests: keeps the encoded form, so it exercises the encoding too."""

    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def load(self) -> StoredState:
        return _decode(self.saved[-1], "memory") if self.saved else StoredState({})

    async def save(self, state: StoredState) -> None:
        self.saved.append(_encode(state))


class LogSink:
    """Always on: ``alert_firing`` / ``alert_resolved`` log events."""

    name = "log"

    async def send(self, n: Notification) -> bool:
        emit = log.error if n.status == "firing" and n.severity == "critical" else log.warning
        if n.status == "resolved":
            emit = log.info
        emit(
            f"alert_{n.status}",
            key=n.key,
            severity=n.severity,
            summary=n.summary,
            message=n.message,
            node=n.node,
            detector=n.detector,
            upgrade=n.upgrade,
        )
        return True


class AlertManager:
    """Turns the conditions of each evaluation into notifications, exactly once.

    ``for_s`` maps a detector name to how long its condition must hold before it
    fires (missing: at once). ``send_timeout_s`` bounds one delivery round so a
    slow sink cannot hold up the watch loop forever.
    """

    def __init__(
        self,
        store: AlertStore,
        sinks: Sequence[Sink],
        clock: Clock,
        *,
        for_s: Mapping[str, float] | None = None,
        send_timeout_s: float = 60.0,
        scope: str = "",
    ) -> None:
        self.scope = scope
        self.store = store
        self.sinks: tuple[Sink, ...] = (LogSink(), *sinks)
        self.clock = clock
        self.for_s = dict(for_s or {})
        self.send_timeout_s = send_timeout_s
        self._firing: dict[str, Notification] | None = None
        self._pending: dict[str, float] = {}  # key -> first seen (hysteresis)
        # Delivery from its own tasks once ``run_delivery`` runs (the watch service
        # starts it); until then, and in tests that never start it, inline.
        self.delivery = Delivery(
            self.sinks, clock, send_timeout_s=send_timeout_s, on_change=self._save_outbox
        )
        self._delivering = False

    async def run_delivery(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The delivery workers: from now on ``update`` only hands notifications over."""
        self._delivering = True
        await self.delivery.run(task_status=task_status)

    async def _save_outbox(self) -> None:
        outbox = cast(tuple[Notification, ...], self.delivery.pending())
        await self.store.save(StoredState(dict(self._firing or {}), outbox, self.scope))

    @property
    def firing(self) -> dict[str, Notification]:
        """The alerts firing now (empty before ``load``/``update``)."""
        return dict(self._firing or {})

    async def load(self) -> None:
        """Reload the persisted firing set and deliver an unfinished outbox.
        Called by the first ``update`` when not called before.

        A firing set of another scope (an earlier rehearsal, whose stack the new one
        replaces) is dropped without a word: resolving it would announce, as news,
        the end of conditions nobody watches any more."""
        state = await self.store.load()
        self._firing = dict(state.firing)
        if state.scope != self.scope and self._firing:
            log.info("alerts_of_another_run_dropped", count=len(self._firing),
                     was=state.scope, now=self.scope)  # fmt: skip
            self._firing = {}
        if state.outbox and self._delivering:
            log.info("alert_outbox_redelivery", count=len(state.outbox))
            self.delivery.submit(state.outbox)  # stays in the file until delivered
            if state.scope != self.scope:
                await self._save_outbox()
            return
        if state.outbox:
            log.info("alert_outbox_redelivery", count=len(state.outbox))
            await self._deliver(state.outbox)
        if state.outbox or state.scope != self.scope:
            await self.store.save(StoredState(self._firing, scope=self.scope))

    async def update(self, conditions: Iterable[Condition], now: float) -> list[Notification]:
        """Apply one evaluation; return the notifications it sent."""
        if self._firing is None:
            await self.load()
        assert self._firing is not None
        current = {c.key: c for c in conditions}
        self._pending = {k: t for k, t in self._pending.items() if k in current}

        out: list[Notification] = []
        firing = dict(self._firing)
        for key, c in current.items():
            if key in firing:
                continue
            first = self._pending.setdefault(key, now)
            if now - first < self.for_s.get(c.detector, 0.0):
                continue
            del self._pending[key]
            firing[key] = Notification.firing(c, started_at=first)
            out.append(firing[key])
        for key in sorted(set(firing) - set(current)):
            n = firing.pop(key)
            out.append(replace(n, status="resolved", resolved_at=now))
        if not out:
            return []

        # Persist first: once the new set is on disk, a crash cannot make a
        # firing alert look new; the outbox carries what was not yet delivered.
        self._firing = firing
        if self._delivering:
            self.delivery.submit(out)  # never waits for a sink
            await self._save_outbox()
            return out
        await self.store.save(StoredState(firing, tuple(out), self.scope))
        await self._deliver(out)
        await self.store.save(StoredState(firing, scope=self.scope))
        return out

    async def _deliver(self, notifications: Sequence[Notification]) -> None:
        with anyio.move_on_after(self.send_timeout_s) as scope:
            async with anyio.create_task_group() as tg:
                for sink in self.sinks:
                    tg.start_soon(self._send_all, sink, notifications)
        if scope.cancelled_caught:
            log.error("alert_delivery_timeout", seconds=self.send_timeout_s)

    async def _send_all(self, sink: Sink, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            try:
                await sink.send(n)
            except Exception as exc:  # a sink bug must not stop the others
                log.error(
                    "alert_delivery_failed", sink=sink.name, key=n.key, error=type(exc).__name__
                )
