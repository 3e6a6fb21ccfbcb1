"""Settings of the watch: ``[watch]``, ``[metrics]`` and ``[[alerts.sinks]]``.

``parse_watch_settings(raw, base_dir)`` takes the whole parsed TOML document,
reads only those three sections (the others are ``agent.config``'s), and raises
``ConfigError`` naming the dotted key and the value for anything wrong: an
unknown key or detector name, a negative threshold, a metrics host other than
the loopback, a malformed webhook URL, an unknown sink type. The documented
snippet is ``config-snippet.toml`` next to this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ConfigError
from agent.watchdog.detectors import DETECTORS, Thresholds

__all__ = [
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


@dataclass(frozen=True, slots=True)
class WatchTuning:
    """``[watch]``: the detectors' thresholds, hysteresis and the files."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    for_s: dict[str, float] = field(default_factory=dict)
    evaluate_interval_s: float = 2.0
    heartbeat_file: Path = Path(".rehearse/heartbeat.json")
    heartbeat_interval_s: float = 5.0
    alert_state_file: Path = Path(".rehearse/alerts.json")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True)
class SinkSettings:
    type: str
    url: str = ""
    argv: tuple[str, ...] = ()
    timeout_s: float = 5.0
    retries: int = 3


@dataclass(frozen=True, slots=True)
class WatchSettings:
    watch: WatchTuning = field(default_factory=WatchTuning)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    sinks: tuple[SinkSettings, ...] = ()


# Threshold keys of [watch] and their kinds; "seconds" and "factor" must be > 0
# (a zero threshold would fire on every evaluation), "count" >= 1.
_THRESHOLDS: dict[str, str] = {
    "stall_factor": "factor",
    "stall_floor_s": "seconds",
    "stall_after_s": "seconds",
    "lag_blocks": "count",
    "restart_loop_count": "count",
    "restart_loop_window_s": "seconds",
    "oom_hold_s": "seconds",
    "stream_down_s": "seconds",
    "resume_budget_s": "seconds",
}
_WATCH_OTHER = {
    "disabled",
    "for_s",
    "evaluate_interval_s",
    "heartbeat_file",
    "heartbeat_interval_s",
    "alert_state_file",
}
_SINK_KEYS = {"type", "url", "argv", "timeout_s", "retries"}


def parse_watch_settings(raw: dict[str, Any], base_dir: Path) -> WatchSettings:
    watch = _table(raw, "watch")
    metrics = _table(raw, "metrics")
    alerts = _table(raw, "alerts")
    return WatchSettings(
        watch=_parse_watch(watch, base_dir),
        metrics=_parse_metrics(metrics),
        sinks=_parse_alerts(alerts),
    )


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, value, "must be a table")
    return value


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, value, "must be a number")
    return float(value)


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, "must be an integer")
    return value


def _positive(key: str, value: Any) -> float:
    v = _number(key, value)
    if v <= 0:
        raise ConfigError(key, value, "must be a positive number")
    return v


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, value, "must be a non-empty string")
    return value


def _path(base_dir: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base_dir / p


def _detector(key: str, value: Any) -> str:
    if value not in DETECTORS:
        raise ConfigError(key, value, f"unknown detector; one of {', '.join(DETECTORS)}")
    return str(value)


def _parse_watch(data: dict[str, Any], base_dir: Path) -> WatchTuning:
    th: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for key, value in data.items():
        where = f"watch.{key}"
        kind = _THRESHOLDS.get(key)
        if kind == "count":
            n = _integer(where, value)
            if n < 1:
                raise ConfigError(where, value, "must be at least 1")
            th[key] = n
        elif kind is not None:
            th[key] = _positive(where, value)
        elif key == "disabled":
            if not isinstance(value, list):
                raise ConfigError(where, value, "must be an array of detector names")
            th[key] = frozenset(_detector(f"{where}[{i}]", d) for i, d in enumerate(value))
        elif key == "for_s":
            if not isinstance(value, dict):
                raise ConfigError(where, value, "must be a table of detector = seconds")
            for_s: dict[str, float] = {}
            for det, secs in value.items():
                _detector(f"{where}.{det}", det)
                s = _number(f"{where}.{det}", secs)
                if s < 0:
                    raise ConfigError(f"{where}.{det}", secs, "must not be negative")
                for_s[det] = s
            other[key] = for_s
        elif key in ("evaluate_interval_s", "heartbeat_interval_s"):
            other[key] = _positive(where, value)
        elif key in ("heartbeat_file", "alert_state_file"):
            other[key] = _path(base_dir, _string(where, value))
        else:
            raise ConfigError(where, value, "unknown key")
    other.setdefault("heartbeat_file", _path(base_dir, ".rehearse/heartbeat.json"))
    other.setdefault("alert_state_file", _path(base_dir, ".rehearse/alerts.json"))
    return WatchTuning(thresholds=Thresholds(**th), **other)


def _parse_metrics(data: dict[str, Any]) -> MetricsSettings:
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"metrics.{key}"
        if key == "enabled":
            if not isinstance(value, bool):
                raise ConfigError(where, value, "must be true or false")
            values[key] = value
        elif key == "host":
            if value not in LOOPBACK_HOSTS:
                raise ConfigError(
                    where,
                    value,
                    "the metrics endpoint is served on the loopback only "
                    "(127.0.0.1 or localhost); put a proxy in front to expose it",
                )
            values[key] = value
        elif key == "port":
            port = _integer(where, value)
            if not 1 <= port <= 65535:
                raise ConfigError(where, value, "must be a TCP port (1-65535)")
            values[key] = port
        else:
            raise ConfigError(where, value, "unknown key")
    return MetricsSettings(**values)


def _parse_alerts(data: dict[str, Any]) -> tuple[SinkSettings, ...]:
    for key, value in data.items():
        if key != "sinks":
            raise ConfigError(f"alerts.{key}", value, "unknown key")
    items = data.get("sinks", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError("alerts.sinks", items, "must be an array of tables ([[alerts.sinks]])")
    return tuple(_parse_sink(item, f"alerts.sinks[{i}]") for i, item in enumerate(items))


def _parse_sink(data: dict[str, Any], where: str) -> SinkSettings:
    for key, value in data.items():
        if key not in _SINK_KEYS:
            raise ConfigError(f"{where}.{key}", value, "unknown key")
    typ = data.get("type")
    if typ not in SINK_TYPES:
        choices = ", ".join(SINK_TYPES)
        raise ConfigError(f"{where}.type", typ, f"unknown sink type; one of {choices}")
    values: dict[str, Any] = {"type": typ}
    if "timeout_s" in data:
        values["timeout_s"] = _positive(f"{where}.timeout_s", data["timeout_s"])
    if "retries" in data:
        r = _integer(f"{where}.retries", data["retries"])
        if r < 0:
            raise ConfigError(f"{where}.retries", r, "must not be negative")
        values["retries"] = r
    if typ == "command":
        if "url" in data:
            raise ConfigError(f"{where}.url", "***", "a command sink takes argv, not url")
        argv = data.get("argv")
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, str) and a for a in argv)
        ):
            raise ConfigError(f"{where}.argv", argv, "must be a non-empty array of strings")
        values["argv"] = tuple(argv)
    else:
        if "argv" in data:
            raise ConfigError(f"{where}.argv", data["argv"], f"a {typ} sink takes url, not argv")
        values["url"] = _webhook_url(f"{where}.url", data.get("url"))
    return SinkSettings(**values)


def _webhook_url(key: str, url: Any) -> str:
    # Imported here: sinks imports this module for SinkSettings.
    from agent.watchdog.sinks import redact_url

    if not isinstance(url, str) or not url:
        raise ConfigError(key, url, "required: the webhook's http(s) URL")
    # The URL may carry a token: the error shows only its redacted form.
    try:
        u = urlsplit(url)
        u.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(key, redact_url(url), "is not a valid URL") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ConfigError(key, redact_url(url), "must be an http(s) URL with a host")
    return url
