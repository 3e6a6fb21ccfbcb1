"""Pure policies the state machine consults: where to put the upgrade height."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["UpgradeHeightPolicy"]


@dataclass(frozen=True, slots=True)
class UpgradeHeightPolicy:
    """Choose the upgrade height from measured block time and the voting period.

    The plan must be PASSED before its height is reached, or the chain sails
    past it and the upgrade never happens. The proposal is submitted at about
    ``height``; its voting ends ``voting_period`` seconds later. Blocks come
    every ``block_interval`` seconds, so the voting end falls near
    ``height + voting_period / block_interval``. ``margin_seconds`` covers the
    tally (done in the end blocker of the first block after the voting end),
    the votes' inclusion, and block-time jitter; ``min_blocks_ahead`` is a
    floor for chains with very short voting periods.
    """

    margin_seconds: float = 12.0
    min_blocks_ahead: int = 10

    def height(self, current_height: int, block_interval: float, voting_period: float) -> int:
        if block_interval <= 0:
            raise ValueError(f"block_interval must be positive, got {block_interval}")
        # Two blocks beyond the margin: the proposal's own inclusion (its voting
        # period starts there, not now) and the tally block after the voting end.
        blocks = math.ceil((voting_period + self.margin_seconds) / block_interval) + 2
        return current_height + max(self.min_blocks_ahead, blocks)

    @staticmethod
    def predicted_time(
        target_height: int, current_height: int, block_interval: float, now: float
    ) -> float:
        """Wall time at which ``target_height`` should be committed."""
        return now + max(0, target_height - current_height) * block_interval
