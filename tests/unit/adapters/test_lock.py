from __future__ import annotations

from pathlib import Path

import pytest

from agent.adapters.lock import state_lock
from agent.errors import ConfigError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_a_second_writer_on_a_state_dir_is_refused_naming_the_key(tmp_path: Path) -> None:
    async with state_lock([(tmp_path, "agent.state_dir")]):
        with pytest.raises(ConfigError) as info:
            async with state_lock([(tmp_path / ".", "watch.alert_state_file")]):
                pass
        assert info.value.key == "watch.alert_state_file"
        assert "in use by another rehearse process" in str(info.value)
    # Released: the next one gets it.
    async with state_lock([(tmp_path, "agent.state_dir")]):
        pass


async def test_one_process_may_name_the_same_dir_twice(tmp_path: Path) -> None:
    async with state_lock([(tmp_path, "a"), (tmp_path, "b"), (tmp_path / "x", "c")]):
        pass
