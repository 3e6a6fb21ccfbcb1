"""Why a node's container exited during the upgrade: its last log lines.

Never fails: logs that cannot be read are the reason given, so the rehearsal
still fails at once, naming the node and its exit code.
"""

from __future__ import annotations

import structlog

from agent.core.actions import ExplainExit
from agent.core.exits import exit_reason
from agent.core.facts import ExitExplained, Fact
from agent.core.machine import State
from agent.errors import AgentError
from agent.runtime.executors.context import ExecContext

__all__ = ["explain_exit"]

log = structlog.get_logger("agent.executor")

LOG_LINES = 40
LOGS_DEADLINE_S = 15.0


async def explain_exit(ctx: ExecContext, action: ExplainExit, _state: State) -> Fact:
    try:
        # A stopped container keeps its logs; stdout and stderr both carry them.
        reason = exit_reason(await ctx.docker.logs(action.container_id, LOG_LINES, LOGS_DEADLINE_S))
    except AgentError as exc:
        reason = f"its logs could not be read: {exc}"
    log.warning("node_exited", node=action.node, code=action.exit_code, reason=reason)
    return ExitExplained(action.node, action.exit_code, reason, **ctx.fact_kw())
