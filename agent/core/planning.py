"""The upgrade height at send time: one home for the rules the proposal's executor
applies when it signs (pure; the machine's own plan is ``UpgradeHeightPolicy``).

A proposal is planned by the machine when the chain is live, then signed and sent
blocks later: by then the chain may have shown a faster block, and the height must
still leave the voting period room. A proposal recorded before a kill may be too
late to send at all. Both are decided here, from the chain view and the action.
"""

from __future__ import annotations

from agent.core.actions import SubmitProposal
from agent.core.chainview import ChainView
from agent.core.policy import UpgradeHeightPolicy

__all__ = ["MEASURE_GAPS", "gap_measured", "send_height", "still_reachable"]

# Header gaps a block interval needs before it counts as measured: one (block 2 to
# 3; block 1's carries the genesis time).
MEASURE_GAPS = 1

# What a proposal needs at the least to pass before its height: one block to land,
# the voting period at the measured pace, the tally block; no margin, no spare.
_AT_LEAST = UpgradeHeightPolicy(
    margin_seconds=0.0, min_blocks_ahead=0, speedup=0.0, inclusion_blocks=1, spare_blocks=0
)


def gap_measured(view: ChainView) -> bool:
    return view.fastest_interval(MEASURE_GAPS) is not None


def send_height(
    action: SubmitProposal, policy: UpgradeHeightPolicy, view: ChainView, base: int
) -> int:
    """The height a proposal sent from ``base`` is signed for: the machine's plan, or
    later when the fastest interval measured since says blocks come faster."""
    fastest = view.fastest_interval(MEASURE_GAPS)
    interval = min(action.block_interval, fastest or action.block_interval)
    return max(action.upgrade_height, policy.height(base, interval, action.voting_period))


def still_reachable(action: SubmitProposal, view: ChainView, planned: int) -> bool:
    """Can a proposal signed for ``planned`` still pass before that height if it
    landed in the next block?"""
    interval = view.block_interval(MEASURE_GAPS) or action.block_interval
    return planned >= _AT_LEAST.height(view.max_height, interval, action.voting_period)
