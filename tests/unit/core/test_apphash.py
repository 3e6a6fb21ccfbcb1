"""Nodes that disagree on the state after one block: found, and the odd one named."""

from __future__ import annotations

import pytest

from agent.core.apphash import KEPT_HEIGHTS, SplitWatch, split
from agent.core.observations import NodeInfo

A, B = "AAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBB"
NODES = ("val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol")


def info(node: str, height: int, app_hash: str) -> NodeInfo:
    return NodeInfo(node, 2, "v2", 0.0, height, app_hash)


def test_hashes_that_agree_are_no_split() -> None:
    assert split(18, dict.fromkeys(NODES, A)) is None
    # A's case: hashes are hex, as a header's or as abci_info's, in either case.
    assert split(18, {"val-alice": A, "val-bob": A.lower()}) is None


def test_the_node_off_the_network_side_is_named_with_both_hashes() -> None:
    s = split(18, {**dict.fromkeys(NODES, A), "val-bob": B})
    assert s is not None
    assert s.divergent == ("val-bob",)
    assert s.message == (
        "app hashes diverge after block 18: val-bob diverged from the other nodes "
        "(node-carol, sentry-alice, sentry-bob, val-alice=AAAAAAAAAAAA; val-bob=BBBBBBBBBBBB)"
    )


def test_on_a_tie_no_side_is_the_network_and_every_node_is_named() -> None:
    s = split(7, {"val-alice": A, "val-bob": B})
    assert s is not None
    assert s.divergent == ("val-alice", "val-bob")
    assert "no side holds most nodes" in s.message
    assert "diverged from" not in s.message


def test_the_watch_compares_the_latest_height_two_nodes_reported() -> None:
    w = SplitWatch()
    assert w.current() is None and w.condition() is None
    w.observe(info("val-alice", 10, A))
    w.observe(info("val-bob", 11, B))  # alone at 11: nothing to compare with
    assert w.current() is None
    w.observe(info("node-carol", 10, A))
    assert w.current() is None  # 10 agrees
    w.observe(info("node-carol", 11, A))
    s = w.current()
    assert s is not None and s.height == 11 and s.divergent == ("node-carol", "val-bob")
    w.observe(info("val-alice", 11, A))
    s = w.current()
    assert s is not None and s.divergent == ("val-bob",)
    c = w.condition()
    assert c is not None
    assert (c.detector, c.severity, c.node) == ("app_hash_split", "critical", None)
    assert c.summary == "app hashes diverge after block 11"
    assert "val-bob diverged" in c.message


def test_answers_without_a_height_or_hash_are_not_compared() -> None:
    w = SplitWatch()
    w.observe(info("val-alice", 0, A))
    w.observe(info("val-bob", 0, B))
    w.observe(info("node-carol", 3, ""))
    w.observe(info("sentry-bob", 3, B))
    assert w.current() is None


def test_a_node_back_below_its_reports_runs_a_new_chain() -> None:
    """A relaunch from genesis: the old chain's hashes are not the new one's."""
    w = SplitWatch()
    w.observe(info("val-alice", 5, A))
    w.observe(info("val-bob", 5, A))
    w.observe(info("val-alice", 3, B))  # a new chain, at 3
    w.observe(info("val-bob", 3, B))
    assert w.current() is None
    # Were val-alice's old report still there, 5 would be compared with a new one.
    w.observe(info("val-bob", 5, A.replace("A", "C")))
    assert w.current() is None


@pytest.mark.parametrize("extra", [1, 10])
def test_the_watch_keeps_a_bounded_number_of_heights(extra: int) -> None:
    w = SplitWatch()
    w.observe(info("val-bob", 1, B))
    for h in range(1, KEPT_HEIGHTS + extra + 1):
        w.observe(info("val-alice", h, A))
    # Height 1 is forgotten, so val-bob's old B meets no one.
    w.observe(info("node-carol", 1, A))
    assert w.current() is None
