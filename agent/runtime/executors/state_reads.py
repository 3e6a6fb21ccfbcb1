"""Reads of application state: player infos, the stored leaderboard, balances."""

from __future__ import annotations

from agent import checkers
from agent.errors import ProtocolError
from agent.runtime.executors.context import ExecContext

__all__ = ["balances", "players", "stored_leaderboard"]


async def players(ctx: ExecContext) -> list[checkers.PlayerInfo]:
    async def read() -> list[checkers.PlayerInfo]:
        raw = await ctx.tx_rpc.abci_query("/store/checkers/subspace", checkers.PLAYER_PREFIX)
        return checkers.parse_players(checkers.decode_kv_pairs(raw or b""))

    return await ctx.on_next_blocks("player_infos", read)


async def stored_leaderboard(ctx: ExecContext) -> list[tuple[str, int]]:
    async def read() -> list[tuple[str, int]]:
        raw = await ctx.tx_rpc.abci_query("/store/checkers/key", checkers.LEADERBOARD_KEY)
        if raw is None:
            raise ProtocolError("no leaderboard in the checkers store")
        return checkers.parse_leaderboard(raw)

    return await ctx.on_next_blocks("leaderboard", read)


async def balances(ctx: ExecContext) -> tuple[tuple[str, int], ...]:
    async def read() -> tuple[tuple[str, int], ...]:
        out = []
        for v in ctx.cfg.voters:
            addr = await ctx.cli.address(v)
            out.append((addr, await ctx.rest.balance(addr, ctx.cfg.chain.denom)))
        return tuple(out)

    return await ctx.on_next_blocks("balances", read)
