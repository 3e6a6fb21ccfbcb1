"""Wiring: build the real adapters for ``rehearse run`` and ``rehearse watch``.

The one place that knows which adapter serves which interface; the daemon and
the watch service get everything injected, so their tests use fakes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import structlog
from anyio.streams.memory import MemoryObjectSendStream

from agent.adapters.backoff import Backoff
from agent.adapters.blocklog import BlockLog
from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock, SystemClock
from agent.adapters.compose import Compose, detect_compose
from agent.adapters.cutproxy import CutProxy
from agent.adapters.docker_events import DockerEventSource, find_docker_host
from agent.adapters.failover import RestPool
from agent.adapters.files import read_json, write_json_atomic
from agent.adapters.httpjson import HttpClients
from agent.adapters.journal import FileJournal
from agent.adapters.ledger import TxLedger
from agent.adapters.lock import state_lock
from agent.adapters.rest import RestClient
from agent.adapters.retention import prune_state
from agent.adapters.rpc import CometRPC, HttpCometRPC
from agent.adapters.sdk import LazyLine, SdkLine, gov_api
from agent.adapters.ws import NewBlockSource
from agent.concurrency import gather
from agent.config import Config, height_policy, read_password
from agent.core.chainview import ChainView
from agent.core.machine import Params, State
from agent.core.observations import Observation
from agent.core.scenarios import (
    SCENARIO_NAMES,
    AlertRecord,
    Roles,
    Scenario,
    apply,
    build,
    judge,
    missing_alerts,
)
from agent.errors import AgentError, ConfigError, CorruptState
from agent.runtime import preflight as env_checks
from agent.runtime import report as report_mod
from agent.runtime import report_data
from agent.runtime.daemon import Runner, Source
from agent.runtime.executors import ExecContext, Executor
from agent.watchdog.heartbeat import sd_notify
from agent.watchdog.service import WatchService

__all__ = [
    "Clients",
    "NodeReads",
    "clients",
    "params_from_config",
    "run_rehearsal",
    "run_watch",
    "OnStarted",
    "sources",
]

log = structlog.get_logger("agent.wiring")

# Told the live objects once they exist (the command line's live view reads them):
# the rehearsal's Runner (None for ``watch``) and the WatchService.
OnStarted = Callable[[Runner | None, WatchService], None]


# The longest pause between reconnects of a node's stream during a rehearsal. Every
# node restarts at the upgrade halt and at the restart, and the checks wait for the
# last stream back: with a 1 s cap that one came up to a second after its node (a
# run of 2026-12-06). A few attempts a second on loopback cost nothing; `rehearse
# watch` keeps the default 5 s.
REHEARSAL_RECONNECT_CAP = 0.25


def params_from_config(cfg: Config) -> Params:
    t = cfg.timing
    w = cfg.watch.watch
    # Remediation (a scenario's) waits until the watchdog's upgrade_halt alert
    # had its chance: its own resume budget, the alert's hold, two evaluations.
    alert_due = (
        w.thresholds.resume_budget_s
        + w.for_s.get("upgrade_halt", 0.0)
        + 2 * w.evaluate_interval_s
        + 5.0
    )
    return Params(
        remediation_delay=max(5.0, alert_due - t.resume_budget),
        upgrade_name=cfg.chain.upgrade_name,
        voters=tuple(v.name for v in cfg.voters),
        height_policy=height_policy(t),
        launch_timeout=t.launch_timeout,
        state_txs=tuple(x.name for x in cfg.state.txs),
        state_timeout=t.state_timeout,
        vote_timeout=t.vote_timeout,
        pass_grace=t.pass_grace,
        resume_budget=t.resume_budget,
        verify_timeout=t.verify_timeout,
        restart_timeout=t.restart_timeout,
    )


class NodeReads:
    """The daemon's ``ChainReads``: governance over Cosmos REST (any node that serves
    it), each app's committed height over its node's RPC."""

    def __init__(self, rest: RestPool, rpcs: dict[str, CometRPC]) -> None:
        self.rest = rest
        self.rpcs = rpcs

    async def voting_period(self) -> float:
        return (await self.rest.gov_params()).voting_period

    async def proposal_status(self, proposal_id: int) -> str | None:
        p = await self.rest.proposal(proposal_id)
        return None if p is None else p.status

    async def app_heights(self, nodes: Sequence[str]) -> dict[str, int | None]:
        async def height(name: str) -> int | None:
            rpc = self.rpcs.get(name)
            if rpc is None:
                return None
            try:
                return (await rpc.abci_info()).last_block_height
            except AgentError:  # restarting, say: asked again on the next block
                return None

        got = await gather(*(partial(height, n) for n in nodes))
        return dict(zip(nodes, got, strict=True))


@dataclass
class Clients:
    rpcs: dict[str, CometRPC]
    rests: dict[str, RestClient]
    http: httpx.AsyncClient | None = None  # for the alert sinks (same TLS context)

    @property
    def rest(self) -> RestPool | None:
        """Every REST endpoint, the transaction node's first (None: no node serves REST)."""
        return RestPool(list(self.rests.items())) if self.rests else None


@asynccontextmanager
async def clients(cfg: Config, *, need_rest: bool = False) -> AsyncIterator[Clients]:
    """One RPC client per node and a REST client (when needed or a node serves REST).

    They share one TLS context, and one connection pool per origin
    (``HttpClients``): the cost per node is a few kB, not a TLS context each."""
    if need_rest:
        cfg.rest_url  # noqa: B018 (raises the config error when no node serves REST)
    async with HttpClients() as http:
        rpcs: dict[str, CometRPC] = {
            n.name: HttpCometRPC(n.rpc, timeout=cfg.timing.rpc_timeout, client=http.for_url(n.rpc))
            for n in cfg.nodes
        }
        rests: dict[str, RestClient] = {}
        tx_first = sorted(cfg.nodes, key=lambda n: n.name != cfg.chain.tx_node)
        for n in tx_first:
            if n.rest:
                rests[n.name] = RestClient(
                    n.rest, timeout=cfg.timing.rpc_timeout, client=http.for_url(n.rest)
                )
        yield Clients(rpcs, rests, http.default)


def docker_reachable() -> bool:
    """A Docker to watch: DOCKER_HOST (a unix socket must exist), else the local socket."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return os.path.exists(host.removeprefix("unix://"))
    return bool(host) or os.path.exists("/var/run/docker.sock")


def rehearsal_sources(
    cfg: Config,
    rpcs: dict[str, CometRPC],
    clock: Clock,
    *,
    ws_urls: dict[str, str] | None = None,
    docker_url: str | None = None,
) -> Callable[[MemoryObjectSendStream[Observation]], Sequence[Source]]:
    """The Runner's source factory for a rehearsal: every stream, reconnecting at
    least once a ``REHEARSAL_RECONNECT_CAP`` (a node back on v2 is seen at once)."""

    def make(send: MemoryObjectSendStream[Observation]) -> Sequence[Source]:
        return sources(
            cfg,
            rpcs,
            send,
            clock,
            ws_urls=ws_urls,
            docker_url=docker_url,
            reconnect_cap=REHEARSAL_RECONNECT_CAP,
        )

    return make


def sources(
    cfg: Config,
    rpcs: dict[str, CometRPC],
    send: MemoryObjectSendStream[Observation],
    clock: Clock,
    *,
    docker: bool = True,
    since_nano: int | None = None,
    ws_urls: dict[str, str] | None = None,
    docker_url: str | None = None,
    reconnect_cap: float = 5.0,
) -> Sequence[Source]:
    """A websocket NewBlock source per node, and Docker events of the project.

    ``ws_urls``/``docker_url`` route a stream elsewhere (the stream-cuts proxy).
    ``reconnect_cap``: the longest wait between two reconnects of a node's stream."""
    urls = ws_urls or {}
    out: list[Source] = [
        NewBlockSource(
            n.name,
            urls.get(n.name, n.ws),
            rpcs[n.name],
            send.clone(),
            clock=clock,
            backoff=Backoff(cap=reconnect_cap),
        )
        for n in cfg.nodes
    ]
    if docker:
        out.append(
            DockerEventSource(
                cfg.stack.project,
                send.clone(),
                clock=clock,
                since_nano=since_nano,
                docker_url=docker_url,
            )
        )
    return out


def scenario_for(cfg: Config, name: str) -> Scenario:
    """The named scenario with the config's roles; every bad name is exit 2."""
    if name not in SCENARIO_NAMES:
        raise ConfigError(
            "--scenario", name, f"no such scenario; one of {', '.join(SCENARIO_NAMES)}"
        )
    sc = cfg.scenarios
    names = {n.name for n in cfg.nodes}
    for i, v in enumerate(sc.validators):
        if v not in names:
            raise ConfigError(f"scenarios.validators[{i}]", v, "names no configured node")
    if name == "carol-without-cosmovisor":
        if sc.no_cosmovisor_node not in names:
            raise ConfigError(
                "scenarios.no_cosmovisor_node", sc.no_cosmovisor_node, "names no configured node"
            )
        if not (cfg.compose_dir / sc.no_cosmovisor_overlay).is_file():
            raise ConfigError(
                "scenarios.no_cosmovisor_overlay",
                sc.no_cosmovisor_overlay,
                f"no such file in {cfg.compose_dir}",
            )
    roles = Roles(
        validators=tuple(sc.validators),
        tx_node=cfg.chain.tx_node,
        voters=tuple(v.name for v in cfg.voters),
        no_cosmovisor_node=sc.no_cosmovisor_node,
        no_cosmovisor_overlay=sc.no_cosmovisor_overlay,
        pause_s=sc.pause_s,
        disconnect_s=sc.disconnect_s,
    )
    return build(name, roles)


def _cuts_streams(scenario: Scenario) -> bool:
    return any(plan.fault.kind == "cut_streams" for plan in scenario.faults)


async def _stream_proxies(
    cfg: Config, tg: anyio.abc.TaskGroup
) -> tuple[dict[str, str], str | None, list[CutProxy]]:
    """Start a cut proxy per websocket and one for the Docker socket."""
    proxies: list[CutProxy] = []
    ws_urls: dict[str, str] = {}
    for n in cfg.nodes:
        u = urlsplit(n.rpc)
        proxy = CutProxy(f"ws:{n.name}", ("tcp", u.hostname or "127.0.0.1", u.port or 80))
        await tg.start(proxy.run)
        proxies.append(proxy)
        ws_urls[n.name] = f"ws://{proxy.address}/websocket"
    docker_url = None
    host = await anyio.to_thread.run_sync(find_docker_host)
    if host and host.startswith("unix://"):
        sock = cfg.state_dir / "docker-proxy.sock"
        proxy = CutProxy("docker", ("unix", host.removeprefix("unix://"), 0), listen_unix=sock)
        await tg.start(proxy.run)
        proxies.append(proxy)
        docker_url = proxy.address
    return ws_urls, docker_url, proxies


# What a fresh start resolves slowly (a Compose probe, a `keys show` container
# per voter) and a resumed agent must not redo: it has seconds before the
# voting period ends.
RESOLVED_FILE = "resolved.json"


async def _load_resolved(cfg: Config, rehearsal_id: str) -> dict[str, Any] | None:
    try:
        doc = await anyio.to_thread.run_sync(read_json, cfg.state_dir / RESOLVED_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("rehearsal_id") != rehearsal_id:
        return None
    return doc


async def _save_resolved(cfg: Config, doc: dict[str, Any]) -> None:
    await anyio.to_thread.run_sync(write_json_atomic, cfg.state_dir / RESOLVED_FILE, doc)


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

    resolved = None if state is None else await _load_resolved(cfg, state.rehearsal_id)
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
    cli = ChainCLI(cfg, password)
    # The CLI boxes go when the rehearsal ends, however it ends; a kill -9 leaves
    # them, desks mounted, to the next run, which sweeps them by label first.
    await cli.boxes.sweep()
    async with aclosing(cli):
        if resolved is not None:
            cli.remember({str(k): str(v) for k, v in dict(resolved.get("addresses", {})).items()})
        else:
            await env_checks.check_keyring(cfg, cli)  # starts each voter's desk box on the way
            rid = fresh_id if state is None else state.rehearsal_id
            await _save_resolved(
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

                rest.before_gov = LazyLine(rest, use, deadline=cfg.timing.rpc_timeout * 3)
            runner: Runner

            async def alerts_of(s: State) -> list[AlertRecord]:
                return await watch.alert_history(s.transitions[0].at if s.transitions else 0.0)

            async def write(s: State) -> Path:
                records = await alerts_of(s)
                extra = {
                    "scenario_text": {
                        "summary": sc.summary,
                        "injected": sc.injected,
                        "expected": sc.expected,
                    },
                    "alerts": [
                        {
                            "at": report_mod.iso(a.at),
                            "event": a.event,
                            "detector": a.detector,
                            "node": a.node,
                            "message": a.message,
                        }
                        for a in records
                    ],
                }
                return await report_mod.write_report(
                    s,
                    cfg.path(cfg.agent.report_json),
                    cfg.path(cfg.agent.report_md),
                    extra,
                    block_log=cfg.state_dir / f"blocks-{s.rehearsal_id}.jsonl",
                    data=await report_data.collect_for(cfg, c.rpcs, s),
                )

            async def judge_it(s: State) -> tuple[bool, list[str]]:
                # A rehearsal can end before the watchdog's next evaluation (a node
                # that exits at the halt fails it at once): an expected alert gets
                # that evaluation, and its hold, before it counts as missing.
                records = await alerts_of(s)
                w = cfg.watch.watch
                hold = max((w.for_s.get(d, 0.0) for d, _ in sc.expectation.alerts), default=0)
                until = clock.monotonic() + hold + 2 * w.evaluate_interval_s
                while missing_alerts(sc.expectation, records) and clock.monotonic() < until:
                    await clock.sleep(0.5)
                    records = await alerts_of(s)
                return judge(sc.expectation, s, records)

            ws_urls: dict[str, str] | None = None
            docker_url: str | None = None
            cut = None
            if _cuts_streams(sc):
                ws_urls, docker_url, proxies = await _stream_proxies(cfg, tg)

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
                write_report=write,
                wait_blocks=wait_blocks,
                cut_streams=cut,
                judge=judge_it,
            )
            rid = str(fresh_id if state is None else state.rehearsal_id)
            # Scoped to this rehearsal: a new one does not resolve the last one's alerts.
            watch = WatchService(cfg, dict(c.rpcs), clock, view=view, http=c.http, scope=rid)
            runner = Runner(
                replace(apply(sc, params_from_config(cfg)), attach=attach),
                journal,
                Executor(ctx),
                NodeReads(rest, dict(c.rpcs)),
                view,
                clock,
                rehearsal_sources(cfg, c.rpcs, clock, ws_urls=ws_urls, docker_url=docker_url),
                watch=watch,
                read_timeout=cfg.timing.rpc_timeout * 2,
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
        watch = WatchService(cfg, c.rpcs, clock, view=view, rest=c.rest, http=c.http)
        if on_started is not None:
            on_started(None, watch)
        send, recv = anyio.create_memory_object_stream[Observation](1024)
        async with anyio.create_task_group() as tg, recv:
            await tg.start(watch.run)
            docker = docker_reachable()
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
