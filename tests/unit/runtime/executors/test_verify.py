"""Verification: the baseline, the upgrade checks, the restart checks, no-upgrade."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fakes import (
    GENESIS,
    PLAYER_PREFIX,
    PlayerInfo,
    World,
)
from fakes.executors import only, state

from agent.core.actions import (
    CaptureBaseline,
    VerifyNoUpgrade,
    VerifyRestart,
    VerifyUpgrade,
)
from agent.core.facts import (
    BaselineCaptured,
    Check,
    NoUpgradeVerified,
    RestartVerified,
    UpgradeVerified,
)
from agent.core.machine import Params, State
from agent.core.observations import NewBlock
from agent.errors import (
    ProtocolError,
    TransientError,
)
from agent.runtime.executors.verify import (
    capture_baseline,
    verify_no_upgrade,
    verify_restart,
    verify_upgrade,
)

pytestmark = pytest.mark.anyio


PLAYERS = [
    PlayerInfo("cosmos1p1", 3, 1, 0),
    PlayerInfo("cosmos1p2", 5, 0, 0),
    PlayerInfo("cosmos1p3", 0, 2, 1),
]


BOARD = [("cosmos1p2", 5), ("cosmos1p1", 3)]


H = 12  # upgrade height; the world is at 10


async def baseline_of(w: World) -> BaselineCaptured:
    """The baseline as capture_baseline takes it from the fake chain with PLAYERS."""
    w.chain.players = list(PLAYERS)
    fact = await capture_baseline(w.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    return fact


def good_upgrade(w: World) -> None:
    w.chain.applied["v1tov2"] = H
    w.chain.app_version = dict.fromkeys(w.chain.nodes, 2)
    w.chain.cli_leaderboard = list(BOARD)
    w.chain.leaderboard = list(BOARD)


def names(checks: Any) -> dict[str, bool]:
    return {c.name: c.passed for c in checks}


def docs(reads: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {n: json.loads(t) for n, t in reads}


async def test_capture_baseline_takes_the_declared_reads_balances_and_app_version(
    world: World,
) -> None:
    world.chain.players = list(PLAYERS)
    world.chain.balances = {"cosmos1alice": 9}
    # Every node answers "invalid height" twice (restarting): each read tries them all.
    world.chain.query_errors = 2 * len(world.chain.nodes)
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    assert [n for n, _ in fact.reads] == ["players"]  # only what some check needs before
    raw = base64.b64decode(docs(fact.reads)["players"]["value"])
    assert [PLAYER_PREFIX + p.index.encode() in raw for p in PLAYERS] == [True] * 3
    assert fact.balances == (("cosmos1alice", 9), ("cosmos1bob", 0))
    assert fact.app_version == 1
    assert world.chain.height == 12  # retried on the next two blocks


async def test_a_read_refused_by_one_node_is_answered_by_the_next(world: World) -> None:
    world.chain.players = list(PLAYERS)
    world.chain.query_errors = 1  # the tx node is restarting
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)
    assert docs(fact.reads)["players"]["value"]
    assert world.chain.height == 10  # no block waited for
    assert world.ctx.tx_rpc.current != world.cfg.chain.tx_node


async def test_a_read_that_gives_up_is_recorded_as_an_error_document(world: World) -> None:
    world.chain.query_errors = 10_000
    start = world.ctx.clock.monotonic()
    fact = await capture_baseline(world.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured)  # the baseline is still taken
    assert "invalid height" in docs(fact.reads)["players"]["__error__"]
    assert world.chain.height == 15  # retried on each of the next 5 blocks,
    assert world.ctx.clock.monotonic() - start >= 15.0  # then each second for 15 s


async def test_verify_upgrade_passes_on_a_good_chain(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    assert names(fact.checks) == {
        "cosmovisor_current": True,
        "applied_plan_height": True,
        "app_version_changed": True,
        "leaderboard_migrated": True,
        "app_hash_agree": True,
    }
    migrated = {c.name: c.evidence for c in fact.checks}["leaderboard_migrated"]
    assert "computed from 3 players" in migrated
    # Every app executed h, and no block past it was waited for.
    assert world.view.all_above(H - 1) and world.chain.height == H
    # The reads after the upgrade: the check's, and what "restarted" compares with.
    assert [n for n, _ in fact.reads] == ["leaderboard_cli", "leaderboard_store"]
    assert ("cli", (("checkers", "show-leaderboard"), True)) in world.chain.queries


def _link(w: World) -> None:
    cid = w.chain.containers["val-bob"]
    w.chain.links[cid] = "/root/.checkers-upgrade/cosmovisor/genesis"


def _container(w: World) -> None:
    del w.chain.containers["sentry-bob"]


def _applied(w: World) -> None:
    w.chain.applied["v1tov2"] = 0


def _version(w: World) -> None:
    w.chain.app_version["node-carol"] = 1


def _board(w: World) -> None:
    w.chain.cli_leaderboard = [("cosmos1p1", 3)]


def _order(w: World) -> None:
    w.chain.cli_leaderboard = list(reversed(BOARD))


def _board_cli(w: World) -> None:
    w.cli.leaderboard_error = ProtocolError("no JSON object in CLI output")


def _hash(w: World) -> None:
    w.chain.app_hash_override[("val-alice", H + 1)] = "DIVERGEDHASH000"


@pytest.mark.parametrize(
    ("break_it", "check", "evidence"),
    [
        (_link, "cosmovisor_current", "val-bob -> /root/.checkers-upgrade/cosmovisor/genesis"),
        (_container, "cosmovisor_current", "sentry-bob -> error: no running container"),
        (_applied, "applied_plan_height", "applied at 0, planned 12"),
        (_version, "app_version_changed", "node-carol=1 (v1)"),
        (_board, "leaderboard_migrated", "show-leaderboard [('cosmos1p1', 3)]; computed from"),
        (_order, "leaderboard_migrated", "[('cosmos1p1', 3), ('cosmos1p2', 5)]; computed"),
        (_board_cli, "leaderboard_migrated", "read failed: leaderboard_cli: no JSON object"),
        (_hash, "app_hash_agree", "val-alice diverged from the other nodes (node-carol, "),
    ],
    ids=["link", "container", "applied", "version", "board", "order", "board_cli", "hash"],
)
async def test_verify_upgrade_fails_each_check_with_evidence(
    world: World, break_it: Callable[[World], None], check: str, evidence: str
) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    break_it(world)
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


@pytest.mark.parametrize("fetched", ["ab" * 32, "cd" * 32])
async def test_a_node_that_downloaded_v2_is_checked_against_the_plans_checksum(
    world: World, fetched: str
) -> None:
    """auto-download: what Cosmovisor fetched is the binary the plan names."""
    assert world.commands is not None
    b = await baseline_of(world)
    good_upgrade(world)
    world.commands.fetched[world.chain.containers["val-bob"]] = fetched
    info = json.dumps({"binaries": {"any": "http://downloads:8080/c?checksum=sha256:" + "ab" * 32}})
    p = replace(state().params, upgrade_info=info, download_nodes=("val-bob",))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b, params=p))
    assert isinstance(fact, UpgradeVerified)
    check = {c.name: c for c in fact.checks}["cosmovisor_current"]
    if fetched == "ab" * 32:
        assert check.passed, check
        assert "val-bob downloaded v2 (sha256 abababababab..., the plan's)" in check.evidence
    else:
        assert not check.passed
        assert "val-bob downloaded sha256 cdcdcdcdcdcd, the plan says abababababab" in (
            check.evidence
        )
    sums = [a for a in world.commands.argvs if "sha256sum" in a]
    assert len(sums) == 1 and sums[0][-1].endswith("/cosmovisor/upgrades/v1tov2/bin/checkersd")


async def test_verify_upgrade_without_a_baseline_fails(world: World) -> None:
    good_upgrade(world)
    world.chain.cli_leaderboard = [("cosmos1p2", 5)]
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state())
    assert isinstance(fact, UpgradeVerified)
    failed = {c.name: c.evidence for c in fact.checks if not c.passed}
    assert set(failed) == {"app_version_changed", "baseline", "leaderboard_migrated"}
    assert failed["baseline"] == "the baseline was never read before the upgrade"
    assert failed["app_version_changed"].startswith("before None")
    assert "computed from 0 players []" in failed["leaderboard_migrated"]


async def test_verify_upgrade_waits_for_each_node_to_commit_the_height(world: World) -> None:
    """The view may show the upgrade height on a node whose app has not executed it
    (halted with the block in its store): checks wait for the app's own height."""
    b = await baseline_of(world)
    good_upgrade(world)
    chain = world.chain
    chain.frozen.add("node-carol")  # halted on v1, still at 10
    chain.app_version["node-carol"] = 1
    world.view.observe(NewBlock("node-carol", H, chain.block_time(H), GENESIS + H))
    real_wait = world.ctx.wait_blocks

    async def carol_swapped_later(n: int) -> None:
        await real_wait(n)
        if chain.height >= H + 2 and "node-carol" in chain.frozen:
            chain.frozen.discard("node-carol")  # Cosmovisor started v2; it replays
            chain.app_version["node-carol"] = 2

    world.ctx.wait_blocks = carol_swapped_later
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    assert all(names(fact.checks).values()), fact.checks
    assert chain.heights["node-carol"] >= H


async def test_the_applied_plan_is_asked_again_while_rest_is_not_up(world: World) -> None:
    """An SDK v0.50 node's REST answers 503 until its gRPC server is up, a moment
    after the node committed the upgrade height."""
    b = await baseline_of(world)
    good_upgrade(world)
    real = world.rest.applied_plan
    refusals = [1]

    async def not_yet(name: str) -> int:
        if refusals[0]:
            refusals[0] -= 1
            raise TransientError("GET /cosmos/upgrade/v1beta1/applied_plan/v1tov2: HTTP 503")
        return await real(name)

    world.rest.applied_plan = not_yet  # type: ignore[method-assign]
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    assert names(fact.checks)["applied_plan_height"] and refusals == [0]


async def test_a_node_that_never_commits_the_height_is_named(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.runtime.executors.verify.COMMITTED_WITHIN_S", 0.5)
    b = await baseline_of(world)
    good_upgrade(world)
    world.chain.frozen.add("node-carol")  # halted on v1 for good
    world.chain.app_version["node-carol"] = 1
    with pytest.raises(ProtocolError) as info:
        await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert str(info.value) == (
        f"upgrade height {H} not committed within 0.5s by: node-carol (app at 10 (v1))"
    )


async def test_app_hashes_are_read_at_the_height_from_each_app(world: World) -> None:
    """The state after h is the app's own last hash while it is at h, and block h+1's
    header once it has gone on: no block past h is waited for, and a node already
    past it is compared by its header."""
    b = await baseline_of(world)
    good_upgrade(world)
    chain = world.chain
    chain.advance(H - chain.height)  # every node executed the height
    chain.frozen = set(chain.nodes) - {"val-alice"}
    chain.advance(1)  # val-alice alone has gone on to h+1

    async def no_more_blocks(n: int) -> None:
        await anyio.sleep_forever()

    world.ctx.wait_blocks = no_more_blocks
    with anyio.fail_after(5):
        fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    hashes = {c.name: c for c in fact.checks}["app_hash_agree"]
    assert hashes.passed, hashes
    assert f"after {H}: val-alice=APPHASH0000" in hashes.evidence
    assert chain.heights == {**dict.fromkeys(chain.nodes, H), "val-alice": H + 1}


async def test_an_app_whose_own_hash_differs_at_the_height_fails_the_check(
    world: World,
) -> None:
    """A node still at h is judged by its app's hash (what h+1 will carry)."""
    b = await baseline_of(world)
    good_upgrade(world)
    chain = world.chain
    chain.advance(H - chain.height)
    chain.app_hash_override[("sentry-bob", H + 1)] = "FORKEDHASH0000"
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    hashes = {c.name: c for c in fact.checks}["app_hash_agree"]
    assert not hashes.passed
    assert "sentry-bob=FORKEDHASH00" in hashes.evidence
    assert hashes.evidence.startswith(f"app hashes diverge after block {H}: sentry-bob diverged")
    assert chain.height == H


@pytest.mark.parametrize(
    ("world", "off"),
    [
        ({"extra": {"verify": {"disable": [off]}}}, off)
        for off in (
            "cosmovisor_current",
            "applied_plan_height",
            "app_version_changed",
            "app_hash_agree",
        )
    ],
    indirect=["world"],
)
async def test_verify_disable_removes_a_builtin_upgrade_check(world: World, off: str) -> None:
    w = world
    b = await baseline_of(w)
    good_upgrade(w)
    w.chain.applied["v1tov2"] = 0  # would fail applied_plan_height
    fact = await verify_upgrade(w.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(fact, UpgradeVerified)
    got = names(fact.checks)
    assert off not in got and "leaderboard_migrated" in got
    assert len(got) == 4
    if off == "app_hash_agree":
        assert w.chain.height == H  # the height committed; nothing waited for h+1


async def test_verify_upgrade_skips_absent_nodes(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    # val-bob was stopped by a fault: no container, still v1, a diverged hash, no blocks.
    del world.chain.containers["val-bob"]
    world.chain.app_version["val-bob"] = 1
    world.chain.app_hash_override[("val-bob", H + 1)] = "OLDHASH"
    world.chain.frozen.add("val-bob")
    s = state(baseline=b, absent=frozenset({"val-bob"}))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), s)
    assert isinstance(fact, UpgradeVerified)
    assert all(c.passed for c in fact.checks), fact.checks
    assert all("val-bob" not in c.evidence for c in fact.checks)


async def test_attach_mode_skips_cosmovisor_current(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    _link(world)  # would fail: the containers are not ours to inspect
    s = state(baseline=b, params=Params(attach=True))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), s)
    assert isinstance(fact, UpgradeVerified)
    assert "cosmovisor_current" not in names(fact.checks)
    assert all(c.passed for c in fact.checks)
    assert world.commands is not None and world.commands.argvs == []  # no docker exec


async def test_remediated_nodes_are_not_asked_for_their_cosmovisor_link(world: World) -> None:
    b = await baseline_of(world)
    good_upgrade(world)
    _link(world)  # val-bob runs v2 from the v2 Compose file, not by Cosmovisor
    s = state(baseline=b, remediated=("val-bob",))
    fact = await verify_upgrade(world.ctx, VerifyUpgrade("v1tov2", H), s)
    assert isinstance(fact, UpgradeVerified)
    current = only([c for c in fact.checks if c.name == "cosmovisor_current"])
    assert current.passed and current.evidence.endswith("remediated by the agent: val-bob")
    assert world.commands is not None
    assert all("cid-val-bob" not in a for a in world.commands.argvs)


async def restarted_state(w: World, **kw: Any) -> State:
    """After the upgrade on a good chain: the baseline and the reads after the upgrade."""
    b = await baseline_of(w)
    good_upgrade(w)
    up = await verify_upgrade(w.ctx, VerifyUpgrade("v1tov2", H), state(baseline=b))
    assert isinstance(up, UpgradeVerified)
    base: dict[str, Any] = dict(
        baseline=b,
        upgrade_reads=up.reads,
        restart_last_height=8,
        restart_balances=(("cosmos1alice", 5), ("cosmos1bob", 7)),
    )
    base.update(kw)
    w.chain.balances = {"cosmos1alice": 5, "cosmos1bob": 7}
    return state(**base)


async def test_verify_restart_passes_on_a_good_chain(world: World) -> None:
    s = await restarted_state(world)
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified)
    assert names(fact.checks) == {
        "blocks_resumed": True,
        "leaderboard_kept": True,
        "balances_kept": True,
    }


async def test_verify_restart_settles_the_traffic_and_judges_it(world: World) -> None:
    class Traffic:
        settled = 0

        async def settle(self) -> Check:
            self.settled += 1
            return Check("traffic_none_lost", False, "3 sent; 2 included; 1 lost")

    traffic = Traffic()
    world.ctx.traffic = traffic
    s = await restarted_state(world)
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified) and traffic.settled == 1
    assert names(fact.checks)["traffic_none_lost"] is False


async def test_verify_restart_with_an_empty_leaderboard_kept_empty(world: World) -> None:
    world.chain.leaderboard = []
    s = await restarted_state(world)
    world.chain.leaderboard = []  # good_upgrade stored BOARD; the migration stored none
    s = replace(s, upgrade_reads=(("leaderboard_store", _stored_read([])),))
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified) and all(c.passed for c in fact.checks), fact


def _stored_read(rows: list[tuple[str, int]]) -> str:
    doc = {"winners": [{"playerAddress": a, "wonCount": str(n)} for a, n in rows]}
    return json.dumps({"value": base64.b64encode(json.dumps(doc).encode()).decode()})


@pytest.mark.parametrize(
    ("last", "mutate", "check", "evidence"),
    [
        (12, None, "blocks_resumed", "last before restart 12; now val-alice=12"),
        (8, {"leaderboard": [("cosmos1p2", 5)]}, "leaderboard_kept", "after [('cosmos1p2', 5)]"),
        (8, {"leaderboard": None}, "leaderboard_kept", "after None"),
        (8, {"balances": {"cosmos1alice": 5}}, "balances_kept", "after [('cosmos1alice', 5), "),
    ],
    ids=["blocks", "leaderboard-changed", "leaderboard-gone", "balances"],
)
async def test_verify_restart_fails_each_check_with_evidence(
    world: World, last: int, mutate: dict[str, Any] | None, check: str, evidence: str
) -> None:
    s = await restarted_state(world)
    for k, v in (mutate or {}).items():
        setattr(world.chain, k, v)
    fact = await verify_restart(world.ctx, VerifyRestart(last), s)
    assert isinstance(fact, RestartVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


async def test_a_failed_read_after_the_restart_fails_its_check_naming_the_read(
    world: World,
) -> None:
    s = await restarted_state(world)
    world.chain.query_errors = 1000
    fact = await verify_restart(world.ctx, VerifyRestart(8), s)
    assert isinstance(fact, RestartVerified)
    kept = only([c for c in fact.checks if c.name == "leaderboard_kept"])
    assert not kept.passed
    assert kept.evidence.startswith("read failed: leaderboard_store: ")
    assert "invalid height" in kept.evidence


@pytest.mark.parametrize(
    "world",
    [{"extra": {"verify": {"disable": ["blocks_resumed", "balances_kept"]}}}],
    indirect=True,
)
async def test_verify_disable_removes_builtin_restart_checks(world: World) -> None:
    w = world
    s = await restarted_state(w)
    fact = await verify_restart(w.ctx, VerifyRestart(10_000), s)
    assert isinstance(fact, RestartVerified)
    assert names(fact.checks) == {"leaderboard_kept": True}


@pytest.mark.parametrize("world", [{"profile": False}], indirect=True)
async def test_without_a_profile_only_builtin_checks_run(world: World) -> None:
    w = world
    fact = await capture_baseline(w.ctx, CaptureBaseline(), state())
    assert isinstance(fact, BaselineCaptured) and fact.reads == ()
    good_upgrade(w)
    up = await verify_upgrade(w.ctx, VerifyUpgrade("v1tov2", H), state(baseline=fact))
    assert isinstance(up, UpgradeVerified) and up.reads == ()
    assert set(names(up.checks)) == {
        "cosmovisor_current",
        "applied_plan_height",
        "app_version_changed",
        "app_hash_agree",
    }
    assert w.chain.queries == []


async def test_verify_no_upgrade_passes_when_the_chain_ran_on(world: World) -> None:
    world.chain.advance(5)  # 15 > H on every node, still v1
    s = state(baseline=BaselineCaptured((), (), app_version=1))
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), s)
    assert isinstance(fact, NoUpgradeVerified)
    assert names(fact.checks) == {
        "no_plan_applied": True,
        "ran_past_height": True,
        "app_version_unchanged": True,
    }


def _np_applied(w: World) -> None:
    w.chain.applied["v1tov2"] = H


def _np_halted(w: World) -> None:
    w.chain.frozen.add("val-alice")


def _np_version(w: World) -> None:
    w.chain.app_version["node-carol"] = 2


@pytest.mark.parametrize(
    ("break_it", "check", "evidence"),
    [
        (_np_applied, "no_plan_applied", "applied_plan height 12"),
        (_np_halted, "ran_past_height", "planned 12; now val-alice=10"),
        (_np_version, "app_version_unchanged", "node-carol=2 (v2)"),
    ],
    ids=["applied", "halted", "version"],
)
async def test_verify_no_upgrade_fails_each_check_with_evidence(
    world: World, break_it: Callable[[World], None], check: str, evidence: str
) -> None:
    break_it(world)
    world.chain.advance(5)
    s = state(baseline=BaselineCaptured((), (), app_version=1))
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), s)
    assert isinstance(fact, NoUpgradeVerified)
    failed = [c for c in fact.checks if not c.passed]
    assert [c.name for c in failed] == [check]
    assert evidence in failed[0].evidence


async def test_verify_no_upgrade_ignores_absent_nodes_and_needs_a_baseline(world: World) -> None:
    world.chain.frozen.add("val-bob")
    world.chain.app_version["val-bob"] = 7
    world.chain.advance(5)
    s = state(baseline=BaselineCaptured((), (), app_version=1), absent=frozenset({"val-bob"}))
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), s)
    assert isinstance(fact, NoUpgradeVerified) and all(c.passed for c in fact.checks)
    fact = await verify_no_upgrade(world.ctx, VerifyNoUpgrade("v1tov2", H), state())
    assert isinstance(fact, NoUpgradeVerified)
    assert names(fact.checks)["app_version_unchanged"] is False
