from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from agent.watchdog import Heartbeat

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_the_last_beat_records_the_final_phase(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    phase = ["upgraded"]
    async with anyio.create_task_group() as tg:
        tg.start_soon(Heartbeat(path).run, lambda: (phase[0], 0), 3600.0)
        while not await anyio.Path(path).exists():  # noqa: ASYNC110 (a file, not an event)
            await anyio.sleep(0.01)
        phase[0] = "restarted"  # the rehearsal ends between two beats
        tg.cancel_scope.cancel()
    doc = await anyio.to_thread.run_sync(lambda: json.loads(path.read_text()))
    assert doc["phase"] == "restarted"
