"""A chain halt: one incident, with its cause. Pure: no I/O, no clock.

When no node has produced a block past the chain's highest height for the stall
threshold, the chain is halted, and that is one incident, not one stall per node.
Its condition names the cause as far as the watch service could read it:

- the validators missing from the stuck round's prevotes and precommits (a
  ``RoundVotes`` read from any node that answers ``dump_consensus_state``), with
  their share of the voting power;
- the nodes whose RPC does not answer (``NodeReach``), and since when.

The service asks for both once a halt is suspected (``suspected``), well before
the threshold, so the alert carries its cause when it fires. While the chain is
halted, the nodes' own stall and stream conditions are part of this incident and
are not raised apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.core.chainview import ChainView
from agent.core.conditions import Condition
from agent.core.observations import NodeInfo, NodeReach, RoundVotes

__all__ = ["HaltWatch", "SUSPECT_FRACTION", "round_votes"]

# A halt is suspected (and its cause read) after this share of the threshold.
SUSPECT_FRACTION = 1 / 3


def _hms(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names)


class HaltWatch:
    """Keeps what explains a halt; says whether the chain is halted and why."""

    def __init__(self) -> None:
        self.unreachable: dict[str, tuple[float, str]] = {}  # node -> (since, error)
        self.votes: RoundVotes | None = None

    def observe(self, obs: NodeInfo | NodeReach | RoundVotes) -> None:
        if isinstance(obs, RoundVotes):
            self.votes = obs
        elif isinstance(obs, NodeInfo) or obs.ok:
            self.unreachable.pop(obs.node, None)
        else:
            self.unreachable.setdefault(obs.node, (obs.at, obs.error))

    @staticmethod
    def stuck_since(view: ChainView) -> float | None:
        """When the chain's highest block was first received (None: no block yet)."""
        top = view.max_height
        if top == 0:
            return None
        at = view.received_at(top)
        if at is not None:
            return at
        seen = [nv.last_block_at for nv in view.nodes.values() if nv.height == top]
        return max((t for t in seen if t is not None), default=None)

    def suspected(self, view: ChainView, now: float, limit: float) -> bool:
        since = self.stuck_since(view)
        return since is not None and now - since > limit * SUSPECT_FRACTION

    def condition(
        self, view: ChainView, now: float, limit: float, excused: set[str]
    ) -> Condition | None:
        """The halt, if the chain is halted and not every node is excused (a planned
        stop, or the planned upgrade halt, which have their own rules)."""
        since = self.stuck_since(view)
        if since is None or now - since <= limit:
            return None
        if set(view.nodes) <= excused:
            return None
        top = view.max_height
        causes: list[str] = []
        v = self.votes
        # The round that matters works on the block after the last one.
        if v is not None and v.height == top + 1:
            if v.missing_prevotes:
                causes.append(
                    f"{_names(v.missing_prevotes)} ({v.missing_power_pct:.0f} % of power) "
                    "missing from prevotes"
                )
            elif v.missing_precommits:
                # Only when every prevote came: with prevotes missing the round never
                # reaches precommits, and naming healthy validators there misleads.
                causes.append(
                    f"{_names(v.missing_precommits)} ({v.missing_precommit_pct:.0f} % of power) "
                    "missing from precommits"
                )
        for node, (at, _error) in sorted(self.unreachable.items()):
            causes.append(f"{node} RPC unreachable since {_hms(at)}")
        age = now - since
        tail = f"no block for {age:.0f} s (threshold {limit:.0f} s)"
        cause = "; ".join(causes) if causes else "its cause not read yet"
        return Condition(
            "chain_halt",
            "critical",
            f"chain halted at {top}",
            f"chain halted at {top}: {cause}; {tail}",
        )


def round_votes(
    node: str,
    height: int,
    rnd: int,
    validators: tuple[tuple[str, int], ...],
    prevoted: tuple[bool, ...],
    precommitted: tuple[bool, ...],
    names: dict[str, str],
    at: float,
) -> RoundVotes:
    """The round a node reported, its missing voters named by node (``names``:
    validator address -> node) or, when no watched node has that key, by the
    address's first 12 hex digits."""

    def name(address: str) -> str:
        return names.get(address.upper(), address[:12])

    total = sum(p for _, p in validators) or 1
    missing = [i for i, ok in enumerate(prevoted) if not ok]
    unsigned = [i for i, ok in enumerate(precommitted) if not ok]
    return RoundVotes(
        node,
        height,
        rnd,
        tuple(name(validators[i][0]) for i in missing),
        tuple(name(validators[i][0]) for i in unsigned),
        100.0 * sum(validators[i][1] for i in missing) / total,
        at,
        100.0 * sum(validators[i][1] for i in unsigned) / total,
    )
