"""For the daemon: a scripted executor, fake reads and sources, a recording
journal and a clock that steps only when the test says so."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from agent.adapters.clock import FakeClock
from agent.core import codec
from agent.core.actions import (
    Action,
    CaptureBaseline,
    CastVote,
    ExplainExit,
    LaunchStack,
    RestartOnV2,
    SubmitProposal,
    VerifyRestart,
    VerifyUpgrade,
    WriteReport,
)
from agent.core.chainview import ChainView
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    ExitExplained,
    Fact,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import Phase, State
from agent.core.observations import Observation
from agent.errors import (
    TransientError,
)
from agent.runtime import report as report_mod
from fakes.chain import FakeChain
from fakes.config import GENESIS, OK, PASSED, VOTING


class SteppedClock(FakeClock):
    """``sleep`` returns only once the test ``advance``d time past its end."""

    def __init__(self) -> None:
        super().__init__(wall=GENESIS)
        self._wake = anyio.Event()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._wake.set()
        self._wake = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        until = self.monotonic() + max(0.0, seconds)
        while self.monotonic() < until:
            await self._wake.wait()


class FakeSource:
    """Subscribes to the chain's blocks of one node and forwards them to the Runner."""

    def __init__(self, chain: FakeChain, node: str, send: MemoryObjectSendStream[Observation]):
        self.chain = chain
        self.node = node
        self.send = send

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.chain.streams.append((self.node, self.send))
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            self.chain.streams.remove((self.node, self.send))


def source_factory(
    chain: FakeChain,
) -> Callable[[MemoryObjectSendStream[Observation]], list[FakeSource]]:
    def make(send: MemoryObjectSendStream[Observation]) -> list[FakeSource]:
        return [FakeSource(chain, n, send) for n in chain.nodes]

    return make


class FakeReads:
    """Voting period and a proposal-status sequence that moves on only when ``gate()``;
    the apps' heights are ``chain``'s."""

    def __init__(
        self,
        statuses: list[str] | None = None,
        *,
        voting_period: float = 1.0,
        gate: Callable[[], bool] | None = None,
        chain: FakeChain | None = None,
    ) -> None:
        self.chain = chain
        self.statuses = statuses or [VOTING, PASSED]
        self.voting_period_s = voting_period
        self.gate = gate
        self.i = 0
        self.calls: list[str] = []
        self.fail_next = 0  # the next N reads raise an AgentError
        self.hang = False

    async def _enter(self, what: str) -> None:
        self.calls.append(what)
        await anyio.lowlevel.checkpoint()
        if self.hang:
            await anyio.sleep_forever()
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError(f"{what}: connection refused")

    async def voting_period(self) -> float:
        await self._enter("voting_period")
        return self.voting_period_s

    async def app_heights(self, nodes: Sequence[str]) -> dict[str, int | None]:
        await self._enter("app_heights")
        assert self.chain is not None, "FakeReads(chain=...) answers the apps' heights"
        c = self.chain
        return {n: None if n in c.down else c.app_height(n) for n in nodes}

    async def proposal_status(self, proposal_id: int) -> str | None:
        await self._enter("proposal_status")
        status = self.statuses[self.i]
        if self.i < len(self.statuses) - 1 and (self.gate is None or self.gate()):
            self.i += 1
        return status


class ScriptedExecutor:
    """An ``ActionRunner`` answering each action with its fact.

    ``hang``: keys that never finish; ``fail``: key -> reason (``ActionFailed``);
    ``on_start``: key -> async hook run before answering (e.g. cancel the test).
    """

    def __init__(
        self,
        view: ChainView,
        clock: FakeClock,
        chain: FakeChain | None = None,
        *,
        report_dir: Path | None = None,
        voting_period: float = 1.0,
    ) -> None:
        self.view = view
        self.clock = clock
        self.chain = chain
        self.report_dir = report_dir
        self.voting_period = voting_period
        self.started: list[str] = []
        self.completed: list[str] = []
        self.hang: set[str] = set()
        self.fail: dict[str, str] = {}
        self.on_start: dict[str, Callable[[], Awaitable[None]]] = {}
        self.running = anyio.Event()

    def kw(self) -> dict[str, Any]:
        return {"height": self.view.max_height, "at": self.clock.wall()}

    async def run(self, action: Action, state: State) -> Fact:
        key = action.key
        self.started.append(key)
        self.running.set()
        hook = self.on_start.get(key)
        if hook is not None:
            await hook()
        if key in self.hang:
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()
        if key in self.fail:
            fact: Fact = ActionFailed(key, self.fail[key], **self.kw())
        else:
            fact = await self._answer(action, state)
        self.completed.append(key)
        return fact

    async def _answer(self, action: Action, state: State) -> Fact:
        kw = self.kw()
        if isinstance(action, LaunchStack):
            return StackLaunched(**kw)
        if isinstance(action, SubmitProposal):
            end = self.clock.wall() + self.voting_period
            return ProposalSubmitted(1, "TXP", action.upgrade_height, voting_end=end, **kw)
        if isinstance(action, CastVote):
            return VoteCast(action.voter, action.proposal_id, f"TX{action.voter}", **kw)
        if isinstance(action, CaptureBaseline):
            reads = (("players", json.dumps({"value": None})),)
            return BaselineCaptured(reads, (("cosmos1alice", 5),), 1, **kw)
        if isinstance(action, VerifyUpgrade):
            return UpgradeVerified(OK, **kw)
        if isinstance(action, RestartOnV2):
            return StackRestarted(self.view.max_height, **kw)
        if isinstance(action, VerifyRestart):
            return RestartVerified(OK, **kw)
        if isinstance(action, ExplainExit):
            return ExitExplained(action.node, action.exit_code, "binary not present", **kw)
        if isinstance(action, WriteReport):
            if self.report_dir is None:
                return ReportWritten("memory", **kw)
            path = await report_mod.write_report(
                state, self.report_dir / "report.json", self.report_dir / "report.md"
            )
            return ReportWritten(str(path), **kw)
        raise AssertionError(f"unscripted action {action!r}")


class RecordingJournal:
    """A ``Journal`` in memory; keeps every saved state (through the codec)."""

    def __init__(self, first: State | None = None) -> None:
        self.saved: list[str] = []
        self.before_save: Callable[[State], Awaitable[None]] | None = None
        self.busy = 0
        if first is not None:
            self.saved.append(json.dumps(codec.encode(first)))

    @property
    def states(self) -> list[State]:
        return [codec.decode(json.loads(s)) for s in self.saved]

    @property
    def phases(self) -> list[Phase]:
        """Each phase the saved states went through, in order, without repeats."""
        out: list[Phase] = []
        for s in self.states:
            if not out or out[-1] is not s.phase:
                out.append(s.phase)
        return out

    async def load(self) -> State | None:
        if not self.saved:
            return None
        state = codec.decode(json.loads(self.saved[-1]))
        assert isinstance(state, State)
        return state

    async def save(self, state: State) -> None:
        self.busy += 1
        try:
            if self.before_save is not None:
                await self.before_save(state)
            self.saved.append(json.dumps(codec.encode(state)))
        finally:
            self.busy -= 1


async def settle(rounds: int = 50) -> None:
    for _ in range(rounds):
        await anyio.lowlevel.checkpoint()


async def drive_blocks(
    chain: FakeChain,
    until: Callable[[], bool],
    *,
    journal: RecordingJournal | None = None,
    max_blocks: int = 4000,
) -> None:
    """Produce blocks one at a time, letting the daemon settle between them.

    ``max_blocks`` is generous: how many blocks go by before the runner is done
    depends on how its tasks interleave with this producer (50 checkpoints per
    block are not always enough for a resumed one), and 400 ran out now and then
    on a 2-core machine. The callers' ``fail_after`` is the real bound."""
    for _ in range(max_blocks):
        await settle()
        while journal is not None and journal.busy:
            await anyio.sleep(0.001)
            await settle()
        if until():
            return
        chain.advance()
    raise AssertionError(f"condition not reached within {max_blocks} blocks")
