"""The baseline before the upgrade and the checks after it and after the restart.

Built-in checks (any chain): Cosmovisor's ``current`` on every node, the applied
plan's height, the app version changed, app hashes agree after the migration,
blocks resumed after the restart, the voters' balances kept. Each can be
switched off (``[verify] disable``). Then the profile's declared checks
(``[[reads]]``/``[[checks]]``). Each check carries its evidence, so a failed
rehearsal says what was seen.
"""

from __future__ import annotations

from functools import partial

import anyio
import structlog

from agent.adapters.rpc import AbciInfo, CometRPC
from agent.concurrency import gather
from agent.config import NodeConfig
from agent.core.actions import CaptureBaseline, VerifyNoUpgrade, VerifyRestart, VerifyUpgrade
from agent.core.apphash import split
from agent.core.facts import (
    BaselineCaptured,
    Check,
    Fact,
    NoUpgradeVerified,
    RestartVerified,
    UpgradeVerified,
)
from agent.core.machine import State
from agent.core.scenarios import plan_checksum
from agent.errors import AgentError, ProtocolError, TransientError
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.declared import judge_stage, take_reads
from agent.runtime.executors.state_reads import balances

log = structlog.get_logger("agent.executor")

__all__ = ["capture_baseline", "verify_no_upgrade", "verify_restart", "verify_upgrade"]


def _on(ctx: ExecContext, name: str) -> bool:
    return name not in ctx.settings.verify_disabled


async def capture_baseline(ctx: ExecContext, _action: CaptureBaseline, _state: State) -> Fact:
    reads = await take_reads(ctx, "baseline")
    info = await ctx.tx_rpc.abci_info()
    fact = BaselineCaptured(
        reads=reads,
        balances=await balances(ctx),
        app_version=info.app_version,
        **ctx.fact_kw(),
    )
    # The upgrade's reads run on the v2 CLI: its box is started now, well before
    # the upgrade height, so the checks after the halt only exec into it.
    if ctx.settings.cli_binaries_read() & {"v2"}:
        try:
            await ctx.cli.warm(voters=False, v2=True)
        except AgentError as exc:  # the reads will start it themselves (and say why not)
            log.info("cli_box_warm_failed", error=str(exc)[:300])
    return fact


async def _current_link(ctx: ExecContext, service: str, ids: dict[str, str]) -> str:
    cid = ids.get(service)
    if cid is None:
        raise TransientError(f"no running container for {service}")
    link = f"{ctx.settings.chain.daemon_home}/cosmovisor/current"
    r = await ctx.docker.exec(cid, ["readlink", link], deadline=30)
    return r.stdout.strip()


async def _fetched_sha256(ctx: ExecContext, service: str, ids: dict[str, str], plan: str) -> str:
    """The SHA-256 of the binary Cosmovisor holds for ``plan`` in ``service``'s container."""
    cid = ids.get(service)
    if cid is None:
        return "no running container"
    c = ctx.settings.chain
    path = f"{c.daemon_home}/cosmovisor/upgrades/{plan.lower()}/bin/{c.binary}"
    try:
        r = await ctx.docker.exec(cid, ["sha256sum", path], deadline=30)
    except AgentError as exc:
        return f"unread ({str(exc)[:80]})"
    return (r.stdout.split() or ["nothing"])[0].lower()


# How long a node may show the upgrade height before its app committed it: a few
# blocks' worth on any chain; beyond that something holds it (a halted old binary
# with the block stored, not executed), and the check names the node.
COMMITTED_WITHIN_S = 60.0


async def _committed(
    ctx: ExecContext, rpcs: dict[str, CometRPC], height: int
) -> dict[str, AbciInfo]:
    """Once every node's app committed ``height``, each one's ``abci_info`` that said
    so (the version and app-hash checks read these, not a second round).

    The machine starts the checks once every node showed the height and every app
    said it executed it (``ReadCommitted``), so this passes on its first look; it
    stays for what the machine's wait does not cover (a journal from before that
    wait, which awaited a block past the height; a node whose app went back), so
    no check reads a node whose app lags its blocks, and a node that never commits
    is named rather than timed out. A node that cannot answer yet (restarting
    under Cosmovisor) is asked again."""
    seen: dict[str, str] = {}
    infos: dict[str, AbciInfo] = {}

    async def committed(name: str, rpc: CometRPC) -> bool:
        try:
            info = await rpc.abci_info()
        except TransientError as exc:
            seen[name] = f"no answer ({str(exc)[:80]})"
            return False
        seen[name] = f"app at {info.last_block_height} ({info.version})"
        infos[name] = info
        return info.last_block_height >= height

    waiting = dict(rpcs)
    with anyio.move_on_after(COMMITTED_WITHIN_S):
        while True:
            done = await gather(*(partial(committed, n, r) for n, r in waiting.items()))
            waiting = {n: r for (n, r), ok in zip(waiting.items(), done, strict=True) if not ok}
            if not waiting:
                return {n: infos[n] for n in rpcs}
            await ctx.next_block_or_moment()
    raise ProtocolError(
        f"upgrade height {height} not committed within {COMMITTED_WITHIN_S:g}s by: "
        + ", ".join(f"{n} ({seen.get(n, 'not asked')})" for n in waiting)
    )


async def verify_upgrade(ctx: ExecContext, action: VerifyUpgrade, state: State) -> Fact:
    """Every check at once (the links, the plan, the versions, the declared reads, the
    app hashes after block h), once every node's app committed block h: the new
    binary ran the migration. The report lists them in a fixed order."""
    name, h = action.upgrade_name, action.upgrade_height
    present = [n for n in ctx.settings.nodes if n.name not in state.absent]
    rpcs = {n: r for n, r in ctx.rpcs.items() if n not in state.absent}
    infos = await _committed(ctx, rpcs, h)

    async def cosmovisor_current() -> list[Check]:
        # Attached to a network we did not launch: its containers are not ours to inspect.
        if not _on(ctx, "cosmovisor_current") or state.params.attach:
            return []
        want = f"upgrades/{name.lower()}"
        ids = await ctx.compose.container_ids()

        async def link(n: NodeConfig) -> str:
            try:
                return await _current_link(ctx, n.service or n.name, ids)
            except AgentError as exc:
                return f"error: {exc}"

        # Swapped by the agent (remediated), not by Cosmovisor: not asked.
        asked = [n for n in present if n.name not in state.remediated]
        got = await gather(*(partial(link, n) for n in asked))
        links = {n.name: v for n, v in zip(asked, got, strict=True)}
        bad = [f"{k} -> {v}" for k, v in links.items() if not v.rstrip("/").endswith(want)]
        note = (
            f"; remediated by the agent: {', '.join(state.remediated)}" if state.remediated else ""
        )
        # A node that downloaded v2 (auto-download): what it fetched is the plan's.
        checksum = plan_checksum(state.params.upgrade_info)
        for n in asked:
            if n.name not in state.params.download_nodes or not checksum:
                continue
            fetched = await _fetched_sha256(ctx, n.service or n.name, ids, name)
            if fetched == checksum:
                note += f"; {n.name} downloaded v2 (sha256 {fetched[:12]}..., the plan's)"
            else:
                bad.append(
                    f"{n.name} downloaded sha256 {fetched[:12]}, the plan says {checksum[:12]}"
                )
        return [Check("cosmovisor_current", not bad, ("; ".join(bad) or f"all -> {want}") + note)]

    async def applied_plan_height() -> list[Check]:
        if not _on(ctx, "applied_plan_height"):
            return []
        # REST on an SDK v0.50 node answers 503 until its gRPC server is up, a moment
        # after the node committed the height: asked again on the next blocks.
        applied = await ctx.on_next_blocks("applied plan", lambda: ctx.rest.applied_plan(name))
        return [Check("applied_plan_height", applied == h, f"applied at {applied}, planned {h}")]

    async def app_version_changed() -> list[Check]:
        if not _on(ctx, "app_version_changed"):
            return []
        before = state.baseline.app_version if state.baseline else None
        versions = infos
        changed = all(before is not None and v.app_version != before for v in versions.values())
        return [
            Check(
                "app_version_changed",
                changed,
                f"before {before}; after "
                + ", ".join(f"{n}={v.app_version} ({v.version})" for n, v in versions.items()),
            )
        ]

    taken: list[tuple[tuple[str, str], ...]] = []

    async def declared() -> list[Check]:
        reads = await take_reads(ctx, "upgraded")
        taken.append(reads)
        baseline_reads = state.baseline.reads if state.baseline else ()
        return await judge_stage(ctx, "upgraded", reads, baseline_reads)

    async def app_hash_agree() -> list[Check]:
        if not _on(ctx, "app_hash_agree"):
            return []

        # The state after executing block h (the migration): the app's own last hash
        # while it is at h, block h+1's header once it has gone on. The checks start
        # when every app executed h, not a block later.
        async def after_h(name: str) -> str:
            info = infos[name]
            if info.last_block_height == h:
                return info.last_block_app_hash
            return (await rpcs[name].block_header(h + 1)).app_hash

        got = await gather(*(partial(after_h, n) for n in rpcs))
        hashes = dict(zip(rpcs, got, strict=True))
        diverged = split(h, hashes)
        if diverged is not None:
            return [Check("app_hash_agree", False, diverged.message)]
        return [
            Check(
                "app_hash_agree",
                True,
                f"after {h}: " + ", ".join(f"{n}={v[:12]}" for n, v in hashes.items()),
            )
        ]

    links, applied, versions, judged, hashes = await gather(
        cosmovisor_current, applied_plan_height, app_version_changed, declared, app_hash_agree
    )
    checks: list[Check] = [*links, *applied, *versions]
    if state.baseline is None:
        checks.append(Check("baseline", False, "the baseline was never read before the upgrade"))
    checks += [*judged, *hashes]
    return UpgradeVerified(tuple(checks), reads=taken[0], **ctx.fact_kw())


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

    async def declared() -> list[Check]:
        reads = await take_reads(ctx, "restarted")
        baseline_reads = state.baseline.reads if state.baseline else ()
        return await judge_stage(ctx, "restarted", reads, baseline_reads, state.upgrade_reads)

    async def balances_kept() -> list[Check]:
        if not _on(ctx, "balances_kept"):
            return []
        now = await balances(ctx)
        before = list(state.restart_balances)
        return [
            Check(
                "balances_kept",
                now == state.restart_balances,
                f"before {before}, after {list(now)}",
            )
        ]

    async def traffic() -> list[Check]:
        return [] if ctx.traffic is None else [await ctx.traffic.settle()]

    judged, kept, sent = await gather(declared, balances_kept, traffic)
    return RestartVerified(tuple(checks + judged + kept + sent), **ctx.fact_kw())


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
