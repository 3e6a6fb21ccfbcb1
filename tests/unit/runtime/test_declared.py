"""A profile's declared reads and checks at run time (agent/runtime/executors/declared.py):
each kind of read on the fake chain, failed reads as error documents, JSON checks and
program checks (their stdin; the bundled leaderboard program run for real)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakes import LEADERBOARD_PROGRAM, PlayerInfo, World, encode_kv_pairs, make_world

from agent.adapters.process import CommandResult
from agent.core.facts import Check
from agent.errors import CommandFailed, DeadlineExceeded
from agent.runtime.executors import declared
from agent.runtime.executors.declared import judge_stage, take_reads

pytestmark = pytest.mark.anyio

READS: list[dict[str, Any]] = [
    {"name": "pool", "kind": "rest", "path": "/cosmos/staking/v1beta1/pool"},
    {"name": "vals", "kind": "rpc", "path": "validators?height=5&per_page=2"},
    {"name": "info", "kind": "rpc", "path": "/abci_info"},
    {"name": "players", "kind": "abci", "path": "/store/checkers/subspace",
     "data": "PlayerInfo/value/"},
    {"name": "board", "kind": "abci", "path": "/store/checkers/key", "data": "Leaderboard/value/"},
    {"name": "shown", "kind": "cli", "args": ["checkers", "show-leaderboard"], "binary": "v2"},
    {"name": "shown_v1", "kind": "cli", "args": ["checkers", "show-leaderboard"], "binary": "v1"},
]  # fmt: skip
CHECKS: list[dict[str, Any]] = [
    {"name": "bonded_sane", "stage": "upgraded", "read": "pool",
     "json_path": "$.pool.bonded_tokens", "expect": "within", "min": 1.0, "max": 1e15},
    {"name": "vals_kept", "stage": "upgraded", "read": "vals", "json_path": "$.total",
     "expect": "equals_baseline"},
    {"name": "version_moved", "stage": "upgraded", "read": "info",
     "json_path": "$.response.app_version", "expect": "changed"},
    {"name": "board_program", "stage": "upgraded", "program": ["checker", "--strict"],
     "reads": ["shown", "board"], "baseline_reads": ["players"]},
    {"name": "old_cli", "stage": "restarted", "read": "shown_v1", "expect": "exists"},
    {"name": "board_kept", "stage": "restarted", "read": "board", "expect": "equals_upgraded"},
]  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> World:
    """A world with this module's reads and checks (or ``request.param``'s sections)."""
    extra = getattr(request, "param", None) or {"reads": READS, "checks": CHECKS}
    w = make_world(tmp_path, extra=extra, profile=False)
    w.chain.rest_docs["/cosmos/staking/v1beta1/pool"] = {"pool": {"bonded_tokens": "5000"}}
    w.chain.rpc_docs["validators"] = {"total": "4", "validators": []}
    w.chain.rpc_docs["abci_info"] = {"response": {"app_version": "1"}}
    w.chain.players = [PlayerInfo("p1", 2, 0, 0), PlayerInfo("p2", 0, 1, 0)]
    w.chain.leaderboard = [("p1", 2)]
    return w


def docs(reads: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {n: json.loads(t) for n, t in reads}


def test_specs_mirror_the_config(world: World) -> None:
    specs = world.ctx.settings.reads
    assert list(specs) == [r["name"] for r in READS]
    assert specs["vals"].kind == "rpc" and specs["shown_v1"].binary == "v1"
    assert specs["shown"].args == ("checkers", "show-leaderboard")
    checks = world.ctx.settings.checks
    assert [c.name for c in checks] == [c["name"] for c in CHECKS]
    prog = checks[3]
    assert prog.program == ("checker", "--strict") and prog.uses == ("shown", "board")
    assert prog.baseline_reads == ("players",)


async def test_each_kind_of_read_at_each_stage(world: World) -> None:
    baseline = docs(await take_reads(world.ctx, "baseline"))
    assert list(baseline) == ["vals", "info", "players"]
    assert baseline["vals"] == {"total": "4", "validators": []}
    raw = base64.b64decode(baseline["players"]["value"])
    players = sorted((k, v) for k, v in world.chain.store.items() if k.startswith(b"PlayerInfo/"))
    assert len(players) == 2 and raw == encode_kv_pairs(players)
    # The RPC method and its query parameters; the raw store query's path and data.
    assert ("rpc", ("validators", {"height": "5", "per_page": "2"})) in world.chain.queries
    assert ("rpc", ("abci_info", None)) in world.chain.queries
    assert ("abci", ("/store/checkers/subspace", b"PlayerInfo/value/")) in world.chain.queries

    upgraded = docs(await take_reads(world.ctx, "upgraded"))
    assert list(upgraded) == ["pool", "vals", "info", "shown", "board"]
    assert upgraded["pool"] == {"pool": {"bonded_tokens": "5000"}}
    assert upgraded["shown"] == {
        "Leaderboard": {"winners": [{"playerAddress": "p1", "wonCount": "2"}]}
    }
    stored = json.loads(base64.b64decode(upgraded["board"]["value"]))
    assert stored == {"winners": [{"playerAddress": "p1", "wonCount": "2"}]}
    assert ("cli", (("checkers", "show-leaderboard"), True)) in world.chain.queries

    restarted = docs(await take_reads(world.ctx, "restarted"))
    assert list(restarted) == ["shown_v1", "board"]
    assert "v1" in restarted["shown_v1"]["__error__"]  # the v1 binary has no such query


async def test_an_absent_store_key_reads_as_a_null_value(world: World) -> None:
    world.chain.leaderboard = None
    world.chain.players = []
    got = docs(await take_reads(world.ctx, "upgraded"))
    assert got["board"] == {"value": None}
    assert docs(await take_reads(world.ctx, "baseline"))["players"] == {"value": None}


async def test_a_failing_read_is_an_error_document_and_the_others_are_taken(
    world: World,
) -> None:
    del world.chain.rest_docs["/cosmos/staking/v1beta1/pool"]
    h = world.chain.height
    got = docs(await take_reads(world.ctx, "upgraded"))
    assert got["pool"] == {
        "__error__": "GET /cosmos/staking/v1beta1/pool: HTTP 501: Not Implemented"
    }
    assert got["vals"]["total"] == "4" and "value" in got["board"]
    assert world.chain.height == h + 5  # retried on each of the next 5 blocks
    checks = await judge_stage(world.ctx, "upgraded", await take_reads(world.ctx, "upgraded"), ())
    bonded = next(c for c in checks if c.name == "bonded_sane")
    assert bonded == Check(
        "bonded_sane",
        False,
        "read failed: pool: GET /cosmos/staking/v1beta1/pool: HTTP 501: Not Implemented",
    )


async def test_a_read_that_hangs_past_its_deadline_is_recorded_as_timed_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(declared, "READ_DEADLINE_S", 0.05)

    async def hang(path: str) -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    world.rest.get_path = hang  # type: ignore[method-assign]
    got = docs(await take_reads(world.ctx, "upgraded"))
    assert got["pool"] == {"__error__": "timed out"}


class Programs:
    """The context's ``run`` for the check programs: records argv, stdin, cwd."""

    def __init__(self, answer: CommandResult | Exception | None = None) -> None:
        self.calls: list[tuple[list[str], dict[str, Any], Any]] = []
        self.answer = answer

    async def __call__(self, argv: Any, **kw: Any) -> CommandResult:
        self.calls.append((list(argv), json.loads(kw["stdin_data"]), kw.get("cwd")))
        assert kw.get("check") is False  # a failing program is a verdict, not an error
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer or CommandResult(
            tuple(argv), 0, 'noise\n{"pass": true, "evidence": "fine"}\n', ""
        )


async def stages(w: World) -> tuple[Any, Any, Any]:
    base = await take_reads(w.ctx, "baseline")
    up = await take_reads(w.ctx, "upgraded")
    return base, up, await take_reads(w.ctx, "restarted")


async def test_a_program_check_gets_its_reads_as_json_on_stdin(world: World) -> None:
    progs = Programs()
    world.ctx.programs = progs
    base, _, _ = await stages(world)
    world.chain.rpc_docs["abci_info"] = {"response": {"app_version": "2"}}
    up = await take_reads(world.ctx, "upgraded")
    checks = await judge_stage(world.ctx, "upgraded", up, base)
    assert {c.name: c.passed for c in checks} == {
        "bonded_sane": True,
        "vals_kept": True,
        "version_moved": True,
        "board_program": True,
    }
    assert next(c for c in checks if c.name == "board_program").evidence == "fine"
    argv, stdin, cwd = progs.calls[0]
    assert argv == ["checker", "--strict"] and cwd == world.cfg.base_dir
    now, before = docs(up), docs(base)
    assert stdin == {
        "check": "board_program",
        "stage": "upgraded",
        "baseline": {"players": before["players"]},
        "upgraded": {},
        "current": {"shown": now["shown"], "board": now["board"]},
    }


async def test_json_checks_fail_with_evidence(world: World) -> None:
    world.ctx.programs = Programs()
    base, up, _ = await stages(world)  # app_version unchanged
    world.chain.rpc_docs["validators"] = {"total": "3"}
    world.chain.rest_docs["/cosmos/staking/v1beta1/pool"] = {"pool": {"bonded_tokens": "0"}}
    up = await take_reads(world.ctx, "upgraded")
    failed = {c.name: c.evidence for c in await judge_stage(world.ctx, "upgraded", up, base)
              if not c.passed}  # fmt: skip
    assert failed == {
        "bonded_sane": "pool $.pool.bonded_tokens = 0, bounds [1.0, 1000000000000000.0]",
        "vals_kept": "vals $.total = 3; before the upgrade 4",
        "version_moved": "info $.response.app_version = 1; before the upgrade 1",
    }


async def test_restarted_checks_compare_with_the_reads_after_the_upgrade(world: World) -> None:
    world.ctx.programs = Programs()
    base, up, now = await stages(world)
    checks = await judge_stage(world.ctx, "restarted", now, base, up)
    assert {c.name: c.passed for c in checks} == {"old_cli": False, "board_kept": True}
    world.chain.leaderboard = [("p1", 2), ("p9", 1)]
    now = await take_reads(world.ctx, "restarted")
    kept = next(c for c in await judge_stage(world.ctx, "restarted", now, base, up)
                if c.name == "board_kept")  # fmt: skip
    assert not kept.passed and "after the upgrade" in kept.evidence


@pytest.mark.parametrize(
    ("answer", "evidence"),
    [
        (CommandResult(("c",), 0, "no json here\n", "Traceback\nKeyError: 'x'\n"),
         "the check program gave no verdict (exit 0): KeyError: 'x'"),
        (CommandResult(("c",), 3, '{"pass": true, "evidence": "said yes"}', ""), "said yes"),
        (CommandResult(("c",), 0, '{"pass": false, "evidence": "said no"}', ""), "said no"),
        (FileNotFoundError(2, "No such file or directory"),
         "the check program did not run: [Errno 2] No such file or directory"),
        (DeadlineExceeded("checker: killed after 60 s"),
         "the check program did not run: checker: killed after 60 s"),
        (CommandFailed(["checker"], 1, "boom"), "the check program did not run"),
    ],
    ids=["no-verdict", "pass-but-exit-3", "fail", "missing", "deadline", "failed"],
)  # fmt: skip
async def test_a_program_that_does_not_pass_fails_its_check(
    world: World, answer: Any, evidence: str
) -> None:
    world.ctx.programs = Programs(answer)
    base, up, _ = await stages(world)
    prog = next(c for c in await judge_stage(world.ctx, "upgraded", up, base)
                if c.name == "board_program")  # fmt: skip
    assert not prog.passed
    assert prog.evidence.startswith(evidence)


async def test_a_program_whose_read_failed_is_not_run(world: World) -> None:
    progs = Programs()
    world.ctx.programs = progs
    world.cli.leaderboard_error = CommandFailed(["checkersd"], 1, "Error: unknown query")
    base, up, _ = await stages(world)
    prog = next(c for c in await judge_stage(world.ctx, "upgraded", up, base)
                if c.name == "board_program")  # fmt: skip
    assert not prog.passed and prog.evidence.startswith("read failed: shown: ")
    assert "unknown query" in prog.evidence
    assert progs.calls == []


PROFILE_REAL = {
    "reads": [
        {"name": "players", "kind": "abci", "path": "/store/checkers/subspace",
         "data": "PlayerInfo/value/"},
        {"name": "leaderboard_cli", "kind": "cli", "args": ["checkers", "show-leaderboard"]},
    ],
    "checks": [
        {"name": "leaderboard_migrated", "stage": "upgraded",
         "program": [sys.executable, str(LEADERBOARD_PROGRAM)],
         "reads": ["leaderboard_cli"], "baseline_reads": ["players"]},
    ],
}  # fmt: skip


@pytest.mark.parametrize("world", [PROFILE_REAL], indirect=True)
async def test_the_real_leaderboard_program_judges_the_fake_chain(world: World) -> None:
    world.chain.players = [PlayerInfo("b", 3, 0, 0), PlayerInfo("a", 3, 1, 0),
                           PlayerInfo("c", 0, 9, 0), PlayerInfo("d", 5, 0, 2)]  # fmt: skip
    base = await take_reads(world.ctx, "baseline")
    world.chain.cli_leaderboard = [("d", 5), ("a", 3), ("b", 3)]  # ties by index
    up = await take_reads(world.ctx, "upgraded")
    (check,) = await judge_stage(world.ctx, "upgraded", up, base)
    assert check.passed, check
    assert check.evidence == (
        "show-leaderboard [('d', 5), ('a', 3), ('b', 3)]; "
        "computed from 4 players [('d', 5), ('a', 3), ('b', 3)]"
    )
    world.chain.cli_leaderboard = [("d", 5), ("b", 3), ("a", 3)]  # a wrong tie order
    up = await take_reads(world.ctx, "upgraded")
    (check,) = await judge_stage(world.ctx, "upgraded", up, base)
    assert not check.passed


JSON_CHANGED = {
    "reads": [{"name": "info", "kind": "rpc", "path": "abci_info"}],
    "checks": [{"name": "version_moved", "stage": "upgraded", "read": "info",
                "json_path": "$.response.app_version", "expect": "changed"}],
}  # fmt: skip


@pytest.mark.parametrize("world", [JSON_CHANGED], indirect=True)
async def test_a_failed_baseline_read_fails_a_changed_check(world: World) -> None:
    world.chain.down = set(world.chain.nodes)  # every node refuses: the baseline read fails
    base = await take_reads(world.ctx, "baseline")
    assert "__error__" in docs(base)["info"]
    world.chain.down = set()
    up = await take_reads(world.ctx, "upgraded")
    (check,) = await judge_stage(world.ctx, "upgraded", up, base)
    assert not check.passed
    assert "info" in check.evidence and "failed" in check.evidence


@pytest.mark.parametrize("world", [PROFILE_REAL], indirect=True)
async def test_a_failed_baseline_read_fails_a_program_check(world: World) -> None:
    world.chain.query_errors = 10_000  # the store query fails on every node, every block
    base = await take_reads(world.ctx, "baseline")
    assert "__error__" in docs(base)["players"]
    world.chain.query_errors = 0
    world.chain.cli_leaderboard = []
    up = await take_reads(world.ctx, "upgraded")
    (check,) = await judge_stage(world.ctx, "upgraded", up, base)
    assert not check.passed
    assert "players" in check.evidence
