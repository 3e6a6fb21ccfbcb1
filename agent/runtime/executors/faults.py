"""Scenario faults and remediation: real faults on the real stack.

Each fault undoes itself (a paused container is unpaused, a cut network
reconnected) in a shielded cleanup, so a cancelled or timed-out fault never
leaves the stack broken; ``stop`` lasts for good by design (the node missed
the upgrade: the restart on v2 leaves it out).
"""

from __future__ import annotations

import anyio
import structlog

from agent.core.actions import InjectFault, RemediateNodes
from agent.core.facts import Fact, FaultInjected, NodesRemediated
from agent.core.machine import State
from agent.errors import ProtocolError, TransientError
from agent.runtime.executors.context import ExecContext

__all__ = ["inject_fault", "remediate"]

log = structlog.get_logger("agent.faults")

DOCKER_DEADLINE = 30.0
# restart-in-window: how long the halt may take to come, how often it is looked for.
WINDOW_WAIT_S = 90.0
WINDOW_LOOK_S = 0.1


def _service(ctx: ExecContext, node: str) -> str:
    for n in ctx.settings.nodes:
        if n.name == node:
            return n.service or n.name
    raise ProtocolError(f"fault names no configured node: {node!r}")


async def _container(ctx: ExecContext, node: str) -> str:
    service = _service(ctx, node)
    cid = (await ctx.compose.container_ids()).get(service)
    if cid is None:
        raise TransientError(f"no running container for {service}")
    return cid


async def inject_fault(ctx: ExecContext, action: InjectFault, state: State) -> Fact:
    kind, node = action.kind, action.node
    log.warning("fault_injecting", fault=action.name, kind=kind, node=node, seconds=action.seconds)
    absent: tuple[str, ...] = ()
    if kind == "pause":
        cid = await _container(ctx, node)
        await ctx.docker.pause(cid, DOCKER_DEADLINE)
        try:
            await ctx.clock.sleep(action.seconds)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(DOCKER_DEADLINE):
                await ctx.docker.unpause(cid, DOCKER_DEADLINE)
        detail = f"{node} paused for {action.seconds:.0f} s"
    elif kind == "disconnect":
        cid = await _container(ctx, node)
        names = sorted(await ctx.docker.networks(cid, DOCKER_DEADLINE))
        cut: list[str] = []
        try:
            for net in names:
                await ctx.docker.disconnect(net, cid, DOCKER_DEADLINE)
                cut.append(net)
            await ctx.clock.sleep(action.seconds)
        finally:
            # Whatever was cut is joined again, even after a failed or cancelled cut.
            with anyio.CancelScope(shield=True), anyio.move_on_after(DOCKER_DEADLINE):
                for net in cut:
                    await ctx.docker.connect(net, cid, DOCKER_DEADLINE)
        detail = f"{node} cut from {', '.join(names)} for {action.seconds:.0f} s"
    elif kind == "stop":
        cid = await _container(ctx, node)
        await ctx.docker.stop(cid, 5, DOCKER_DEADLINE)
        absent = (node,)
        detail = f"{node} stopped for good"
    elif kind == "stop_unseen":
        # Stopped behind the rehearsal's back: the machine still waits for the node,
        # as it would for one an operator stopped by mistake.
        cid = await _container(ctx, node)
        await ctx.docker.stop(cid, 5, DOCKER_DEADLINE)
        detail = f"{node} stopped, the machine not told"
    elif kind == "remove_upgrade_binary":
        cid = await _container(ctx, node)
        name = state.params.upgrade_name
        home = ctx.settings.chain.daemon_home
        dirs = sorted(
            {f"{home}/cosmovisor/upgrades/{name}", f"{home}/cosmovisor/upgrades/{name.lower()}"}
        )
        await ctx.docker.exec(cid, ["rm", "-rf", *dirs], deadline=DOCKER_DEADLINE)
        detail = f"{node}: removed {', '.join(dirs)}"
    elif kind == "kill_in_window":
        detail = await _kill_in_window(ctx, node)
    elif kind == "cut_streams":
        if ctx.cut_streams is None:
            raise ProtocolError("this run has no stream proxy to cut")
        count = await ctx.cut_streams()
        detail = f"{count} stream connections closed"
    else:
        raise ProtocolError(f"unknown fault kind {kind!r}")
    log.warning("fault_injected", fault=action.name, detail=detail)
    return FaultInjected(action.name, detail, absent, **ctx.fact_kw())


async def _kill_in_window(ctx: ExecContext, node: str) -> str:
    """Kill ``node``'s container once the halt wrote upgrade-info.json (the window
    opens), then start it again. What the swap had done by then is read in the same
    look, so the report says which side of the swap the kill landed on."""
    cid = await _container(ctx, node)
    chain = ctx.settings.chain
    info = f"{chain.node_home}/data/upgrade-info.json"
    link = f"{chain.daemon_home}/cosmovisor/current"
    look = f'test -f {info} || exit 0; echo "current -> $(readlink {link} || echo none)"'
    end = ctx.clock.monotonic() + WINDOW_WAIT_S
    while True:
        r = await ctx.docker.exec(cid, ["sh", "-c", look], deadline=DOCKER_DEADLINE, check=False)
        seen = r.stdout.strip()
        if seen.startswith("current -> "):
            break
        if ctx.clock.monotonic() > end:
            raise TransientError(f"{node} wrote no {info} within {WINDOW_WAIT_S:.0f} s")
        await ctx.clock.sleep(WINDOW_LOOK_S)
    await ctx.docker.kill(cid, DOCKER_DEADLINE)
    await ctx.docker.start(cid, DOCKER_DEADLINE)
    side = "after the swap" if "/upgrades/" in seen else "inside the window, before the swap"
    return f"{node} killed and started again at the halt ({side}: upgrade-info.json, {seen})"


async def remediate(ctx: ExecContext, action: RemediateNodes, _state: State) -> Fact:
    """Recreate the nodes that did not resume on the new binary (v2 Compose file)."""
    s = ctx.settings.stack
    services = [_service(ctx, n) for n in action.nodes]
    log.warning("remediating", nodes=list(action.nodes))
    await ctx.compose.up([s.base_file, s.v2_file], services=services)
    return NodesRemediated(action.nodes, **ctx.fact_kw())
