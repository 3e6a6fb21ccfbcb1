"""A profile's declared reads and checks, taken and judged at each stage.

Reads are taken concurrently (each its own query with a deadline); a read
that fails is recorded as an error document, so the check that needs it fails
with the reason as evidence instead of failing the whole stage. The judging is
pure (``agent.core.checks``); program checks run the profile's program with
the baseline and current reads as JSON on stdin.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import anyio
import structlog

from agent.adapters.sdk import valoper_address
from agent.core.checks import (
    ReadSpec,
    evaluate,
    parse_program_verdict,
    reads_needed,
)
from agent.core.facts import Check
from agent.core.templates import fill, placeholders
from agent.errors import AgentError
from agent.runtime.executors.context import ExecContext

__all__ = ["judge_stage", "take_reads"]

log = structlog.get_logger("agent.checks")

READ_DEADLINE_S = 60.0
PROGRAM_DEADLINE_S = 60.0


async def _filled(ctx: ExecContext, spec: ReadSpec) -> ReadSpec:
    """``spec`` with its voter placeholders ({alice}, {alice.valoper}) filled."""
    named = [p.name for p in placeholders([spec.path, *spec.args])]
    if not named:
        return spec
    addresses = await ctx.addresses(named)
    return replace(
        spec,
        path=fill(spec.path, addresses, valoper=valoper_address),
        args=tuple(fill(a, addresses, valoper=valoper_address) for a in spec.args),
    )


async def _read(ctx: ExecContext, spec: ReadSpec) -> Any:
    spec = await _filled(ctx, spec)
    if spec.kind == "rest":
        return await ctx.rest.get_path(spec.path)
    if spec.kind == "rpc":
        method, _, query = spec.path.lstrip("/").partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        return await ctx.tx_rpc.get(method, params or None)
    if spec.kind == "abci":
        raw = await ctx.tx_rpc.abci_query(spec.path, spec.data.encode())
        return {"value": None if raw is None else base64.b64encode(raw).decode()}
    # The tx node first, then every other node: a node that is down must not fail
    # a read the others can answer (the CLI reaches them by service name).
    tx = ctx.settings.chain.tx_node
    services = [n.service or n.name for n in sorted(ctx.settings.nodes, key=lambda n: n.name != tx)]
    last: AgentError | None = None
    for service in services:
        try:
            return await ctx.cli.query(list(spec.args), v2=spec.binary == "v2", node=service)
        except AgentError as exc:
            last = exc
    assert last is not None
    raise last


async def take_reads(ctx: ExecContext, stage: str) -> tuple[tuple[str, str], ...]:
    """Every read some check needs at ``stage``: (name, JSON text), in config order."""
    specs = ctx.settings.reads
    names = reads_needed(ctx.settings.checks, stage)
    out: dict[str, str] = {}

    async def one(name: str) -> None:
        try:
            with anyio.fail_after(READ_DEADLINE_S):
                doc = await ctx.on_next_blocks(f"read {name}", lambda: _read(ctx, specs[name]))
            out[name] = json.dumps(doc, sort_keys=True)
        except (AgentError, TimeoutError) as exc:
            log.warning("declared_read_failed", read=name, stage=stage, error=str(exc)[:300])
            out[name] = json.dumps({"__error__": str(exc)[:500] or "timed out"})

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)
    return tuple((n, out[n]) for n in names)


def _docs(reads: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {name: json.loads(text) for name, text in reads}


async def judge_stage(
    ctx: ExecContext,
    stage: str,
    current: tuple[tuple[str, str], ...],
    baseline: tuple[tuple[str, str], ...],
    upgraded: tuple[tuple[str, str], ...] = (),
) -> list[Check]:
    now, before, after = _docs(current), _docs(baseline), _docs(upgraded)
    checks: list[Check] = []
    for spec in ctx.settings.checks:
        if spec.stage != stage:
            continue
        # A read that failed at any stage the check compares with fails the check:
        # an error is not "absent", and a program must not judge from nothing.
        inputs = [(now, n, "") for n in spec.uses]
        if spec.program:
            inputs += [(before, n, "before the upgrade") for n in spec.baseline_reads]
            inputs += [(after, n, "after the upgrade") for n in spec.upgraded_reads]
        elif spec.expect in ("equals_baseline", "changed"):
            inputs.append((before, spec.read, "before the upgrade"))
        elif spec.expect == "equals_upgraded":
            inputs.append((after, spec.read, "after the upgrade"))
        failed = [
            f"{n}{f' ({when})' if when else ''}: {docs[n]['__error__']}"
            for docs, n, when in inputs
            if isinstance(docs.get(n), dict) and "__error__" in docs[n]
        ]
        if failed:
            checks.append(Check(spec.name, False, "read failed: " + "; ".join(failed)))
            continue
        if not spec.program:
            checks.append(evaluate(spec, now, before, after))
            continue
        payload = {
            "check": spec.name,
            "stage": stage,
            "baseline": {n: before.get(n) for n in spec.baseline_reads},
            "upgraded": {n: after.get(n) for n in spec.upgraded_reads},
            "current": {n: now.get(n) for n in spec.reads},
        }
        try:
            r = await ctx.programs(
                list(spec.program),
                deadline=PROGRAM_DEADLINE_S,
                stdin_data=json.dumps(payload),
                check=False,
                cwd=ctx.settings.base_dir,
            )
            checks.append(parse_program_verdict(spec.name, r.returncode, r.stdout, r.stderr))
        except (AgentError, OSError) as exc:
            checks.append(Check(spec.name, False, f"the check program did not run: {exc}"))
    return checks
