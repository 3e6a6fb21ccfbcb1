"""ReadAsker: each read request asked of the chain within its deadline, answered
(a failure is an answer too), a delayed read waited for and reported due."""

from __future__ import annotations

import anyio
import pytest
from fakes import PASSED, VOTING, FakeChain, FakeReads, SteppedClock

from agent.adapters.clock import FakeClock
from agent.core.derive import (
    CommittedAnswer,
    GovParamsAnswer,
    ReadCommitted,
    ReadDue,
    ReadFailed,
    ReadGovParams,
    ReadProposalStatus,
    StatusAnswer,
)
from agent.runtime.reads import ReadAsker

pytestmark = pytest.mark.anyio

T = 1_700_000_000.0


async def test_each_read_is_asked_of_the_call_that_serves_it() -> None:
    reads = FakeReads([VOTING, PASSED], voting_period=20.0, chain=FakeChain(["a", "b"], height=7))
    asker = ReadAsker(reads, FakeClock(wall=T), timeout=5.0)
    assert await asker.ask(ReadGovParams()) == GovParamsAnswer(20.0, T)
    status = ReadProposalStatus(3)
    assert await asker.ask(status) == StatusAnswer(status, VOTING, T)
    apps = ReadCommitted(6, ("a", "b"))
    answer = await asker.ask(apps)
    assert isinstance(answer, CommittedAnswer) and answer.read == apps
    assert set(answer.heights) == {"a", "b"}
    assert reads.calls == ["voting_period", "proposal_status", "app_heights"]


async def test_a_failed_read_is_an_answer_naming_it_until_a_read_works() -> None:
    reads = FakeReads()
    reads.fail_next = 1
    asker = ReadAsker(reads, FakeClock(wall=T), timeout=5.0)
    read = ReadProposalStatus(3)
    failed = await asker.ask(read)
    assert isinstance(failed, ReadFailed) and failed.read == read
    assert "connection refused" in failed.error
    assert asker.last_error == "the proposal's status: proposal_status: connection refused"
    assert isinstance(await asker.ask(read), StatusAnswer)
    assert asker.last_error is None


async def test_a_read_that_hangs_fails_at_its_deadline() -> None:
    reads = FakeReads()
    reads.hang = True
    asker = ReadAsker(reads, FakeClock(wall=T), timeout=0.05)
    with anyio.fail_after(5):
        answer = await asker.ask(ReadGovParams())
    assert answer == ReadFailed(ReadGovParams(), "timed out")
    assert asker.last_error == "governance parameters: timed out"


async def test_a_delayed_read_waits_then_is_due_without_asking() -> None:
    reads = FakeReads()
    clock = SteppedClock()
    asker = ReadAsker(reads, clock, timeout=5.0)
    later = ReadProposalStatus(3, after=0.25, height=30)
    got: list[object] = []

    async def ask() -> None:
        got.append(await asker.ask(later))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.wait_all_tasks_blocked()
            assert got == []  # still waiting
            clock.advance(0.25)
    assert got == [ReadDue(later)] and reads.calls == []  # the derivation decides
