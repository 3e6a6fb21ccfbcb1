"""The upgrade height at send time (agent/core/planning.py)."""

from __future__ import annotations

from agent.core.actions import SubmitProposal
from agent.core.chainview import ChainView
from agent.core.observations import NewBlock
from agent.core.planning import gap_measured, send_height, still_reachable
from agent.core.policy import UpgradeHeightPolicy

POLICY = UpgradeHeightPolicy(
    margin_seconds=0.0, min_blocks_ahead=10, speedup=0.1, inclusion_blocks=1, spare_blocks=1
)


def view_with(gap_s: float | None) -> ChainView:
    v = ChainView(["a"])
    v.observe(NewBlock("a", 1, "2026-12-01T00:00:00Z", at=0.0))
    v.observe(NewBlock("a", 2, "2026-12-07T10:00:00Z", at=1.0))
    if gap_s is not None:
        v.observe(NewBlock("a", 3, f"2026-12-07T10:00:{gap_s:09.6f}Z", at=2.0))
    return v


def test_the_machines_plan_holds_until_blocks_come_faster() -> None:
    action = SubmitProposal("v1tov2", upgrade_height=30, block_interval=1.0, voting_period=20.0)
    assert not gap_measured(view_with(None))
    assert send_height(action, POLICY, view_with(None), base=2) == 30  # never earlier
    assert gap_measured(view_with(1.0))
    # Blocks every 0.5 s: 20 s of voting is 40 blocks, at 10 % faster still more.
    faster = send_height(action, POLICY, view_with(0.5), base=3)
    assert faster == POLICY.height(3, 0.5, 20.0) and faster > 30


def test_a_recorded_height_is_reachable_only_with_room_for_the_vote() -> None:
    action = SubmitProposal("v1tov2", upgrade_height=30, block_interval=1.0, voting_period=20.0)
    v = view_with(1.0)  # height 3, a block a second: 1 + 20 + 1 blocks at the least
    assert still_reachable(action, v, 3 + 22)
    assert not still_reachable(action, v, 3 + 21)
