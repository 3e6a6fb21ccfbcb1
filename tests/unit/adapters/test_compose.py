"""The Compose adapter's argv and environment (no Docker: a recording command)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.adapters.compose import Compose

pytestmark = pytest.mark.anyio


@pytest.fixture
def printer(tmp_path: Path) -> list[str]:
    """A stand-in for the Compose CLI that prints the timeout it was given."""
    script = tmp_path / "fake_compose.py"
    script.write_text("import os\nprint(os.environ.get('COMPOSE_HTTP_TIMEOUT', '-'))\n")
    return [sys.executable, str(script)]


async def test_compose_http_timeout_follows_our_deadline(
    printer: list[str], tmp_path: Path
) -> None:
    # Compose v1 would abort after its own 60 s while our 180 s deadline still runs.
    c = Compose(printer, "p", tmp_path, timeout=180.0)
    r = await c.up(["a.yml"])
    assert r.stdout.strip() == "180"


async def test_compose_http_timeout_never_below_compose_default(
    printer: list[str], tmp_path: Path
) -> None:
    c = Compose(printer, "p", tmp_path, timeout=5.0)
    assert (await c.up(["a.yml"])).stdout.strip() == "60"


async def test_compose_env_given_wins(printer: list[str], tmp_path: Path) -> None:
    c = Compose(printer, "p", tmp_path, env={"COMPOSE_HTTP_TIMEOUT": "300"}, timeout=180.0)
    assert (await c.up(["a.yml"])).stdout.strip() == "300"
