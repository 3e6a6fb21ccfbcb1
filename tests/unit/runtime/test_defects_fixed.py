"""Defects being fixed in agent/ right now, tested as the fixed behaviour.

Each test here failed on main when it was written (they were strict xfails or known
workarounds elsewhere); they pass once the matching fix lands:

a. the ledger: a record after a torn (unterminated) last line is not lost;
b. the report: the markdown of a rehearsal that failed before any proposal says no
   "None";
c. the derivation: a PASSED status read while the machine was still in ``proposed``
   is reported again on later reads, so the run does not fail at the upgrade height;
d. the Runner closes its memory streams when ``run()`` returns;
e. a failure drops every pending action but the report, so resuming a failed journal
   never casts a vote.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakes import PASSED, VOTING, FakeChain, drive_blocks
from test_daemon import _FAIL_VOTING, NODES, _state_after, play, rig
from test_report import failed_before_any_proposal, no_python_none

from agent.adapters.journal import FileJournal
from agent.adapters.ledger import TxLedger
from agent.core.actions import WriteReport
from agent.core.chainview import ChainView
from agent.core.derive import Derivation, ReadProposalStatus
from agent.core.facts import ActionFailed, DeadlinePassed, ProposalStatusSeen
from agent.core.machine import Phase, decide
from agent.core.observations import NewBlock
from agent.runtime.report import build_report, render_markdown

pytestmark = pytest.mark.anyio


# --- a. ledger --------------------------------------------------------------------------


async def test_ledger_record_after_a_torn_line_is_found(tmp_path: Path) -> None:
    path = tmp_path / "txs.jsonl"
    good = json.dumps({"rehearsal": "r", "kind": "k", "tx_hash": "AA"})
    # Killed mid-append: the last line has no end.
    await anyio.Path(path).write_text(good + "\n" + '{"rehearsal": "r", "kind": "k", "tx_ha')
    ledger = TxLedger(path)
    await ledger.record("r", "k", "BB", tx="Ynl0ZXM=")
    await ledger.record("r", "k", "CC")
    assert await ledger.entries("r", "k") == [("AA", None), ("BB", "Ynl0ZXM="), ("CC", None)]


# --- b. report --------------------------------------------------------------------------


def test_markdown_of_a_failure_before_any_proposal_prints_no_none() -> None:
    md = render_markdown(build_report(failed_before_any_proposal()))
    assert "Failed: stalled" in md  # it is the report of that failure
    assert no_python_none(md)
    for rendered_none in ("height None", "proposal None", "None s"):
        assert rendered_none not in md


# --- c. derivation ----------------------------------------------------------------------


def test_every_status_read_is_reported_even_when_unchanged() -> None:
    """The machine ignores PASSED while still in ``proposed``: the derivation must say
    it again on the next read, or the agent never learns the proposal passed."""
    view = ChainView(list(NODES))
    d = Derivation(view)
    s = _state_after(4)  # proposed: the votes are on their way
    assert s.phase is Phase.PROPOSED and s.proposal_id is not None
    seen = []
    for h in (5, 6, 7):
        before = view.max_height
        ev = NewBlock(NODES[0], h, "", 1_700_000_000.0 + h)
        view.observe(ev)
        (read,) = [o for o in d.on_block(s, ev, before) if isinstance(o, ReadProposalStatus)]
        seen.append(d.status_read(read, PASSED if h > 5 else VOTING, ev.at))
    assert [f.status if f else None for f in seen] == [VOTING, PASSED, PASSED]
    assert all(isinstance(f, ProposalStatusSeen) for f in seen)


async def test_passed_seen_before_the_last_vote_fact_is_not_lost(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.reads.statuses = [PASSED]
    r.reads.gate = None

    async def late_vote() -> None:
        while "proposal_status" not in r.reads.calls:
            await anyio.lowlevel.checkpoint()

    r.executor.on_start["cast_vote:bob"] = late_vote
    final = await play(r)
    assert final.phase is Phase.RESTARTED, final.failure


# --- d. runner streams ------------------------------------------------------------------


async def _run_to_the_end(tmp_path: Path) -> list[Any]:
    """A whole run; only the Runner's four streams outlive it."""
    r = rig(tmp_path)
    done = anyio.Event()

    async def main() -> None:
        r.final.append(await r.runner.run(None, "r1"))
        done.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(main)
            await drive_blocks(r.chain, done.is_set, journal=r.journal)
    assert r.final[0].phase is Phase.RESTARTED
    runner = r.runner
    return [runner.obs_send, runner._obs_recv, runner._fact_send, runner._fact_recv]


async def test_the_runner_closes_its_streams_when_run_returns(tmp_path: Path) -> None:
    streams = await _run_to_the_end(tmp_path)
    assert len(streams) == 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del streams
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


# --- e. failure drops pending actions ---------------------------------------------------


@pytest.mark.parametrize(
    "fact",
    [
        _FAIL_VOTING[0],
        ActionFailed("capture_baseline", "node gone", 7, 1_700_000_010.0),
    ],
    ids=["vote-deadline", "baseline-failed"],
)
def test_failing_keeps_only_the_report_pending(fact: DeadlinePassed | ActionFailed) -> None:
    s = _state_after(5)  # proposed; alice voted; bob's vote and the baseline pending
    assert {a.key for a in s.pending} == {"cast_vote:bob", "capture_baseline"}
    failed, actions = decide(s, fact)
    assert failed.phase is Phase.FAILED
    assert failed.pending == (WriteReport(),)
    assert [a.key for a in actions] == ["write_report"]


async def test_resuming_a_failed_journal_never_casts_a_vote(tmp_path: Path) -> None:
    state = _state_after(5, _FAIL_VOTING)
    assert state.phase is Phase.FAILED
    fj = FileJournal(tmp_path / "journal.json")
    await fj.save(state)
    loaded = await fj.load()
    assert loaded is not None and {a.key for a in loaded.pending} == {"write_report"}

    r = rig(tmp_path, chain=FakeChain(list(NODES), height=7))
    final = await play(r, first=loaded)
    assert final.phase is Phase.FAILED and final.report_path is not None
    assert Counter(r.executor.started) == Counter(["write_report"])
    assert [v for v, _, _ in final.votes] == ["alice"]


async def test_a_new_ledger_file_is_made_durable_in_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 19 L7: the file was fsynced, its directory entry never: a power cut
    # right after the first record could lose the ledger, records and all.
    synced: list[Path] = []
    monkeypatch.setattr("agent.adapters.ledger.fsync_dir", synced.append)
    ledger = TxLedger(tmp_path / "state" / "txs.jsonl")
    await ledger.record("r", "vote:alice", "AB" * 32, tx="eA==")
    assert synced == [tmp_path / "state"]
    await ledger.record("r", "vote:bob", "CD" * 32, tx="eQ==")
    await ledger.record_sequence("r", "cosmos1alice", 3)
    assert synced == [tmp_path / "state"]  # once, when the name was made
    assert await ledger.next_sequence("r", "cosmos1alice") == 3
    assert await ledger.next_sequence("r", "cosmos1bob") == 0
    assert await ledger.entries("r", "vote:alice") == [("AB" * 32, "eA==")]
