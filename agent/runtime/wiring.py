"""Wiring: assemble ``rehearse run`` and ``rehearse watch`` from the real adapters.

The one place that knows which adapter serves which interface; the daemon and
the watch service get everything injected, so their tests use fakes. What it
assembles lives beside it: the clients (``clients``), the streams (``streams``),
the machine's parameters (``params``), the scenario's roles (``scenario_roles``),
the preflight (``preflight``), the resolved cache (``resolved``) and the resume
policy (``agent.core.resume``). ``rehearse watch`` is assembled in ``watching``.
"""

from __future__ import annotations

import time
import uuid
from contextlib import aclosing
from dataclasses import replace

import anyio
import structlog

from agent.adapters.blocklog import BlockLog
from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.compose import Compose
from agent.adapters.journal import FileJournal
from agent.adapters.ledger import TxLedger
from agent.adapters.lock import state_lock
from agent.adapters.retention import prune_state
from agent.config import Config, read_password
from agent.core.chainview import ChainView
from agent.core.machine import State
from agent.core.resume import plan_resume
from agent.core.scenarios import apply
from agent.errors import CorruptState
from agent.runtime import preflight as env_checks
from agent.runtime.clients import NodeReads, clients, follow_sdk_line
from agent.runtime.daemon import Runner
from agent.runtime.executors import ExecContext, Executor
from agent.runtime.executors.settings import ExecSettings
from agent.runtime.outcome import Outcomes
from agent.runtime.params import params_from_config
from agent.runtime.resolved import compose_prefix, load_resolved, save_resolved
from agent.runtime.scenario_roles import scenario_for
from agent.runtime.streams import (
    rehearsal_sources,
    stream_cuts,
)
from agent.runtime.traffic_wiring import make_sender

# ``rehearse watch`` is assembled beside it, in ``watching``.
from agent.runtime.watching import OnStarted, run_watch, state_locks
from agent.watchdog.service import WatchService

__all__ = ["OnStarted", "run_rehearsal", "run_watch"]

log = structlog.get_logger("agent.wiring")


async def run_rehearsal(
    cfg: Config,
    *,
    fresh: bool = False,
    clock: Clock | None = None,
    scenario: str | None = None,
    attach: bool = False,
    on_started: OnStarted | None = None,
    password: str | None = None,
) -> State:
    """Run (or resume) a rehearsal to its end; return the final state.

    ``scenario``: the failure to rehearse (None: resume whatever the journal
    holds, or ``happy`` for a new rehearsal). ``on_started`` is called with the
    Runner and the WatchService once they exist.
    """
    async with state_lock(state_locks(cfg, rehearsal=True)), anyio.create_task_group() as tg:
        final = await _run_rehearsal(
            cfg,
            fresh=fresh,
            clock=clock,
            scenario=scenario,
            tg=tg,
            attach=attach,
            on_started=on_started,
            password=password,
        )
        tg.cancel_scope.cancel()  # the stream proxies, if any
    return final


async def _load(journal: FileJournal, fresh: bool) -> State | None:
    try:
        return await journal.load()
    except CorruptState as exc:
        if not fresh:
            raise  # exit 2: the operator decides (the file is already moved aside)
        log.warning("journal_corrupt_moved", moved_to=exc.moved_to, error=str(exc))
        return None


async def _new_rehearsal(cfg: Config, scenario: str) -> str:
    rid = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    log.info("rehearsal_new", rehearsal_id=rid, scenario=scenario)
    # What older rehearsals left (block logs, ledger records, corrupt copies)
    # goes before the new one writes: the state directory never only grows.
    await anyio.to_thread.run_sync(prune_state, cfg.state_dir, rid)
    return rid


async def _run_rehearsal(
    cfg: Config,
    *,
    fresh: bool,
    clock: Clock | None,
    scenario: str | None,
    tg: anyio.abc.TaskGroup,
    attach: bool = False,
    on_started: OnStarted | None = None,
    password: str | None = None,
) -> State:
    clock = clock or SystemClock()
    # The command line read it already, to fail before anything starts.
    password = password if password is not None else read_password(cfg)
    journal = FileJournal(cfg.state_dir / "journal.json")
    plan = plan_resume(await _load(journal, fresh), fresh=fresh, scenario=scenario, attach=attach)
    if plan.archive:
        archived = await anyio.to_thread.run_sync(journal.archive)
        log.info("journal_archived", path=str(archived))
    state = plan.resume
    sc = scenario_for(cfg, plan.scenario, attach=attach)
    if state is None:
        rid = await _new_rehearsal(cfg, sc.name)
    else:
        rid = state.rehearsal_id
        log.info("rehearsal_resumed", rehearsal_id=rid, phase=state.phase.value, scenario=sc.name)

    resolved = None if state is None else await load_resolved(cfg, rid)
    # A resume trusts what it resolved before, but not that Docker still runs.
    await (env_checks.preflight(cfg) if resolved is None else env_checks.docker_reachable())
    prefix = await compose_prefix(cfg, resolved)
    compose = Compose(
        prefix,
        cfg.stack.project,
        cfg.compose_dir,
        env=cfg.stack_env,
        timeout=cfg.timing.command_timeout,
    )
    cli = ChainCLI.for_config(cfg, password)
    # The CLI boxes go when the rehearsal ends, however it ends; a kill -9 leaves
    # them, desks mounted, to the next run, which sweeps them by label first.
    await cli.boxes.sweep()
    async with aclosing(cli):
        if resolved is not None:
            cli.remember({str(k): str(v) for k, v in dict(resolved.get("addresses", {})).items()})
        else:
            await env_checks.check_keyring(cfg, cli)  # starts each voter's desk box on the way
            await save_resolved(
                cfg, {"rehearsal_id": rid, "compose": prefix, "addresses": cli.addresses}
            )
        view = ChainView([n.name for n in cfg.nodes])
        async with clients(cfg, need_rest=True) as c:
            assert c.rest is not None
            rest = c.rest
            follow_sdk_line(cfg, cli, rest)
            runner: Runner

            async def wait_blocks(n: int) -> None:
                await runner.blocks.wait_blocks(n)

            sender = (
                make_sender(cfg, cli, c, view, clock, wait_blocks, lambda: runner.state, rid)
                if cfg.traffic.on
                else None
            )
            # The watch service is made below (it needs the context's rehearsal id).
            outcomes = Outcomes(
                cfg,
                sc,
                lambda since: watch.alert_history(since),
                c.rpcs,
                clock,
                traffic=sender.summary if sender is not None else None,
            )

            cuts = await stream_cuts(cfg, sc, tg)
            ctx = ExecContext(
                ExecSettings.of(cfg),
                compose=compose,
                cli=cli,
                rpcs=dict(c.rpcs),
                rest=rest,
                view=view,
                ledger=TxLedger(cfg.state_dir / "txs.jsonl"),
                clock=clock,
                write_report=outcomes.write,
                wait_blocks=wait_blocks,
                cut_streams=cuts.cut,
                judge=outcomes.judge,
                traffic=sender,
            )
            # Scoped to this rehearsal: a new one does not resolve the last one's alerts.
            watch = WatchService.for_config(
                cfg, dict(c.rpcs), clock, view=view, http=c.http, scope=rid
            )
            runner = Runner(
                replace(apply(sc, params_from_config(cfg)), attach=attach),
                journal,
                Executor(ctx),
                NodeReads(rest, dict(c.rpcs)),
                view,
                clock,
                rehearsal_sources(
                    cfg, c.rpcs, clock, ws_urls=cuts.ws_urls, docker_url=cuts.docker_url
                ),
                watch=watch,
                read_timeout=cfg.timing.chain_read_s,
                block_log=BlockLog(cfg.state_dir),
                services={n.service or n.name: n.name for n in cfg.nodes},
                companions=[sender] if sender is not None else [],
            )
            watch.phase = lambda: runner.state.phase.value
            if on_started is not None:
                on_started(runner, watch)
            final = await runner.run(state, None if state is not None else rid)
    log.info(
        "rehearsal_finished",
        outcome=final.phase.value,
        failure=final.failure,
        report=final.report_path,
        scenario=final.params.scenario,
        as_expected=final.verdict_met,
    )
    return final
