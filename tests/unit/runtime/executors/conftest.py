"""The executors' tests' world: the fake chain, every client, commands recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes import (
    World,
    make_world,
)

from agent.adapters.ledger import TxLedger


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> World:
    """A world on the default config with the bundled profile; a test changes the config
    by indirect parametrization: ``{"extra": {...sections}, "profile": bool}`` (the
    config is parsed here: the loader reads the cwd, which must not happen in the loop)."""
    opts: dict[str, Any] = getattr(request, "param", {})
    return make_world(tmp_path, extra=opts.get("extra"), profile=opts.get("profile", True))


@pytest.fixture
def ledger_world(tmp_path: Path) -> World:
    """A world with the real, file-backed TxLedger."""
    return make_world(tmp_path, ledger=TxLedger(tmp_path / "state" / "txs.jsonl"))
