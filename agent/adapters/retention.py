"""Retention: the agent's own files never only grow.

Each rehearsal adds a block log; the transaction ledger keeps every rehearsal's
records; a corrupt state file moved aside stays for a post-mortem; the alert
history gains a line per notification. Left alone, an agent that rehearses every
night fills its disk. When a new rehearsal starts, ``prune_state`` keeps the files
of the last ``KEEP_REHEARSALS`` rehearsals (the new one included) and the newest
``KEEP_CORRUPT`` corrupt copies of each file; ``rotate`` keeps an append-only file
under a size by moving it to ``<name>.1`` (one generation kept).

What is kept is decided by pure functions (``stale_block_logs``, ``stale_copies``,
``kept_rehearsals``); the rest does the file work, each replacement atomic, so a
kill -9 at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import structlog

from agent.adapters.files import read_json_lines, write_atomic

__all__ = [
    "KEEP_CORRUPT",
    "KEEP_REHEARSALS",
    "kept_rehearsals",
    "prune_state",
    "rotate",
    "stale_block_logs",
    "stale_copies",
]

log = structlog.get_logger("agent.adapters.retention")

KEEP_REHEARSALS = 5
KEEP_CORRUPT = 3
# A rehearsal's own files: its block log and its traffic log.
_BLOCKS = re.compile(r"^(blocks|traffic)-(?P<id>.+)\.jsonl$")
_CORRUPT = re.compile(r"^(?P<stem>.+)\.corrupt\.\d{8}T\d{6}Z(\.\d+)?\.json$")


def kept_rehearsals(ids_oldest_first: Sequence[str], current: str, keep: int) -> set[str]:
    """The ``keep`` most recent rehearsal ids, ``current`` always among them."""
    recent = [i for i in ids_oldest_first if i != current][-(keep - 1) :] if keep > 1 else []
    return {*recent, current}


def stale_block_logs(names: Sequence[str], kept: set[str]) -> list[str]:
    return sorted(n for n in names if (m := _BLOCKS.match(n)) and m["id"] not in kept)


def stale_copies(names: Sequence[str], keep: int) -> list[str]:
    """Corrupt copies beyond the newest ``keep`` of each file (their UTC stamps sort)."""
    by_stem: dict[str, list[str]] = {}
    for n in names:
        if m := _CORRUPT.match(n):
            by_stem.setdefault(m["stem"], []).append(n)
    return sorted(n for copies in by_stem.values() for n in sorted(copies)[:-keep])


def _ledger_order(entries: list[dict[str, object]]) -> list[str]:
    """Rehearsal ids in the order the ledger first saw them (ids sort by time too)."""
    seen: dict[str, None] = {}
    for e in entries:
        r = e.get("rehearsal")
        if isinstance(r, str):
            seen.setdefault(r, None)
    return list(seen)


def prune_state(state_dir: Path, current: str, keep: int = KEEP_REHEARSALS) -> list[str]:
    """Drop what older rehearsals left in ``state_dir``; return what went (blocking)."""
    try:
        names = sorted(os.listdir(state_dir))
    except FileNotFoundError:
        return []
    ledger = state_dir / "txs.jsonl"
    entries = read_json_lines(ledger) if ledger.exists() else []
    # Rehearsal ids start with their UTC start time, so sorting orders them.
    ids = sorted({*_ledger_order(entries), *(m["id"] for n in names if (m := _BLOCKS.match(n)))})
    kept = kept_rehearsals(ids, current, keep)
    gone = stale_block_logs(names, kept) + stale_copies(names, KEEP_CORRUPT)
    for name in gone:
        try:
            os.unlink(state_dir / name)
        except FileNotFoundError:
            pass
    kept_entries = [e for e in entries if e.get("rehearsal") in kept]
    if len(kept_entries) < len(entries):
        # Atomic: a kill leaves the whole old ledger or the whole new one, never a
        # ledger missing the current rehearsal's records.
        write_atomic(ledger, "".join(json.dumps(e) + "\n" for e in kept_entries))
        gone.append(f"txs.jsonl: {len(entries) - len(kept_entries)} records")
    if gone:
        log.info("state_pruned", kept=sorted(kept), removed=gone)
    return gone


def rotate(path: Path, max_bytes: int) -> bool:
    """Move ``path`` to ``<name>.1`` (replacing it) once it reached ``max_bytes``."""
    try:
        if path.stat().st_size < max_bytes:
            return False
    except FileNotFoundError:
        return False
    os.replace(path, path.with_name(path.name + ".1"))
    return True
