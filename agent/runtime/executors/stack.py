"""Launch the stack on v1 under Cosmovisor; restart it on v2."""

from __future__ import annotations

from agent.concurrency import gather
from agent.core.actions import LaunchStack, RestartOnV2
from agent.core.facts import Fact, StackLaunched, StackRestarted
from agent.core.machine import State
from agent.errors import CommandFailed, EnvironmentProblem
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.staged import check_v2_staged
from agent.runtime.executors.state_reads import balances

__all__ = ["launch", "restart"]


async def launch(ctx: ExecContext, action: LaunchStack, state: State) -> Fact:
    if action.attach:
        return StackLaunched(**ctx.fact_kw())  # the network runs already: touch nothing
    s = ctx.settings.stack
    files = [s.base_file, s.cosmovisor_file, *state.params.launch_overlays]
    # A CLI box on the stack's network would keep `down` from removing the network.
    await ctx.cli.release_network()
    if await ctx.compose.has_containers():  # a fresh machine has nothing to take down
        await ctx.compose.down(files)
    env = ctx.settings.stack_env

    async def reset() -> None:
        await ctx.run(
            s.reset_command,
            deadline=ctx.settings.timing.command_timeout,
            env=env,
            cwd=ctx.settings.base_dir,
        )

    async def ports() -> None:
        try:
            await ctx.run(s.ports_check_command, deadline=60, env=env, cwd=ctx.settings.base_dir)
        except CommandFailed as exc:  # a busy host port is the machine's problem (exit 2)
            raise EnvironmentProblem(
                f"host ports check failed: {exc}",
                "free the ports, or stop what holds them; `rehearse doctor` checks them",
            ) from exc

    # Independent: the reset touches the homes, the check the host's ports. An empty
    # command is none (the CLI refuses a rehearsal that would need a missing reset).
    steps = [(reset, s.reset_command and action.reset), (ports, s.ports_check_command)]
    await gather(*(step for step, wanted in steps if wanted))
    await ctx.compose.up(files)
    # While the nodes start (the chain goes live seconds later, so it costs nothing):
    # a node without v2 staged fails the rehearsal now, before any proposal.
    await check_v2_staged(ctx, state)
    return StackLaunched(**ctx.fact_kw())


async def restart(ctx: ExecContext, _action: RestartOnV2, state: State) -> Fact:
    s = ctx.settings.stack
    last = ctx.view.max_height
    kept = await balances(ctx)
    if state.params.attach:
        # Cosmovisor swapped the binaries in place; a team may restart its way.
        if s.restart_command:
            await ctx.run(
                s.restart_command,
                deadline=ctx.settings.timing.restart_timeout,
                cwd=ctx.settings.base_dir,
            )
        return StackRestarted(last_height=last, balances=kept, **ctx.fact_kw())
    # One `up` with the v2 file recreates every node on the v2 image (stop,
    # remove, start, all at once): the same safe stop as down + up, without
    # tearing the networks down and building them again.
    # A node a scenario took away for good stays away: it missed the upgrade,
    # and the new binary alone cannot replay the old binary's blocks.
    services = (
        [n.service or n.name for n in ctx.settings.nodes if n.name not in state.absent]
        if state.absent
        else []
    )
    await ctx.compose.up([s.base_file, s.v2_file], services=services, remove_orphans=True)
    return StackRestarted(last_height=last, balances=kept, **ctx.fact_kw())
