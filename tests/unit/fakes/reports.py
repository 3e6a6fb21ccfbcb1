"""Synthetic but realistic rehearsals for the report's tests: states and block logs.

Five nodes, one block a second. U = 30: block 29 is the last v1 block (header at
T+41), block 30 the first v2 block 12 s later; the restart on v2 leaves a 20 s gap
between blocks 35 and 36.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from agent.core.facts import (
    BaselineCaptured,
    Begin,
    ChainLive,
    Check,
    DeadlinePassed,
    NodesReached,
    ProposalStatusSeen,
    ProposalSubmitted,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import Params, State, decide, initial_state

T = 1_700_000_000.0
U = 30
HALT_S = 12.0
RESTART_S = 20.0
NODES = ("val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol")
LAST = 45


def rfc3339(t: float) -> str:
    whole = datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{round((t % 1) * 1e9):09d}Z"


def header_time(h: int) -> float:
    t = T + 12 + h
    if h >= U:
        t += HALT_S - 1  # block U comes HALT_S after U-1
    if h >= 36:
        t += RESTART_S - 1  # block 36 comes RESTART_S after 35
    return t


def records(
    *,
    last: int = LAST,
    upto: dict[str, int] | None = None,
    halt: bool = True,
) -> list[dict[str, Any]]:
    """The block log: each node receives each block 0.1-0.5 s after its header time.

    ``upto``: a node's last height (it never got further); ``halt=False``: the chain
    ran straight through U (a rejected proposal)."""
    out = []
    for h in range(3, last + 1):
        t = header_time(h) if halt else T + 12 + h
        for i, n in enumerate(NODES):
            if h > (upto or {}).get(n, last):
                continue
            out.append({"node": n, "height": h, "time": rfc3339(t), "at": t + 0.1 + 0.1 * i})
    return out


async def write_log(path: Path, recs: list[dict[str, Any]]) -> Path:
    """The block log file, with a torn last line (a kill -9 mid-write)."""
    text = "".join(json.dumps(r) + "\n" for r in recs) + '{"torn'
    await anyio.Path(path).write_text(text, encoding="utf-8")
    return path


def run(facts: list[Any], params: Params | None = None) -> State:
    s = initial_state("r-7", params or Params())
    for f in facts:
        s, _ = decide(s, f)
    return s


def _to_voted() -> list[Any]:
    return [
        Begin("r-7", 0, T),
        StackLaunched(0, T + 10),
        ChainLive(1.0, 20.0, 3, T + 15),
        ProposalSubmitted(7, "TXP", U, voting_end=T + 38, height=5, at=T + 17),
        VoteCast("alice", 7, "TXA", height=6, at=T + 18),
        BaselineCaptured((), (), 1, 6, T + 18),
        VoteCast("bob", 7, "TXB", height=7, at=T + 19),
    ]


def restarted() -> State:
    return run(
        [
            *_to_voted(),
            ProposalStatusSeen(7, "PROPOSAL_STATUS_PASSED", 27, T + 39),
            NodesReached(U - 1, U, header_time(U) + 1),
            UpgradeVerified((Check("app_hash_agree", True, "a=X | b=X"),), 31, T + 56),
            StackRestarted(35, height=35, at=T + 75),
            NodesReached(35, 36, header_time(36) + 1),
            RestartVerified((Check("balances_kept", True, "same"),), 37, T + 82),
        ]
    )


def stalled_after_pass() -> State:
    """node-carol never resumed on v2: the upgrade deadline failed the rehearsal."""
    return run(
        [
            *_to_voted(),
            ProposalStatusSeen(7, "PROPOSAL_STATUS_PASSED", 27, T + 39),
            DeadlinePassed("upgrade", U + 3, T + 160, "every node past upgrade height"),
        ]
    )


def rejected() -> State:
    return run(
        [
            *_to_voted(),
            ProposalStatusSeen(7, "PROPOSAL_STATUS_REJECTED", 27, T + 39),
        ],
        Params(expect_rejection=True, scenario="proposal-rejected"),
    )


def failed_at_launch() -> State:
    return run([Begin("r-7", 0, T), DeadlinePassed("launch", 0, T + 180)])
