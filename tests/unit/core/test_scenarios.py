"""Scenarios in the pure core: what each changes in the machine, and the judge."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from agent.core import codec
from agent.core.actions import (
    Action,
    ArmDeadline,
    CastVote,
    InjectFault,
    RemediateNodes,
    VerifyNoUpgrade,
)
from agent.core.facts import (
    BaselineCaptured,
    Begin,
    ChainLive,
    Check,
    DeadlinePassed,
    Fact,
    FaultInjected,
    HeightObserved,
    NodeExited,
    NodesReached,
    NodesRemediated,
    NoUpgradeVerified,
    ProposalStatusSeen,
    ProposalSubmitted,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import FaultPlan, Params, Phase, State, decide, initial_state
from agent.core.scenario_steps import blocks_after_upgrade
from agent.core.scenarios import SCENARIO_NAMES, Roles, apply, build, plan_checksum
from agent.core.verdict import AlertRecord, judge

ROLES = Roles(
    validators=("val-alice", "val-bob"),
    tx_node="node-carol",
    voters=("alice", "bob"),
    no_cosmovisor_node="node-carol",
    no_cosmovisor_overlay="carol.yml",
)
REJECTED = "PROPOSAL_STATUS_REJECTED"
PASSED = "PROPOSAL_STATUS_PASSED"


def params(name: str) -> Params:
    return apply(build(name, ROLES), Params())


def run(facts: list[Fact], p: Params) -> tuple[State, tuple[Action, ...]]:
    state = initial_state("r", p)
    out: list[Action] = []
    for f in facts:
        state, actions = decide(state, f)
        out.extend(actions)
    return state, tuple(out)


def until_proposed(votes: tuple[tuple[str, str], ...] = ()) -> list[Fact]:
    return [
        Begin("r", 0, 0.0),
        StackLaunched(0, 1.0),
        ChainLive(block_interval=1.0, voting_period=20.0, height=3, at=5.0),
        ProposalSubmitted(1, "TXP", 31, height=4, at=6.0),
    ]


def test_every_scenario_builds_and_round_trips_through_the_journal_codec() -> None:
    for name in SCENARIO_NAMES:
        p = params(name)
        assert p.scenario == name
        state = initial_state("r", p)
        assert codec.decode(codec.encode(state)) == state


def test_unknown_scenario_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        build("no-such", ROLES)


def test_faults_fire_once_at_their_trigger() -> None:
    state, actions = run(until_proposed(), params("validator-paused"))
    faults = [a for a in actions if isinstance(a, InjectFault)]
    assert faults == [InjectFault("pause:val-alice", "pause", "val-alice", 35.0)]
    # A replayed fact does not inject it again; completion records it.
    state, again = decide(state, ProposalSubmitted(1, "TXP", 31, height=4, at=6.0))
    assert not [a for a in again if isinstance(a, InjectFault)]
    state, _ = decide(state, FaultInjected("pause:val-alice", "paused 35 s", height=9, at=50.0))
    assert state.faults_done == (("pause:val-alice", "paused 35 s"),)
    assert not any(isinstance(a, InjectFault) for a in state.pending)


def test_stack_launched_trigger() -> None:
    plan = FaultPlan("stack_launched", InjectFault("pause:val-alice", "pause", "val-alice", 1.0))
    _, actions = run(until_proposed()[:2], replace(Params(), faults=(plan,)))
    assert [a.kind for a in actions if isinstance(a, InjectFault)] == ["pause"]


def test_restart_in_window_kills_at_the_last_block_before_the_upgrade_height() -> None:
    p = params("restart-in-window")
    state = passed(p)  # the upgrade height is 31
    for h in (28, 29):
        state, actions = decide(state, HeightObserved(h, at=30.0 + h))
        assert not [a for a in actions if isinstance(a, InjectFault)], h
    state, actions = decide(state, HeightObserved(30, at=60.0))
    assert [a for a in actions if isinstance(a, InjectFault)] == [
        InjectFault("kill_in_window:val-bob", "kill_in_window", "val-bob")
    ]
    state, again = decide(state, HeightObserved(31, at=61.0))
    assert not [a for a in again if isinstance(a, InjectFault)]  # once
    # Cosmovisor v1.5.0 may exit after the restart: no failure at once, but the
    # agent swaps the node by hand once the upgrade's wait is over.
    state, acts = decide(state, NodeExited("val-bob", "cid", 1, height=31, at=62.0))
    assert acts == () and state.phase is Phase.PASSED
    _, acts = decide(state, DeadlinePassed("upgrade", height=31, at=200.0, behind=("val-bob",)))
    assert RemediateNodes(("val-bob",)) in acts
    # Before the proposal passed, the same heights are no halt.
    early, _ = run(until_proposed(), p)
    _, none = decide(early, HeightObserved(30, at=60.0))
    assert not [a for a in none if isinstance(a, InjectFault)]


def test_a_late_validator_is_swapped_by_hand_n_blocks_past_the_upgrade_height() -> None:
    roles = replace(ROLES, validators=("val-alice", "val-bob", "val-carol", "val-dave"),
                    late_overlay="dave.json", late_blocks=4)  # fmt: skip
    sc = build("late-validator", roles)
    assert sc.launch_overlays == ("dave.json",)
    assert sc.expectation.alerts == (("missed_blocks", "val-dave"),)
    assert sc.expectation.resolved and sc.expectation.no_other_alerts
    state = passed(apply(sc, Params()))  # the upgrade height is 31
    for h in (30, 31, 34):
        state, actions = decide(state, HeightObserved(h, at=30.0 + h))
        assert not [a for a in actions if isinstance(a, RemediateNodes)], h
    state, actions = decide(state, HeightObserved(35, at=70.0))
    assert [a for a in actions if isinstance(a, RemediateNodes)] == [RemediateNodes(("val-dave",))]
    state, again = decide(state, HeightObserved(36, at=71.0))
    assert not [a for a in again if isinstance(a, RemediateNodes)]  # once
    state, _ = decide(state, NodesRemediated(("val-dave",), height=36, at=72.0))
    assert state.remediated == ("val-dave",) and state.phase is Phase.PASSED
    # Before the proposal passed, the chain's heights are no trigger.
    early, _ = run(until_proposed(), apply(sc, Params()))
    _, none = decide(early, HeightObserved(40, at=60.0))
    assert not [a for a in none if isinstance(a, RemediateNodes)]


@pytest.mark.parametrize(
    ("name", "digest", "outcome"),
    [("auto-download", "b" * 64, Phase.RESTARTED), ("auto-download-bad-checksum", "a" * 64,
                                                    Phase.FAILED)],
)  # fmt: skip
def test_auto_download_names_the_url_and_a_checksum_in_the_plan(
    name: str, digest: str, outcome: Phase
) -> None:
    roles = replace(ROLES, download_overlay="dl.json", download_url="http://downloads:8080/d",
                    download_sha256="b" * 64, other_sha256="a" * 64)  # fmt: skip
    sc = build(name, roles)
    assert sc.launch_overlays == ("dl.json",) and sc.download_nodes == ("val-bob",)
    url = f"http://downloads:8080/d?checksum=sha256:{digest}"
    assert json.loads(sc.upgrade_info) == {"binaries": {"any": url}}
    assert sc.expectation.outcome is outcome
    p = apply(sc, Params())
    assert (p.upgrade_info, p.download_nodes) == (sc.upgrade_info, ("val-bob",))


def test_the_plans_checksum_is_read_from_its_info() -> None:
    url = "http://d:8080/c?x=1&checksum=sha256:" + "AB" * 32
    assert plan_checksum(json.dumps({"binaries": {"any": url}})) == "ab" * 32
    for info in ("", "not json", "[]", "{}", '{"binaries": []}',
                 json.dumps({"binaries": {"any": "http://d/c"}}),
                 json.dumps({"binaries": {"any": "http://d/c?checksum=md5:00"}})):  # fmt: skip
        assert plan_checksum(info) == "", info


def test_only_an_upgrade_plus_n_trigger_counts_blocks() -> None:
    assert blocks_after_upgrade("upgrade+12") == 12
    assert [blocks_after_upgrade(t) for t in ("halt", "upgrade+", "upgrade+x", "passed")] == [
        None, None, None, None,
    ]  # fmt: skip


def test_the_upgrade_binary_goes_once_the_proposal_is_in() -> None:
    # After the staged check (at launch): removed at launch, the check would stop the run.
    p = params("validator-missing-binary")
    _, early = run(until_proposed()[:3], p)
    assert not [a for a in early if isinstance(a, InjectFault)]
    _, actions = run(until_proposed(), p)
    assert [a.kind for a in actions if isinstance(a, InjectFault)] == ["remove_upgrade_binary"]


def test_rejected_votes_as_told_then_follows_the_chain_past_the_height() -> None:
    p = params("rejected")
    state, actions = run(until_proposed(), p)
    votes = {a.voter: a.option for a in actions if isinstance(a, CastVote)}
    assert votes == {"alice": "abstain", "bob": "no"}
    facts: list[Fact] = [
        VoteCast("alice", 1, "TXA", height=5, at=7.0),
        BaselineCaptured((), (), 1, height=5, at=7.5),
        VoteCast("bob", 1, "TXB", height=6, at=8.0),
        ProposalStatusSeen(1, REJECTED, height=26, at=27.0),
        HeightObserved(31, at=33.0),  # past the height: not a failure here
    ]
    for f in facts:
        state, actions = decide(state, f)
    assert state.phase is Phase.VOTED and state.rejected == REJECTED
    assert state.awaiting == 31
    state, actions = decide(state, NodesReached(31, height=32, at=34.0))
    assert any(isinstance(a, VerifyNoUpgrade) for a in actions)
    ok = (Check("no_plan_applied", True, "0"),)
    state, _ = decide(state, NoUpgradeVerified(ok, height=33, at=36.0))
    assert state.phase is Phase.FAILED
    assert "REJECTED" in (state.failure or "") and "nothing upgraded" in (state.failure or "")


def test_a_rejection_without_the_scenario_fails_at_once() -> None:
    state, _ = run(until_proposed(), Params())
    state, _ = decide(state, ProposalStatusSeen(1, REJECTED, height=26, at=27.0))
    assert state.phase is Phase.FAILED and state.rejected is None


def passed(p: Params) -> State:
    state, _ = run(until_proposed(), p)
    facts: list[Fact] = [
        VoteCast("alice", 1, "TXA", height=5, at=7.0),
        VoteCast("bob", 1, "TXB", height=6, at=8.0),
        ProposalStatusSeen(1, PASSED, height=26, at=27.0),
    ]
    for f in facts:
        state, _ = decide(state, f)
    assert state.phase is Phase.PASSED
    return state


def test_remediation_after_the_upgrade_deadline_names_the_nodes_behind() -> None:
    p = params("carol-without-cosmovisor")
    state = passed(p)
    # The upgrade deadline leaves room for the watchdog's alert first.
    assert state.deadline is not None and state.deadline.seconds == pytest.approx(
        5 + p.resume_budget + p.remediation_delay
    )
    state, actions = decide(
        state, DeadlinePassed("upgrade", height=40, at=200.0, behind=("node-carol",))
    )
    assert RemediateNodes(("node-carol",)) in actions
    assert state.phase is Phase.PASSED
    state, _ = decide(state, NodesRemediated(("node-carol",), height=41, at=210.0))
    assert state.remediated == ("node-carol",)
    # A second expiry is a failure that names who is still behind.
    state, _ = decide(
        state, DeadlinePassed("remediate", height=60, at=400.0, behind=("node-carol",))
    )
    assert state.phase is Phase.FAILED and "behind: node-carol" in (state.failure or "")


def test_without_remediation_the_deadline_fails_naming_the_nodes() -> None:
    state = passed(Params())
    state, _ = decide(state, DeadlinePassed("upgrade", height=30, at=200.0, behind=("val-bob",)))
    assert state.phase is Phase.FAILED and "val-bob" in (state.failure or "")


def test_absent_nodes_stay_excused_after_the_restart() -> None:
    p = params("tx-node-loss")
    state = passed(p)
    state, _ = decide(state, FaultInjected("stop:node-carol", "stopped", ("node-carol",)))
    assert state.absent == frozenset({"node-carol"})
    state, _ = decide(state, NodesReached(31, height=32, at=40.0))
    state, _ = decide(state, UpgradeVerified((Check("c", True, ""),), height=33, at=42.0))
    state, _ = decide(state, StackRestarted(34, height=34, at=45.0))
    assert state.absent == frozenset({"node-carol"})  # gone for good


def test_a_failure_drops_pending_actions_but_the_report() -> None:
    state, _ = run(until_proposed(), Params())
    assert any(isinstance(a, CastVote) for a in state.pending)
    state, _ = decide(state, DeadlinePassed("vote", height=9, at=99.0))
    assert [a.key for a in state.pending] == ["write_report"]


# --- the judge ---------------------------------------------------------------------


def ended(phase: Phase, failure: str | None = None, checks: tuple[Check, ...] = ()) -> State:
    return replace(
        initial_state("r", Params()), phase=phase, failure=failure, upgrade_checks=checks
    )


def rec(detector: str, node: str | None, event: str = "fired", message: str = "") -> AlertRecord:
    return AlertRecord(detector, node, event, 1.0, message)


HALT = "chain halted at 9: val-alice (50 % of power) missing from prevotes; no block for 20 s"


@pytest.mark.parametrize(
    ("name", "state", "records", "met"),
    [
        ("happy", ended(Phase.RESTARTED), [], True),
        ("happy", ended(Phase.RESTARTED), [rec("stall", "val-bob")], False),
        ("happy", ended(Phase.FAILED, "boom"), [], False),
        (
            "validator-paused",
            ended(Phase.RESTARTED),
            [rec("chain_halt", None, message=HALT), rec("chain_halt", None, "resolved")],
            True,
        ),
        (
            "validator-paused",
            ended(Phase.RESTARTED),
            [rec("chain_halt", None, message=HALT)],
            False,
        ),  # unresolved  # fmt: skip
        ("validator-paused", ended(Phase.RESTARTED), [], False),  # no halt at all
        (  # the halt without its cause: the paused validator is not named
            "validator-paused",
            ended(Phase.RESTARTED),
            [
                rec("chain_halt", None, message="chain halted at 9: its cause not read yet"),
                rec("chain_halt", None, "resolved"),
            ],
            False,
        ),  # fmt: skip
        (  # today's per-node stalls as well: one incident is one alert
            "validator-paused",
            ended(Phase.RESTARTED),
            [
                rec("chain_halt", None, message=HALT),
                rec("chain_halt", None, "resolved"),
                rec("stall", "b"),
                rec("stall", "b", "resolved"),
            ],
            False,
        ),  # fmt: skip
        (
            "rejected",
            ended(Phase.FAILED, "proposal 1 ended PROPOSAL_STATUS_REJECTED and nothing upgraded"),
            [],
            True,
        ),
        ("rejected", ended(Phase.FAILED, "stalled: no votes"), [], False),
        (
            "rejected",
            ended(
                Phase.FAILED,
                "proposal 1 ended PROPOSAL_STATUS_REJECTED and nothing upgraded",
                (Check("no_plan_applied", False, "applied at 31"),),
            ),
            [],
            False,
        ),
        (
            "validator-missing-binary",
            ended(Phase.FAILED, "val-bob exited (exit code 1) during the upgrade ...: why"),
            [rec("container_died", "val-bob"), rec("upgrade_halt", "val-alice")],
            True,
        ),
        (
            "validator-missing-binary",
            ended(Phase.FAILED, "val-bob exited (exit code 1) during the upgrade ...: why"),
            [rec("container_died", "val-alice")],
            False,
        ),
        (  # the old way to fail: a stall at the deadline, no cause
            "validator-missing-binary",
            ended(Phase.FAILED, "stalled: ... (behind: val-alice, val-bob)"),
            [rec("container_died", "val-bob")],
            False,
        ),
        (
            "carol-without-cosmovisor",
            ended(Phase.RESTARTED),
            [rec("upgrade_halt", "node-carol")],
            True,
        ),
        ("carol-without-cosmovisor", ended(Phase.RESTARTED), [], False),
        ("stream-cuts", ended(Phase.RESTARTED), [rec("stream_down", "val-bob")], False),
    ],
)
def test_judge(name: str, state: State, records: list[AlertRecord], met: bool) -> None:
    ok, lines = judge(build(name, ROLES).expectation, state, records)
    assert ok is met, lines
    assert lines and lines[0].startswith("outcome")


def test_arm_deadline_is_not_pending() -> None:
    state, actions = run(until_proposed(), params("happy"))
    assert all(not isinstance(a, ArmDeadline) for a in state.pending)
    assert any(isinstance(a, ArmDeadline) for a in actions)


def test_missing_alerts_are_the_expected_ones_not_fired_yet() -> None:
    from agent.core.scenarios import build
    from agent.core.verdict import missing_alerts

    exp = build("validator-missing-binary", ROLES).expectation
    assert missing_alerts(exp, []) == [("container_died", "val-bob")]
    assert missing_alerts(exp, [rec("container_died", "val-alice")]) == [
        ("container_died", "val-bob")
    ]
    assert missing_alerts(exp, [rec("container_died", "val-bob")]) == []
