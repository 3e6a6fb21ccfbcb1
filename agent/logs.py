"""One structlog pipeline: JSON lines to a file, readable lines on the console.

Event names are stable snake_case strings; context (node, rehearsal) is bound
per task with contextvars. Processors are pure transforms.

The console gets either every event at or above the console level, rendered
for people (``quiet=False``; ``rehearse -v`` sets debug), or, when ``quiet``,
only the one-line headlines of ``agent.ui.lines`` (phase changes, faults,
alerts, errors): everything else is in the log file only. Where console lines
go is ``ConsoleOut.target``, so the live view can print them above itself.

The JSON file rotates by size (``RotatingFile``: ``agent.log`` -> ``agent.log.1``
... ``agent.log.N``). Writes stay synchronous, as an append plus flush to the
page cache: a few microseconds per event, and a rollover (a few renames) once
per ``agent.log_max_bytes``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import structlog

from agent.ui.lines import headline

__all__ = ["ConsoleOut", "RotatingFile", "configure_logging"]

_SECRET_KEYS = ("password", "token", "secret", "webhook")
_NO_CONSOLE = ("exception", "exc_info", "stack")  # tracebacks: in the log file only


def _drop_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Belt and braces: a field named like a secret is never rendered."""
    for k in list(event):
        if any(s in k.lower() for s in _SECRET_KEYS):
            event[k] = "***"
    return event


class RotatingFile:
    """An append-only text file that rolls over by size.

    Before a line would take ``path`` past ``max_bytes`` (0: never), ``path``
    becomes ``path.1``, ``path.1`` becomes ``path.2``, ... and ``path.<backups>``
    is dropped; with ``backups`` 0 the file is emptied instead. A line longer
    than ``max_bytes`` is still written whole, into a fresh file.

    Several processes may append to one log (the agent-crash supervisor and its
    child): each write checks that ``path`` is still the open file (one
    ``stat``) and reopens it when another process rotated it, and sizes come
    from the file, so any writer rotates on the combined size.
    """

    def __init__(self, path: Path, max_bytes: int = 0, backups: int = 0) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._fh = self._open()

    def _open(self) -> TextIO:
        fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives for the process
        self._ino = os.fstat(fh.fileno()).st_ino
        return fh

    def _current_size(self) -> int:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is None or st.st_ino != self._ino:  # rotated or removed by someone else
            self._fh.close()
            self._fh = self._open()
            return os.fstat(self._fh.fileno()).st_size
        return st.st_size

    def _rollover(self) -> None:
        self._fh.close()
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            open(self.path, "w").close()
        self._fh = self._open()

    def write(self, text: str) -> None:
        """Append ``text`` (one or more whole lines) and flush."""
        if self.max_bytes > 0:
            size = self._current_size()
            if size > 0 and size + len(text.encode("utf-8")) > self.max_bytes:
                self._rollover()
        self._fh.write(text)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class ConsoleOut:
    """Where console lines go: ``target(line)``; by default written to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.target: Callable[[str], None] = self.write
        self.log_file: RotatingFile | None = None  # the JSON file, open for the process

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
        self, json_file: RotatingFile | None, out: ConsoleOut, console_level: int, quiet: bool
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
    max_bytes: int = 0,
    backups: int = 0,
) -> ConsoleOut:
    """Set up the pipeline; return the console output (its ``target`` may be replaced).

    ``level`` is the console's level when not ``quiet``; the file gets every event
    and rotates at ``max_bytes`` (0: never), keeping ``backups`` old files.
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
    fh: RotatingFile | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = RotatingFile(log_file, max_bytes, backups)
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
