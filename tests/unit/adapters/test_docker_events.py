"""DockerEventSource against a fake aiodocker client whose event stream ends (None)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from agent.adapters.backoff import Backoff
from agent.adapters.clock import FakeClock
from agent.adapters.docker_events import DockerEventSource, docker_since, parse_container_event
from agent.core.observations import ContainerEvent, Observation, StreamStatus

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

Streams = tuple[MemoryObjectSendStream[Observation], MemoryObjectReceiveStream[Observation]]
END = object()  # the fake stream blocks forever after this marker


@pytest.fixture
def streams() -> Iterator[Streams]:
    send, receive = anyio.create_memory_object_stream[Observation](16)
    with send, receive:
        yield send, receive


def docker_event(action: str, time_nano: int, cid: str = "c1", **attrs: str) -> dict[str, Any]:
    """An API 1.41 container event after aiodocker's transform (``time`` a naive datetime)."""
    attributes = {
        "com.docker.compose.project": "rehearse-test",
        "com.docker.compose.service": "node0",
        "image": "checkers:v1",
        "name": "rehearse-test-node0-1",
        **attrs,
    }
    return {
        "status": action,  # legacy fields, still present in 1.41
        "id": cid,
        "from": "checkers:v1",
        "Type": "container",
        "Action": action,
        "Actor": {"ID": cid, "Attributes": attributes},
        "scope": "local",
        "time": dt.datetime.fromtimestamp(time_nano // 1_000_000_000),
        "timeNano": time_nano,
    }


class FakeSubscription:
    def __init__(self, items: list[Any]) -> None:
        self._items = list(items)

    async def get(self) -> Any:
        if self._items and self._items[0] is END:
            await anyio.sleep_forever()
        return self._items.pop(0) if self._items else None


class FakeEvents:
    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.params: dict[str, Any] | None = None
        self.stopped = False

    def subscribe(self, **params: Any) -> FakeSubscription:
        self.params = params
        return FakeSubscription(self.items)

    async def stop(self) -> None:
        self.stopped = True


class FakeDocker:
    def __init__(self, items: list[Any], *, fail: Exception | None = None) -> None:
        self.events = FakeEvents(items)
        self.fail = fail
        self.closed = False

    async def version(self) -> dict[str, str]:
        if self.fail is not None:
            raise self.fail
        return {"ApiVersion": "1.41"}

    async def close(self) -> None:
        self.closed = True


def factory(clients: list[FakeDocker]) -> Any:
    made = iter(clients)
    return lambda: next(made)


async def collect(receive: MemoryObjectReceiveStream[Observation], n: int) -> list[Observation]:
    with anyio.fail_after(5):
        return [await receive.receive() for _ in range(n)]


async def test_stream_end_reconnects_with_since_and_drops_the_boundary_duplicate(
    streams: Streams,
) -> None:
    t1, t2, t3 = 1_764_430_000_000_000_001, 1_764_430_001_500_000_000, 1_764_430_002_000_000_000
    first = FakeDocker(
        [
            docker_event("start", t1),
            docker_event("exec_start: /bin/sh -c checkersd status", t2),
            None,  # aiodocker's silent end of stream
        ]
    )
    second = FakeDocker(
        [
            docker_event("exec_start: /bin/sh -c checkersd status", t2),  # since is inclusive
            docker_event("die", t3, exitCode="137"),
            END,
        ]
    )
    send, receive = streams
    clock = FakeClock()
    source = DockerEventSource(
        "rehearse-test",
        send,
        clock=clock,
        backoff=Backoff(jitter="none"),
        docker_factory=factory([first, second]),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(source.run)
        seen = await collect(receive, 6)
        with anyio.move_on_after(0.1):
            extra = await receive.receive()
            pytest.fail(f"unexpected extra observation {extra!r}")
        tg.cancel_scope.cancel()

    up1, start, exec_start, down, up2, die = seen[:6]
    assert up1 == StreamStatus("docker", True, "subscribed", clock.wall() - 0.2)
    assert start == ContainerEvent("node0", "start", "c1", None, t1, at=up1.at)
    assert isinstance(exec_start, ContainerEvent) and exec_start.action == "exec_start"
    assert isinstance(down, StreamStatus) and not down.up and "ended" in down.reason
    assert isinstance(up2, StreamStatus) and up2.up
    assert isinstance(die, ContainerEvent) and (die.action, die.exit_code) == ("die", 137)

    filters = {"type": ["container"], "label": ["com.docker.compose.project=rehearse-test"]}
    assert first.events.params == {"filters": json.dumps(filters)}
    assert second.events.params == {"filters": json.dumps(filters), "since": "1764430001.500000000"}
    assert first.closed and first.events.stopped
    assert clock.sleeps == [0.2]


async def test_unreachable_daemon_reports_down_once_and_retries(streams: Streams) -> None:
    import aiohttp

    refused = aiohttp.ClientConnectionError("Cannot connect to unix socket")
    clients = [FakeDocker([], fail=refused) for _ in range(3)]
    clients.append(FakeDocker([docker_event("start", 5), END]))
    send, receive = streams
    clock = FakeClock()
    source = DockerEventSource(
        "p", send, clock=clock, backoff=Backoff(jitter="none"), docker_factory=factory(clients)
    )
    async with anyio.create_task_group() as tg:
        await tg.start(source.run)  # ready although the daemon is not
        seen = await collect(receive, 3)
        tg.cancel_scope.cancel()
    assert [type(o).__name__ for o in seen] == ["StreamStatus", "StreamStatus", "ContainerEvent"]
    assert [o.up for o in seen if isinstance(o, StreamStatus)] == [False, True]
    assert clock.sleeps == [0.2, 0.4, 0.8]  # grows while down
    assert all(c.closed for c in clients[:3])


def test_since_is_seconds_dot_nine_digit_nanos() -> None:
    assert docker_since(1_764_430_001_000_000_042) == "1764430001.000000042"
    assert docker_since(5) == "0.000000005"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (docker_event("health_status: healthy", 9), ("health_status", None)),
        (docker_event("die", 9, exitCode="0"), ("die", 0)),
        (docker_event("kill", 9, signal="15"), ("kill", None)),
    ],
)
def test_parse_normalizes_actions(raw: dict[str, Any], expected: tuple[str, int | None]) -> None:
    event = parse_container_event(raw, at=1.0)
    assert event is not None
    assert (event.action, event.exit_code) == expected
    assert event.service == "node0"


def test_parse_skips_non_container_and_unlabelled_events() -> None:
    network = {**docker_event("connect", 9), "Type": "network"}
    unlabelled = docker_event("start", 9)
    del unlabelled["Actor"]["Attributes"]["com.docker.compose.service"]
    assert parse_container_event(network, at=1.0) is None
    assert parse_container_event(unlabelled, at=1.0) is None


def test_find_docker_host_prefers_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.adapters.docker_events import find_docker_host

    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert find_docker_host() == "tcp://10.0.0.1:2375"
