from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .solo_chain import SoloChain, find_binary, start_solo_chain


def require_binary() -> Path:
    """The checkersd binary, or skip (fail under CI, where `make binaries` must have run)."""
    binary = find_binary()
    if binary is None:
        reason = "prod-sim/build/checkersd-v1 is missing: run `make binaries`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def solo_chain() -> Iterator[SoloChain]:
    """One real checkersd validator on 127.0.0.1 (blocks every ~300 ms), torn down after."""
    with start_solo_chain(require_binary()) as chain:
        yield chain
