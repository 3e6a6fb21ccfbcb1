"""The baseline before the upgrade and the checks after it and after the restart.

Built-in checks (any chain): Cosmovisor's ``current`` on every node, the applied
plan's height, the app version changed, app hashes agree after the migration,
blocks resumed after the restart, the voters' balances kept. Each can be
switched off (``[verify] disable``). Then the profile's declared checks
(``[[reads]]``/``[[checks]]``). Each check carries its evidence, so a failed
rehearsal says what was seen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from agent.adapters.process import run_command
from agent.adapters.rpc import CometRPC
from agent.config import NodeConfig
from agent.core.actions import CaptureBaseline, VerifyNoUpgrade, VerifyRestart, VerifyUpgrade
from agent.core.facts import (
    BaselineCaptured,
    Check,
    Fact,
    NoUpgradeVerified,
    RestartVerified,
    UpgradeVerified,
)
from agent.core.machine import State
from agent.errors import AgentError, TransientError
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.declared import judge_stage, take_reads
from agent.runtime.executors.state_reads import balances

__all__ = ["capture_baseline", "verify_no_upgrade", "verify_restart", "verify_upgrade"]

T = TypeVar("T")


async def _each(
    rpcs: dict[str, CometRPC], call: Callable[[CometRPC], Awaitable[T]]
) -> dict[str, T]:
    """``call`` on every node at once; the answers in the nodes' order."""
    got: dict[str, T] = {}

    async def one(name: str, rpc: CometRPC) -> None:
        got[name] = await call(rpc)

    async with anyio.create_task_group() as tg:
        for name, rpc in rpcs.items():
            tg.start_soon(one, name, rpc)
    return {n: got[n] for n in rpcs}


def _on(ctx: ExecContext, name: str) -> bool:
    return name not in ctx.cfg.verify.disable


async def capture_baseline(ctx: ExecContext, _action: CaptureBaseline, _state: State) -> Fact:
    reads = await take_reads(ctx, "baseline")
    info = await ctx.tx_rpc.abci_info()
    return BaselineCaptured(
        reads=reads,
        balances=await balances(ctx),
        app_version=info.app_version,
        **ctx.fact_kw(),
    )


async def _current_link(ctx: ExecContext, service: str, ids: dict[str, str]) -> str:
    cid = ids.get(service)
    if cid is None:
        raise TransientError(f"no running container for {service}")
    link = f"{ctx.cfg.chain.daemon_home}/cosmovisor/current"
    r = await run_command(["docker", "exec", cid, "readlink", link], deadline=30)
    return r.stdout.strip()


async def verify_upgrade(ctx: ExecContext, action: VerifyUpgrade, state: State) -> Fact:
    checks: list[Check] = []
    name, h = action.upgrade_name, action.upgrade_height
    present = [n for n in ctx.cfg.nodes if n.name not in state.absent]
    rpcs = {n: r for n, r in ctx.rpcs.items() if n not in state.absent}

    # Attached to a network we did not launch: its containers are not ours to inspect.
    if _on(ctx, "cosmovisor_current") and not state.params.attach:
        want = f"upgrades/{name.lower()}"
        links: dict[str, str] = {}
        ids = await ctx.compose.container_ids()

        async def link(n: NodeConfig) -> None:
            try:
                links[n.name] = await _current_link(ctx, n.service or n.name, ids)
            except AgentError as exc:
                links[n.name] = f"error: {exc}"

        async with anyio.create_task_group() as tg:
            for n in present:
                if n.name not in state.remediated:  # swapped by the agent, not Cosmovisor
                    tg.start_soon(link, n)
        links = {n.name: links[n.name] for n in present if n.name in links}
        bad = [f"{k} -> {v}" for k, v in links.items() if not v.rstrip("/").endswith(want)]
        note = (
            f"; remediated by the agent: {', '.join(state.remediated)}" if state.remediated else ""
        )
        checks.append(
            Check("cosmovisor_current", not bad, ("; ".join(bad) or f"all -> {want}") + note)
        )

    if _on(ctx, "applied_plan_height"):
        applied = await ctx.rest.applied_plan(name)
        checks.append(
            Check("applied_plan_height", applied == h, f"applied at {applied}, planned {h}")
        )

    if _on(ctx, "app_version_changed"):
        before = state.baseline.app_version if state.baseline else None
        versions = await _each(rpcs, lambda r: r.abci_info())
        changed = all(before is not None and v.app_version != before for v in versions.values())
        checks.append(
            Check(
                "app_version_changed",
                changed,
                f"before {before}; after "
                + ", ".join(f"{n}={v.app_version} ({v.version})" for n, v in versions.items()),
            )
        )

    if state.baseline is None:
        checks.append(Check("baseline", False, "the baseline was never read before the upgrade"))
    reads = await take_reads(ctx, "upgraded")
    baseline_reads = state.baseline.reads if state.baseline else ()
    checks += await judge_stage(ctx, "upgraded", reads, baseline_reads)

    if _on(ctx, "app_hash_agree"):
        # State after executing block h (the migration) is in block h+1's app hash.
        target = h + 1
        while not ctx.view.all_above(target - 1, state.absent):
            await ctx.wait_blocks(1)
        headers = await _each(rpcs, lambda r: r.block_header(target))
        hashes = {n: h.app_hash for n, h in headers.items()}
        checks.append(
            Check(
                "app_hash_agree",
                len(set(hashes.values())) == 1,
                f"at {target}: " + ", ".join(f"{n}={v[:12]}" for n, v in hashes.items()),
            )
        )
    return UpgradeVerified(tuple(checks), reads=reads, **ctx.fact_kw())


async def verify_restart(ctx: ExecContext, action: VerifyRestart, state: State) -> Fact:
    checks: list[Check] = []
    if _on(ctx, "blocks_resumed"):
        heights = {n: h for n, h in ctx.view.heights().items() if n not in state.absent}
        checks.append(
            Check(
                "blocks_resumed",
                all(h > action.last_height for h in heights.values()),
                f"last before restart {action.last_height}; now "
                + ", ".join(f"{n}={h}" for n, h in heights.items()),
            )
        )
    reads = await take_reads(ctx, "restarted")
    baseline_reads = state.baseline.reads if state.baseline else ()
    checks += await judge_stage(ctx, "restarted", reads, baseline_reads, state.upgrade_reads)
    if _on(ctx, "balances_kept"):
        now = await balances(ctx)
        checks.append(
            Check(
                "balances_kept",
                now == state.restart_balances,
                f"before {list(state.restart_balances)}, after {list(now)}",
            )
        )
    return RestartVerified(tuple(checks), **ctx.fact_kw())


async def verify_no_upgrade(ctx: ExecContext, action: VerifyNoUpgrade, state: State) -> Fact:
    """The proposal was rejected: the chain went past the height on the old binary."""
    checks: list[Check] = []
    h = action.upgrade_height
    applied = await ctx.rest.applied_plan(action.upgrade_name)
    checks.append(Check("no_plan_applied", applied == 0, f"applied_plan height {applied}"))
    heights = ctx.view.heights()
    past = all(v > h for n, v in heights.items() if n not in state.absent)
    checks.append(
        Check(
            "ran_past_height",
            past,
            f"planned {h}; now " + ", ".join(f"{n}={v}" for n, v in heights.items()),
        )
    )
    before = state.baseline.app_version if state.baseline else None
    versions = {n: (await r.abci_info()) for n, r in ctx.rpcs.items() if n not in state.absent}
    same = before is not None and all(v.app_version == before for v in versions.values())
    checks.append(
        Check(
            "app_version_unchanged",
            same,
            f"before {before}; now "
            + ", ".join(f"{n}={v.app_version} ({v.version})" for n, v in versions.items()),
        )
    )
    return NoUpgradeVerified(tuple(checks), **ctx.fact_kw())
