"""One structlog pipeline: JSON lines to a file, readable lines on the console.

Event names are stable snake_case strings; context (node, rehearsal) is bound
per task with contextvars. Processors are pure transforms.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

import structlog

__all__ = ["configure_logging"]

_SECRET_KEYS = ("password", "token", "secret", "webhook")


def _drop_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Belt and braces: a field named like a secret is never rendered."""
    for k in list(event):
        if any(s in k.lower() for s in _SECRET_KEYS):
            event[k] = "***"
    return event


class _Tee:
    """Route each rendered line: JSON to the file, console text to stderr."""

    def __init__(self, json_file: TextIO, console: TextIO, console_level: int) -> None:
        self.json_file = json_file
        self.console = console
        self.console_level = console_level
        self._json = structlog.processors.JSONRenderer()
        self._pretty = structlog.dev.ConsoleRenderer(colors=console.isatty())

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        rendered = self._json(logger, name, dict(event))
        text = rendered.decode() if isinstance(rendered, bytes) else rendered
        self.json_file.write(text + "\n")
        self.json_file.flush()
        level = logging.getLevelNamesMapping().get(str(event.get("level", "info")).upper(), 20)
        if level >= self.console_level:
            return self._pretty(logger, name, event)
        raise structlog.DropEvent


def configure_logging(
    log_file: Path | None, level: str = "info", console: TextIO | None = None
) -> None:
    lvl = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
        structlog.processors.format_exc_info,
    ]
    out = console or sys.stderr
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_file, "a", encoding="utf-8")  # noqa: SIM115 - lives for the process
        renderer: Any = _Tee(fh, out, lvl)
        min_level = logging.DEBUG
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        min_level = lvl
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
