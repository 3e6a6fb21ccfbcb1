"""FileJournal: round trip, atomic writes, and corrupt journals moved aside."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from agent.adapters.journal import FileJournal, JournalCorrupt
from agent.core import codec
from agent.core.machine import Params, initial_state
from agent.errors import CorruptState, FatalError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def _write(path: Path, text: str) -> None:
    await anyio.Path(path).write_text(text)


async def _listing(directory: Path) -> list[str]:
    return sorted([p.name async for p in anyio.Path(directory).iterdir()])


async def test_missing_journal_loads_none(tmp_path: Path) -> None:
    assert await FileJournal(tmp_path / "journal.json").load() is None


async def test_save_then_load_round_trips_and_leaves_no_tmp(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path / "state" / "journal.json")
    state = initial_state("r1", Params())
    await journal.save(state)
    await journal.save(state)
    assert await journal.load() == state
    assert await _listing(tmp_path / "state") == ["journal.json"]


def _valid_doc() -> dict[str, object]:
    return {"version": 1, "state": codec.encode(initial_state("r1", Params()))}


def _unknown_phase() -> str:
    doc = _valid_doc()
    text = json.dumps(doc)
    phase = codec.encode(initial_state("r1", Params()).phase)["value"]
    return text.replace(json.dumps(phase), json.dumps("NO_SUCH_PHASE"), 1)


CORRUPT = {
    "not json": "{not json",
    "truncated": json.dumps(_valid_doc())[:40],
    "a list": "[1, 2]",
    "no state": '{"version": 1}',
    "wrong version": '{"version": 99, "state": {}}',
    "state not a State": '{"version": 1, "state": {"a": 1}}',
    "unknown type": '{"version": 1, "state": {"__dc__": "Nope"}}',
    "unknown phase": _unknown_phase(),
    "wrong fields": '{"version": 1, "state": {"__dc__": "State", "bogus": 1}}',
    "deeply nested": '{"version": 1, "state": ' + "[" * 100_000 + "]" * 100_000 + "}",
}


@pytest.mark.parametrize("text", list(CORRUPT.values()), ids=list(CORRUPT))
async def test_corrupt_journal_is_moved_aside_with_a_project_error(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "journal.json"
    await _write(path, text)
    with pytest.raises(JournalCorrupt) as info:
        await FileJournal(path).load()
    err = info.value
    assert isinstance(err, CorruptState) and isinstance(err, FatalError)
    assert err.moved_to is not None and err.moved_to in str(err)
    moved = Path(err.moved_to)
    assert moved.name.startswith("journal.corrupt.") and moved.suffix == ".json"
    assert await anyio.Path(moved).read_text() == text
    assert not await anyio.Path(path).exists()
    # The next run starts fresh.
    assert await FileJournal(path).load() is None


async def test_two_corrupt_journals_in_one_second_both_survive(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    for text in ("{one", "{two"):
        await _write(path, text)
        with pytest.raises(JournalCorrupt):
            await FileJournal(path).load()
    names = [n for n in await _listing(tmp_path) if n.startswith("journal.corrupt.")]
    assert len(names) == 2


async def test_undecodable_bytes_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    await anyio.Path(path).write_bytes(b"\xff\xfe{")
    with pytest.raises(JournalCorrupt):
        await FileJournal(path).load()
