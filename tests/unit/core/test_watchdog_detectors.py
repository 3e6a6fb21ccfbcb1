"""Detectors: table tests with explicit ``now``, and the upgrade-halt scenario."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.core.observations import (
    ContainerEvent,
    NewBlock,
    NodeReach,
    RoundVotes,
    StreamStatus,
    ValidatorKey,
)
from agent.watchdog import Condition, NodeInfo, Thresholds, UpgradeContext, Watchdog

NODES = ["val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"]
T0 = 1_700_000_000.0


def block(node: str, height: int, at: float, backfilled: bool = False) -> NewBlock:
    # The header time equals the receive time: the chain's clock is the host's.
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return NewBlock(node, height, stamp, at, backfilled)


def container(service: str, action: str, at: float, exit_code: int | None = None) -> ContainerEvent:
    return ContainerEvent(service, action, "c0ffee", exit_code, int(at * 1e9), at)


def feed_blocks(dog: Watchdog, nodes: list[str], heights: range, start: float, dt: float) -> float:
    """Every node gets each height at start + i*dt; returns the time of the last."""
    at = start
    for i, h in enumerate(heights):
        at = start + i * dt
        for n in nodes:
            dog.observe(block(n, h, at))
    return at


def keys(conds: list[Condition]) -> list[str]:
    return [c.key for c in conds]


# --- stall ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("thresholds", "silence", "stalls"),
    [
        # 1 s blocks: threshold max(15, 10 * 1) = 15 s
        (Thresholds(), 14.0, False),
        (Thresholds(), 16.0, True),
        # a factor large enough to beat the floor: 30 * 1 s = 30 s
        (Thresholds(stall_factor=30.0), 25.0, False),
        (Thresholds(stall_factor=30.0), 31.0, True),
        # a fixed threshold wins over the derived one
        (Thresholds(stall_after_s=5.0), 6.0, True),
        (Thresholds(stall_after_s=60.0), 59.0, False),
    ],
)
def test_stall_threshold(thresholds: Thresholds, silence: float, stalls: bool) -> None:
    dog = Watchdog(["a", "b"], thresholds)
    last = feed_blocks(dog, ["a"], range(2, 12), T0, 1.0)
    feed_blocks(dog, ["b"], range(2, 12), T0, 1.0)
    dog.observe(block("b", 12, last + silence))  # b keeps going
    conds = dog.evaluate(last + silence)
    assert keys(conds) == (["stall:a:-"] if stalls else [])
    if stalls:
        assert "a produced no block" in conds[0].message
        assert conds[0].severity == "critical"


def test_stall_threshold_follows_the_measured_interval() -> None:
    dog = Watchdog(["a"])
    assert dog.stall_threshold() == 15.0  # no interval yet: the floor
    feed_blocks(dog, ["a"], range(2, 10), T0, 5.0)
    assert dog.block_interval() == pytest.approx(5.0)
    assert dog.stall_threshold() == pytest.approx(50.0)


def test_backfilled_blocks_do_not_shrink_the_interval() -> None:
    dog = Watchdog(["a"])
    feed_blocks(dog, ["a"], range(2, 10), T0, 5.0)
    for h in range(10, 30):  # a burst of backfilled blocks received together
        dog.observe(block("a", h, T0 + 100.0, backfilled=True))
    assert dog.block_interval() == pytest.approx(5.0)


def test_a_node_that_never_sent_a_block_stalls_from_the_start() -> None:
    dog = Watchdog(["a"], started_at=T0)
    assert dog.evaluate(T0 + 10) == []
    assert keys(dog.evaluate(T0 + 16)) == ["stall:a:-"]


def test_stall_resolves_when_blocks_come_back() -> None:
    dog = Watchdog(["a", "b"])
    last = feed_blocks(dog, ["a", "b"], range(2, 10), T0, 1.0)
    dog.observe(block("b", 10, last + 18))  # the chain goes on without a
    assert keys(dog.evaluate(last + 20)) == ["stall:a:-"]
    dog.observe(block("a", 10, last + 21))
    assert dog.evaluate(last + 21) == []


def test_expected_downtime_silences_stall_until_it_ends() -> None:
    dog = Watchdog(["a"])
    last = feed_blocks(dog, ["a"], range(2, 10), T0, 1.0)
    dog.expect_downtime(until=last + 60)
    assert dog.evaluate(last + 50) == []
    # The only node is the whole chain: its stop is the chain's halt.
    assert keys(dog.evaluate(last + 61)) == ["chain_halt:-:-"]


# --- chain halt: one incident, with its cause -------------------------------------------

NODES3 = ["val-a", "val-b", "node-c"]


def _halted_at_9() -> tuple[Watchdog, float]:
    dog = Watchdog(NODES3)
    last = feed_blocks(dog, NODES3, range(2, 10), T0, 1.0)
    return dog, last


def test_a_halted_chain_is_one_incident_not_a_stall_per_node() -> None:
    dog, last = _halted_at_9()
    assert dog.evaluate(last + 10) == []
    assert not dog.halt_suspected(last + 4) and dog.halt_suspected(last + 6)  # a third
    dog.observe(StreamStatus("ws:val-b", False, "ping timeout", last + 2))
    conds = dog.evaluate(last + 40)  # past the stall and the stream thresholds
    assert keys(conds) == ["chain_halt:-:-"]
    assert conds[0].summary == "chain halted at 9"
    assert "its cause not read yet" in conds[0].message
    dog.observe(StreamStatus("ws:val-b", True, "reconnected", last + 41))
    for n in NODES3:
        dog.observe(block(n, 10, last + 41))
    assert dog.evaluate(last + 42) == []


def test_the_halt_names_the_missing_voters_and_the_silent_nodes_first() -> None:
    dog, last = _halted_at_9()
    dog.observe(NodeReach("val-b", False, "timed out", last + 8))
    dog.observe(RoundVotes("val-a", 10, 0, ("val-b",), ("val-b",), 50.0, last + 6))
    dog.observe(NodeReach("val-b", False, "timed out again", last + 12))  # since stays
    (cond,) = dog.evaluate(last + 20)
    since = datetime.fromtimestamp(last + 8, UTC).strftime("%H:%M:%S")
    assert cond.message == (
        "chain halted at 9: val-b (50 % of power) missing from prevotes; "
        f"val-b RPC unreachable since {since}; no block for 20 s (threshold 15 s)"
    )
    dog.observe(NodeReach("val-b", True, "", last + 25))  # it answers again
    (cond,) = dog.evaluate(last + 26)
    assert "unreachable" not in cond.message


def test_precommits_are_no_cause_while_prevotes_are_missing() -> None:
    # The e2e run said "val-bob missing from precommits" beside the paused val-alice:
    # without her prevote the round never reaches precommits; bob was healthy.
    dog, last = _halted_at_9()
    dog.observe(RoundVotes("node-c", 10, 0, ("val-a",), ("val-a", "val-b"), 50.0, last + 6))
    (cond,) = dog.evaluate(last + 20)
    assert "val-a (50 % of power) missing from prevotes" in cond.message
    assert "precommits" not in cond.message


def test_votes_of_another_height_are_no_cause() -> None:
    dog, last = _halted_at_9()
    dog.observe(RoundVotes("val-a", 9, 0, ("val-b",), (), 50.0, last))  # before the halt
    (cond,) = dog.evaluate(last + 20)
    assert "missing" not in cond.message and "its cause not read yet" in cond.message


def test_precommits_missing_beyond_the_prevotes_are_named_too() -> None:
    dog, last = _halted_at_9()
    dog.observe(RoundVotes("val-a", 10, 2, (), ("node-c",), 0.0, last + 6, 50.0))
    (cond,) = dog.evaluate(last + 20)
    # With its share of the power, as for prevotes (a validator paused between its
    # prevote and its precommit, in the e2e run).
    assert "node-c (50 % of power) missing from precommits" in cond.message
    assert "prevotes" not in cond.message


def test_one_node_stalling_while_the_chain_goes_on_is_that_nodes_stall() -> None:
    dog, last = _halted_at_9()
    for n in ("val-a", "val-b"):
        dog.observe(block(n, 10, last + 17))
    assert keys(dog.evaluate(last + 20)) == ["stall:node-c:-"]


def test_a_validator_frozen_a_block_early_is_part_of_the_halt_not_a_stall() -> None:
    # The e2e watch run: val-b froze at 8, the others showed 9 a second later, and
    # val-b's stall fired two seconds before the chain's halt.
    dog = Watchdog(NODES3)
    last = feed_blocks(dog, NODES3, range(2, 9), T0, 1.0)
    for n in ("val-a", "node-c"):
        dog.observe(block(n, 9, last + 1))
    assert dog.evaluate(last + 15.5) == []  # val-b past its threshold: the chain is stuck
    assert keys(dog.evaluate(last + 16.5)) == ["chain_halt:-:-"]
    for n in ("val-a", "node-c"):
        dog.observe(block(n, 10, last + 17))  # the chain goes on without val-b
    # The chain is not stuck any more. Its nodes get a third of the threshold to
    # show the new block; then val-b, silent since, is its own stall.
    assert dog.evaluate(last + 18) == []
    for h in range(11, 20):  # the others go on, a block a second
        for n in ("val-a", "node-c"):
            dog.observe(block(n, h, last + h + 7))
        if last + h + 7.5 < last + 23:  # the moment: a third of the 15 s threshold
            assert dog.evaluate(last + h + 7.5) == [], h
    assert keys(dog.evaluate(last + 23.5)) == ["stall:val-b:-"]


def test_nodes_a_block_behind_as_the_halt_ends_do_not_stall() -> None:
    # validator-paused under traffic: the first block after the 35 s halt reached
    # three nodes a second after the halt resolved, and each fired a stall.
    dog, last = _halted_at_9()
    assert keys(dog.evaluate(last + 30)) == ["chain_halt:-:-"]
    dog.observe(block("val-b", 10, last + 36))  # the chain moves, on one node so far
    assert dog.evaluate(last + 36.2) == []
    for n in ("val-a", "node-c"):
        dog.observe(block(n, 10, last + 37))
    assert dog.evaluate(last + 38) == []
    # Not a blanket: a node that never shows the new block stalls once the moment is over.
    dog, last = _halted_at_9()
    assert keys(dog.evaluate(last + 30)) == ["chain_halt:-:-"]
    for h in range(10, 20):
        for n in ("val-a", "val-b"):
            dog.observe(block(n, h, last + 26 + h))
        dog.evaluate(last + 26.5 + h)  # the watch evaluates about once a second
    assert keys(dog.evaluate(last + 45)) == ["stall:node-c:-"]


def test_a_stalled_node_is_one_alert_naming_its_stopped_container() -> None:
    # node-carol stopped after the votes gave three alerts (stall, lag, stream_down).
    dog, last = _halted_at_9()
    dog.observe(container("node-c", "kill", last + 1))
    dog.observe(container("node-c", "die", last + 2, exit_code=0))
    dog.observe(StreamStatus("ws:node-c", False, "connection closed", last + 2))
    for h in range(10, 40):  # the chain goes on without it
        for n in ("val-a", "val-b"):
            dog.observe(block(n, h, last + h - 9))
    (cond,) = dog.evaluate(last + 31)  # past the stall, lag and stream thresholds
    at = datetime.fromtimestamp(last + 2, UTC).strftime("%H:%M:%S")
    assert cond.key == "stall:node-c:-"
    assert cond.message.startswith(
        f"node-c's container was stopped at {at} (Docker, exit code 0): node-c produced no block"
    )


def test_a_planned_stop_of_every_node_is_no_halt() -> None:
    dog, last = _halted_at_9()
    dog.expect_downtime(until=last + 100)
    assert dog.evaluate(last + 50) == [] and not dog.halt_suspected(last + 50)


def test_the_incident_names_the_halt_and_every_stopped_container() -> None:
    dog, last = _halted_at_9()
    assert dog.incident(last + 5) == ""  # not halted yet, nothing stopped
    dog.observe(container("node-c", "kill", last + 1))
    dog.observe(container("node-c", "die", last + 2, exit_code=0))  # docker stop
    dog.observe(container("val-b", "die", last + 3, exit_code=1))  # on its own
    dog.observe(RoundVotes("val-a", 10, 0, ("val-b",), ("val-b",), 50.0, last + 6))
    at = datetime.fromtimestamp(last + 2, UTC).strftime("%H:%M:%S")
    died = datetime.fromtimestamp(last + 3, UTC).strftime("%H:%M:%S")
    assert dog.incident(last + 20) == (
        "chain halted at 9: val-b (50 % of power) missing from prevotes; no block for 20 s "
        f"(threshold 15 s); node-c's container was stopped at {at} (Docker, exit code 0); "
        f"val-b's container died unexpectedly at {died} (Docker, exit code 1)"
    )
    dog.observe(container("node-c", "start", last + 21))
    assert "node-c" not in dog.incident(last + 22)


# --- app hash split ---------------------------------------------------------------


def _info(node: str, height: int, app_hash: str, at: float) -> NodeInfo:
    return NodeInfo(node, 2, "v2", at, height, app_hash)


def test_a_split_and_the_halt_it_causes_are_one_incident_naming_the_node() -> None:
    dog, last = _halted_at_9()
    for n in NODES3:
        dog.observe(_info(n, 9, "B" * 20 if n == "val-b" else "A" * 20, last + 2))
    conds = dog.evaluate(last + 3)  # before the halt's threshold: the split alone
    assert keys(conds) == ["app_hash_split:-:-"]
    split = conds[0].message
    assert split.startswith("app hashes diverge after block 9: val-b diverged from the other")
    conds = dog.evaluate(last + 40)  # halted too: still one incident, the same key
    assert keys(conds) == ["app_hash_split:-:-"]
    assert conds[0].message == f"{split}; chain halted at 9"
    assert dog.incident(last + 40) == f"{split}; chain halted at 9"
    assert dog.divergence() is not None and dog.divergence().divergent == ("val-b",)  # type: ignore[union-attr]


def test_hashes_that_agree_raise_nothing() -> None:
    dog, last = _halted_at_9()
    for n in NODES3:
        dog.observe(_info(n, 9, "A" * 20, last + 2))
    assert dog.evaluate(last + 3) == []
    assert dog.divergence() is None
    assert keys(dog.evaluate(last + 40)) == ["chain_halt:-:-"]


def test_a_chain_started_again_forgets_the_old_chains_hashes() -> None:
    dog, last = _halted_at_9()
    dog.observe(_info("val-a", 9, "A" * 20, last + 2))
    dog.view.reset()  # relaunched from genesis
    dog.observe(_info("val-b", 9, "B" * 20, last + 3))  # the new chain's 9
    assert dog.divergence() is None


# --- missed blocks ------------------------------------------------------------------


def test_a_validator_the_chain_goes_on_without_is_named_from_the_commits() -> None:
    dog = Watchdog(NODES3)
    dog.observe(ValidatorKey("val-a", "AA", 10, T0))
    dog.observe(ValidatorKey("val-b", "BB", 10, T0))
    at = T0
    for h in range(2, 10):
        at = T0 + h
        for n in ("val-a", "node-c"):
            b = block(n, h, at)
            dog.observe(NewBlock(b.node, b.height, b.block_time, b.at, signed=("AA",)))
    conds = [c for c in dog.evaluate(at + 0.5) if c.detector == "missed_blocks"]
    assert keys(conds) == ["missed_blocks:val-b:-"]
    assert "val-b's signature missing from the last 8 blocks (since 1;" in conds[0].message
    # The agent's own swap of that validator is planned downtime: the alert stays
    # (it resolved there, and fired again at the next block).
    dog.expect_downtime(until=at + 100)
    assert keys([c for c in dog.evaluate(at + 1) if c.detector == "missed_blocks"]) == keys(conds)
    dog.view.reset()  # relaunched from genesis: counted again
    dog.observe(block("val-a", 2, at + 1))
    assert not [c for c in dog.evaluate(at + 1.5) if c.detector == "missed_blocks"]


# --- lag ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behind", "lag_blocks", "lags"),
    [(5, 5, False), (6, 5, True), (2, 1, True), (10, 20, False)],
)
def test_lag(behind: int, lag_blocks: int, lags: bool) -> None:
    dog = Watchdog(["a", "b"], Thresholds(lag_blocks=lag_blocks))
    dog.observe(block("a", 100, T0))
    dog.observe(block("b", 100 - behind, T0))
    conds = dog.evaluate(T0 + 1)
    assert keys(conds) == (["lag:b:-"] if lags else [])
    if lags:
        assert f"{behind} blocks behind" in conds[0].message


# --- containers ---------------------------------------------------------------------


def test_crash_fires_and_resolves_on_start() -> None:
    dog = Watchdog(["val-bob"], Thresholds(stall_after_s=1e9))
    dog.observe(container("val-bob", "die", T0, exit_code=2))
    conds = dog.evaluate(T0 + 1)
    assert keys(conds) == ["container_died:val-bob:-"]
    assert "exit code 2" in conds[0].message
    dog.observe(container("val-bob", "start", T0 + 5))
    assert dog.evaluate(T0 + 6) == []


def test_die_with_exit_zero_but_no_kill_is_unexpected() -> None:
    dog = Watchdog([], Thresholds())
    dog.observe(container("node-carol", "die", T0, exit_code=0))
    assert keys(dog.evaluate(T0)) == ["container_died:node-carol:-"]


def test_deliberate_stop_is_not_a_death() -> None:
    dog = Watchdog([])
    dog.observe(container("node-carol", "kill", T0))
    dog.observe(container("node-carol", "die", T0 + 2, exit_code=143))
    dog.observe(container("node-carol", "stop", T0 + 2))
    assert dog.evaluate(T0 + 3) == []


def test_services_map_to_node_names() -> None:
    dog = Watchdog(["carol"], Thresholds(stall_after_s=1e9), services={"node-carol": "carol"})
    dog.observe(container("node-carol", "die", T0, exit_code=1))
    assert keys(dog.evaluate(T0)) == ["container_died:carol:-"]


@pytest.mark.parametrize(
    ("start_times", "now", "looping"),
    [
        ([0, 10, 20], 30, True),
        ([0, 10], 30, False),
        ([0, 200, 400], 401, False),  # spread over more than the 300 s window
        ([0, 10, 20], 305, False),  # the window moved past the first start
    ],
)
def test_restart_loop(start_times: list[float], now: float, looping: bool) -> None:
    dog = Watchdog([], Thresholds(restart_loop_count=3, restart_loop_window_s=300))
    for t in start_times:
        dog.observe(container("val-alice", "die", T0 + t - 1, exit_code=1))
        dog.observe(container("val-alice", "start", T0 + t))
    assert keys(dog.evaluate(T0 + now)) == (["restart_loop:val-alice:-"] if looping else [])


def test_oom_holds_for_its_window() -> None:
    dog = Watchdog([], Thresholds(oom_hold_s=600))
    dog.observe(container("val-bob", "oom", T0))
    dog.observe(container("val-bob", "die", T0, exit_code=137))
    assert keys(dog.evaluate(T0 + 1)) == ["container_died:val-bob:-", "oom:val-bob:-"]
    dog.observe(container("val-bob", "start", T0 + 2))
    assert keys(dog.evaluate(T0 + 3)) == ["oom:val-bob:-"]
    assert dog.evaluate(T0 + 601) == []


# --- streams ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "down_for", "key"),
    [
        ("ws:a", 29.0, None),
        ("ws:a", 31.0, "stream_down:a:-"),
        ("docker", 31.0, "stream_down:-:-"),
    ],
)
def test_stream_down(source: str, down_for: float, key: str | None) -> None:
    dog = Watchdog(["a"], Thresholds(stall_after_s=1e9))
    dog.observe(StreamStatus(source, False, "closed", T0))
    assert keys(dog.evaluate(T0 + down_for)) == ([key] if key else [])


def test_stream_back_up_resolves_and_a_flap_restarts_the_timer() -> None:
    dog = Watchdog(["a"], Thresholds(stall_after_s=1e9))
    dog.observe(StreamStatus("ws:a", False, "closed", T0))
    assert keys(dog.evaluate(T0 + 31)) == ["stream_down:a:-"]
    dog.observe(StreamStatus("ws:a", True, "subscribed", T0 + 32))
    assert dog.evaluate(T0 + 32) == []
    # a halted chain's websocket reconnects periodically: short outages never alert
    for k in range(5):
        dog.observe(StreamStatus("ws:a", False, "no block", T0 + 40 + 20 * k))
        assert dog.evaluate(T0 + 55 + 20 * k) == []
        dog.observe(StreamStatus("ws:a", True, "subscribed", T0 + 56 + 20 * k))


# --- proposal ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "voting_end", "predicted", "key"),
    [
        ("PROPOSAL_STATUS_VOTING_PERIOD", T0 + 100, T0 + 90, "proposal_late:-:v1tov2"),
        ("PROPOSAL_STATUS_VOTING_PERIOD", T0 + 80, T0 + 90, None),
        ("PROPOSAL_STATUS_PASSED", T0 + 100, T0 + 90, None),
        ("PROPOSAL_STATUS_REJECTED", T0 + 80, T0 + 90, "proposal_failed:-:v1tov2"),
        ("FAILED", None, None, "proposal_failed:-:v1tov2"),
        (None, None, T0 + 90, None),
    ],
)
def test_proposal(
    status: str | None, voting_end: float | None, predicted: float | None, key: str | None
) -> None:
    dog = Watchdog([], Thresholds())
    dog.set_context(UpgradeContext("v1tov2", 120, predicted, voting_end, status, "v2"))
    conds = dog.evaluate(T0)
    assert keys(conds) == ([key] if key else [])
    if key and key.startswith("proposal_late"):
        assert "voting ends 10 s after" in conds[0].message


def test_disabled_detectors_report_nothing() -> None:
    dog = Watchdog(["a", "b"], Thresholds(disabled=frozenset({"lag"})))
    dog.observe(block("a", 100, T0))
    dog.observe(block("b", 50, T0))
    assert dog.evaluate(T0 + 1) == []


# --- the upgrade halt -----------------------------------------------------------------

U = 120
BUDGET = 90.0


def upgrade_run(
    dog: Watchdog, resume: dict[str, float | None], versions: dict[str, str]
) -> list[tuple[float, list[Condition]]]:
    """Blocks every 1 s up to U-1; then each node resumes after the given delay (None:
    never) with 1 s blocks. Evaluates every second for 300 s, returns every result."""
    predicted = T0 + (U - 2)  # block h comes at T0 + h - 2, so block U is due then
    dog.set_context(UpgradeContext("v1tov2", U, predicted, T0 + 60, "PROPOSAL_STATUS_PASSED", "v2"))
    results = []
    halt_at = feed_blocks(dog, NODES, range(2, U), T0, 1.0)
    heights = dict.fromkeys(NODES, U - 1)
    for n in NODES:
        dog.observe(NodeInfo(n, 1, "v1", halt_at))
    for step in range(1, 301):
        now = halt_at + step
        for n in NODES:
            delay = resume[n]
            if delay is not None and step >= delay:
                if heights[n] == U - 1:
                    # a late node catches up at once (block sync, RPC backfill)
                    dog.observe(NodeInfo(n, 2, versions.get(n, "v2"), now))
                    for h in range(U, max(heights.values())):
                        dog.observe(block(n, h, now, backfilled=True))
                    heights[n] = max(heights[n], max(heights.values()) - 1)
                heights[n] += 1
                dog.observe(block(n, heights[n], now))
        # the websocket of a halted node reconnects now and then
        if step % 20 == 0:
            dog.observe(StreamStatus("ws:node-carol", False, "no block", now))
        if step % 20 == 5:
            dog.observe(StreamStatus("ws:node-carol", True, "subscribed", now))
        results.append((now, dog.evaluate(now)))
    return results


def test_normal_upgrade_never_alerts() -> None:
    dog = Watchdog(NODES, Thresholds(resume_budget_s=BUDGET))
    # the nodes come back one by one, the last after 60 s (within the budget)
    resume: dict[str, float | None] = dict(zip(NODES, [20, 25, 30, 45, 60], strict=True))
    for now, conds in upgrade_run(dog, resume, {}):
        assert conds == [], (now, conds)


def test_carol_on_the_genesis_binary_alerts_once_after_the_budget() -> None:
    dog = Watchdog(NODES, Thresholds(resume_budget_s=BUDGET))
    resume: dict[str, float | None] = dict(zip(NODES, [20, 20, 20, 20, None], strict=True))
    results = upgrade_run(dog, resume, {})
    halt_at = results[0][0] - 1
    deadline = dog.resume_deadline()
    assert deadline == halt_at + 1 + BUDGET  # from the predicted time, one block later
    for now, conds in results:
        if now < deadline:
            assert conds == [], (now, conds)
        else:
            assert keys(conds) == ["upgrade_halt:node-carol:v1tov2"], (now, conds)
    c = results[-1][1][0]
    assert c.severity == "critical"
    assert c.message.startswith(f"halted at upgrade height {U} for 300 s;")
    assert "node-carol still runs the genesis binary (version v1)" in c.message


def test_halt_message_without_versions_names_the_missing_block() -> None:
    dog = Watchdog(["a", "b"], Thresholds(resume_budget_s=BUDGET))
    dog.set_context(UpgradeContext("v1tov2", U))
    last = feed_blocks(dog, ["a", "b"], range(2, U), T0, 1.0)
    dog.observe(block("a", U, last + 10))
    assert dog.resume_deadline() == last + BUDGET
    dog.observe(block("a", U + 1, last + BUDGET + 4))
    conds = dog.evaluate(last + BUDGET + 5)
    assert keys(conds) == ["upgrade_halt:b:v1tov2"]
    assert conds[0].message.endswith(f"b has not produced a block after {U}")


def test_resume_budget_counts_from_the_predicted_time_when_later() -> None:
    dog = Watchdog(["a"], Thresholds(resume_budget_s=BUDGET))
    last = feed_blocks(dog, ["a"], range(2, U), T0, 1.0)
    dog.set_context(UpgradeContext("v1tov2", U, predicted_upgrade_time=last + 50))
    assert dog.resume_deadline() == last + 50 + BUDGET
    assert dog.evaluate(last + 100) == []
    assert keys(dog.evaluate(last + 141)) == ["upgrade_halt:a:v1tov2"]


@pytest.mark.parametrize("skew", [600.0, -600.0])
def test_the_halt_deadline_is_counted_on_the_agents_clock(skew: float) -> None:
    # The nodes' clock stepped by `skew` against the agent's: header times say one
    # thing, receive times another. The deadline must not move with the headers
    # (reported 690 s after the halt, not about 90, when it did).
    dog = Watchdog(["a", "b"], Thresholds(resume_budget_s=BUDGET))
    dog.set_context(UpgradeContext("v1tov2", U))
    at = T0
    for h in range(2, U):
        at = T0 + h
        for n in ("a", "b"):
            stamp = datetime.fromtimestamp(at + skew, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            dog.observe(NewBlock(n, h, stamp, at, False))
    assert dog.resume_deadline() == at + BUDGET
    assert dog.evaluate(at + BUDGET - 1) == []
    assert keys(dog.evaluate(at + BUDGET + 1)) == ["upgrade_halt:a:v1tov2", "upgrade_halt:b:v1tov2"]


def test_a_node_stuck_below_the_halt_height_stalls_as_usual() -> None:
    dog = Watchdog(["a", "b"], Thresholds(resume_budget_s=BUDGET, lag_blocks=100))
    dog.set_context(UpgradeContext("v1tov2", U))
    feed_blocks(dog, ["a"], range(2, U), T0, 1.0)
    last_b = feed_blocks(dog, ["b"], range(2, 50), T0, 1.0)
    assert keys(dog.evaluate(last_b + 20)) == ["stall:b:-"]
