"""Executors: perform one action, reconcile it with the chain, return a fact.

One function per action type, split by job (``stack``, ``governance``,
``verify``), looked up in ``HANDLERS``. Failures come back as ``ActionFailed``
facts with the reason; an executor never raises into the task group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import structlog

from agent.core.actions import (
    Action,
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
from agent.core.facts import ActionFailed, Fact, ReportWritten
from agent.core.machine import State
from agent.errors import AgentError, DockerUnavailable, EnvironmentProblem, ProtocolError
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.exits import explain_exit
from agent.runtime.executors.faults import inject_fault, remediate
from agent.runtime.executors.governance import cast_vote, submit_proposal
from agent.runtime.executors.prepare import prepare_state
from agent.runtime.executors.stack import launch, restart
from agent.runtime.executors.verify import (
    capture_baseline,
    verify_no_upgrade,
    verify_restart,
    verify_upgrade,
)

__all__ = ["ExecContext", "Executor", "HANDLERS"]

log = structlog.get_logger("agent.executor")

Handler = Callable[[ExecContext, Any, State], Awaitable[Fact]]


async def _write_report(ctx: ExecContext, _action: WriteReport, state: State) -> Fact:
    met: bool | None = None
    verdict = ""
    if ctx.judge is not None:
        met, findings = await ctx.judge(state)
        verdict = "; ".join(findings)
        state = replace(state, verdict_met=met, verdict=verdict)
    path = await ctx.write_report(state)
    return ReportWritten(str(path), verdict_met=met, verdict=verdict, **ctx.fact_kw())


HANDLERS: dict[type, Handler] = {
    LaunchStack: launch,
    PrepareState: prepare_state,
    SubmitProposal: submit_proposal,
    CastVote: cast_vote,
    CaptureBaseline: capture_baseline,
    VerifyUpgrade: verify_upgrade,
    RestartOnV2: restart,
    VerifyRestart: verify_restart,
    WriteReport: _write_report,
    InjectFault: inject_fault,
    RemediateNodes: remediate,
    VerifyNoUpgrade: verify_no_upgrade,
    ExplainExit: explain_exit,
}


class Executor:
    def __init__(self, ctx: ExecContext, handlers: dict[type, Handler] | None = None) -> None:
        self.ctx = ctx
        self.handlers = HANDLERS if handlers is None else handlers

    async def run(self, action: Action, state: State) -> Fact:
        """Perform ``action``; never raises, except cancellation and
        ``DockerUnavailable``, which stops the run without a failure to journal."""
        ctx = self.ctx
        log.info("action_start", action=action.key, height=ctx.view.max_height)
        try:
            handler = self.handlers.get(type(action))
            if handler is None:
                raise ProtocolError(f"no executor for {action!r}")
            fact = await handler(ctx, action, state)
        except DockerUnavailable:
            raise  # the machine's fault: the run stops unfailed, to be resumed
        except AgentError as exc:
            log.warning("action_failed", action=action.key, error=str(exc))
            return ActionFailed(action.key, str(exc), **ctx.fact_kw(),
                                environment=isinstance(exc, EnvironmentProblem))  # fmt: skip
        except Exception as exc:  # a bug must fail the rehearsal, not kill the daemon
            log.exception("action_crashed", action=action.key)
            return ActionFailed(action.key, f"internal error: {exc!r}", **ctx.fact_kw())
        log.info("action_done", action=action.key, fact=type(fact).__name__)
        return fact
