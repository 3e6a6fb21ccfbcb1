"""Executor.run: every action has a handler; errors and crashes become ActionFailed."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
import structlog.testing
from fakes import (
    World,
)
from fakes.executors import SUBMIT, only, state

from agent.core.actions import (
    CaptureBaseline,
    CastVote,
    ExplainExit,
    InjectFault,
    LaunchStack,
    PrepareState,
    RemediateNodes,
    RestartOnV2,
    SubmitProposal,
    VerifyNoUpgrade,
    VerifyRestart,
    VerifyUpgrade,
    WriteReport,
)
from agent.core.facts import (
    ActionFailed,
    ReportWritten,
)
from agent.runtime.executors import HANDLERS, Executor

pytestmark = pytest.mark.anyio


async def test_every_action_type_has_a_handler(world: World) -> None:
    assert set(HANDLERS) == {
        LaunchStack,
        PrepareState,
        ExplainExit,
        SubmitProposal,
        CastVote,
        CaptureBaseline,
        VerifyUpgrade,
        RestartOnV2,
        VerifyRestart,
        WriteReport,
        InjectFault,
        RemediateNodes,
        VerifyNoUpgrade,
    }


async def test_executor_runs_write_report(world: World) -> None:
    s = state()
    fact = await Executor(world.ctx).run(WriteReport(), s)
    assert isinstance(fact, ReportWritten) and fact.path.endswith("report.json")
    assert world.reports == [s]


async def test_executor_turns_agent_errors_into_action_failed(world: World) -> None:
    world.chain.include = False
    fact = await Executor(world.ctx).run(SUBMIT, state())
    tx_hash = only(world.ledger.records)[2]
    assert fact == ActionFailed(
        "submit_proposal",
        f"submit_proposal tx {tx_hash} not included within 10 blocks",
        height=world.view.max_height,
        at=world.clock.wall(),
    )


async def test_executor_turns_a_crash_into_action_failed(world: World) -> None:
    async def boom(*_a: Any) -> Any:
        raise KeyError("oops")

    # Captured, not rendered: the console renderer's rich traceback reads the source
    # files (blocking I/O the blockbuster fixture refuses).
    with structlog.testing.capture_logs() as logs:
        fact = await Executor(world.ctx, {LaunchStack: boom}).run(LaunchStack(), state())
    assert isinstance(fact, ActionFailed)
    assert fact.reason == "internal error: KeyError('oops')"
    crashed = only([e for e in logs if e["event"] == "action_crashed"])
    assert crashed["action"] == "launch_stack" and crashed["log_level"] == "error"


async def test_executor_without_a_handler_fails_the_action(world: World) -> None:
    fact = await Executor(world.ctx, {}).run(RestartOnV2(), state())
    assert isinstance(fact, ActionFailed) and fact.reason.startswith("no executor for")
