"""Alert sinks: a generic JSON webhook, Slack- and Discord-compatible webhooks, a
command, and any service apprise reaches (PagerDuty, Telegram, ...). The webhooks
retry transient failures (connection errors, timeouts, 5xx, 429) with capped
backoff, then logs ``alert_delivery_failed`` and gives up: a
sink never raises for a failed delivery.

Webhook URLs are secrets (Slack and Discord put the token in the path, others
in ``?token=``): only ``redact_url(url)`` is ever logged or put in an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import httpx
import structlog

from agent.adapters.backoff import Backoff
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.process import run_command
from agent.config.watch import SinkSettings
from agent.errors import CommandFailed, DeadlineExceeded
from agent.redact import redact_service_url, redact_url
from agent.watchdog.alerts import Notification, Sink

__all__ = [
    "AppriseSink",
    "CommandSink",
    "DiscordSink",
    "SlackSink",
    "WebhookSink",
    "build_sinks",
    "redact_url",
]

log = structlog.get_logger("agent.watchdog.sinks")


def _text(n: Notification) -> str:
    mark = "FIRING" if n.status == "firing" else "RESOLVED"
    return f"[{mark}] [{n.severity}] {n.summary}: {n.message}"


class WebhookSink:
    """POSTs the notification as JSON (``Notification.to_json()``)."""

    kind = "webhook"

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient,
        timeout_s: float = 5.0,
        retries: int = 3,
        clock: Clock | None = None,
        backoff: Callable[[], Backoff] | None = None,
        name: str | None = None,
    ) -> None:
        self._url = url
        self.client = client
        self.timeout_s = timeout_s
        self.retries = retries
        self.clock = clock or SystemClock()
        self._backoff = backoff or (lambda: Backoff(initial=0.5, cap=10.0))
        self.name = name or f"{self.kind}:{redact_url(url)}"

    def payload(self, n: Notification) -> dict[str, Any]:
        return n.to_json()

    async def send(self, n: Notification) -> bool:
        where = redact_url(self._url)
        backoff = self._backoff()
        body = self.payload(n)
        for attempt in range(1, self.retries + 2):
            problem = await self._post(body)
            if problem is None:
                log.debug("alert_delivered", sink=self.kind, url=where, key=n.key)
                return True
            retryable, reason = problem
            if not retryable or attempt > self.retries:
                log.error(
                    "alert_delivery_failed",
                    sink=self.kind,
                    url=where,
                    key=n.key,
                    status=n.status,
                    attempts=attempt,
                    reason=reason,
                )
                return False
            delay = backoff.next_delay()
            log.warning(
                "alert_delivery_retry",
                sink=self.kind,
                url=where,
                key=n.key,
                attempt=attempt,
                reason=reason,
                delay=round(delay, 3),
            )
            await self.clock.sleep(delay)
        return False  # not reached: the last attempt returns above

    async def _post(self, body: dict[str, Any]) -> tuple[bool, str] | None:
        """None on success, else (retryable, reason); the reason never holds the URL."""
        try:
            with anyio.fail_after(self.timeout_s):
                resp = await self.client.post(self._url, json=body, timeout=self.timeout_s)
        except TimeoutError:
            return True, f"no answer within {self.timeout_s:g} s"
        except httpx.TimeoutException:
            return True, f"timed out ({self.timeout_s:g} s)"
        except httpx.TransportError as exc:
            # The message of a transport error may quote the URL.
            return True, f"{type(exc).__name__}: {str(exc).replace(self._url, '***')}"
        if resp.is_success:
            return None
        code = resp.status_code
        return code >= 500 or code == 429, f"HTTP {code}"


class SlackSink(WebhookSink):
    """Slack incoming webhook (and compatibles: Mattermost, Rocket.Chat)."""

    kind = "slack"

    def payload(self, n: Notification) -> dict[str, Any]:
        return {"text": _text(n)}


class DiscordSink(WebhookSink):
    kind = "discord"

    def payload(self, n: Notification) -> dict[str, Any]:
        # Discord rejects content above 2000 characters.
        return {"content": _text(n)[:2000]}


class CommandSink:
    """Runs ``argv`` (no shell) with the notification JSON on stdin, under a deadline."""

    kind = "command"

    def __init__(self, argv: Sequence[str], *, timeout_s: float = 10.0) -> None:
        if not argv:
            raise ValueError("a command sink needs an argv")
        self.argv = [str(a) for a in argv]
        self.timeout_s = timeout_s
        self.name = f"command:{self.argv[0]}"

    async def send(self, n: Notification) -> bool:
        # Through run_command, as every other child: the minimal environment (no
        # keyring password, no token the agent holds), its own process group, and
        # the whole group killed at the deadline (a notifier's own children too).
        data = json.dumps(n.to_json()) + "\n"
        try:
            proc = await run_command(
                self.argv, deadline=self.timeout_s, stdin_data=data, check=False
            )
        except DeadlineExceeded:
            reason = f"ran past {self.timeout_s:g} s"
        except CommandFailed as exc:  # it could not be started at all
            reason = exc.output[-300:]
        else:
            if proc.returncode == 0:
                log.debug("alert_delivered", sink=self.kind, command=self.argv[0], key=n.key)
                return True
            reason = f"exited {proc.returncode}: {proc.stderr[-300:]}"
        log.error(
            "alert_delivery_failed",
            sink=self.kind,
            command=self.argv[0],
            key=n.key,
            status=n.status,
            reason=reason,
        )
        return False


class AppriseSink:
    """Any service apprise reaches (PagerDuty, Telegram, ntfy, email, ...): one sink
    for all of them. The optional ``apprise`` package (``pip install
    'rehearse[apprise]'``) is imported when the sink is built, so a config that
    names it fails at start, not at the first alert.

    Its URLs carry the tokens: only their schemes are logged, and apprise's own
    logger, which quotes URLs, is silenced (its failures are logged here instead).
    The configuration refuses this sink when apprise is not installed; it is
    imported in the worker thread that sends, never in the event loop.
    """

    kind = "apprise"

    def __init__(self, urls: Sequence[str], *, timeout_s: float = 10.0) -> None:
        logging.getLogger("apprise").disabled = True
        self._urls = tuple(urls)
        self.timeout_s = timeout_s
        self.name = "apprise:" + ",".join(redact_service_url(u) for u in urls)

    def _notify(self, n: Notification) -> bool:
        import apprise

        box = apprise.Apprise()
        for u in self._urls:
            box.add(u)
        kind = apprise.NotifyType
        # The cause first: the title is the summary, the body the whole message.
        return bool(
            box.notify(
                title=n.summary,
                body=_text(n),
                notify_type=kind.FAILURE if n.status == "firing" else kind.SUCCESS,
            )
        )

    async def send(self, n: Notification) -> bool:
        ok = False
        # apprise blocks (requests): a worker thread, abandoned at the deadline.
        with anyio.move_on_after(self.timeout_s):
            ok = await anyio.to_thread.run_sync(self._notify, n, abandon_on_cancel=True)
        if ok:
            log.debug("alert_delivered", sink=self.name, key=n.key)
            return True
        log.error(
            "alert_delivery_failed", sink=self.name, key=n.key, status=n.status,
            reason="a service refused it or did not answer in time",
        )  # fmt: skip
        return False


def build_sinks(
    settings: Sequence[SinkSettings], client: httpx.AsyncClient, clock: Clock | None = None
) -> list[Sink]:
    """The configured sinks; HTTP ones share ``client`` (owned by the caller)."""
    classes: dict[str, type[WebhookSink]] = {
        "webhook": WebhookSink,
        "slack": SlackSink,
        "discord": DiscordSink,
    }
    sinks: list[Sink] = []
    for s in settings:
        if s.type == "command":
            sinks.append(CommandSink(s.argv, timeout_s=s.timeout_s))
        elif s.type == "apprise":
            sinks.append(AppriseSink(s.urls, timeout_s=s.timeout_s))
        else:
            sinks.append(
                classes[s.type](
                    s.url, client=client, timeout_s=s.timeout_s, retries=s.retries, clock=clock
                )
            )
    return sinks
