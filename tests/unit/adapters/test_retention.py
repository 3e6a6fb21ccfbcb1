"""Retention (issue 19 L6): block logs, ledger records and corrupt copies of old
rehearsals go when a new one starts; the alert history rotates and its reader
spans the rotation."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from agent.adapters.clock import FakeClock
from agent.adapters.retention import (
    kept_rehearsals,
    prune_state,
    rotate,
    stale_block_logs,
    stale_copies,
)
from agent.config import parse_config
from agent.watchdog import Notification
from agent.watchdog import service as service_mod
from agent.watchdog.service import WatchService

IDS = [f"20261201-00000{i}-abcdef" for i in range(7)]


def test_the_newest_rehearsals_are_kept_and_the_current_always() -> None:
    assert kept_rehearsals(IDS, IDS[-1], 3) == set(IDS[-3:])
    assert kept_rehearsals(IDS[:-1], IDS[-1], 3) == {*IDS[-3:-1], IDS[-1]}
    assert kept_rehearsals(IDS, "new", 1) == {"new"}
    names = [f"blocks-{i}.jsonl" for i in IDS] + ["journal.json", "blocks.txt"]
    assert stale_block_logs(names, set(IDS[-2:])) == [f"blocks-{i}.jsonl" for i in IDS[:-2]]


def test_corrupt_copies_beyond_the_newest_of_each_file_go() -> None:
    names = [f"journal.corrupt.2026120{d}T000000Z.json" for d in range(1, 6)]
    names += ["journal.corrupt.20261205T000000Z.1.json", "alerts.corrupt.20261201T000000Z.json"]
    assert stale_copies(names, 3) == [
        "journal.corrupt.20261201T000000Z.json",
        "journal.corrupt.20261202T000000Z.json",
        "journal.corrupt.20261203T000000Z.json",
    ]


def test_prune_keeps_five_rehearsals_files_and_their_ledger_records(tmp_path: Path) -> None:
    for i in IDS:
        (tmp_path / f"blocks-{i}.jsonl").write_text("{}\n")
    ledger = tmp_path / "txs.jsonl"
    rows = [{"rehearsal": i, "kind": "vote:alice", "tx_hash": f"H{n}"} for n, i in enumerate(IDS)]
    ledger.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for d in range(1, 6):
        (tmp_path / f"journal.corrupt.2026120{d}T000000Z.json").write_text("x")
    (tmp_path / "journal.json").write_text("{}")
    current = "20261202-000000-ffffff"

    gone = prune_state(tmp_path, current)

    left = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in left if n.startswith("blocks-")] == [
        f"blocks-{i}.jsonl" for i in IDS[-4:]
    ]  # four older ones and the new one (which has no file yet)
    kept = [json.loads(line)["rehearsal"] for line in ledger.read_text().splitlines()]
    assert kept == IDS[-4:]
    assert len([n for n in left if ".corrupt." in n]) == 3
    assert "journal.json" in left and gone
    assert prune_state(tmp_path, current) == []  # nothing more to do


def test_prune_of_a_missing_directory_does_nothing(tmp_path: Path) -> None:
    assert prune_state(tmp_path / "none", "r") == []


def test_rotate_moves_a_full_file_aside_once(tmp_path: Path) -> None:
    f = tmp_path / "h.jsonl"
    assert not rotate(f, 10)  # missing
    f.write_text("12345")
    assert not rotate(f, 10)
    f.write_text("1234567890")
    assert rotate(f, 10)
    assert not f.exists() and (tmp_path / "h.jsonl.1").read_text() == "1234567890"


@pytest.fixture
def svc(tmp_path: Path) -> WatchService:
    return WatchService.for_config(parse_config({}, tmp_path), {}, FakeClock())  # outside the loop


@pytest.mark.anyio
async def test_the_alert_history_rotates_and_is_read_across_the_rotation(
    svc: WatchService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_mod, "HISTORY_MAX_BYTES", 400)

    def note(i: int) -> Notification:
        return Notification("firing", f"stall:n{i}:-", "critical", "s", "m", f"n{i}", "stall",
                            None, 1.0)  # fmt: skip

    for i in range(12):
        await svc._record_history([note(i)], now=100.0 + i)
    older = anyio.Path(svc.history_file.with_name(svc.history_file.name + ".1"))
    assert await older.exists()
    assert (await anyio.Path(svc.history_file).stat()).st_size < 400 + 200
    got = await svc.alert_history(since=105.0)
    assert [r.at for r in got] == [100.0 + i for i in range(5, 12)]
    assert len(await svc.alert_history(since=0.0)) < 12  # the oldest generation is gone
