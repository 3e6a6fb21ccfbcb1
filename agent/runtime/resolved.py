"""The resolved cache: what a fresh start resolves slowly and a resumed agent must
not redo."""

from __future__ import annotations

from typing import Any

import anyio

from agent.adapters.compose import detect_compose
from agent.adapters.files import read_json, write_json_atomic
from agent.config import Config

__all__ = ["RESOLVED_FILE", "compose_prefix", "load_resolved", "save_resolved"]

# What a fresh start resolves slowly (a Compose probe, a `keys show` container
# per voter) and a resumed agent must not redo: it has seconds before the
# voting period ends.
RESOLVED_FILE = "resolved.json"


async def load_resolved(cfg: Config, rehearsal_id: str) -> dict[str, Any] | None:
    try:
        doc = await anyio.to_thread.run_sync(read_json, cfg.state_dir / RESOLVED_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("rehearsal_id") != rehearsal_id:
        return None
    return doc


async def save_resolved(cfg: Config, doc: dict[str, Any]) -> None:
    await anyio.to_thread.run_sync(write_json_atomic, cfg.state_dir / RESOLVED_FILE, doc)


async def compose_prefix(cfg: Config, resolved: dict[str, Any] | None) -> list[str]:
    """The Compose command: the configured one, else what this rehearsal detected
    before (a resume does not probe again), else detected now."""
    cc = cfg.stack.compose_command
    if cc != "auto":
        return list(cc)
    if resolved is not None and resolved.get("compose"):
        return [str(a) for a in resolved["compose"]]
    return await detect_compose()
