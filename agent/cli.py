"""`rehearse`: the command line.

Exit codes: 0 the rehearsal reached ``restarted``; 1 it ended ``failed`` (the
report says why); 2 bad input (configuration, arguments, missing password),
with nothing started; 130 interrupted (the journal holds the state: run again
to resume).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import anyio
import structlog

from .config import Config, load_config, read_password
from .errors import ConfigError
from .logs import configure_logging
from .machine import Phase

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
    chk = sub.add_parser("check-config", help="validate the configuration and exit")
    chk.add_argument("--config", type=Path, default=None)
    return p


def _config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    default = Path("config.toml")
    return default if default.exists() else None


async def _run(cfg: Config, fresh: bool) -> int:
    from .daemon import run_rehearsal

    log = structlog.get_logger("agent.cli")
    outcome: list[int] = []

    async def main_task(scope: anyio.CancelScope) -> None:
        final = await run_rehearsal(cfg, fresh=fresh)
        outcome.append(EXIT_OK if final.phase is Phase.RESTARTED else EXIT_FAILED)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(main_task, tg.cancel_scope)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                # Signals only request shutdown: the journal already holds every
                # change, so cancelling is safe; a rerun resumes.
                log.warning("shutdown_requested", signal=signal.Signals(signum).name)
                tg.cancel_scope.cancel()
                break
    return outcome[0] if outcome else EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(_config_path(args.config))
        if args.command == "run":
            read_password(cfg)  # fail now, before anything is launched
    except ConfigError as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check-config":
        print("configuration ok")
        return EXIT_OK
    configure_logging(cfg.path(cfg.agent.log_file), cfg.agent.log_level)
    try:
        return anyio.run(_run, cfg, args.fresh)
    except ConfigError as exc:
        print(f"rehearse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
