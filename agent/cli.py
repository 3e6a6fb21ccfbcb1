"""`rehearse`: rehearse a Cosmos SDK chain upgrade on a production-like network, and
watch chains.

Exit codes (one meaning each):
  0    the expected outcome: the rehearsal ended as its scenario expects (happy:
       restarted on v2); `watch` stopped by Ctrl-C or SIGTERM; doctor, status and
       alerts test found nothing wrong
  1    not the expected outcome (the report says why), or an unexpected error
       (one line on the console; the traceback is in the log file)
  2    a configuration or environment problem: bad config or arguments, no
       keyring password, a corrupt state file, Docker unreachable, an image
       missing, a host port busy
  130  interrupted: the journal holds the state; `rehearse run` resumes it,
       `rehearse run --fresh` starts anew
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from agent.config import Config, load_config, read_password
from agent.core.machine import Phase, State
from agent.errors import ConfigError, CorruptState, EnvironmentProblem, is_environment_failure
from agent.logs import ConsoleOut, configure_logging

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_ENVIRONMENT = EXIT_USAGE  # configuration or environment: the same code, 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from agent import __version__

    try:
        return version("rehearse")
    except PackageNotFoundError:
        return __version__


def _parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="rehearse",
        description=doc.split("\n")[0],
        epilog=doc.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rehearse {_version()}")
    shown = argparse.ArgumentParser(add_help=False)
    shown.add_argument(
        "--plain",
        action="store_true",
        help="plain lines instead of the live view (the default when stdout is not a terminal)",
    )
    shown.add_argument(
        "-v", "--verbose", action="store_true", help="show every log event (debug) on the console"
    )
    cfg_arg = argparse.ArgumentParser(add_help=False)
    cfg_arg.add_argument(
        "--config", type=Path, default=None, help="config file (default: ./config.toml if present)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", parents=[cfg_arg, shown], help="run (or resume) a full upgrade rehearsal"
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
    sub.add_parser(
        "scenarios", parents=[cfg_arg], help="list the failure scenarios and what each expects"
    )
    sub.add_parser(
        "watch",
        parents=[cfg_arg, shown],
        help="watch a running chain (launches nothing) until Ctrl-C/SIGTERM",
    )
    sub.add_parser("check-config", parents=[cfg_arg], help="validate the configuration and exit")
    init = sub.add_parser(
        "init",
        help="write the default config.toml (and, with --prod-sim, the bundled prod-sim) to DIR",
    )
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), help="default: .")
    init.add_argument(
        "--prod-sim",
        action="store_true",
        help="also write the bundled chain (its sources, profile and check) to DIR/prod-sim",
    )
    init.add_argument(
        "--chain",
        nargs=2,
        metavar=("v1=PATH", "v2=PATH"),
        help="write DIR/rehearse.toml, a kit profile, by asking these two binaries what they are",
    )
    init.add_argument("--upgrade", default="", help="with --chain: the upgrade's plan name")
    init.add_argument(
        "--force",
        action="store_true",
        help="overwrite config.toml; update an existing prod-sim in place (build, network kept)",
    )
    status = sub.add_parser(
        "status",
        parents=[cfg_arg],
        help="the state of the current or last rehearsal, or of a running watcher",
    )
    status.add_argument("--json", action="store_true", help="one JSON object")
    doctor = sub.add_parser(
        "doctor", parents=[cfg_arg], help="check everything a run needs (exit 2 on a problem)"
    )
    doctor.add_argument(
        "--watch", action="store_true", help="check what `rehearse watch` needs instead"
    )
    doctor.add_argument(
        "--attach", action="store_true", help="check what `rehearse run --attach` needs instead"
    )
    kit = sub.add_parser("kit", help="the network a profile's [kit] builds from two binaries")
    kit_sub = kit.add_subparsers(dest="kit_command", required=True)
    kit_sub.add_parser(
        "build",
        parents=[cfg_arg],
        help="build the binaries, images, node homes and Compose files (run does it too)",
    )
    kit_sub.add_parser("down", parents=[cfg_arg], help="take the profile's stack down")
    watch_cfg = kit_sub.add_parser(
        "watch-config",
        parents=[cfg_arg],
        help="print the config of a watcher in a container beside the profile's network "
        "(deploy/compose/docker-compose-watch.yml mounts it)",
    )
    watch_cfg.add_argument(
        "--state-dir", default="/var/lib/rehearse", help="the watcher's own files (absolute)"
    )
    alerts = sub.add_parser("alerts", help="alert sinks")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_sub.add_parser(
        "test", parents=[cfg_arg], help="send one test notification through every sink"
    )
    return p


def _config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    default = Path("config.toml")
    return default if default.exists() else None


SHUTDOWN_DEADLINE_S = 10.0


@dataclass
class Outcome:
    """What the command line learns from a job, for the closing summary."""

    log_file: Path | None = None
    state: State | None = None
    error: str | None = None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _classify(exc: Exception, outcome: Outcome) -> int:
    """The exit code of an exception that ended a job; prints its one line."""
    for leaf in _leaves(exc):
        if isinstance(leaf, ConfigError | EnvironmentProblem):
            print(f"rehearse: error: {leaf}", file=sys.stderr)
            outcome.error = str(leaf)
            return EXIT_USAGE
        if isinstance(leaf, CorruptState):
            print(
                f"rehearse: error: {leaf}; {leaf.hint}",
                file=sys.stderr,
            )
            outcome.error = str(leaf)
            return EXIT_USAGE
    return _unexpected(exc, outcome)


def _unexpected(exc: BaseException, outcome: Outcome) -> int:
    structlog.get_logger("agent.cli").error("unexpected_error", exc_info=exc)
    leaf = _leaves(exc)[0]
    where = f"; the traceback is in {outcome.log_file}" if outcome.log_file else ""
    line = f"{type(leaf).__name__}: {str(leaf)[:200]}"
    print(f"rehearse: unexpected error ({line}){where}", file=sys.stderr)
    outcome.error = f"unexpected error ({line})"
    return EXIT_FAILED


async def _supervise(job: Callable[[], Awaitable[int]], outcome: Outcome | None = None) -> int:
    """Run ``job`` until it ends or a signal asks it to stop.

    Signals only request shutdown (model: uvicorn): the first SIGINT/SIGTERM
    cancels the job, whose state is already journaled; cleanup gets
    ``SHUTDOWN_DEADLINE_S``; a second signal exits at once.
    """
    log = structlog.get_logger("agent.cli")
    out = outcome if outcome is not None else Outcome()
    codes: list[int] = []
    finished = anyio.Event()

    async with anyio.create_task_group() as tg:
        job_scope = anyio.CancelScope()

        async def run_job() -> None:
            with job_scope:
                try:
                    codes.append(await job())
                except Exception as exc:  # every end is an exit code, never a traceback
                    codes.append(_classify(exc, out))
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
    return codes[0] if codes else EXIT_INTERRUPTED


async def _deadline(finished: anyio.Event) -> None:
    with anyio.move_on_after(SHUTDOWN_DEADLINE_S):
        await finished.wait()
        return
    structlog.get_logger("agent.cli").error("shutdown_deadline_passed")
    os._exit(EXIT_INTERRUPTED)


def exit_code_of(final: State) -> int:
    """0 expected outcome, 1 not, 2 when the machine (not the rehearsal) was at fault."""
    if final.phase is Phase.FAILED and is_environment_failure(final.failure):
        return EXIT_ENVIRONMENT
    if final.verdict_met is not None:
        return EXIT_OK if final.verdict_met else EXIT_FAILED
    return EXIT_OK if final.phase is Phase.RESTARTED else EXIT_FAILED


class _Display:
    """The live view when wanted, else nothing; log headlines go above it."""

    def __init__(self, mode: str, live: bool, console_out: ConsoleOut | None) -> None:
        from agent.ui.live import Session

        self.session = Session(mode)
        self.live = live
        self.console_out = console_out

    async def around(self, body: Callable[[], Awaitable[Any]]) -> Any:
        if not self.live:
            return await body()
        from rich.console import Console

        from agent.ui.live import LiveView

        view = LiveView(self.session.snapshot, Console(file=sys.stdout))
        if self.console_out is not None:
            self.console_out.target = view.print_line
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(view.run)
                try:
                    return await body()
                finally:
                    tg.cancel_scope.cancel()
        finally:
            if self.console_out is not None:
                self.console_out.target = self.console_out.write


async def _run(
    cfg: Config,
    fresh: bool,
    scenario: str | None,
    display: _Display,
    outcome: Outcome,
    attach: bool = False,
) -> int:
    from agent.runtime.wiring import run_rehearsal

    async def job() -> int:
        async def body() -> State:
            return await run_rehearsal(
                cfg,
                fresh=fresh,
                scenario=scenario,
                attach=attach,
                on_started=display.session.started,
            )

        final: State = await display.around(body)
        outcome.state = final
        return exit_code_of(final)

    return await _supervise(job, outcome)


def _scenarios(cfg: Config) -> int:
    from agent.core.scenarios import SCENARIO_NAMES
    from agent.runtime.scenario_roles import scenario_for

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


async def _watch(cfg: Config, display: _Display, outcome: Outcome) -> int:
    from agent.runtime.wiring import run_watch

    async def job() -> int:
        async def body() -> None:
            await run_watch(cfg, on_started=display.session.started)

        await display.around(body)
        return EXIT_OK

    code = await _supervise(job, outcome)
    # Stopping on a signal is the normal end of `watch`.
    return EXIT_OK if code == EXIT_INTERRUPTED else code


def _closing_summary(
    cfg: Config, command: str, code: int, outcome: Outcome, display: _Display | None
) -> None:
    from agent.ui.summary import build_summary, read_journal, read_report, summary_lines

    state = outcome.state
    if command == "run" and state is None and outcome.error is None:
        # Interrupted, or the agent-crash supervisor ran it: the journal holds the state.
        state, _ = read_journal(cfg.state_dir / "journal.json")
    alerts: list[dict[str, Any]] = []
    heights = None
    if display is not None and display.session.watch is not None:
        mgr = display.session.watch.alerts
        alerts = [n.to_json() for n in mgr.firing.values()] if mgr is not None else []
        if command == "watch":
            heights = display.session.watch.dog.view.heights()
    report_path = cfg.path(cfg.agent.report_json)
    summary = build_summary(
        command=command,
        exit_code=code,
        state=state,
        error=outcome.error,
        report_doc=read_report(report_path),
        report_path=str(report_path),
        alerts=alerts,
        log_file=str(outcome.log_file) if outcome.log_file else None,
        heights=heights,
    )
    print("\n" + "\n".join(summary_lines(summary)), flush=True)


def _status(cfg: Config, as_json: bool) -> int:
    from agent.ui.status import collect_status
    from agent.ui.summary import summary_json, summary_lines

    summary, code = collect_status(cfg)
    if as_json:
        print(json.dumps(summary_json(summary), indent=2))
    else:
        print("\n".join(summary_lines(summary)))
    return code


async def _doctor(cfg: Config, watch: bool, attach: bool = False) -> int:
    from agent.ui.doctor import RealProbes, doctor_lines, run_doctor

    checks = await run_doctor(cfg, RealProbes(cfg), watch=watch, attach=attach)
    print("\n".join(doctor_lines(checks)))
    return EXIT_OK if all(c.status != "fail" for c in checks) else EXIT_ENVIRONMENT


async def _alerts_test(cfg: Config) -> int:
    from agent.ui.sinktest import send_test

    settings = cfg.watch.sinks
    if not settings:
        print("no [[alerts.sinks]] configured: alerts go to the log only (nothing to test)")
        return EXIT_OK
    results = await send_test(settings)
    for r in results:
        print(f"{'✓' if r.ok else '✗'} {r.sink}: {r.detail}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_ENVIRONMENT


def _kit_build(cfg: Config) -> int:
    """Make the kit's network (cached steps are skipped); exit 2 with the reason."""
    from agent.kit.build import KitError, prepare

    if cfg.kit is None:
        print("rehearse: error: the profile has no [kit] section", file=sys.stderr)
        return EXIT_USAGE
    try:
        prepare(cfg, read_password(cfg), say=lambda m: print(f"kit: {m}", file=sys.stderr))
    except (KitError, ConfigError) as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _live_wanted(args: argparse.Namespace) -> bool:
    if getattr(args, "plain", False) or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _init(dest: Path, with_prod_sim: bool, force: bool) -> int:
    from agent.bundle import InitRefused, init, next_steps

    try:
        result = init(dest, with_prod_sim=with_prod_sim, force=force)
    except InitRefused as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EnvironmentProblem as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"rehearse: error: cannot write to {dest}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(next_steps(result, dest)))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "init" and args.chain:
        from agent.kit.cli import init_chain

        return init_chain(args.dir, args.chain, args.upgrade, force=args.force)
    if args.command == "init":
        return _init(args.dir, args.prod_sim, args.force)
    path = _config_path(args.config)
    try:
        cfg = load_config(path)
        if args.command == "run" and not args.attach and not cfg.stack.reset_command:
            # A rehearsal starts its network from v1 genesis: without a reset the
            # second run would start on the upgraded chain.
            raise ConfigError(
                "stack.reset_command",
                [],
                "is empty: a rehearsal resets the homes to v1 genesis first; name the "
                "command that does (the chain kit sets it), or drive a running network "
                "with --attach",
            )
        if args.command == "run":
            read_password(cfg)  # fail now, before anything is launched
            cfg.rest_url  # noqa: B018 (a rehearsal reads the chain over REST: one node must serve it)
    except ConfigError as exc:
        where = f" ({path})" if path is not None else ""
        print(f"rehearse: error{where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command in ("scenarios", "status", "check-config") and hasattr(signal, "SIGPIPE"):
        # A listing piped into `head` ends quietly, as any Unix tool does (never
        # for `run`: a closed pipe must not kill a rehearsal).
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if args.command == "scenarios":
        try:
            return _scenarios(cfg)
        except ConfigError as exc:
            print(f"rehearse: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.command == "run" and args.scenario is not None:
        from agent.runtime.scenario_roles import scenario_for

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
    if args.command == "status":
        return _status(cfg, args.json)
    if args.command == "kit" and args.kit_command == "watch-config":
        from agent.kit.watch_config import watch_config

        if not args.state_dir.startswith("/"):
            print(f"rehearse: error: --state-dir: {args.state_dir!r} is not absolute",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USAGE
        print(watch_config(cfg, args.state_dir), end="")
        return EXIT_OK
    if args.command == "kit" and args.kit_command == "down":
        from agent.kit.cli import kit_down

        return kit_down(cfg)
    if args.command == "kit" or (args.command == "run" and cfg.kit and not args.attach):
        code = _kit_build(cfg)
        if code != EXIT_OK or args.command == "kit":
            return code
    log_file = cfg.path(cfg.agent.log_file)
    verbose = bool(getattr(args, "verbose", False))
    console_out = configure_logging(
        log_file,
        "debug" if verbose else cfg.agent.log_level,
        sys.stdout,
        quiet=not verbose,
        max_bytes=cfg.agent.log_max_bytes,
        backups=cfg.agent.log_backups,
    )
    outcome = Outcome(log_file=log_file)
    display: _Display | None = None
    try:
        if args.command == "doctor":
            return anyio.run(_doctor, cfg, args.watch, args.attach)
        if args.command == "alerts":
            return anyio.run(_alerts_test, cfg)
        display = _Display(args.command, _live_wanted(args), console_out)
        if args.command == "watch":
            code = anyio.run(_watch, cfg, display, outcome)
        elif args.scenario == "agent-crash" and not args.supervised:
            code = _agent_crash(cfg, path, args.fresh)
        else:
            code = anyio.run(_run, cfg, args.fresh, args.scenario, display, outcome, args.attach)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except ConfigError as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        outcome.error = str(exc)
        code = EXIT_USAGE
    except Exception as exc:  # no traceback reaches a user: it is in the log file
        code = _unexpected(exc, outcome)
    if args.command in ("run", "watch") and not getattr(args, "supervised", False):
        _closing_summary(cfg, args.command, code, outcome, display)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
