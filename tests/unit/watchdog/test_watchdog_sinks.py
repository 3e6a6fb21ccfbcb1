"""Sinks against a real local HTTP server (anyio, 127.0.0.1, ephemeral port), and a
command sink running a real argv."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from structlog.testing import capture_logs

from agent.adapters.backoff import Backoff
from agent.adapters.clock import FakeClock
from agent.redact import redact_service_url
from agent.watchdog import (
    CommandSink,
    DiscordSink,
    Notification,
    SinkSettings,
    SlackSink,
    WebhookSink,
    build_sinks,
    redact_url,
)
from agent.watchdog.sinks import AppriseSink

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

NOTE = Notification(
    "firing",
    "upgrade_halt:node-carol:v1tov2",
    "critical",
    "node-carol did not resume after upgrade v1tov2",
    "halted at upgrade height 120 for 90 s; node-carol still runs the genesis binary (v1)",
    "node-carol",
    "upgrade_halt",
    "v1tov2",
    1_700_000_000.0,
)


@dataclass
class Hook:
    """A scripted HTTP receiver: answers ``statuses`` in turn (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, stream: SocketStream) -> None:
        async with stream:
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive()
            head, _, body = buf.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            while len(body) < int(headers.get("content-length", "0")):
                body += await stream.receive()
            method, target, _ = lines[0].split(" ")
            self.requests.append((method, target, json.loads(body)))
            status = self.statuses.pop(0) if self.statuses else 200
            await stream.send(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    h = Hook()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    h.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, h.handle)
        yield h
        tg.cancel_scope.cancel()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def no_jitter() -> Backoff:
    return Backoff(initial=0.5, cap=2.0, jitter="none")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://hooks.slack.com/services/T0/B0/SECRET", "https://hooks.slack.com/***"),
        ("https://discord.com/api/webhooks/1/SECRET", "https://discord.com/***"),
        ("http://alerts.local:8080/hook?token=SECRET", "http://alerts.local:8080/***"),
        ("https://user:SECRET@example.com/", "https://example.com"),
        ("https://example.com", "https://example.com"),
        ("not a url SECRET", "***"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
    assert "SECRET" not in redact_url(url)


async def test_webhook_posts_the_generic_payload(hook: Hook, client: httpx.AsyncClient) -> None:
    await WebhookSink(hook.url("/alert"), client=client).send(NOTE)
    [(method, target, body)] = hook.requests
    assert (method, target) == ("POST", "/alert")
    assert body == {
        "status": "firing",
        "key": "upgrade_halt:node-carol:v1tov2",
        "severity": "critical",
        "summary": "node-carol did not resume after upgrade v1tov2",
        "message": NOTE.message,
        "node": "node-carol",
        "detector": "upgrade_halt",
        "upgrade": "v1tov2",
        "started_at": 1_700_000_000.0,
        "resolved_at": None,
    }


async def test_retries_a_500_then_succeeds(hook: Hook, client: httpx.AsyncClient) -> None:
    hook.statuses = [500, 503]
    clock = FakeClock()
    sink = WebhookSink(hook.url("/a"), client=client, retries=3, clock=clock, backoff=no_jitter)
    with capture_logs() as logs:
        await sink.send(NOTE)
    assert len(hook.requests) == 3
    assert clock.sleeps == [0.5, 1.0]
    assert [e["event"] for e in logs] == [
        "alert_delivery_retry",
        "alert_delivery_retry",
        "alert_delivered",
    ]


async def test_gives_up_after_the_retries_and_logs(hook: Hook, client: httpx.AsyncClient) -> None:
    hook.statuses = [500] * 10
    clock = FakeClock()
    sink = WebhookSink(hook.url("/a"), client=client, retries=2, clock=clock, backoff=no_jitter)
    with capture_logs() as logs:
        await sink.send(NOTE)  # does not raise
    assert len(hook.requests) == 3
    assert clock.sleeps == [0.5, 1.0]  # capped backoff, never above 2.0
    failed = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert len(failed) == 1 and failed[0]["reason"] == "HTTP 500" and failed[0]["attempts"] == 3


async def test_a_4xx_is_not_retried(hook: Hook, client: httpx.AsyncClient) -> None:
    hook.statuses = [404]
    sink = WebhookSink(hook.url("/a"), client=client, retries=3, clock=FakeClock())
    with capture_logs() as logs:
        await sink.send(NOTE)
    assert len(hook.requests) == 1
    assert [e["event"] for e in logs] == ["alert_delivery_failed"]


async def test_slack_and_discord_payload_shapes(hook: Hook, client: httpx.AsyncClient) -> None:
    await SlackSink(hook.url("/services/T/B/x"), client=client).send(NOTE)
    await DiscordSink(hook.url("/api/webhooks/1/x"), client=client).send(NOTE)
    (_, _, slack), (_, _, discord) = hook.requests
    assert list(slack) == ["text"] and list(discord) == ["content"]
    assert slack["text"].startswith("[FIRING] [critical] node-carol did not resume")
    assert "genesis binary" in slack["text"]
    assert discord["content"] == slack["text"]


async def test_token_url_never_reaches_the_logs(hook: Hook, client: httpx.AsyncClient) -> None:
    hook.statuses = [500, 500]
    url = hook.url("/services/T000/B000/TOPSECRET?token=TOPSECRET")
    sink = SlackSink(url, client=client, retries=1, clock=FakeClock(), backoff=no_jitter)
    with capture_logs() as logs:
        await sink.send(NOTE)
    assert logs, "the failure must be logged"
    assert "TOPSECRET" not in repr(logs) and "TOPSECRET" not in sink.name
    assert logs[-1]["url"] == f"http://127.0.0.1:{hook.port}/***"


async def test_unreachable_webhook_is_retried_and_redacted(client: httpx.AsyncClient) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.aclose()  # nothing listens there any more
    url = f"http://127.0.0.1:{port}/hook?token=TOPSECRET"
    clock = FakeClock()
    sink = WebhookSink(url, client=client, retries=2, clock=clock, backoff=no_jitter)
    with capture_logs() as logs:
        await sink.send(NOTE)
    assert len(clock.sleeps) == 2
    assert logs[-1]["event"] == "alert_delivery_failed"
    assert "TOPSECRET" not in repr(logs)


async def test_command_sink_gets_the_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    code = "import sys, pathlib; pathlib.Path(sys.argv[1]).write_text(sys.stdin.read())"
    await CommandSink([sys.executable, "-c", code, str(out)], timeout_s=10).send(NOTE)
    got = json.loads(await anyio.Path(out).read_text())
    assert got == NOTE.to_json()


async def test_command_sink_child_gets_no_secret_of_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 H1: the notifier's environment is the minimal one every child gets; the
    keyring password (and any token the agent holds) is not in it."""
    monkeypatch.setenv("REHEARSE_KEYRING_PASSWORD", "KEYRING-SECRET")
    monkeypatch.setenv("SOME_TOKEN", "TOKEN-SECRET")
    out = tmp_path / "env.json"
    code = "import os, sys, json; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"
    await CommandSink([sys.executable, "-c", code, str(out)], timeout_s=10).send(NOTE)
    env = json.loads(await anyio.Path(out).read_text())
    assert "REHEARSE_KEYRING_PASSWORD" not in env and "SOME_TOKEN" not in env
    assert "KEYRING-SECRET" not in json.dumps(env) and "PATH" in env


async def test_a_timed_out_command_sink_leaves_no_grandchild(tmp_path: Path) -> None:
    """The notifier's own children die with it at the deadline (its process group)."""
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(60)"
    )
    await CommandSink([sys.executable, "-c", code, str(pid_file)], timeout_s=1.0).send(NOTE)
    pid = int(await anyio.Path(pid_file).read_text())
    for _ in range(50):  # reaped by init a moment after the kill
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await anyio.sleep(0.1)
    pytest.fail(f"grandchild {pid} outlived the sink's deadline")


async def test_command_sink_failures_are_logged_not_raised() -> None:
    failing = CommandSink([sys.executable, "-c", "import sys; sys.exit(3)"], timeout_s=10)
    slow = CommandSink([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    missing = CommandSink(["/nonexistent/notify"], timeout_s=5)
    with capture_logs() as logs:
        for sink in (failing, slow, missing):
            await sink.send(NOTE)
    reasons = [e["reason"] for e in logs if e["event"] == "alert_delivery_failed"]
    assert len(reasons) == 3
    assert reasons[0].startswith("exited 3")
    assert "ran past 0.5 s" in reasons[1]
    assert reasons[2].startswith("cannot run")


async def test_build_sinks(client: httpx.AsyncClient) -> None:
    sinks = build_sinks(
        [
            SinkSettings(type="webhook", url="https://example.com/x"),
            SinkSettings(type="slack", url="https://hooks.slack.com/x"),
            SinkSettings(type="discord", url="https://discord.com/x"),
            SinkSettings(type="command", argv=("notify-send",)),
        ],
        client,
    )
    assert [type(s).__name__ for s in sinks] == [
        "WebhookSink",
        "SlackSink",
        "DiscordSink",
        "CommandSink",
    ]
    assert [s.name for s in sinks][:2] == [
        "webhook:https://example.com/***",
        "slack:https://hooks.slack.com/***",
    ]


# --- apprise: any service, through the real package over a real socket ------------------


async def test_apprise_delivers_the_cause_first_and_logs_only_the_scheme(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"json://alerter:TOPSECRET@127.0.0.1:{hook.port}/notify"
    sink = AppriseSink([url], timeout_s=10.0)
    assert sink.name == "apprise:json://***"
    with capture_logs() as logs:
        assert await sink.send(NOTE)
    ((method, target, body),) = hook.requests
    assert (method, target) == ("POST", "/notify")
    assert body["title"] == NOTE.summary and body["type"] == "failure"
    assert body["message"] == f"[FIRING] [critical] {NOTE.summary}: {NOTE.message}"
    assert "TOPSECRET" not in repr(logs) and "TOPSECRET" not in caplog.text


async def test_apprise_refused_is_logged_without_the_url(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.statuses = [500]
    sink = AppriseSink([f"json://127.0.0.1:{hook.port}/TOPSECRET"], timeout_s=10.0)
    with capture_logs() as logs:
        assert not await sink.send(NOTE)
    assert logs[-1]["event"] == "alert_delivery_failed" and logs[-1]["sink"] == "apprise:json://***"
    assert "TOPSECRET" not in repr(logs) and "TOPSECRET" not in caplog.text


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("tgram://123456:TOPSECRET/-100200", "tgram://***"),
        ("pagerduty://TOPSECRET@TOPSECRET2", "pagerduty://***"),
        ("ntfys://ntfy.sh/TOPSECRET", "ntfys://***"),
        ("TOPSECRET", "***"),
    ],
)
def test_a_service_url_shows_only_its_scheme(url: str, redacted: str) -> None:
    assert redact_service_url(url) == redacted
