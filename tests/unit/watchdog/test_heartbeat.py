from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from agent.watchdog import Heartbeat
from agent.watchdog.heartbeat import sd_notify

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_the_last_beat_records_the_final_phase(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    phase = ["upgraded"]
    async with anyio.create_task_group() as tg:
        tg.start_soon(Heartbeat(path).run, lambda: (phase[0], 0), 3600.0)
        while not await anyio.Path(path).exists():  # noqa: ASYNC110 (a file, not an event)
            await anyio.sleep(0.01)
        phase[0] = "restarted"  # the rehearsal ends between two beats
        tg.cancel_scope.cancel()
    doc = await anyio.to_thread.run_sync(lambda: json.loads(path.read_text()))
    assert doc["phase"] == "restarted"


# --- systemd: sd_notify over a real unix datagram socket ----------------------


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    # A short directory: a unix socket path is limited to 107 bytes.
    d = Path(tempfile.mkdtemp(prefix="rh-sd-"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(d / "notify"))
    sock.settimeout(5.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(d / "notify"))
    try:
        yield sock
    finally:
        sock.close()
        shutil.rmtree(d)


async def test_each_beat_pings_the_systemd_watchdog(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    hb = Heartbeat(tmp_path / "heartbeat.json")
    await hb.beat("watching", 0)
    await hb.beat("watching", 1)
    got = [await anyio.to_thread.run_sync(notify_socket.recv, 4096) for _ in range(2)]
    assert got == [b"WATCHDOG=1", b"WATCHDOG=1"]
    text = await anyio.Path(tmp_path / "heartbeat.json").read_text()
    assert json.loads(text)["alerts_firing"] == 1


async def test_no_ping_when_the_beat_is_not_written(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    await anyio.Path(tmp_path / "file").write_text("")
    hb = Heartbeat(tmp_path / "file" / "heartbeat.json")  # a file as the parent: unwritable
    with pytest.raises(OSError):
        await hb.beat(None, 0)
    notify_socket.setblocking(False)
    with pytest.raises(BlockingIOError):
        notify_socket.recv(4096)


def test_sd_notify_sends_one_datagram(notify_socket: socket.socket) -> None:
    assert sd_notify("READY=1") is True
    assert notify_socket.recv(4096) == b"READY=1"


def test_sd_notify_abstract_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"rh-sd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("WATCHDOG=1") is True
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_sd_notify_outside_systemd_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sd_notify("READY=1") is False  # logged, never raised
