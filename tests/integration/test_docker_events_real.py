"""DockerEventSource against the real Docker daemon, with a FROM-scratch image we build.

No registry here: the image holds only the static checkersd binary, and `checkersd
version` exits 0 at once, which gives a create/start/die(0) sequence per container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiodocker
import anyio
import pytest

from agent.adapters.backoff import Backoff
from agent.adapters.clock import SystemClock
from agent.adapters.docker_events import DockerEventSource, find_docker_host
from agent.core.observations import ContainerEvent, Observation, StreamStatus

from .conftest import require_binary

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.timeout(120)]

PROJECT_LABEL = "com.docker.compose.project"


def docker_available() -> None:
    try:
        subprocess.run(["docker", "version"], capture_output=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        reason = f"no usable Docker daemon: {exc!r}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def scratch_image() -> Iterator[str]:
    docker_available()
    binary = require_binary()
    tag = f"rehearse-evtest-{uuid.uuid4().hex[:10]}:latest"
    with tempfile.TemporaryDirectory(prefix="rehearse-evtest-") as ctx:
        shutil.copy2(binary, Path(ctx) / "checkersd")
        (Path(ctx) / "Dockerfile").write_text(
            # checkersd stats os.TempDir() at startup and panics without one; scratch
            # has no /tmp, so point TMPDIR at the root.
            'FROM scratch\nCOPY checkersd /checkersd\nENV TMPDIR=/\nENTRYPOINT ["/checkersd"]\n'
        )
        # The classic builder: this machine's docker CLI has no buildx plugin.
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        build = subprocess.run(
            ["docker", "build", "-q", "-t", tag, ctx], capture_output=True, timeout=300, env=env
        )
        assert build.returncode == 0, build.stderr.decode()[-2000:]
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


@pytest.fixture
def project() -> Iterator[str]:
    name = f"rehearse-evtest-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={PROJECT_LABEL}={name}"],
            capture_output=True,
            timeout=30,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)


async def run_once(image: str, project: str) -> str:
    """Create and run one `checkersd version` container to completion; its id."""
    labels = ["--label", f"{PROJECT_LABEL}={project}", "--label", "com.docker.compose.service=svc"]
    created = await anyio.run_process(["docker", "create", *labels, image, "version"])
    cid = created.stdout.decode().strip()
    await anyio.run_process(["docker", "start", "-a", cid])
    return cid


class GatedClock(SystemClock):
    """Holds every reconnect until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.gate.wait()


async def next_matching(receive: Any, seen: list[Observation], pred: Any) -> Observation:
    async for item in receive:
        seen.append(item)
        if pred(item):
            return item
    raise AssertionError("stream closed")


def is_event(cid: str, action: str) -> Any:
    return lambda o: isinstance(o, ContainerEvent) and o.container_id == cid and o.action == action


async def test_events_survive_a_stream_end_via_since(scratch_image: str, project: str) -> None:
    clients: list[Any] = []
    url = await anyio.to_thread.run_sync(find_docker_host)

    def factory() -> Any:
        clients.append(aiodocker.Docker(url=url))
        return clients[-1]

    clock = GatedClock()
    send, receive = anyio.create_memory_object_stream[Observation](64)
    seen: list[Observation] = []
    source = DockerEventSource(
        project,
        send,
        clock=clock,
        backoff=Backoff(jitter="none"),
        docker_factory=factory,
        since_nano=time.time_ns(),  # nothing lost before Docker opens the stream
    )
    with send, receive:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(60):
                await tg.start(source.run)
                first = await run_once(scratch_image, project)
                await next_matching(receive, seen, is_event(first, "start"))
                die = await next_matching(receive, seen, is_event(first, "die"))
                assert isinstance(die, ContainerEvent)
                assert die.exit_code == 0 and die.service == "svc"

                # End the stream the way aiodocker does on its own: silently.
                await clients[-1].events.stop()
                down = await next_matching(
                    receive, seen, lambda o: isinstance(o, StreamStatus) and not o.up
                )
                second = await run_once(scratch_image, project)  # while nobody listens
                clock.gate.set()

                await next_matching(receive, seen, is_event(second, "die"))
            tg.cancel_scope.cancel()

    assert isinstance(down, StreamStatus) and "ended" in down.reason
    ups = [o for o in seen if isinstance(o, StreamStatus) and o.up]
    assert len(ups) == 2 and source.connects == 2
    events = [o for o in seen if isinstance(o, ContainerEvent)]
    second_actions = [e.action for e in events if e.container_id == second]
    assert {"create", "start", "die"} <= set(second_actions)
    keys = [(e.time_nano, e.container_id, e.action) for e in events]
    assert len(keys) == len(set(keys)), "an event was delivered twice"
    assert [e.time_nano for e in events] == sorted(e.time_nano for e in events)
    assert all(e.service == "svc" for e in events)


@pytest.fixture(scope="module")
def docker_daemon() -> None:
    docker_available()


async def test_default_client_connects_without_blocking_the_loop(
    docker_daemon: None, project: str
) -> None:
    send, receive = anyio.create_memory_object_stream[Observation](4)
    source = DockerEventSource(project, send)  # the daemon's way: no factory, no URL
    with send, receive:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(20):
                await tg.start(source.run)
                first = await receive.receive()
            tg.cancel_scope.cancel()
    assert first == StreamStatus("docker", True, "subscribed", first.at)
    assert source.docker_url is not None
