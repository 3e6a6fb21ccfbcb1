"""`rehearse`, the command line: ``parser`` (its grammar and ``--help``, exit codes
included), ``commands`` (what each subcommand does), ``supervise`` (signals and
exit codes), ``display`` (the live view); ``main`` reads the configuration, refuses
bad input before anything starts, and dispatches."""

from __future__ import annotations

import signal
import sys

import anyio

from agent.cli import commands
from agent.cli.display import Display
from agent.cli.parser import build_parser, config_path
from agent.cli.supervise import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Outcome,
    classify,
    exit_code_of,
    unexpected,
)
from agent.config import load_config, read_password
from agent.errors import ConfigError
from agent.logs import configure_logging

__all__ = ["Outcome", "classify", "exit_code_of", "main"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "init" and args.chain:
        from agent.kit.cli import init_chain

        return init_chain(args.dir, args.chain, args.upgrade, force=args.force)
    if args.command == "init":
        return commands.init(args.dir, args.prod_sim, args.force)
    path = config_path(args.config)
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
        password = None
        if args.command == "run":
            password = read_password(cfg)  # fail now, before anything is launched
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
            return commands.scenarios(cfg)
        except ConfigError as exc:
            print(f"rehearse: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.command == "run" and args.scenario is not None:
        from agent.runtime.scenario_roles import scenario_for

        try:
            scenario_for(cfg, args.scenario, attach=args.attach)
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
        return commands.status(cfg, args.json)
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
        code = commands.kit_build(cfg)
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
    display: Display | None = None
    try:
        if args.command == "doctor":
            return anyio.run(commands.doctor, cfg, args.watch, args.attach)
        if args.command == "alerts":
            return anyio.run(commands.alerts_test, cfg)
        display = Display(args.command, commands.live_wanted(args), console_out)
        if args.command == "watch":
            code = anyio.run(commands.watch, cfg, display, outcome)
        elif args.scenario == "agent-crash" and not args.supervised:
            code = commands.agent_crash(cfg, path, args.fresh)
        else:
            code = anyio.run(
                commands.run,
                cfg,
                args.fresh,
                args.scenario,
                display,
                outcome,
                args.attach,
                password,
            )
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except ConfigError as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        outcome.error = str(exc)
        code = EXIT_USAGE
    except Exception as exc:  # no traceback reaches a user: it is in the log file
        code = unexpected(exc, outcome)
    if args.command in ("run", "watch") and not getattr(args, "supervised", False):
        commands.closing_summary(cfg, args.command, code, outcome, display)
    return code
