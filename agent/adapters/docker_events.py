"""Container events of one Compose project, from the Docker Engine (API 1.41) via aiodocker.

aiodocker's event stream ends silently (``sub.get()`` returns ``None``) and never
reconnects; its ``subscribe`` only starts a background task, so the first call's
parameters stick until ``events.stop()``. This source therefore uses a fresh client per
connection, reports ``StreamStatus(source="docker")`` on every change, and resumes with
``since`` = the last event's ``timeNano``. ``since`` is inclusive, so the events at that
exact instant arrive again; they are dropped by their (timeNano, id, action) key.

aiodocker rewrites ``time`` into a naive local datetime, so only ``timeNano`` is used.
Docker replays at most the last 256 events it buffered; a longer outage loses the rest.
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import structlog
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from agent.adapters.backoff import Backoff
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.reconnect import Link, reconnect_forever
from agent.core.observations import ContainerEvent, Observation, StreamStatus
from agent.errors import AgentError, StreamClosed

__all__ = ["DockerEventSource", "docker_since", "find_docker_host", "parse_container_event"]

SOURCE = "docker"
SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"

log = structlog.get_logger(__name__)


def find_docker_host() -> str | None:
    """DOCKER_HOST, else the first local Docker socket; None to let aiodocker decide.

    Blocking (it stats files): call it in a worker thread. aiodocker.Docker() does the
    same search itself, plus Docker-context files, on the event loop, unless given a URL.
    """
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    for path in (Path("/run/docker.sock"), Path("/var/run/docker.sock")):
        if path.is_socket():
            return f"unix://{path}"
    return None


def docker_since(time_nano: int) -> str:
    """Docker's ``since`` for a timeNano: "<seconds>.<nanoseconds, 9 digits>"."""
    seconds, nanos = divmod(time_nano, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def parse_container_event(raw: object, at: float) -> ContainerEvent | None:
    """A ContainerEvent from a Docker event dict; None if it is not a Compose container's.

    Never raises: anything malformed (wrong types, missing fields) is not an event.
    """
    if not isinstance(raw, dict) or raw.get("Type", "container") != "container":
        return None
    actor = raw.get("Actor") or {}
    attributes = actor.get("Attributes") or {} if isinstance(actor, dict) else {}
    if not isinstance(actor, dict) or not isinstance(attributes, dict):
        return None
    service = attributes.get(SERVICE_LABEL)
    action = raw.get("Action")
    container_id = actor.get("ID")
    time_nano = raw.get("timeNano")
    if not (isinstance(service, str) and isinstance(action, str)):
        return None
    if not (isinstance(container_id, str) and isinstance(time_nano, int)):
        return None
    if isinstance(time_nano, bool):
        return None
    return ContainerEvent(
        service=service,
        # "exec_start: sh -c ..." and "health_status: healthy" carry detail after ':'.
        action=action.split(":", 1)[0].strip(),
        container_id=container_id,
        exit_code=_exit_code(attributes.get("exitCode")),
        time_nano=time_nano,
        at=at,
    )


def _exit_code(value: object) -> int | None:
    """Docker sends the exit code as a string label; None when absent or not a number."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # Overflow: a float Infinity
        return None


class DockerEventSource:
    """Sends ``ContainerEvent`` and ``StreamStatus(source="docker")`` for one project.

    Only runs on the asyncio backend (aiodocker is asyncio-only).
    """

    def __init__(
        self,
        project: str,
        send: MemoryObjectSendStream[Observation],
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        docker_factory: Callable[[], Any] | None = None,
        docker_url: str | None = None,
        connect_deadline: float = 10.0,
        dedup_window: int = 512,
        since_nano: int | None = None,
    ) -> None:
        """``since_nano``: replay events from this timeNano on the first connection too,
        so that nothing between starting the source and Docker opening the stream is lost.
        """
        self.project = project
        self._send = send
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._backoff = backoff if backoff is not None else Backoff()
        self._docker_factory = docker_factory
        self.docker_url = docker_url
        self.connect_deadline = connect_deadline
        self.filters = {"type": ["container"], "label": [f"{PROJECT_LABEL}={project}"]}
        self.last_time_nano: int | None = since_nano
        # Bounded memory of recent event keys: only the `since` boundary can repeat.
        self._recent: deque[tuple[int, str, str]] = deque(maxlen=dedup_window)
        self._recent_set: set[tuple[int, str, str]] = set()
        self._up: bool | None = None
        self.connects = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (or until the consumer closes its receive stream)."""
        await reconnect_forever(
            self._attempt,
            backoff=self._backoff,
            sleep=self._clock.sleep,
            status=self._set_up,
            translate=self._why,
            name="docker",
            task_status=task_status,
        )

    def subscribe_params(self) -> dict[str, str]:
        params = {"filters": json.dumps(self.filters)}
        if self.last_time_nano is not None:
            params["since"] = docker_since(self.last_time_nano)
        return params

    async def _attempt(self, link: Link) -> None:
        """One client's life; ends by raising (see ``_why``)."""
        docker: Any = None
        try:
            if self._docker_factory is not None:
                docker = self._docker_factory()
            else:
                if self.docker_url is None:
                    self.docker_url = await anyio.to_thread.run_sync(find_docker_host)
                # Imported here: aiodocker and aiohttp are ~10 MB of RSS that a watch
                # without Docker never needs.
                import aiodocker

                # In the event loop: aiodocker.Docker() binds its aiohttp session to it.
                docker = aiodocker.Docker(url=self.docker_url)
            # subscribe() cannot fail (it only starts a task), so prove the daemon answers.
            with anyio.fail_after(self.connect_deadline):
                await docker.version()
            subscription = docker.events.subscribe(**self.subscribe_params())
            self.connects += 1
            link.alive()  # the daemon answered: that is as live as a quiet project gets
            await link.up("subscribed")
            while True:
                # No deadline: a quiet project legitimately has no events for hours, and
                # a dead daemon closes the socket, which ends the stream (None).
                raw = await subscription.get()
                if raw is None:
                    raise StreamClosed("docker event stream ended")
                await self._handle(raw)
        finally:
            if docker is not None:
                await _close_quietly(docker)

    def _why(self, exc: Exception) -> str | None:
        """Why a connection ended, for the exceptions that mean "reconnect"."""
        if isinstance(exc, StreamClosed):
            return str(exc)
        if isinstance(exc, TimeoutError):
            return f"docker did not answer within {self.connect_deadline}s"
        aiohttp = sys.modules.get("aiohttp")  # loaded with aiodocker, if ever
        if isinstance(exc, OSError | AgentError) or (
            aiohttp is not None and isinstance(exc, aiohttp.ClientError)
        ):
            return f"{type(exc).__name__}: {exc}"
        # aiodocker.DockerError and friends: aiodocker is untyped, so match by module.
        if type(exc).__module__.startswith("aiodocker"):
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _handle(self, raw: object) -> None:
        event = parse_container_event(raw, self._clock.wall())
        if event is None:
            return
        key = (event.time_nano, event.container_id, event.action)
        if key in self._recent_set:
            return  # replayed at the `since` boundary
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(key)
        self._recent_set.add(key)
        if self.last_time_nano is None or event.time_nano > self.last_time_nano:
            self.last_time_nano = event.time_nano
        await self._send.send(event)

    async def _set_up(self, up: bool, reason: str) -> None:
        if self._up == up:
            return
        self._up = up
        log.info("docker_stream_up" if up else "docker_stream_down", reason=reason)
        await self._send.send(StreamStatus(SOURCE, up, reason, at=self._clock.wall()))


async def _close_quietly(docker: Any) -> None:
    # Shielded and time-limited: runs during cancellation too. stop() re-raises whatever
    # ended aiodocker's background task; that error was already reported as the reason.
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        try:
            await docker.events.stop()
        except Exception as exc:  # noqa: BLE001
            log.debug("docker_events_stop_error", error=repr(exc))
        try:
            await docker.close()
        except Exception as exc:  # noqa: BLE001
            log.debug("docker_close_error", error=repr(exc))
