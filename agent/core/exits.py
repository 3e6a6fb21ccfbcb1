"""Why a node's process exited, from its last log lines: pure.

Cosmovisor and the chain's binary log in several shapes (console lines with
``ERR``, JSON lines, Go panics); the cause is the last line that says error,
panic or fatal, or that names a missing file. Without one, the last line.
"""

from __future__ import annotations

import re

__all__ = ["exit_reason"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TELLING = re.compile(
    r"\b(error|err|panic|fatal|failed|not found|no such file|does not exist|missing)\b",
    re.IGNORECASE,
)
MAX_REASON = 300


def exit_reason(log_text: str) -> str:
    """The telling line of ``log_text`` (its tail), stripped and shortened."""
    lines = [_ANSI.sub("", line).strip() for line in log_text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "it logged nothing"
    telling = [line for line in lines if _TELLING.search(line)]
    line = (telling or lines)[-1]
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."
