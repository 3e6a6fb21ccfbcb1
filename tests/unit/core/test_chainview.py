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


def stamp(second: int) -> str:
    return f"2026-11-29T10:{second // 60:02d}:{second % 60:02d}.000Z"


def test_a_stale_duplicate_is_dropped_but_a_chain_reset_is_recognised() -> None:
    v = ChainView(["a"])
    for h in range(10, 13):
        assert v.observe(block("a", h, stamp(h)))
    assert not v.observe(block("a", 11, stamp(11)))  # backfill overlap: old header time
    assert not v.observe(block("a", 12, stamp(30)))  # same height again
    # The chain was reset under us: height 2, but a newer header time.
    assert v.observe(block("a", 2, stamp(40)))
    assert v.heights() == {"a": 2} and list(v.rewinds) == [("a", 12, 2)]
    assert v.observe(block("a", 3, stamp(41)))


def test_one_bogus_huge_height_does_not_blind_the_view() -> None:
    v = ChainView(["a", "b"])
    for h in range(10, 13):
        v.observe(block("a", h, stamp(h)))
        v.observe(block("b", h, stamp(h)))
    # A bogus height far ahead of every other node, with a plausible time.
    assert v.observe(block("a", 10**9, stamp(13)))
    # The next real block (older-looking height, not newer time) is still taken.
    assert v.observe(block("a", 13, stamp(13)))
    assert v.heights() == {"a": 13, "b": 12}
    # A node legitimately ahead is not suspect: it keeps only real news.
    assert not v.observe(block("a", 12, stamp(12)))


def test_the_fastest_interval_is_a_lower_bound_for_planning() -> None:
    v = ChainView(["a"])
    # A slow first gap after the launch (5 s), then 2 s blocks.
    for h, t in [(2, 0), (3, 5), (4, 7), (5, 9)]:
        v.observe(block("a", h, stamp(t)))
    assert v.block_interval() == 2.0
    assert v.fastest_interval() == 2.0
    v2 = ChainView(["a"])
    for h, t in [(2, 0), (3, 5), (4, 10), (5, 12)]:
        v2.observe(block("a", h, stamp(t)))
    assert v2.block_interval() == 5.0  # the median is fooled by the slow start
    assert v2.fastest_interval() == 2.0


def test_one_block_gap_seen_by_every_node_is_one_sample() -> None:
    v = ChainView(["a", "b", "c", "d", "e"])
    for n in v.nodes:
        v.observe(block(n, 7, stamp(0)))
        v.observe(block(n, 8, stamp(3)))
    # Five reports of the same slow gap 7 -> 8: not yet a measurement.
    assert v.block_interval() is None and v.fastest_interval() is None


def test_the_arrival_interval_is_the_first_live_arrivals_of_consecutive_heights() -> None:
    """Before any header gap can be measured, blocks 1 and 2 arriving live give an
    estimate: the first node to bring each height counts, a later node does not."""
    v = ChainView(["a", "b"])
    assert v.arrival_interval() is None
    v.observe(NewBlock("a", 1, "2026-01-01T00:00:00Z", at=100.0))
    v.observe(NewBlock("b", 1, "2026-01-01T00:00:00Z", at=100.3))  # same height, later
    assert v.arrival_interval() is None
    v.observe(NewBlock("b", 2, stamp(2), at=101.9))
    v.observe(NewBlock("a", 2, stamp(2), at=102.0))
    gap = v.arrival_interval()
    assert gap is not None and abs(gap - 1.9) < 1e-9
    v.reset()
    assert v.arrival_interval() is None


def test_backfilled_blocks_and_bursts_give_no_arrival_interval() -> None:
    v = ChainView(["a"])
    v.observe(NewBlock("a", 1, "2026-01-01T00:00:00Z", at=100.0, backfilled=True))
    v.observe(NewBlock("a", 2, stamp(2), at=100.01))
    assert v.arrival_interval() is None  # block 1 came by backfill: no live arrival
    v.observe(NewBlock("a", 3, stamp(3), at=100.05))
    assert v.arrival_interval() is None  # 2 and 3 came in one burst
    v.observe(NewBlock("a", 5, stamp(5), at=104.0))
    assert v.arrival_interval() is None  # 3 -> 5 skips a height: the last pair is 2 -> 3


def test_chain_times_move_onto_the_agents_clock() -> None:
    from agent.core.chainview import parse_rfc3339

    v = ChainView(["a", "b"])
    assert v.to_agent_clock(100.0) == 100.0  # no block yet: nothing to say
    header = parse_rfc3339(stamp(10))
    assert header is not None
    # The agent's clock reads 500 s less than the nodes'; b's copy came 2 s late.
    v.observe(NewBlock("a", 10, stamp(10), at=header - 500 + 0.1))
    v.observe(NewBlock("b", 10, stamp(10), at=header - 500 + 2.0))
    assert abs(v.to_agent_clock(header + 20) - (header - 480 + 0.1)) < 1e-6
    assert v.received_at(10) == header - 500 + 0.1
