"""A Runner on fakes, for the daemon's tests: ``rig`` builds it, ``play`` runs it to
its end (or while a test drives it), and the predicates say where it stands."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from agent.core.apphash import Split
from agent.core.chainview import ChainView
from agent.core.machine import Params, Phase, State
from agent.core.observations import Observation
from agent.core.policy import UpgradeHeightPolicy
from agent.runtime.daemon import Runner
from fakes import (
    FakeChain,
    FakeReads,
    RecordingJournal,
    ScriptedExecutor,
    SteppedClock,
    drive_blocks,
    source_factory,
)

NODES = ("val-a", "val-b", "full-c")
ALL_KEYS = {
    "launch_stack",
    "submit_proposal",
    "cast_vote:alice",
    "cast_vote:bob",
    "capture_baseline",
    "verify_upgrade",
    "restart_on_v2",
    "verify_restart",
    "write_report",
}
ORDER = [
    Phase.LAUNCHED,
    Phase.PROPOSED,
    Phase.VOTED,
    Phase.PASSED,
    Phase.UPGRADED,
    Phase.RESTARTED,
]


def params(**kw: Any) -> Params:
    t: dict[str, Any] = dict(
        launch_timeout=30.0,
        vote_timeout=30.0,
        pass_grace=30.0,
        resume_budget=30.0,
        verify_timeout=30.0,
        restart_timeout=30.0,
    )
    t.update(kw)
    return Params(height_policy=UpgradeHeightPolicy(0.0, 10), **t)


class FakeWatch:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.downtimes: list[float] = []
        self.what_is_wrong = ""  # what the watchdog would say is wrong
        self.split: Split | None = None  # nodes the watchdog saw disagree

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await anyio.sleep_forever()

    def observe(self, obs: Observation) -> None:
        self.calls["observe"] += 1

    def state_changed(self, state: State) -> None:
        self.calls["state_changed"] += 1

    def expect_downtime(self, seconds: float) -> None:
        self.downtimes.append(seconds)

    def downtime_over(self) -> None:
        self.calls["downtime_over"] += 1

    def incident(self) -> str:
        return self.what_is_wrong

    def divergence(self) -> Split | None:
        return self.split

    def sources_started(self) -> None:
        self.calls["sources_started"] += 1


@dataclass
class Rig:
    chain: FakeChain
    view: ChainView
    clock: SteppedClock
    executor: ScriptedExecutor
    reads: FakeReads
    journal: RecordingJournal
    runner: Runner
    watch: FakeWatch | None = None
    final: list[State] = field(default_factory=list)


def rig(
    tmp_path: Path,
    p: Params | None = None,
    *,
    chain: FakeChain | None = None,
    journal: RecordingJournal | None = None,
    watch: bool = False,
    read_timeout: float = 5.0,
) -> Rig:
    chain = chain or FakeChain(list(NODES))
    view = ChainView(list(NODES))
    clock = SteppedClock()
    ex = ScriptedExecutor(view, clock, report_dir=tmp_path)
    reads = FakeReads(chain=chain)
    journal = journal or RecordingJournal()
    w = FakeWatch() if watch else None
    runner = Runner(
        p or params(),
        journal,
        ex,
        reads,
        view,
        clock,
        source_factory(chain),
        watch=w,
        read_timeout=read_timeout,
    )
    # The proposal passes only once every vote is in (as on a real chain).
    reads.gate = lambda: runner.state.phase is Phase.VOTED
    return Rig(chain, view, clock, ex, reads, journal, runner, w)


async def play(
    r: Rig,
    body: Callable[[], Awaitable[None]] | None = None,
    *,
    first: State | None = None,
    limit: float = 10.0,
) -> State:
    """Run the Runner in the background; ``body`` drives it (default: blocks to the end)."""
    done = anyio.Event()

    async def main() -> None:
        r.final.append(await r.runner.run(first, None if first is not None else "r1"))
        done.set()

    async def to_the_end() -> None:
        await drive_blocks(r.chain, lambda: done.is_set(), journal=r.journal)

    # run() closes its streams when it returns (test_daemon.py tests it).
    with anyio.fail_after(limit):
        async with anyio.create_task_group() as tg:
            tg.start_soon(main)
            await (body or to_the_end)()
            await done.wait()
    return r.final[0]


def streams(runner: Runner) -> list[Any]:
    return [runner.obs_send, runner._obs_recv, runner._fact_send, runner._fact_recv]


def phase_is(r: Rig, phase: Phase) -> Callable[[], bool]:
    return lambda: r.runner.state.phase is phase


def proposed(r: Rig) -> Callable[[], bool]:
    return lambda: r.runner.state.proposal_id is not None


def started(r: Rig, key: str) -> Callable[[], bool]:
    return lambda: key in r.executor.started
