"""One structlog pipeline: JSON lines to a file, readable lines on the console.

Event names are stable snake_case strings; context (node, rehearsal) is bound
per task with contextvars. Processors are pure transforms.

The console gets either every event at or above the console level, rendered
for people (``quiet=False``; ``rehearse -v`` sets debug), or, when ``quiet``,
only the one-line headlines of ``agent.ui.lines`` (phase changes, faults,
alerts, errors): everything else is in the log file only. Where console lines
go is ``ConsoleOut.target``, so the live view can print them above itself.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import structlog

from agent.ui.lines import headline

__all__ = ["ConsoleOut", "configure_logging"]

_SECRET_KEYS = ("password", "token", "secret", "webhook")
_NO_CONSOLE = ("exception", "exc_info", "stack")  # tracebacks: in the log file only


def _drop_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Belt and braces: a field named like a secret is never rendered."""
    for k in list(event):
        if any(s in k.lower() for s in _SECRET_KEYS):
            event[k] = "***"
    return event


class ConsoleOut:
    """Where console lines go: ``target(line)``; by default written to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.target: Callable[[str], None] = self.write
        self.log_file: TextIO | None = None  # the JSON file, open for the process

    def close(self) -> None:
        """Close the JSON log file (tests; a process just exits)."""
        if self.log_file is not None:
            self.log_file.close()

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class _Tee:
    """Route each event: JSON to the file, a console line (maybe) to ``out``."""

    def __init__(
        self, json_file: TextIO | None, out: ConsoleOut, console_level: int, quiet: bool
    ) -> None:
        self.json_file = json_file
        self.out = out
        self.console_level = console_level
        self.quiet = quiet
        self._json = structlog.processors.JSONRenderer()
        self._pretty = structlog.dev.ConsoleRenderer(colors=out.stream.isatty())

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        if self.json_file is not None:
            rendered = self._json(logger, name, dict(event))
            text = rendered.decode() if isinstance(rendered, bytes) else rendered
            self.json_file.write(text + "\n")
            self.json_file.flush()
        shown = {k: v for k, v in event.items() if k not in _NO_CONSOLE}
        if self.quiet:
            line = headline(shown)
        else:
            level = logging.getLevelNamesMapping().get(str(event.get("level", "info")).upper(), 20)
            line = str(self._pretty(logger, name, shown)) if level >= self.console_level else None
        if line is not None:
            self.out.target(line)
        raise structlog.DropEvent


def configure_logging(
    log_file: Path | None,
    level: str = "info",
    console: TextIO | None = None,
    *,
    quiet: bool = False,
) -> ConsoleOut:
    """Set up the pipeline; return the console output (its ``target`` may be replaced).

    ``level`` is the console's level when not ``quiet``; the file gets every event.
    """
    lvl = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
        structlog.processors.format_exc_info,
    ]
    out = ConsoleOut(console or sys.stderr)
    fh: TextIO | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_file, "a", encoding="utf-8")  # noqa: SIM115 - lives for the process
        out.log_file = fh
    min_level = logging.DEBUG if fh is not None else (logging.INFO if quiet else lvl)
    tee: Any = _Tee(fh, out, lvl, quiet)
    structlog.configure(
        processors=[*shared, tee],
        wrapper_class=structlog.make_filtering_bound_logger(min_level),
        logger_factory=structlog.PrintLoggerFactory(out.stream),
        cache_logger_on_first_use=False,
    )
    return out
