"""Launch the stack on v1 under Cosmovisor; restart it on v2."""

from __future__ import annotations

from agent.adapters.process import run_command
from agent.core.actions import LaunchStack, RestartOnV2
from agent.core.facts import Fact, StackLaunched, StackRestarted
from agent.core.machine import State
from agent.errors import CommandFailed, EnvironmentProblem
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.state_reads import balances, stored_leaderboard

__all__ = ["launch", "restart"]


async def launch(ctx: ExecContext, action: LaunchStack, state: State) -> Fact:
    s = ctx.cfg.stack
    files = [s.base_file, s.cosmovisor_file, *state.params.launch_overlays]
    await ctx.compose.down(files)
    env = {"REHEARSE_TESTNET_DIR": str(ctx.cfg.testnet_dir)}
    if action.reset:
        await run_command(
            s.reset_command,
            deadline=ctx.cfg.timing.command_timeout,
            env=env,
            cwd=ctx.cfg.base_dir,
        )
    try:
        await run_command(s.ports_check_command, deadline=60, env=env, cwd=ctx.cfg.base_dir)
    except CommandFailed as exc:  # a busy host port is the machine's problem (exit 2)
        raise EnvironmentProblem(
            f"host ports check failed: {exc}",
            "free the ports, or stop what holds them; `rehearse doctor` checks them",
        ) from exc
    await ctx.compose.up(files)
    return StackLaunched(**ctx.fact_kw())


async def restart(ctx: ExecContext, _action: RestartOnV2, state: State) -> Fact:
    s = ctx.cfg.stack
    last = ctx.view.max_height
    kept = await balances(ctx)
    board = await stored_leaderboard(ctx)
    await ctx.compose.down([s.base_file, s.cosmovisor_file, *state.params.launch_overlays])
    await ctx.compose.up([s.base_file, s.v2_file])
    return StackRestarted(
        last_height=last, balances=kept, leaderboard=tuple(board), **ctx.fact_kw()
    )
