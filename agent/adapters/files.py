"""Atomic files: the one implementation of "write a temporary file, fsync, rename".

``write_atomic`` writes bytes or text to a uniquely named temporary file in the
target's directory, fsyncs it, renames it over the target and fsyncs the directory.
A kill -9 at any moment leaves the old or the new content, never a torn file; a
failure (disk full, encoding) removes the temporary file and leaves the target as
it was. Used by the journal, the alert store and the heartbeat.

Blocking: call through ``anyio.to_thread.run_sync`` from async code.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

__all__ = ["read_json_lines", "write_atomic", "write_json_atomic", "read_json"]


def write_atomic(path: Path, data: bytes | str, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``data`` atomically and durably (see the module doc)."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per call (pid + random): two writers in one process never share a tmp.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never follow or reuse something already there; 0o666 minus the umask,
    # the mode a plain open() would give.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json_atomic(path: Path, doc: Any) -> None:
    """``doc`` as compact JSON with sorted keys, written with ``write_atomic``."""
    # Encoded first: a document that cannot be encoded never touches the disk.
    write_atomic(path, json.dumps(doc, separators=(",", ":"), sort_keys=True))


def read_json(path: Path) -> Any:
    """The parsed document, or None when the file does not exist.

    Raises ``ValueError`` for a file that is not JSON (including undecodable bytes
    and nesting too deep to parse).
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise ValueError(f"{path}: JSON nested too deeply") from exc


def append_json_line(path: Path, entry: Any) -> None:
    """Append ``entry`` as one JSON line, fsynced (blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    with open(path, "a+b") as fh:
        # A kill mid-append leaves a torn last line; start on a line of our own
        # so this record is not glued to it and lost.
        fh.seek(0, os.SEEK_END)
        torn = False
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        fh.write((("\n" if torn else "") + json.dumps(entry) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())
    if created:
        # The new file's name is in the directory, not the file: without this a
        # power cut could lose the whole file, fsynced records and all.
        fsync_dir(path.parent)


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of an append-only JSON-lines file, oldest first (blocking).

    A missing file is empty. A line that does not parse (the torn last line of a
    write cut by a kill) or is not an object is skipped. Other ``OSError`` rise:
    whether an unreadable file may count as empty is the caller's call.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out


def move_aside(path: Path) -> Path:
    """Move an unreadable state file to ``<stem>.corrupt.<UTC stamp>[.n].json`` beside
    it (kept for a post-mortem, out of the next start's way); return where."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = path.with_name(f"{path.stem}.corrupt.{stamp}.json")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.stem}.corrupt.{stamp}.{n}.json")
        n += 1
    os.replace(path, dest)
    return dest
