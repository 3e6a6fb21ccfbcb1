from __future__ import annotations

from agent.core.chainview import ChainView
from agent.core.observations import NewBlock


def block(node: str, h: int, t: str) -> NewBlock:
    return NewBlock(node, h, t, at=0.0)


def test_interval_ignores_genesis_block_and_needs_enough_gaps() -> None:
    v = ChainView(["a", "b"])
    # Block 1 carries an old genesis time: that gap must not count.
    v.observe(block("a", 1, "2026-01-01T00:00:00Z"))
    v.observe(block("a", 2, "2026-11-29T10:00:00.000Z"))
    v.observe(block("a", 3, "2026-11-29T10:00:01.000Z"))
    assert v.block_interval() is None  # one usable gap
    v.observe(block("a", 4, "2026-11-29T10:00:02.000000001Z"))
    v.observe(block("b", 3, "2026-11-29T10:00:01.000Z"))
    v.observe(block("b", 5, "2026-11-29T10:00:05.000Z"))  # a skipped height: 2 s per block
    assert v.block_interval() == 1.0


def test_heights_only_go_up_and_all_above() -> None:
    v = ChainView(["a", "b"])
    assert v.observe(block("a", 5, "x"))
    assert not v.observe(block("a", 4, "x"))
    assert not v.observe(block("zz", 9, "x"))
    assert v.max_height == 5 and v.heights() == {"a": 5, "b": 0}
    assert not v.all_above(3)
    v.observe(block("b", 4, "x"))
    assert v.all_above(3)
