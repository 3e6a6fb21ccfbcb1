"""`rehearse`: the command line.

Exit codes: 0 the rehearsal ended as its scenario expects (``happy``:
``restarted``); 1 it did not (the report says why); 2 bad input or
environment (configuration, arguments, missing password, Docker), with
nothing started; 130 interrupted (the journal holds the state: run again to
resume).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import structlog

from agent.config import Config, load_config, read_password
from agent.core.machine import Phase
from agent.errors import ConfigError, CorruptState
from agent.logs import configure_logging

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rehearse", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or resume) a full upgrade rehearsal on the prod-sim")
    run.add_argument(
        "--config", type=Path, default=None, help="config file (default: ./config.toml if present)"
    )
    run.add_argument(
        "--fresh", action="store_true", help="discard an unfinished rehearsal and start anew"
    )
    run.add_argument(
        "--scenario",
        default=None,
        help="the failure to rehearse (`rehearse scenarios` lists them; default: happy)",
    )
    run.add_argument(
        "--attach",
        action="store_true",
        help="drive the upgrade on a network that is already running (no launch, no reset)",
    )
    # The agent-crash supervisor's own children run the rehearsal directly.
    run.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    scen = sub.add_parser("scenarios", help="list the failure scenarios and what each expects")
    scen.add_argument("--config", type=Path, default=None)
    watch = sub.add_parser(
        "watch", help="watch a running chain (launches nothing) until SIGINT/SIGTERM"
    )
    watch.add_argument("--config", type=Path, default=None)
    chk = sub.add_parser("check-config", help="validate the configuration and exit")
    chk.add_argument("--config", type=Path, default=None)
    return p


def _config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    default = Path("config.toml")
    return default if default.exists() else None


SHUTDOWN_DEADLINE_S = 10.0


async def _supervise(job: Callable[[], Awaitable[int]]) -> int:
    """Run ``job`` until it ends or a signal asks it to stop.

    Signals only request shutdown (model: uvicorn): the first SIGINT/SIGTERM
    cancels the job, whose state is already journaled; cleanup gets
    ``SHUTDOWN_DEADLINE_S``; a second signal exits at once.
    """
    log = structlog.get_logger("agent.cli")
    outcome: list[int] = []
    finished = anyio.Event()

    async with anyio.create_task_group() as tg:
        job_scope = anyio.CancelScope()

        async def run_job() -> None:
            with job_scope:
                try:
                    outcome.append(await job())
                except ConfigError as exc:  # bad input found at start: nothing was launched
                    print(f"rehearse: error: {exc}", file=sys.stderr)
                    outcome.append(EXIT_USAGE)
                except CorruptState as exc:
                    print(
                        f"rehearse: error: {exc}; `rehearse run --fresh` starts a new rehearsal",
                        file=sys.stderr,
                    )
                    outcome.append(EXIT_USAGE)
            finished.set()
            tg.cancel_scope.cancel()

        tg.start_soon(run_job)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if job_scope.cancel_called:
                    log.warning("forced_exit", signal=signal.Signals(signum).name)
                    os._exit(EXIT_INTERRUPTED)
                log.warning("shutdown_requested", signal=signal.Signals(signum).name,
                            deadline_s=SHUTDOWN_DEADLINE_S)  # fmt: skip
                job_scope.cancel()
                tg.start_soon(_deadline, finished)
    return outcome[0] if outcome else EXIT_INTERRUPTED


async def _deadline(finished: anyio.Event) -> None:
    with anyio.move_on_after(SHUTDOWN_DEADLINE_S):
        await finished.wait()
        return
    structlog.get_logger("agent.cli").error("shutdown_deadline_passed")
    os._exit(EXIT_INTERRUPTED)


async def _run(cfg: Config, fresh: bool, scenario: str | None, attach: bool = False) -> int:
    from agent.runtime.wiring import run_rehearsal

    async def job() -> int:
        final = await run_rehearsal(cfg, fresh=fresh, scenario=scenario, attach=attach)
        if final.verdict_met is not None:
            return EXIT_OK if final.verdict_met else EXIT_FAILED
        return EXIT_OK if final.phase is Phase.RESTARTED else EXIT_FAILED

    return await _supervise(job)


def _scenarios(cfg: Config) -> int:
    from agent.core.scenarios import SCENARIO_NAMES
    from agent.runtime.wiring import scenario_for

    for name in SCENARIO_NAMES:
        sc = scenario_for(cfg, name)
        print(f"{name}\n  {sc.summary}\n  injected: {sc.injected}\n  expected: {sc.expected}\n")
    return EXIT_OK


def _agent_crash(cfg: Config, path: Path | None, fresh: bool) -> int:
    from agent.runtime.supervisor import supervise_agent_crash

    code, findings = supervise_agent_crash(cfg, path, fresh)
    for line in findings:
        print(f"rehearse: agent-crash: {line}", file=sys.stderr)
    _append_to_report(cfg, "Supervisor (agent-crash)", findings)
    return code


def _append_to_report(cfg: Config, title: str, lines: list[str]) -> None:
    md = cfg.path(cfg.agent.report_md)
    js = cfg.path(cfg.agent.report_json)
    try:
        doc = json.loads(js.read_text(encoding="utf-8"))
        doc["supervisor"] = lines
        js.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        with open(md, "a", encoding="utf-8") as fh:
            fh.write(f"\n## {title}\n\n" + "".join(f"- {x}\n" for x in lines))
    except (OSError, ValueError) as exc:
        print(f"rehearse: could not add the supervisor's findings to the report: {exc}",
              file=sys.stderr)  # fmt: skip


async def _watch(cfg: Config) -> int:
    from agent.runtime.wiring import run_watch

    async def job() -> int:
        await run_watch(cfg)
        return EXIT_OK

    code = await _supervise(job)
    # Stopping on a signal is the normal end of `watch`.
    return EXIT_OK if code == EXIT_INTERRUPTED else code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = _config_path(args.config)
    try:
        cfg = load_config(path)
        if args.command == "run":
            read_password(cfg)  # fail now, before anything is launched
            cfg.rest_url  # noqa: B018 (a rehearsal reads the chain over REST: one node must serve it)
    except ConfigError as exc:
        where = f" ({path})" if path is not None else ""
        print(f"rehearse: error{where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "scenarios":
        try:
            return _scenarios(cfg)
        except ConfigError as exc:
            print(f"rehearse: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.command == "run" and args.scenario is not None:
        from agent.runtime.wiring import scenario_for

        try:
            scenario_for(cfg, args.scenario)
        except ConfigError as exc:
            print(f"rehearse: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.command == "check-config":
        # Say what was checked: "ok" about a file that was never read misleads.
        if path is None:
            print("configuration ok: no config file (./config.toml does not exist), defaults")
        else:
            print(f"configuration ok: {path}")
        return EXIT_OK
    configure_logging(cfg.path(cfg.agent.log_file), cfg.agent.log_level)
    try:
        if args.command == "watch":
            return anyio.run(_watch, cfg)
        if args.scenario == "agent-crash" and not args.supervised:
            return _agent_crash(cfg, path, args.fresh)
        return anyio.run(_run, cfg, args.fresh, args.scenario, args.attach)
    except ConfigError as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
