from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # websockets' and aiodocker's clients are asyncio-only.
    return "asyncio"
