"""FileJournal and TxLedger on a real filesystem (tmp_path), through anyio threads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.adapters import journal as journal_mod
from agent.adapters.journal import FileJournal, JournalCorrupt
from agent.adapters.ledger import TxLedger
from agent.core.facts import (
    BaselineCaptured,
    Begin,
    ChainLive,
    Check,
    ProposalSubmitted,
    StackLaunched,
    VoteCast,
)
from agent.core.machine import Params, Phase, State, decide, initial_state
from agent.errors import AgentError

pytestmark = pytest.mark.anyio


def rich_state() -> State:
    """A state with every kind of field filled: enums, tuples, frozensets, nested facts."""
    s = initial_state("r-1", Params())
    for f in [
        Begin("r-1", 0, 1.0),
        StackLaunched(0, 2.0),
        ChainLive(1.0, 20.0, 3, 3.0),
        ProposalSubmitted(1, "TX", 40, voting_end=30.0, height=4, at=4.0),
        VoteCast("alice", 1, "TXA", height=5, at=5.0),
    ]:
        s, _ = decide(s, f)
    return s


def other_state() -> State:
    s, _ = decide(rich_state(), VoteCast("bob", 1, "TXB", height=6, at=6.0))
    return s


async def write(path: Path, data: str | bytes) -> None:
    p = anyio.Path(path)
    await (p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data))


# --- journal ------------------------------------------------------------------------------


async def test_round_trip(tmp_path: Path) -> None:
    j = FileJournal(tmp_path / "state" / "journal.json")
    assert await j.load() is None
    s = rich_state()
    await j.save(s)
    loaded = await j.load()
    assert loaded == s and loaded.phase is Phase.PROPOSED
    await j.save(other_state())
    assert await j.load() == other_state()
    # No temporary file is left behind.
    names = sorted([p.name async for p in anyio.Path(tmp_path / "state").iterdir()])
    assert names == ["journal.json"]


async def test_a_failure_mid_write_leaves_the_old_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = FileJournal(tmp_path / "journal.json")
    await j.save(rich_state())

    def torn_dump(doc: Any, fh: Any, **kw: Any) -> None:
        fh.write(json.dumps(doc)[:40])  # half the document, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_mod.json, "dump", torn_dump)
    with pytest.raises(OSError):
        await j.save(other_state())
    monkeypatch.undo()
    assert await j.load() == rich_state()


async def test_a_failed_rename_leaves_the_old_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = FileJournal(tmp_path / "journal.json")
    await j.save(rich_state())

    def no_replace(*_a: Any) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(journal_mod.os, "replace", no_replace)
    with pytest.raises(OSError):
        await j.save(other_state())
    monkeypatch.undo()
    assert await j.load() == rich_state()


async def test_save_is_shielded_from_cancellation(tmp_path: Path) -> None:
    j = FileJournal(tmp_path / "journal.json")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await j.save(rich_state())
    assert await j.load() == rich_state()


def _doc(state: Any) -> str:
    return json.dumps({"version": 1, "state": state})


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"version": 1, "state": {"__dc__": "State", "rehearsal_id": "r"',  # torn
        json.dumps({"version": 2, "state": {}}),
        json.dumps({"version": 1}),
        _doc({"__dc__": "Popen", "args": ["rm"]}),
        _doc({"__dc__": "State", "no_such_field": 1}),
        _doc({"__enum__": "Phase", "value": "exploded"}),
        _doc({"__dc__": "Deadline", "name": "x", "seconds": 1, "detail": ""}),
        _doc(42),
    ],
    ids=[
        "garbage",
        "torn",
        "version",
        "no-state",
        "unknown-type",
        "bad-field",
        "bad-enum",
        "not-a-state",
        "a-number",
    ],
)
async def test_a_corrupt_journal_raises_journal_corrupt(tmp_path: Path, content: str) -> None:
    path = tmp_path / "journal.json"
    await write(path, content)
    with pytest.raises(JournalCorrupt, match=str(path)):
        await FileJournal(path).load()
    assert issubclass(JournalCorrupt, AgentError)


@pytest.mark.xfail(
    strict=True,
    raises=(AttributeError, UnicodeDecodeError),
    reason="defect: a journal holding valid JSON that is not an object (null, a list) "
    "raises AttributeError, and one with non-UTF-8 bytes raises UnicodeDecodeError "
    "(a ValueError), instead of JournalCorrupt",
)
@pytest.mark.parametrize("content", ["null", "[1, 2]", b"\xff\xfe{}"], ids=["null", "list", "bin"])
async def test_a_journal_that_is_not_a_json_object_raises_journal_corrupt(
    tmp_path: Path, content: str | bytes
) -> None:
    path = tmp_path / "journal.json"
    await write(path, content)
    with pytest.raises(JournalCorrupt):
        await FileJournal(path).load()


async def test_archive_moves_the_journal_aside(tmp_path: Path) -> None:
    j = FileJournal(tmp_path / "journal.json")
    assert await anyio.to_thread.run_sync(j.archive) is None
    await j.save(rich_state())
    first = await anyio.to_thread.run_sync(j.archive)
    await j.save(other_state())
    second = await anyio.to_thread.run_sync(j.archive)
    assert (first, second) == (tmp_path / "journal.1.json", tmp_path / "journal.2.json")
    assert await j.load() is None
    assert await FileJournal(second).load() == other_state()


async def test_a_state_with_checks_and_baseline_round_trips(tmp_path: Path) -> None:
    s = replace(
        rich_state(),
        baseline=BaselineCaptured((("p1", 1, 2, 3),), (("cosmos1a", 5),), 2, 9, 9.0),
        upgrade_checks=(Check("c", False, "a|b"),),
        restart_balances=(("cosmos1a", 5),),
    )
    j = FileJournal(tmp_path / "j.json")
    await j.save(s)
    assert await j.load() == s


# --- ledger -------------------------------------------------------------------------------


async def test_ledger_record_and_find(tmp_path: Path) -> None:
    ledger = TxLedger(tmp_path / "state" / "txs.jsonl")
    assert await ledger.find("r", "submit_proposal") == []
    await ledger.record("r", "submit_proposal", "AA")
    await ledger.record("r", "vote:alice:1", "BB")
    await ledger.record("other", "submit_proposal", "CC")
    await ledger.record("r", "submit_proposal", "DD")
    assert await ledger.find("r", "submit_proposal") == ["AA", "DD"]
    assert await ledger.find("r", "vote:alice:1") == ["BB"]
    assert await ledger.find("r", "vote:bob:1") == []


async def test_ledger_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "txs.jsonl"
    good = json.dumps({"rehearsal": "r", "kind": "k", "tx_hash": "AA"})
    await write(path, good + "\n" + '{"rehearsal": "r", "kind": "k", "tx_ha')
    assert await TxLedger(path).find("r", "k") == ["AA"]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="defect: after a torn last line (kill mid-append) the next record is appended "
    "to that line, so it cannot be parsed and the new broadcast is lost from the ledger",
)
async def test_ledger_record_after_a_torn_line_is_found(tmp_path: Path) -> None:
    path = tmp_path / "txs.jsonl"
    await write(path, '{"rehearsal": "r", "kind": "k", "tx_ha')
    ledger = TxLedger(path)
    await ledger.record("r", "k", "BB")
    assert await ledger.find("r", "k") == ["BB"]


async def test_ledger_record_is_shielded_from_cancellation(tmp_path: Path) -> None:
    ledger = TxLedger(tmp_path / "txs.jsonl")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await ledger.record("r", "k", "AA")
    assert await ledger.find("r", "k") == ["AA"]
