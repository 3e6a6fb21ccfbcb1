"""FileJournal and TxLedger on a real filesystem (tmp_path), through anyio threads."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.adapters.journal import FileJournal, JournalCorrupt
from agent.adapters.ledger import TxLedger
from agent.core.facts import (
    BaselineCaptured,
    Begin,
    ChainLive,
    Check,
    Fact,
    ProposalSubmitted,
    StackLaunched,
    VoteCast,
)
from agent.core.machine import Params, Phase, State, decide, initial_state
from agent.errors import AgentError, CorruptState

pytestmark = pytest.mark.anyio


def rich_state() -> State:
    """A state with every kind of field filled: enums, tuples, frozensets, nested facts."""
    s = initial_state("r-1", Params())
    facts: list[Fact] = [
        Begin("r-1", 0, 1.0),
        StackLaunched(0, 2.0),
        ChainLive(1.0, 20.0, 3, 3.0),
        ProposalSubmitted(1, "TX", 40, voting_end=30.0, height=4, at=4.0),
        VoteCast("alice", 1, "TXA", height=5, at=5.0),
    ]
    for f in facts:
        s, _ = decide(s, f)
    return s


def other_state() -> State:
    s, _ = decide(rich_state(), VoteCast("bob", 1, "TXB", height=6, at=6.0))
    return s


async def write(path: Path, data: str | bytes) -> None:
    p = anyio.Path(path)
    await (p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data))


async def listing(directory: Path) -> list[str]:
    return sorted([p.name async for p in anyio.Path(directory).iterdir()])


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
    real_fdopen = os.fdopen

    class DiskFull:
        """The temporary file takes half the document, then the disk is full."""

        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> DiskFull:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    # write_atomic (agent.adapters.files) does the journal's writes.
    monkeypatch.setattr(
        "agent.adapters.files.os.fdopen", lambda *a, **kw: DiskFull(real_fdopen(*a, **kw))
    )
    with pytest.raises(OSError, match="No space left"):
        await j.save(other_state())
    monkeypatch.undo()
    assert await j.load() == rich_state()
    assert await listing(tmp_path) == ["journal.json"]  # the torn temporary file is gone


async def test_a_failed_rename_leaves_the_old_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = FileJournal(tmp_path / "journal.json")
    await j.save(rich_state())

    def no_replace(*_a: Any) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr("agent.adapters.files.os.replace", no_replace)
    with pytest.raises(OSError, match="I/O error"):
        await j.save(other_state())
    monkeypatch.undo()
    assert await j.load() == rich_state()
    assert await listing(tmp_path) == ["journal.json"]


async def test_save_is_shielded_from_cancellation(tmp_path: Path) -> None:
    j = FileJournal(tmp_path / "journal.json")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await j.save(rich_state())
    assert await j.load() == rich_state()


def _doc(state: Any) -> str:
    return json.dumps({"version": 1, "state": state})


# Shapes tests/unit/test_journal.py does not cover (it has not-JSON, torn, a list,
# version, no state, unknown type or phase, wrong fields, non-UTF-8 and deep nesting).
@pytest.mark.parametrize(
    "content",
    [
        "null",
        _doc({"__dc__": "Deadline", "name": "x", "seconds": 1, "detail": ""}),
        _doc(42),
    ],
    ids=["null", "not-a-state", "a-number"],
)
async def test_a_corrupt_journal_raises_journal_corrupt(tmp_path: Path, content: str) -> None:
    path = tmp_path / "journal.json"
    await write(path, content)
    with pytest.raises(JournalCorrupt, match=str(path)) as info:
        await FileJournal(path).load()
    assert isinstance(info.value, CorruptState) and isinstance(info.value, AgentError)
    moved = info.value.moved_to
    assert moved is not None and Path(moved).name.startswith("journal.corrupt.")
    assert await listing(tmp_path) == [Path(moved).name]
    assert await anyio.Path(moved).read_text() == content


async def test_archive_moves_the_journal_aside(tmp_path: Path) -> None:
    j = FileJournal(tmp_path / "journal.json")
    assert await anyio.to_thread.run_sync(j.archive) is None
    await j.save(rich_state())
    first = await anyio.to_thread.run_sync(j.archive)
    await j.save(other_state())
    second = await anyio.to_thread.run_sync(j.archive)
    assert (first, second) == (tmp_path / "journal.1.json", tmp_path / "journal.2.json")
    assert second is not None
    assert await j.load() is None
    assert await FileJournal(second).load() == other_state()


async def test_a_state_with_checks_and_baseline_round_trips(tmp_path: Path) -> None:
    s = replace(
        rich_state(),
        baseline=BaselineCaptured(
            (("players", '{"p1": [1, 2, 3]}'),), (("cosmos1a", 5),), 2, 9, 9.0
        ),
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


async def test_ledger_entries_keep_the_signed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "txs.jsonl"
    ledger = TxLedger(path)
    await ledger.record("r", "vote:alice:1", "AA", tx="c2lnbmVk")
    await ledger.record("r", "vote:alice:1", "BB")
    # Lines the ledger never wrote are skipped, not fatal.
    await write(
        path,
        (await anyio.Path(path).read_text())
        + "[1, 2]\n"
        + json.dumps({"rehearsal": "r", "kind": "vote:alice:1", "tx_hash": 5})
        + "\n"
        + json.dumps({"rehearsal": "r", "kind": "vote:alice:1", "tx_hash": "CC", "tx": 7})
        + "\n",
    )
    assert await ledger.entries("r", "vote:alice:1") == [
        ("AA", "c2lnbmVk"),
        ("BB", None),
        ("CC", None),
    ]


async def test_ledger_record_is_shielded_from_cancellation(tmp_path: Path) -> None:
    ledger = TxLedger(tmp_path / "txs.jsonl")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await ledger.record("r", "k", "AA")
    assert await ledger.find("r", "k") == ["AA"]


async def test_ledger_record_after_a_torn_line_is_found(tmp_path: Path) -> None:
    path = tmp_path / "txs.jsonl"
    good = json.dumps({"rehearsal": "r", "kind": "k", "tx_hash": "AA"})
    # Killed mid-append: the last line has no end.
    await anyio.Path(path).write_text(good + "\n" + '{"rehearsal": "r", "kind": "k", "tx_ha')
    ledger = TxLedger(path)
    await ledger.record("r", "k", "BB", tx="Ynl0ZXM=")
    await ledger.record("r", "k", "CC")
    assert await ledger.entries("r", "k") == [("AA", None), ("BB", "Ynl0ZXM="), ("CC", None)]


async def test_a_new_ledger_file_is_made_durable_in_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 19 L7: the file was fsynced, its directory entry never: a power cut
    # right after the first record could lose the ledger, records and all.
    synced: list[Path] = []
    monkeypatch.setattr("agent.adapters.files.fsync_dir", synced.append)
    ledger = TxLedger(tmp_path / "state" / "txs.jsonl")
    await ledger.record("r", "vote:alice", "AB" * 32, tx="eA==")
    assert synced == [tmp_path / "state"]
    await ledger.record("r", "vote:bob", "CD" * 32, tx="eQ==")
    await ledger.record_sequence("r", "cosmos1alice", 3)
    assert synced == [tmp_path / "state"]  # once, when the name was made
    assert await ledger.next_sequence("r", "cosmos1alice") == 3
    assert await ledger.next_sequence("r", "cosmos1bob") == 0
    assert await ledger.entries("r", "vote:alice") == [("AB" * 32, "eA==")]
