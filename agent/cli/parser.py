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
from pathlib import Path

__all__ = ["build_parser", "config_path", "version"]


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from agent import __version__

    try:
        return version("rehearse")
    except PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="rehearse",
        description=doc.split("\n")[0],
        epilog=doc.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rehearse {version()}")
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


def config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    default = Path("config.toml")
    return default if default.exists() else None
