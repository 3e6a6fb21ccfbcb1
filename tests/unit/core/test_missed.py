"""Missed blocks, from the commits' signatures: one alert per validator that stops
signing while the chain goes on, resolved by its next signature."""

from __future__ import annotations

from agent.core.missed import MissedWatch, Streak
from agent.core.observations import NewBlock, ValidatorKey

KEYS = {"val-alice": "AA", "val-bob": "BB", "val-carol": "CC", "val-dave": "DD"}


def watch() -> MissedWatch:
    w = MissedWatch()
    for node, address in KEYS.items():
        w.observe(ValidatorKey(node, address.lower(), 10, 0.0))
    w.observe(ValidatorKey("node-erin", "EE", 0, 0.0))  # a full node's key: no power
    return w


def block(height: int, *signed: str, node: str = "node-erin") -> NewBlock:
    return NewBlock(node, height, "", float(height), signed=signed)


def test_every_validator_signing_is_no_miss() -> None:
    w = watch()
    for h in range(2, 20):
        w.observe(block(h, "AA", "BB", "CC", "DD"))
    assert w.conditions(5) == []
    assert {s.missed_total for s in w.streaks()} == {0}
    assert [s.node for s in w.streaks()] == ["val-alice", "val-bob", "val-carol", "val-dave"]


def test_a_validator_missing_from_five_commits_in_a_row_is_one_alert_then_resolved() -> None:
    w = watch()
    w.observe(block(10, "AA", "BB", "CC", "DD"))
    for h in range(11, 15):
        w.observe(block(h, "AA", "BB", "CC"))  # dave misses 10..13
    assert w.conditions(5) == []  # four in a row: not yet
    w.observe(block(15, "AA", "BB", "CC"))
    (c,) = w.conditions(5)
    assert (c.detector, c.node, c.severity) == ("missed_blocks", "val-dave", "warning")
    assert c.message == (
        "val-dave's signature missing from the last 5 blocks (since 10; 5 missed in all)"
    )
    w.observe(block(16, "AA", "BB", "CC", "DD"))  # it signed 15 again
    assert w.conditions(5) == []
    assert Streak("val-dave", 0, 0, 5) in w.streaks()


def test_each_commit_is_judged_once_whichever_node_brings_it() -> None:
    w = watch()
    for h in range(2, 8):
        for node in ("val-alice", "node-erin", "val-bob"):
            w.observe(block(h, "AA", "BB", "CC", node=node))
    w.observe(block(3, "AA", "BB", "CC", node="val-dave"))  # a node catching up: history
    assert [(s.node, s.missed_total) for s in w.streaks() if s.missed_total] == [("val-dave", 6)]


def test_without_a_commit_or_a_known_key_nothing_is_judged() -> None:
    w = MissedWatch()
    w.observe(block(5, "AA"))  # no key known yet
    w = watch()
    w.observe(NewBlock("node-erin", 5, "", 5.0, backfilled=True))  # a header: no commit
    assert {s.missed_total for s in w.streaks()} == {0}
    # A sentry's key, or one asked before the first block: no power, never signed.
    w.observe(ValidatorKey("sentry-x", "FF", 0, 1.0))
    w.observe(block(6, "AA", "BB", "CC", "DD"))
    assert "sentry-x" not in {s.node for s in w.streaks()}


def test_a_key_learnt_without_power_is_judged_once_it_signed() -> None:
    """A validator asked before its chain's first block reports no voting power:
    the late validator of the e2e run was never judged."""
    w = MissedWatch()
    for node, address in KEYS.items():
        w.observe(ValidatorKey(node, address, 0, 0.0))
    w.observe(block(2, "AA", "BB", "CC", "DD"))
    for h in range(3, 9):
        w.observe(block(h, "AA", "BB", "CC"))
    assert [c.node for c in w.conditions(5)] == ["val-dave"]


def test_a_chain_started_again_counts_again() -> None:
    w = watch()
    for h in range(2, 9):
        w.observe(block(h, "AA", "BB", "CC"))
    w.reset()
    assert w.conditions(5) == []
    w.observe(block(2, "AA", "BB", "CC", "DD"))  # the new chain's 2 is judged
    assert {s.missed_total for s in w.streaks()} == {0}
