"""Planned downtime: quiet until the deadline, or until the node's first block
after the stop completed, whichever comes first."""

from __future__ import annotations

from agent.core.downtime import PlannedDowntime


def test_a_window_ends_at_its_deadline() -> None:
    d = PlannedDowntime()
    d.expect(100.0, ["val-a", "val-b"])
    assert d.quiet(50.0, {}) == {"val-a", "val-b"}
    assert d.quiet(100.0, {}) == set()


def test_a_window_ends_with_the_first_block_after_the_stop_completed() -> None:
    d = PlannedDowntime()
    d.expect(100.0, ["val-a", "val-b"])
    blocks = {"val-a": 30.0, "val-b": None}
    assert d.quiet(31.0, blocks) == {"val-a", "val-b"}  # a block before the stop ended
    d.over(40.0, ["val-a", "val-b"])
    d.over(45.0, ["val-a"])  # the first completion counts
    assert d.quiet(41.0, {"val-a": 42.0, "val-b": None}) == {"val-b"}
    assert d.quiet(50.0, {"val-b": 46.0}) == set()


def test_a_completion_without_a_window_changes_nothing() -> None:
    d = PlannedDowntime()
    d.over(10.0, ["val-a"])
    assert d.quiet(11.0, {"val-a": 12.0}) == set()
