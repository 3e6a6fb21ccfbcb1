"""The block log: one line per block, read back as written."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from agent.adapters.blocklog import BlockLog, read_block_log
from agent.core.observations import NewBlock

pytestmark = pytest.mark.anyio


async def test_blocks_are_written_and_a_backfilled_one_says_so(tmp_path: Path) -> None:
    log = BlockLog(tmp_path)
    log.open("r1")
    log.record(NewBlock("a", 7, "2026-12-06T06:40:04Z", at=10.0))
    log.record(NewBlock("b", 8, "2026-12-06T06:40:06Z", at=11.5, backfilled=True))
    await log.flush()
    rows = await anyio.to_thread.run_sync(read_block_log, tmp_path / "blocks-r1.jsonl")
    assert rows == [
        {"node": "a", "height": 7, "time": "2026-12-06T06:40:04Z", "at": 10.0},
        {"node": "b", "height": 8, "time": "2026-12-06T06:40:06Z", "at": 11.5, "backfilled": True},
    ]
