"""The heartbeat file: proof of life for a supervisor (systemd, a cron check).

``Heartbeat`` rewrites ``{"pid", "at", "phase", "alerts_firing"}`` atomically
every few seconds; ``check_heartbeat`` is the supervisor's side. Under systemd
(``Type=notify``, ``$NOTIFY_SOCKET`` set) each beat also sends ``WATCHDOG=1``
(``sd_notify``), so ``WatchdogSec=`` restarts an agent whose loop is stuck.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from agent.adapters.files import read_json, write_json_atomic

__all__ = ["Heartbeat", "HeartbeatStatus", "check_heartbeat", "sd_notify"]

log = structlog.get_logger("agent.watchdog.heartbeat")


def sd_notify(message: str) -> bool:
    """Send ``message`` (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``...) to systemd.

    The protocol of sd_notify(3) in pure Python: one datagram to the unix socket
    named by ``$NOTIFY_SOCKET`` (``@name``: the abstract namespace). False, and
    nothing sent, when the variable is unset (not under systemd) or the socket
    does not answer; never raises. Blocking but instant (a local datagram).
    """
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify_failed", message=message, error=str(exc))
        return False
    return True


class Heartbeat:
    """Writes ``{"pid", "at", "phase", "alerts_firing"}`` atomically to ``path``.

    Call ``beat`` every ``heartbeat_interval_s`` (or run ``run``); a supervisor
    checks freshness with ``check_heartbeat`` (file mtime and ``at``). Each beat
    written also pings systemd's watchdog when ``$NOTIFY_SOCKET`` is set.
    """

    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall

    async def beat(
        self, phase: str | None, alerts_firing: int, delivery: dict[str, object] | None = None
    ) -> None:
        doc: dict[str, Any] = {
            "pid": os.getpid(),
            "at": self._wall(),
            "phase": phase,
            "alerts_firing": alerts_firing,
        }
        if delivery is not None:
            # The heartbeat beats while a sink fails: a supervisor reads it here.
            doc["delivery"] = delivery
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._write, doc)

    def _write(self, doc: dict[str, Any]) -> None:
        write_json_atomic(self.path, doc)
        # Only a beat that reached the disk proves the agent can still do its job.
        if os.environ.get("NOTIFY_SOCKET"):
            sd_notify("WATCHDOG=1")

    async def run(self, state: Callable[[], BeatState], interval_s: float) -> None:
        """Beat forever: ``state()`` gives (phase, alerts firing[, delivery health]).

        On cancellation (the rehearsal ended, a signal) one last beat records the
        final phase, so a supervisor never reads a phase the agent has left.
        """
        try:
            while True:
                await self._beat_logged(state)
                await anyio.sleep(interval_s)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await self._beat_logged(state)

    async def _beat_logged(self, state: Callable[[], BeatState]) -> None:
        phase, firing, *rest = state()
        try:
            await self.beat(phase, firing, rest[0] if rest else None)
        except OSError as exc:
            log.error("heartbeat_write_failed", path=str(self.path), error=exc.strerror)


BeatState = tuple[str | None, int] | tuple[str | None, int, dict[str, object]]


@dataclass(frozen=True, slots=True)
class HeartbeatStatus:
    ok: bool
    age_s: float | None
    reason: str
    doc: dict[str, Any] | None = None


def check_heartbeat(path: Path, max_age_s: float, now: float | None = None) -> HeartbeatStatus:
    """Is the daemon alive? Fresh when both the file's mtime and its ``at`` are
    within ``max_age_s`` of ``now``. Blocking (a supervisor calls it directly)."""
    now = time.time() if now is None else now
    try:
        mtime = path.stat().st_mtime
        doc = read_json(path)
    except FileNotFoundError:
        return HeartbeatStatus(False, None, f"no heartbeat file at {path}")
    except (OSError, ValueError) as exc:
        return HeartbeatStatus(False, None, f"unreadable heartbeat {path}: {exc}")
    if not isinstance(doc, dict) or not isinstance(doc.get("at"), int | float):
        return HeartbeatStatus(False, None, f"malformed heartbeat {path}")
    age = now - min(mtime, float(doc["at"]))
    if age > max_age_s:
        return HeartbeatStatus(False, age, f"stale: last beat {age:.0f} s ago", doc)
    return HeartbeatStatus(True, age, "fresh", doc)
