"""Pure policies the state machine consults: where to put the upgrade height."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["UpgradeHeightPolicy", "remediation_delay"]


@dataclass(frozen=True, slots=True)
class UpgradeHeightPolicy:
    """Choose the upgrade height from the measured block time and the voting period.

    The plan must be PASSED before its height is reached, or the chain sails past
    it and the upgrade never happens; every block beyond that is time the
    rehearsal waits for nothing. So the height is counted in blocks, each term one
    thing the chain must do first:

    - ``inclusion_blocks``: the proposal lands in the next block (it is signed
      ahead and sent as the planning block arrives, well before the proposer's
      cut); its voting period starts there. One that lands a block late uses the
      spare block;
    - the voting period in blocks at the fastest interval seen, less ``speedup``
      (blocks may yet come that much faster; slower blocks only add slack);
    - one tally block (the first block at or after the voting end) and
      ``spare_blocks`` beyond it;
    - ``margin_seconds``: extra time for a chain whose block time wanders (none
      by default: the terms above are measured).

    ``min_blocks_ahead`` is a floor for chains with very short voting periods.

    ``min_interval``, when the chain's own block time is known (CometBFT's
    ``timeout_commit``, which the kit sets), is the shortest gap blocks can come
    at: the voting period is never counted at a slower pace than that. A chain
    just launched measures slow first gaps (1.95 s, then 1.33 s steady, in one CI
    run) and a height planned from them was reached before the vote ended.
    """

    margin_seconds: float = 0.0
    min_blocks_ahead: int = 10
    speedup: float = 0.10
    inclusion_blocks: int = 1
    spare_blocks: int = 1
    min_interval: float | None = None

    def blocks_ahead(self, block_interval: float, voting_period: float) -> int:
        if block_interval <= 0:
            raise ValueError(f"block_interval must be positive, got {block_interval}")
        fastest = block_interval * (1.0 - self.speedup)
        if self.min_interval is not None:
            fastest = min(fastest, self.min_interval)
        voting = math.ceil((voting_period + self.margin_seconds) / fastest)
        blocks = self.inclusion_blocks + voting + 1 + self.spare_blocks
        return max(self.min_blocks_ahead, blocks)

    def height(self, current_height: int, block_interval: float, voting_period: float) -> int:
        return current_height + self.blocks_ahead(block_interval, voting_period)

    @staticmethod
    def predicted_time(
        target_height: int, current_height: int, block_interval: float, now: float
    ) -> float:
        """Wall time at which ``target_height`` should be committed."""
        return now + max(0, target_height - current_height) * block_interval


# A remediation is never the first to speak: the alert's last chance comes this
# long after the watchdog's own budget ran out (delivery, a slow evaluation).
ALERT_SLACK_S = 5.0
MIN_REMEDIATION_DELAY_S = 5.0


def remediation_delay(
    alert_budget_s: float, alert_hold_s: float, evaluate_s: float, resume_budget_s: float
) -> float:
    """How long after the rehearsal's own resume budget a scenario's remediation
    waits: until the watchdog's ``upgrade_halt`` alert has had its chance (its budget,
    its hold, two evaluations and a slack), so the report shows the alert first."""
    alert_due = alert_budget_s + alert_hold_s + 2 * evaluate_s + ALERT_SLACK_S
    return max(MIN_REMEDIATION_DELAY_S, alert_due - resume_budget_s)
