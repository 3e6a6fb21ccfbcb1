"""Wiring: assemble ``rehearse run`` and ``rehearse watch`` from the real adapters.

The one place that knows which adapter serves which interface; the daemon and
the watch service get everything injected, so their tests use fakes. What it
assembles lives beside it: the clients (``clients``), the streams (``streams``),
the machine's parameters (``params``), the scenario's roles (``scenario_roles``),
the preflight (``preflight``) and the resolved cache (``resolved``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

import anyio
import structlog

from agent.adapters.blocklog import BlockLog
from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.compose import Compose, detect_compose
from agent.adapters.journal import FileJournal
from agent.adapters.ledger import TxLedger
from agent.adapters.lock import state_lock
from agent.adapters.retention import prune_state
from agent.adapters.sdk import LazyLine, SdkLine, gov_api
from agent.config import Config, read_password
from agent.core.chainview import ChainView
from agent.core.machine import State
from agent.core.observations import Observation
from agent.core.scenarios import (
    apply,
)
from agent.errors import ConfigError, CorruptState
from agent.runtime import preflight as env_checks
from agent.runtime.clients import NodeReads, clients
from agent.runtime.daemon import Runner
from agent.runtime.executors import ExecContext, Executor
from agent.runtime.outcome import Outcomes
from agent.runtime.params import params_from_config
from agent.runtime.resolved import load_resolved, save_resolved
from agent.runtime.scenario_roles import scenario_for
from agent.runtime.streams import (
    cuts_streams,
    docker_to_watch,
    rehearsal_sources,
    sources,
    stream_proxies,
)
from agent.watchdog.heartbeat import sd_notify
from agent.watchdog.service import WatchService

__all__ = ["OnStarted", "run_rehearsal", "run_watch"]

log = structlog.get_logger("agent.wiring")

# Told the live objects once they exist (the command line's live view reads them):
# the rehearsal's Runner (None for ``watch``) and the WatchService.
OnStarted = Callable[[Runner | None, WatchService], None]


def _locks(cfg: Config, *, rehearsal: bool) -> list[tuple[Path, str]]:
    w = cfg.watch.watch
    out = [
        (w.alert_state_file.parent, "watch.alert_state_file"),
        (w.heartbeat_file.parent, "watch.heartbeat_file"),
    ]
    if rehearsal:
        out.insert(0, (cfg.state_dir, "agent.state_dir"))
    return out


async def run_rehearsal(
    cfg: Config,
    *,
    fresh: bool = False,
    clock: Clock | None = None,
    scenario: str | None = None,
    attach: bool = False,
    on_started: OnStarted | None = None,
) -> State:
    """Run (or resume) a rehearsal to its end; return the final state.

    ``scenario``: the failure to rehearse (None: resume whatever the journal
    holds, or ``happy`` for a new rehearsal). ``on_started`` is called with the
    Runner and the WatchService once they exist.
    """
    if scenario is not None:
        scenario_for(cfg, scenario)  # a bad name or role is exit 2 before anything
    async with state_lock(_locks(cfg, rehearsal=True)), anyio.create_task_group() as tg:
        final = await _run_rehearsal(
            cfg,
            fresh=fresh,
            clock=clock,
            scenario=scenario,
            tg=tg,
            attach=attach,
            on_started=on_started,
        )
        tg.cancel_scope.cancel()  # the stream proxies, if any
    return final


async def _run_rehearsal(
    cfg: Config,
    *,
    fresh: bool,
    clock: Clock | None,
    scenario: str | None,
    tg: anyio.abc.TaskGroup,
    attach: bool = False,
    on_started: OnStarted | None = None,
) -> State:
    clock = clock or SystemClock()
    password = read_password(cfg)
    journal = FileJournal(cfg.state_dir / "journal.json")
    try:
        state = await journal.load()
    except CorruptState as exc:
        if not fresh:
            raise  # exit 2: the operator decides (the file is already moved aside)
        log.warning("journal_corrupt_moved", moved_to=exc.moved_to, error=str(exc))
        state = None
    # A finished rehearsal whose report was never written (a crash in between)
    # resumes to write it; any other finished one is archived.
    if state is not None and (fresh or (state.terminal and state.report_path is not None)):
        archived = await anyio.to_thread.run_sync(journal.archive)
        log.info("journal_archived", path=str(archived), previous=state.phase.value)
        state = None
    if state is not None and scenario is not None and state.params.scenario != scenario:
        raise ConfigError(
            "--scenario",
            scenario,
            f"the unfinished rehearsal {state.rehearsal_id} is scenario "
            f"{state.params.scenario!r}: resume it without --scenario, or start anew with --fresh",
        )
    if state is not None and state.params.attach != attach:
        mode = "attached to a running network" if state.params.attach else "on its own network"
        raise ConfigError(
            "--attach",
            attach,
            f"the unfinished rehearsal {state.rehearsal_id} runs {mode}: resume it the same "
            "way, or start anew with --fresh",
        )
    sc = scenario_for(cfg, state.params.scenario if state is not None else scenario or "happy")
    if attach and (sc.faults or sc.launch_overlays or sc.supervised):
        raise ConfigError(
            "--scenario", sc.name, "injects faults into its own network; not with --attach"
        )
    fresh_id = None
    if state is None:
        fresh_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        log.info("rehearsal_new", rehearsal_id=fresh_id, scenario=sc.name)
        # What older rehearsals left (block logs, ledger records, corrupt copies)
        # goes before the new one writes: the state directory never only grows.
        await anyio.to_thread.run_sync(prune_state, cfg.state_dir, fresh_id)
    else:
        log.info(
            "rehearsal_resumed",
            rehearsal_id=state.rehearsal_id,
            phase=state.phase.value,
            scenario=sc.name,
        )

    resolved = None if state is None else await load_resolved(cfg, state.rehearsal_id)
    if resolved is None:
        await env_checks.preflight(cfg)
    else:
        # A resume trusts what it resolved before, but not that Docker still runs:
        # without it, stop here (exit 2), the journal untouched and resumable.
        await env_checks.docker_reachable()
    cc = cfg.stack.compose_command
    if cc != "auto":
        prefix = list(cc)
    elif resolved is not None and resolved.get("compose"):
        prefix = [str(a) for a in resolved["compose"]]
    else:
        prefix = await detect_compose()
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
            rid = fresh_id if state is None else state.rehearsal_id
            await save_resolved(
                cfg, {"rehearsal_id": rid, "compose": prefix, "addresses": cli.addresses}
            )
        view = ChainView([n.name for n in cfg.nodes])
        async with clients(cfg, need_rest=True) as c:
            assert c.rest is not None
            rest = c.rest
            rest.gov_api = gov_api(cli.sdk_line)  # every REST client: the pool shares them
            if cfg.chain.sdk_line == "auto":  # detected on the first gov read (the chain is up)

                def use(line: SdkLine) -> None:
                    cli.sdk_line, rest.gov_api = line, gov_api(line)

                rest.before_gov = LazyLine(rest, use, deadline=cfg.timing.sdk_probe_s)
            runner: Runner

            # The watch service is made below (it needs the context's rehearsal id).
            outcomes = Outcomes(cfg, sc, lambda since: watch.alert_history(since), c.rpcs, clock)

            ws_urls: dict[str, str] | None = None
            docker_url: str | None = None
            cut = None
            if cuts_streams(sc):
                ws_urls, docker_url, proxies = await stream_proxies(cfg, tg)

                async def cut() -> int:
                    return sum(p.cut() for p in proxies)

            async def wait_blocks(n: int) -> None:
                await runner.blocks.wait_blocks(n)

            ctx = ExecContext(
                cfg,
                compose=compose,
                cli=cli,
                rpcs=dict(c.rpcs),
                rest=rest,
                view=view,
                ledger=TxLedger(cfg.state_dir / "txs.jsonl"),
                clock=clock,
                write_report=outcomes.write,
                wait_blocks=wait_blocks,
                cut_streams=cut,
                judge=outcomes.judge,
            )
            rid = str(fresh_id if state is None else state.rehearsal_id)
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
                rehearsal_sources(cfg, c.rpcs, clock, ws_urls=ws_urls, docker_url=docker_url),
                watch=watch,
                read_timeout=cfg.timing.chain_read_s,
                block_log=BlockLog(cfg.state_dir),
                services={n.service or n.name: n.name for n in cfg.nodes},
            )
            watch.phase = lambda: runner.state.phase.value
            if on_started is not None:
                on_started(runner, watch)
            final = await runner.run(state, fresh_id)
    log.info(
        "rehearsal_finished",
        outcome=final.phase.value,
        failure=final.failure,
        report=final.report_path,
        scenario=final.params.scenario,
        as_expected=final.verdict_met,
    )
    return final


async def run_watch(
    cfg: Config, clock: Clock | None = None, on_started: OnStarted | None = None
) -> None:
    """``rehearse watch``: attach to the configured nodes and watch until cancelled."""
    async with state_lock(_locks(cfg, rehearsal=False)):
        await _run_watch(cfg, clock, on_started)


async def _run_watch(cfg: Config, clock: Clock | None, on_started: OnStarted | None) -> None:
    clock = clock or SystemClock()
    view = ChainView([n.name for n in cfg.nodes])
    async with clients(cfg) as c:
        watch = WatchService.for_config(cfg, c.rpcs, clock, view=view, rest=c.rest, http=c.http)
        if on_started is not None:
            on_started(None, watch)
        send, recv = anyio.create_memory_object_stream[Observation](1024)
        async with anyio.create_task_group() as tg, recv:
            await tg.start(watch.run)
            docker = docker_to_watch()
            if not docker:
                log.info("docker_not_watched", reason="no Docker socket")
            for src in sources(cfg, c.rpcs, send, clock, docker=docker, since_nano=time.time_ns()):
                await tg.start(src.run)
            send.close()
            watch.sources_started()
            log.info("watch_started", nodes=[n.name for n in cfg.nodes])
            # systemd (Type=notify): the service is up; no-op elsewhere.
            await anyio.to_thread.run_sync(sd_notify, "READY=1")
            async for obs in recv:
                watch.observe(obs)
