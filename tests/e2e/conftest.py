from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .prodsim import FOUR_VALIDATORS, ProdSim, prod_sim


def _require_stack() -> None:
    problems = []
    if shutil.which("docker") is None:
        problems.append("docker CLI missing")
    elif subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        problems.append("the Docker daemon is not reachable")
    if problems:
        if os.environ.get("CI") == "true":
            pytest.fail("; ".join(problems))
        pytest.skip("; ".join(problems))


@pytest.fixture
def sim(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProdSim]:
    _require_stack()
    with prod_sim(tmp_path, request.node.name.replace("_", "")[:12]) as s:
        yield s


@pytest.fixture
def sim4(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ProdSim]:
    """The bundled chain with four validators and a full node (no sentries)."""
    _require_stack()
    with prod_sim(tmp_path, request.node.name.replace("_", "")[:12], FOUR_VALIDATORS) as s:
        yield s
