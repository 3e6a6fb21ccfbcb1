"""Settings of the watch: ``[watch]``, ``[metrics]`` and ``[[alerts.sinks]]``.

Pydantic models (see ``agent.validation``): the schema and its documentation in
one place. ``parse_watch_settings(raw, base_dir)`` reads only those three
sections of a parsed TOML document and raises ``ConfigError`` naming the dotted
key and the value (webhook URLs redacted). The documented snippet is
``config-snippet.toml`` next to this file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from agent.core.detectors import DETECTORS, Thresholds
from agent.redact import redact_service_url
from agent.validation import (
    ArgvTuple,
    Count,
    HttpUrl,
    Problem,
    ResolvedPath,
    Schema,
    Seconds,
    SecondsOrZero,
    bad,
    problems,
    validate,
)

__all__ = [
    "AlertSettings",
    "MetricsSettings",
    "SinkSettings",
    "WatchSettings",
    "WatchTuning",
    "parse_watch_settings",
    "SINK_TYPES",
    "LOOPBACK_HOSTS",
]

SINK_TYPES = ("webhook", "slack", "discord", "command")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def _detector(name: str) -> str:
    if name not in DETECTORS:
        raise bad(f"unknown detector; one of {', '.join(DETECTORS)}")
    return name


Detector = Annotated[str, AfterValidator(_detector)]
# A factor or count this large is a typo, and would silence the detector.
Factor = Annotated[float, Field(gt=0, le=1000)]
_D = Thresholds()


class WatchTuning(Schema):
    """``[watch]``: the detectors' thresholds, hysteresis and the files."""

    stall_factor: Factor = Field(
        default=_D.stall_factor, description="stall: times the block interval"
    )
    stall_floor_s: Seconds = Field(default=_D.stall_floor_s, description="stall: never below this")
    stall_after_s: Seconds | None = Field(
        default=None, description="stall: a fixed threshold instead"
    )
    lag_blocks: Count = Field(
        default=_D.lag_blocks, description="lag: blocks behind the highest node"
    )
    restart_loop_count: Count = Field(
        default=_D.restart_loop_count, description="starts in the window"
    )
    restart_loop_window_s: Seconds = Field(default=_D.restart_loop_window_s)
    oom_hold_s: Seconds = Field(default=_D.oom_hold_s, description="oom: alert held this long")
    stream_down_s: Seconds = Field(
        default=_D.stream_down_s, description="stream_down: after this long"
    )
    resume_budget_s: Seconds = Field(default=_D.resume_budget_s, description="upgrade_halt budget")
    missed_blocks: Count = Field(
        default=_D.missed_blocks, description="missed_blocks: commits in a row a validator missed"
    )
    disabled: list[Detector] = Field(default_factory=list, description="detectors switched off")
    # A node briefly behind (a slow block, a catch-up) is normal: lag waits 10 s.
    for_s: dict[Detector, SecondsOrZero] = Field(
        default_factory=lambda: {"lag": 10.0},
        description="hysteresis: seconds a condition holds before firing",
    )
    evaluate_interval_s: Seconds = 2.0
    heartbeat_file: ResolvedPath = Field(default=".rehearse/heartbeat.json", validate_default=True)
    heartbeat_interval_s: Seconds = 5.0
    alert_state_file: ResolvedPath = Field(default=".rehearse/alerts.json", validate_default=True)

    @property
    def thresholds(self) -> Thresholds:
        # The detectors stay pure dataclass consumers; pydantic ends here.
        return Thresholds(
            stall_factor=self.stall_factor,
            stall_floor_s=self.stall_floor_s,
            stall_after_s=self.stall_after_s,
            lag_blocks=self.lag_blocks,
            restart_loop_count=self.restart_loop_count,
            restart_loop_window_s=self.restart_loop_window_s,
            oom_hold_s=self.oom_hold_s,
            stream_down_s=self.stream_down_s,
            resume_budget_s=self.resume_budget_s,
            missed_blocks=self.missed_blocks,
            disabled=frozenset(self.disabled),
        )


class MetricsSettings(Schema):
    """``[metrics]``: the Prometheus endpoint, loopback only unless ``allow_remote``."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 9464
    allow_remote: bool = Field(
        default=False,
        description=(
            "serve on a host other than the loopback (unauthenticated, plain HTTP: "
            "anyone who reaches host:port reads the metrics)"
        ),
    )

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> MetricsSettings:
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise problems(
                [
                    (
                        ("host",),
                        self.host,
                        "the metrics endpoint is served on the loopback only (127.0.0.1 or "
                        "localhost); set metrics.allow_remote = true to bind elsewhere, "
                        "or put a proxy in front",
                    )
                ]
            )
        return self


def _urls(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # TOML has arrays only


ServiceUrls = Annotated[tuple[str, ...], BeforeValidator(_urls), Field(max_length=32)]


class SinkSettings(Schema):
    """One ``[[alerts.sinks]]``: ``url`` for the webhook kinds, ``argv`` for a command."""

    type: Literal["webhook", "slack", "discord", "command", "apprise"]
    # "" and () mean absent: a given url or argv is validated non-empty.
    url: HttpUrl = ""
    argv: ArgvTuple = ()
    # apprise: its service URLs (PagerDuty, Telegram, ntfy, email, ...), secrets all:
    # only their schemes are ever logged or shown.
    urls: ServiceUrls = ()
    timeout_s: Seconds = 5.0
    retries: Annotated[int, Field(ge=0, le=100)] = 3

    @model_validator(mode="after")
    def _url_or_argv(self) -> SinkSettings:
        found: list[Problem] = []
        given = self.model_fields_set
        if self.type != "apprise" and "urls" in given:
            found.append((("urls",), "***", f"a {self.type} sink takes no urls"))
        if self.type == "apprise":
            for key in ("url", "argv"):
                if key in given:
                    found.append(((key,), "***", "an apprise sink takes urls"))
            if not self.urls:
                found.append((("urls",), None, "required: apprise service URLs, e.g. tgram://..."))
            if importlib.util.find_spec("apprise") is None:
                found.append(
                    (
                        ("type",),
                        "apprise",
                        "needs the apprise package: pip install 'rehearse[apprise]'",
                    )
                )
            for i, u in enumerate(self.urls):
                if redact_service_url(u) == "***":
                    found.append((("urls", i), "***", "not a service URL (scheme://...)"))
        elif self.type == "command":
            if "url" in given:
                found.append((("url",), "***", "a command sink takes argv, not url"))
            if "argv" not in given:
                found.append((("argv",), None, "required: a non-empty array of strings"))
        else:
            if "argv" in given:
                found.append((("argv",), list(self.argv), f"a {self.type} sink takes url"))
            if "url" not in given:
                found.append((("url",), None, "required: the webhook's http(s) URL"))
        if found:
            raise problems(found)
        return self


class AlertSettings(Schema):
    """``[alerts]``: the sinks; the log sink is always on and not listed."""

    sinks: list[SinkSettings] = Field(default_factory=list)


class WatchSettings(Schema):
    """The three sections together, as the watch service consumes them."""

    # Defaults go through validation so relative paths resolve against base_dir.
    watch: WatchTuning = Field(default_factory=dict, validate_default=True)
    metrics: MetricsSettings = Field(default_factory=dict, validate_default=True)
    alerts: AlertSettings = Field(default_factory=dict, validate_default=True)

    @property
    def sinks(self) -> tuple[SinkSettings, ...]:
        return tuple(self.alerts.sinks)

    @model_validator(mode="after")
    def _distinct_files(self) -> WatchSettings:
        w = self.watch
        if os.path.normpath(w.heartbeat_file) == os.path.normpath(w.alert_state_file):
            raise problems(
                [(("watch", "alert_state_file"), str(w.alert_state_file), "is the heartbeat_file")]
            )
        return self


WATCH_SECTIONS = tuple(WatchSettings.model_fields)


def parse_watch_settings(raw: dict[str, Any], base_dir: Path) -> WatchSettings:
    """The watch settings of a whole parsed TOML document (other sections ignored)."""
    mine = {k: v for k, v in raw.items() if k in WATCH_SECTIONS}
    return validate(WatchSettings, mine, base_dir)
