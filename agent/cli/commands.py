"""What each subcommand does, once the configuration is read."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agent.cli.display import Display
from agent.cli.supervise import (
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Outcome,
    exit_code_of,
    supervise,
)
from agent.config import Config, read_password
from agent.core.machine import State
from agent.errors import ConfigError, EnvironmentProblem


async def run(
    cfg: Config,
    fresh: bool,
    scenario: str | None,
    display: Display,
    outcome: Outcome,
    attach: bool = False,
    password: str | None = None,
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
                password=password,
            )

        final: State = await display.around(body)
        outcome.state = final
        return exit_code_of(final)

    return await supervise(job, outcome)


def scenarios(cfg: Config) -> int:
    from agent.core.scenarios import SCENARIO_NAMES
    from agent.runtime.scenario_roles import scenario_for

    for name in SCENARIO_NAMES:
        try:
            sc = scenario_for(cfg, name)
        except ConfigError as exc:
            # One scenario this network cannot play (no sentry, the kit not built
            # yet) must not hide the others.
            print(f"{name}\n  not available here: {exc}\n")
            continue
        print(f"{name}\n  {sc.summary}\n  injected: {sc.injected}\n  expected: {sc.expected}\n")
    return EXIT_OK


def agent_crash(cfg: Config, path: Path | None, fresh: bool) -> int:
    from agent.runtime.supervisor import supervise_agent_crash

    code, findings = supervise_agent_crash(cfg, path, fresh)
    for line in findings:
        print(f"rehearse: agent-crash: {line}", file=sys.stderr)
    append_to_report(cfg, "Supervisor (agent-crash)", findings)
    return code


def append_to_report(cfg: Config, title: str, lines: list[str]) -> None:
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


async def watch(cfg: Config, display: Display, outcome: Outcome) -> int:
    from agent.runtime.wiring import run_watch

    async def job() -> int:
        async def body() -> None:
            await run_watch(cfg, on_started=display.session.started)

        await display.around(body)
        return EXIT_OK

    code = await supervise(job, outcome)
    # Stopping on a signal is the normal end of `watch`.
    return EXIT_OK if code == EXIT_INTERRUPTED else code


def closing_summary(
    cfg: Config, command: str, code: int, outcome: Outcome, display: Display | None
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


def status(cfg: Config, as_json: bool) -> int:
    from agent.ui.status import collect_status
    from agent.ui.summary import summary_json, summary_lines

    summary, code = collect_status(cfg)
    if as_json:
        print(json.dumps(summary_json(summary), indent=2))
    else:
        print("\n".join(summary_lines(summary)))
    return code


async def doctor(cfg: Config, watch: bool, attach: bool = False) -> int:
    from agent.ui.doctor import RealProbes, doctor_lines, run_doctor

    checks = await run_doctor(cfg, RealProbes(cfg), watch=watch, attach=attach)
    print("\n".join(doctor_lines(checks)))
    return EXIT_OK if all(c.status != "fail" for c in checks) else EXIT_ENVIRONMENT


async def alerts_test(cfg: Config) -> int:
    from agent.ui.sinktest import send_test

    settings = cfg.watch.sinks
    if not settings:
        print("no [[alerts.sinks]] configured: alerts go to the log only (nothing to test)")
        return EXIT_OK
    results = await send_test(settings)
    for r in results:
        print(f"{'✓' if r.ok else '✗'} {r.sink}: {r.detail}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_ENVIRONMENT


def kit_build(cfg: Config) -> int:
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


def live_wanted(args: argparse.Namespace) -> bool:
    if getattr(args, "plain", False) or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def init(dest: Path, with_prod_sim: bool, force: bool) -> int:
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
