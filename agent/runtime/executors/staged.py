"""At launch: every node under Cosmovisor has v2 staged for the plan name.

With a wrong plan name every node exits a second after the halt (Cosmovisor: the
binary is not present), and a rehearsal used to wait out its whole deadline to say
"stalled". Checked inside each container as the stack comes up, long before the
proposal, so a missing binary ends the rehearsal with exit 2 and nothing on chain.
A node that runs without Cosmovisor (no ``<daemon_home>/cosmovisor``) is not asked:
it is expected to halt (the carol-without-cosmovisor scenario).
"""

from __future__ import annotations

from functools import partial

import structlog

from agent.adapters.staged import STAGED_SCRIPT, staged
from agent.concurrency import gather
from agent.core.machine import State
from agent.errors import CommandFailed, EnvironmentProblem
from agent.runtime.executors.context import ExecContext

__all__ = ["STAGED_SCRIPT", "check_v2_staged"]

log = structlog.get_logger("agent.executor")


async def check_v2_staged(ctx: ExecContext, state: State) -> None:
    """Raise ``EnvironmentProblem`` naming each node and the path it lacks."""
    c = ctx.settings.chain
    name = state.params.upgrade_name
    ids = await ctx.compose.container_ids()
    missing: dict[str, str] = {}

    async def one(node: str, cid: str) -> None:
        deadline = ctx.settings.timing.command_timeout
        try:
            found = await staged(ctx.docker, cid, c.daemon_home, name, c.binary, deadline)
        except CommandFailed as exc:  # the container went away: the watchdog's business
            log.info("staged_check_skipped", node=node, error=str(exc)[:200])
            return
        if found is None:  # no shell in the image, say: not a verdict
            log.info("staged_check_skipped", node=node)
        elif not found[0]:
            missing[node] = found[1]

    nodes = [
        (n.name, ids[n.service or n.name])
        for n in ctx.settings.nodes
        if n.name not in state.absent
        and n.name not in state.params.download_nodes  # they fetch it at the halt
        and (n.service or n.name) in ids
    ]
    await gather(*(partial(one, node, cid) for node, cid in nodes))
    if missing:
        where = "; ".join(f"{n}: no {p}" for n, p in sorted(missing.items()))
        raise EnvironmentProblem(
            f"v2 is not staged for plan {name!r} ({where})",
            "stage the new binary under Cosmovisor's upgrades/<plan name>/bin/ in each "
            "node's image, or set chain.upgrade_name to the plan name the images stage",
        )
    log.info("v2_staged", plan=name, nodes=len(nodes))
