"""The run wiring's preflight: environment problems are exit-2 errors naming the cause."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.config import Config, load_config
from agent.errors import ConfigError
from agent.runtime.wiring import _preflight

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cfg() -> Config:
    return load_config(REPO / "config.toml")


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")
async def test_unreachable_docker_is_named_not_mistaken_for_a_password(
    cfg: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ConfigError) as info:
        await _preflight(cfg)
    assert info.value.key == "DOCKER_HOST"
    assert "unreachable" in str(info.value)
