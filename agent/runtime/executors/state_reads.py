"""Reads of application state the built-in checks use: the voters' balances."""

from __future__ import annotations

from agent.runtime.executors.context import ExecContext

__all__ = ["balances"]


async def balances(ctx: ExecContext) -> tuple[tuple[str, int], ...]:
    async def read() -> tuple[tuple[str, int], ...]:
        out = []
        for v in ctx.settings.voters:
            addr = await ctx.cli.address(v)
            out.append((addr, await ctx.rest.balance(addr, ctx.settings.chain.denom)))
        return tuple(out)

    return await ctx.on_next_blocks("balances", read)
