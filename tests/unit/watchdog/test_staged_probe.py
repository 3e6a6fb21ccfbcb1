"""The staged probe asks each node's container only while a plan is ahead."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agent.adapters.clock import FakeClock
from agent.adapters.docker import Docker
from agent.adapters.process import CommandResult
from agent.core.observations import StagedSeen
from agent.watchdog.staged_probe import StagedProbe

pytestmark = pytest.mark.anyio


class Runner:
    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    async def __call__(self, argv: Any, **_kw: Any) -> CommandResult:
        args = [str(a) for a in argv]
        self.argvs.append(args)
        await anyio.lowlevel.checkpoint()
        if args[1] == "ps":
            return CommandResult(tuple(args), 0, "c1 val-a\nc2 val-b\nc3 other\n", "")
        if args[2] == "c2":
            return CommandResult(tuple(args), 3, "/h/cosmovisor/upgrades/v2/bin/d\n", "")
        return CommandResult(tuple(args), 0, "", "")


async def test_it_looks_once_a_plan_is_ahead_and_names_what_is_missing() -> None:
    run = Runner()
    seen: list[StagedSeen] = []
    plan: list[tuple[str, int] | None] = [None]
    probe = StagedProbe(
        Docker(run), "proj", {"val-a": "val-a", "val-b": "val-b"}, "/h", "d", FakeClock(),
        lambda: plan[0], seen.append,
    )  # fmt: skip
    async with anyio.create_task_group() as tg:
        tg.start_soon(probe.run)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        assert run.argvs == []  # nothing planned: nothing asked
        plan[0] = ("v2", 100)
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    assert run.argvs[0][:4] == ["docker", "ps", "--filter", "label=com.docker.compose.project=proj"]
    execs = [a for a in run.argvs if a[1] == "exec"]
    assert {a[2] for a in execs} >= {"c1", "c2"} and "c3" not in {a[2] for a in execs}
    assert execs[0][3:5] == ["sh", "-c"] and execs[0][-3:] == ["/h", "v2", "d"]
    first = {s.node: s for s in seen[:2]}
    assert first["val-a"].staged and not first["val-b"].staged
    assert first["val-b"].path == "/h/cosmovisor/upgrades/v2/bin/d"
