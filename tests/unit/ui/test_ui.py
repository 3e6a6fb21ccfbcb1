"""The operator's view: snapshot, rendering, plain lines, summary, status, doctor,
alerts test and the exit codes."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from fakes import GENESIS, make_config, rfc3339

from agent import cli
from agent.config import Config, parse_config
from agent.core import codec
from agent.core.chainview import ChainView
from agent.core.machine import Deadline, Params, Phase, State, Transition
from agent.core.observations import NewBlock, NodeInfo
from agent.errors import CommandFailed, ConfigError, EnvironmentProblem, ProtocolError
from agent.logs import configure_logging
from agent.ui.doctor import Check, doctor_lines, run_doctor
from agent.ui.lines import headline
from agent.ui.render import duration, render_text
from agent.ui.sinktest import send_test
from agent.ui.snapshot import build_snapshot
from agent.ui.status import collect_status
from agent.ui.summary import build_summary, downtime_from_report, summary_json, summary_lines
from agent.watchdog.alerts import Notification
from agent.watchdog.sinks import CommandSink

NOW = GENESIS + 100.0


def _view() -> ChainView:
    view = ChainView(["val-alice", "node-carol"])
    for h in range(10, 21):
        t = GENESIS + h
        view.observe(NewBlock("val-alice", h, rfc3339(t), at=t))
        if h < 18:
            view.observe(NewBlock("node-carol", h, rfc3339(t), at=t))
    view.observe_info(NodeInfo("val-alice", 1, "v1", GENESIS))
    return view


def _tr(frm: Phase | None, to: Phase, h: int) -> Transition:
    return Transition(frm, to, h, GENESIS + h, f"to {to.value}")


def _state(**kw: Any) -> State:
    base = State(
        "r-1",
        Params(scenario="happy"),
        phase=Phase.VOTED,
        started=True,
        proposal_id=3,
        upgrade_height=50,
        voting_end=NOW + 42,
        block_interval=1.0,
        deadline=Deadline("pass", 60.0, ""),
        transitions=(
            _tr(None, Phase.LAUNCHED, 1),
            _tr(Phase.LAUNCHED, Phase.PROPOSED, 12),
            _tr(Phase.PROPOSED, Phase.VOTED, 14),
        ),
    )
    return replace(base, **kw)


def _alert(**kw: Any) -> Notification:
    n = Notification("firing", "stall:node-carol", "critical", "node stalled", "no block for 30s",
                     "node-carol", "stall", "v1tov2", NOW - 30)  # fmt: skip
    return replace(n, **kw)


# --- snapshot and rendering ----------------------------------------------------


def test_snapshot_of_a_rehearsal_in_the_voting_period() -> None:
    snap = build_snapshot(mode="run", view=_view(), now=NOW, state=_state(), alerts=[_alert()],
                          mono=1000.0, deadline_armed=("pass", 990.0))  # fmt: skip
    assert snap.phase == "voted"
    assert snap.reached == ("launched", "proposed", "voted")
    assert [(n.name, n.height, n.version) for n in snap.nodes] == [
        ("val-alice", 20, "v1"),
        ("node-carol", 17, None),
    ]
    assert snap.nodes[0].age_s == pytest.approx(80.0)
    assert snap.proposal_status == "voting"
    assert snap.voting_ends_in_s == pytest.approx(42.0)
    assert snap.block_interval_s == pytest.approx(1.0)
    assert (snap.upgrade_height, snap.blocks_to_upgrade) == (50, 30)
    assert snap.upgrade_eta_s == pytest.approx(30.0)
    assert snap.deadline_name == "pass" and snap.deadline_left_s == pytest.approx(50.0)
    assert [(a.severity, a.node, a.for_s) for a in snap.alerts] == [("critical", "node-carol", 30)]


def test_a_deadline_armed_for_another_wait_shows_no_time_left() -> None:
    snap = build_snapshot(mode="run", view=_view(), now=NOW, state=_state(), mono=5.0,
                          deadline_armed=("vote", 1.0))  # fmt: skip
    assert snap.deadline_name == "pass" and snap.deadline_left_s is None


def test_rendered_text_shows_phases_nodes_proposal_eta_deadline_and_alerts() -> None:
    snap = build_snapshot(mode="run", view=_view(), now=NOW, state=_state(), alerts=[_alert()],
                          mono=1000.0, deadline_armed=("pass", 990.0))  # fmt: skip
    text = render_text(snap)
    assert "✓ launched › ✓ proposed › ▶ voted › · passed › · upgraded › · restarted" in text
    assert "val-alice" in text and "20" in text and "1m20s ago" in text and "v1" in text
    assert "#3 voting, voting ends in 42s" in text
    assert "v1tov2 at height 50: 30 blocks to go, ETA 30s" in text
    assert "waiting    pass: 50s left" in text
    assert "1 firing" in text and "[critical] node-carol: node stalled (for 30s)" in text
    assert "\x1b" not in text


def test_a_failed_rehearsal_shows_where_it_stopped_and_why() -> None:
    failed = (*_state().transitions, _tr(Phase.VOTED, Phase.FAILED, 16))
    st = _state(phase=Phase.FAILED, failure="vote:bob: rejected", deadline=None, transitions=failed)
    text = render_text(build_snapshot(mode="run", view=_view(), now=NOW, state=st))
    assert "✓ voted › · passed" in text and "✗ failed" in text
    assert "failed: vote:bob: rejected" in text and "waiting" not in text


def test_watch_mode_snapshot_has_no_phase_and_says_so() -> None:
    text = render_text(build_snapshot(mode="watch", view=_view(), now=NOW))
    assert "watching only" in text and "▶" not in text and "· launched" in text
    assert "none scheduled on chain" in text and "none firing" in text


@pytest.mark.parametrize(
    ("s", "text"), [(None, "-"), (0.4, "0s"), (42.2, "42s"), (185, "3m05s"), (3720, "1h02m")]
)
def test_durations_read_like_a_person_writes_them(s: float | None, text: str) -> None:
    assert duration(s) == text


# --- plain lines and the log pipeline ---------------------------------------------


def test_headlines_only_for_what_changes_the_picture() -> None:
    ts = "2026-01-02T03:04:05.678Z"
    assert headline({"event": "phase_changed", "phase": "voted", "height": 14, "reason": "all in",
                     "timestamp": ts}) == "03:04:05 phase voted at height 14: all in"  # fmt: skip
    assert headline({"event": "ws_reconnect_wait", "delay": 0.123456789}) is None
    assert headline({"event": "action_start", "level": "info"}) is None
    fired = headline({"event": "alert_firing", "severity": "critical", "node": "val-bob",
                      "summary": "stalled", "message": "no block"})  # fmt: skip
    assert fired == "ALERT [critical] val-bob: stalled: no block"
    err = headline({"event": "boom", "level": "error", "delay": 17.123456789, "exception": "TB"})
    assert err == "error: boom delay=17.1"


@pytest.fixture
def restore_structlog() -> Any:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_quiet_console_gets_headlines_the_file_gets_everything(
    tmp_path: Path, restore_structlog: Any
) -> None:
    out = io.StringIO()
    console_out = configure_logging(tmp_path / "agent.log", "info", out, quiet=True)
    log = structlog.get_logger("t")
    log.debug("ws_reconnect_wait", delay=0.12)
    log.info("phase_changed", phase="proposed", height=12, reason="submitted")
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("crashed")
    console_out.close()
    console = out.getvalue()
    assert "phase proposed at height 12" in console
    assert "ws_reconnect_wait" not in console and "Traceback" not in console
    assert "error: crashed" in console
    events = [json.loads(x) for x in (tmp_path / "agent.log").read_text().splitlines()]
    assert [e["event"] for e in events] == ["ws_reconnect_wait", "phase_changed", "crashed"]
    assert "Traceback" in events[-1]["exception"]


def test_verbose_console_shows_debug(tmp_path: Path, restore_structlog: Any) -> None:
    out = io.StringIO()
    console_out = configure_logging(tmp_path / "agent.log", "debug", out, quiet=False)
    structlog.get_logger("t").debug("ws_reconnect_wait", delay=0.12)
    console_out.close()
    assert "ws_reconnect_wait" in out.getvalue()


# --- closing summary and status ------------------------------------------------------


def test_summary_of_an_interrupted_run_says_how_to_resume() -> None:
    s = build_summary(command="run", exit_code=130, state=_state(), log_file="/x/agent.log")
    text = "\n".join(summary_lines(s))
    assert "rehearse run: interrupted at phase voted (exit 130: interrupted (resumable))" in text
    assert "`rehearse run` resumes it" in text and "--fresh" in text


def test_summary_of_a_finished_run_gives_verdict_downtime_and_report() -> None:
    st = _state(phase=Phase.RESTARTED, verdict_met=True, verdict="all good",
                report_path="/r/report.json")  # fmt: skip
    doc = {"rehearsal_id": "r-1", "timeline": {"upgrade_height": 51, "chain_downtime": {
        "header_s": 1.9, "received_s": 12.34}}}  # fmt: skip
    s = build_summary(command="run", exit_code=0, state=st, report_doc=doc)
    text = "\n".join(summary_lines(s))
    assert "rehearse run: restarted (exit 0: the expected outcome)" in text
    assert "verdict   as expected: all good" in text
    assert "downtime  12.3 s (block times 1.9 s apart), heights 50..51" in text
    assert "report    /r/report.json" in text
    assert summary_json(s)["exit_meaning"] == "the expected outcome"


def test_a_report_of_another_rehearsal_is_not_quoted() -> None:
    s = build_summary(command="run", exit_code=1, state=_state(phase=Phase.FAILED),
                      report_doc={"rehearsal_id": "other", "timeline": {"chain_downtime": {
                          "received_s": 5}}})  # fmt: skip
    assert s.downtime is None


@pytest.mark.parametrize(
    ("doc", "text"),
    [
        (None, None),
        ({}, None),
        ({"timeline": None}, None),  # a report of a run that never launched
        ({"timeline": {"chain_downtime": {"received_s": None, "header_s": None}}}, None),
        ({"timeline": {"chain_downtime": {"received_s": 4.82}}}, "4.8 s"),
        ({"timeline": {"chain_downtime": {"received_s": True}}}, None),
    ],
)
def test_downtime_is_read_defensively(doc: dict[str, Any] | None, text: str | None) -> None:
    assert downtime_from_report(doc) == text


@pytest.mark.anyio
async def test_the_summary_reads_the_downtime_a_real_report_writes(tmp_path: Path) -> None:
    """The report writer's own output, not a shape made up here: the two must agree."""
    import json as _json

    from fakes.reports import restarted

    from agent.runtime.report import write_report

    out = await write_report(restarted(), tmp_path / "report.json", tmp_path / "report.md")
    doc = _json.loads(await anyio.Path(out).read_text())
    doc["timeline"]["chain_downtime"].update(header_s=1.9, received_s=4.8)
    assert downtime_from_report(doc) == "4.8 s (block times 1.9 s apart), heights 29..30"


def test_environment_failure_is_named_in_the_outcome() -> None:
    reason = "launch: " + str(EnvironmentProblem("host ports check failed", "free them"))
    failed = _state(phase=Phase.FAILED, failure=reason, environment_failure=True)
    s = build_summary(command="run", exit_code=2, state=failed)
    assert s.outcome == "failed (environment problem)"


def test_status_with_no_state_at_all(tmp_path: Path) -> None:
    summary, code = collect_status(make_config(tmp_path))
    assert code == 0 and summary.outcome == "no rehearsal yet" and summary.running is None


def _write_journal(cfg: Any, state: State) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "state": codec.encode(state)}
    (cfg.state_dir / "journal.json").write_text(json.dumps(doc))


def test_status_of_a_running_rehearsal_with_a_fresh_heartbeat_and_an_alert(
    tmp_path: Path,
) -> None:
    cfg = make_config(tmp_path)
    _write_journal(cfg, _state())
    w = cfg.watch.watch
    w.heartbeat_file.write_text(json.dumps({"pid": os.getpid(), "at": NOW, "phase": "voted",
                                            "alerts_firing": 1}))  # fmt: skip
    os.utime(w.heartbeat_file, (NOW, NOW))
    w.alert_state_file.write_text(json.dumps({"version": 1, "outbox": [],
                                              "firing": {"k": _alert().to_json()}}))  # fmt: skip
    summary, code = collect_status(cfg, now=NOW + 1)
    assert code == 0
    assert summary.outcome == "running: phase voted"
    assert summary.running is not None and f"pid {os.getpid()}" in summary.running
    assert summary.alerts == ("[critical] node-carol: node stalled",)


def test_status_of_an_interrupted_rehearsal_says_how_to_resume(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    _write_journal(cfg, _state())
    summary, _ = collect_status(cfg, now=NOW)
    assert summary.outcome == "interrupted at phase voted"
    assert summary.resume is not None and "rehearse run" in summary.resume


def test_status_of_a_corrupt_journal_is_exit_2_and_leaves_the_file(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    cfg.state_dir.mkdir(parents=True)
    (cfg.state_dir / "journal.json").write_text("{not json")
    summary, code = collect_status(cfg)
    assert code == 2 and summary.outcome == "state unreadable"
    assert (cfg.state_dir / "journal.json").exists()


def test_status_command_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "no rehearsal yet"


# --- doctor -------------------------------------------------------------------------


class FakeProbes:
    def __init__(self, **broken: Any) -> None:
        self.broken = broken
        self.heights: dict[str, int] = {}

    def _raise(self, what: str) -> None:
        if what in self.broken:
            raise self.broken[what]

    async def preflight(self) -> None:
        self._raise("preflight")

    async def compose(self) -> list[str]:
        self._raise("compose")
        return ["docker", "compose"]

    async def compose_images(self, prefix: list[str]) -> list[str]:
        return ["checkersd_i:v1", "cosmovisor_i:v1tov2"]

    async def image_present(self, image: str) -> bool:
        return image not in self.broken.get("missing", ())

    async def ports_check(self) -> None:
        self._raise("ports")

    def password(self) -> str:
        self._raise("password")
        return "pw"

    async def keyring(self, password: str) -> None:
        self._raise("keyring")

    async def node_height(self, name: str) -> int:
        if name in self.heights:
            return self.heights[name]
        raise ProtocolError("connection refused")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return make_config(tmp_path)  # outside the event loop: it reads the cwd


@pytest.mark.anyio
async def test_doctor_all_good_with_the_stack_down(cfg: Config) -> None:
    checks = await run_doctor(cfg, FakeProbes())
    assert not [c for c in checks if c.status == "fail"]
    by = {c.name: c for c in checks}
    assert by["node val-alice"].status == "note" and by["host ports"].status == "ok"
    assert by["keyrings"].status == "ok" and by["stack images"].detail == "2 present"
    assert doctor_lines(checks)[-1] == "all good"


@pytest.fixture
def no_port_check(tmp_path: Path) -> Config:
    return make_config(tmp_path, {"stack": {"reset_command": ["reset"]}})


@pytest.mark.anyio
async def test_doctor_says_when_no_port_check_is_configured(no_port_check: Config) -> None:
    # An empty stack.ports_check_command once ran as a command of no program.
    probes = FakeProbes(ports=CommandFailed(["?"], 127, "cannot run"))
    checks = await run_doctor(no_port_check, probes)
    by = {c.name: c for c in checks}
    assert by["host ports"].status == "note" and "not checked" in by["host ports"].detail


@pytest.mark.anyio
async def test_doctor_names_each_problem_with_a_fix(cfg: Config) -> None:
    probes = FakeProbes(
        preflight=ConfigError("chain.cli_image_v2", "checkersd_i:v2", "no such image"),
        ports=CommandFailed(["python3"], 1, "Error: port 26657 is in use"),
        password=ConfigError("keyring.password_env", "X", "environment variable is unset"),
        missing=("cosmovisor_i:v1tov2",),
    )
    checks = await run_doctor(cfg, probes)
    failed = {c.name: c for c in checks if c.status == "fail"}
    assert set(failed) == {"CLI images", "stack images", "host ports", "keyring password"}
    assert all(c.fix for c in failed.values())
    assert "port 26657 is in use" in failed["host ports"].detail
    lines = doctor_lines(checks)
    assert any(x.startswith("✗ host ports") and "→" in x for x in lines)
    assert lines[-1].startswith("4 problem(s)")


@pytest.mark.anyio
async def test_doctor_docker_down_skips_what_needs_it(cfg: Config) -> None:
    probes = FakeProbes(preflight=ConfigError("DOCKER_HOST", "unix://x", "unreachable"))
    checks = await run_doctor(cfg, probes)
    by = {c.name: c for c in checks}
    assert by["docker"].status == "fail" and "Docker" in by["docker"].fix
    assert "stack images" not in by and by["keyrings"].status == "note"


@pytest.mark.anyio
async def test_doctor_for_watch_needs_the_nodes_not_docker(cfg: Config) -> None:
    probes = FakeProbes(preflight=ConfigError("DOCKER_HOST", "unix://x", "unreachable"))
    probes.heights = {n.name: 7 for n in cfg.nodes[1:]}
    checks = await run_doctor(cfg, probes, watch=True)
    assert [c.name for c in checks if c.status == "fail"] == ["node val-alice"]
    assert {c.name for c in checks} >= {"docker"} and "compose" not in {c.name for c in checks}


@pytest.mark.anyio
async def test_doctor_for_attach_needs_the_running_network_not_our_stack(cfg: Config) -> None:
    # It once checked the prod-sim's Compose files and said "run relaunches it".
    probes = FakeProbes(compose=CommandFailed(["docker", "compose"], 1, "no compose"))
    probes.heights = {n.name: 7 for n in cfg.nodes[1:]}
    checks = await run_doctor(cfg, probes, attach=True)
    names = {c.name for c in checks}
    assert not names & {"compose", "stack images", "host ports"}
    assert [c.name for c in checks if c.status == "fail"] == ["node val-alice"]
    assert {"CLI images", "keyring password", "keyrings"} <= names
    assert "run` launches it" not in " ".join(c.detail for c in checks)


@pytest.fixture
def kcfg(tmp_path: Path) -> Config:  # outside the event loop, as cfg
    return parse_config({"kit": {"v1": {"binary": "a"}, "v2": {"binary": "b"}}}, tmp_path)


@pytest.mark.anyio
async def test_doctor_on_a_kit_profile_says_how_to_build_its_images(kcfg: Config) -> None:
    probes = FakeProbes(missing=("cosmovisor_i:v1tov2",))
    by = {c.name: c for c in await run_doctor(kcfg, probes)}
    assert by["stack images"].fix == "build them: `rehearse kit build`"


def test_doctor_lines_mark_each_check() -> None:
    lines = doctor_lines([Check("a", "ok", "fine"), Check("bb", "fail", "broken", "fix it")])
    assert lines[:2] == ["✓ a   fine", "✗ bb  broken  → fix it"]


# --- alerts test ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_alerts_test_reports_each_sink() -> None:
    ok = CommandSink(["sh", "-c", "cat >/dev/null"])
    bad = CommandSink(["sh", "-c", "cat >/dev/null; exit 1"])
    results = await send_test([], sinks=[ok, bad])
    assert [(r.sink, r.ok) for r in results] == [("command:sh", True), ("command:sh", False)]
    assert "exited 1" in results[1].detail


# --- exit codes ------------------------------------------------------------------------


def test_exit_codes_of_final_states() -> None:
    env = "launch: " + str(EnvironmentProblem("host ports check failed"))
    assert cli.exit_code_of(_state(phase=Phase.RESTARTED)) == 0
    assert cli.exit_code_of(_state(phase=Phase.FAILED, failure="vote: no")) == 1
    assert cli.exit_code_of(_state(phase=Phase.FAILED, failure=env, environment_failure=True)) == 2
    # The kind is the failing fact's word, never read from the text (issue 18).
    assert cli.exit_code_of(_state(phase=Phase.FAILED, failure=env)) == 1
    assert cli.exit_code_of(_state(phase=Phase.FAILED, verdict_met=True)) == 0
    assert cli.exit_code_of(_state(phase=Phase.RESTARTED, verdict_met=False)) == 1


def test_errors_inside_task_groups_map_to_2_and_bugs_to_1_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = cli.Outcome(log_file=Path("/var/log/agent.log"))
    group = ExceptionGroup("tg", [ConfigError("DOCKER_HOST", "x", "unreachable")])
    assert cli.classify(group, out) == 2
    assert cli.classify(ExceptionGroup("tg", [EnvironmentProblem("port busy")]), out) == 2
    assert cli.classify(ExceptionGroup("tg", [KeyError("bug")]), out) == 1
    err = capsys.readouterr().err
    assert "unexpected error (KeyError: 'bug'); the traceback is in /var/log/agent.log" in err
    assert "Traceback" not in err


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("rehearse 0.")


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert all(f"\n  {code} " in text for code in ("0", "1", "2", "130"))
