"""HaltProbe: while a halt is suspected, who answers, and who is missing from the
stuck round, read from the nodes and named by node."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agent.adapters.clock import FakeClock
from agent.adapters.rpc_answers import ConsensusDump, ValidatorInfo
from agent.core.observations import NodeReach, RoundVotes, ValidatorKey
from agent.errors import TransientError
from agent.watchdog.halt_probe import PROBE_EVERY_S, HaltProbe

pytestmark = pytest.mark.anyio

T = 1_700_000_000.0
ALICE, BOB = "A" * 40, "B" * 40
# Round 0 of height 10: bob's prevote and precommit never came (he is paused).
DUMP = ConsensusDump(10, 0, ((ALICE, 100), (BOB, 100)), (True, False), (True, False))


class Node:
    def __init__(self, address: str = "", *, paused: bool = False, dump: bool = True) -> None:
        self.address, self.paused, self.dump = address, paused, dump
        self.calls: list[str] = []

    async def validator_info(self) -> ValidatorInfo:
        self.calls.append("status")
        if self.paused:
            await anyio.sleep_forever()
        return ValidatorInfo(self.address, 100 if self.address else 0)

    async def dump_consensus_state(self) -> ConsensusDump:
        self.calls.append("dump")
        if not self.dump:
            raise TransientError("dump_consensus_state: connection refused")
        return DUMP


def probe_of(nodes: dict[str, Any], seen: list[object], suspected: bool = True) -> HaltProbe:
    return HaltProbe(nodes, FakeClock(wall=T), 0.05, lambda _now: suspected, seen.append)


async def test_the_round_names_the_silent_validator_by_node() -> None:
    seen: list[object] = []
    nodes = {"val-alice": Node(ALICE), "val-bob": Node(BOB), "node-carol": Node()}
    probe = probe_of(nodes, seen)
    probe.names[BOB] = "val-bob"  # learnt on an earlier probe, before bob froze
    nodes["val-bob"].paused = True
    with anyio.fail_after(5):
        await probe.probe()
    reach = {o.node: o.ok for o in seen if isinstance(o, NodeReach)}
    assert reach == {"val-alice": True, "val-bob": False, "node-carol": True}
    (votes,) = [o for o in seen if isinstance(o, RoundVotes)]
    assert (votes.height, votes.round) == (10, 0)
    assert votes.missing_prevotes == ("val-bob",) and votes.missing_precommits == ("val-bob",)
    assert votes.missing_power_pct == pytest.approx(50.0)


async def test_an_unknown_key_is_named_by_its_address_and_a_failing_dump_is_skipped() -> None:
    seen: list[object] = []
    nodes = {"node-carol": Node(dump=False), "val-alice": Node(ALICE)}
    await probe_of(nodes, seen).probe()
    (votes,) = [o for o in seen if isinstance(o, RoundVotes)]
    assert votes.node == "val-alice"  # carol's dump failed: the next node's is used
    assert votes.missing_prevotes == ("B" * 12,)


async def test_a_healthy_chain_is_asked_each_key_once_and_nothing_else() -> None:
    seen: list[object] = []
    nodes = {"val-alice": Node(ALICE), "node-carol": Node()}
    probe = probe_of(nodes, seen, suspected=False)
    with anyio.move_on_after(0.2):
        await probe.run()
    # The keys, learnt before any halt (a frozen validator could not say its own)
    # and told once (the commits' signers are named by them); no round read and
    # nothing else reported while blocks come.
    assert nodes["val-alice"].calls == ["status"] and probe.names == {ALICE: "val-alice"}
    assert nodes["node-carol"].calls == ["status"]
    assert [(k.node, k.address, k.power) for k in seen if isinstance(k, ValidatorKey)] == [
        ("val-alice", ALICE, 100)
    ]
    assert len(seen) == 1


async def test_clients_that_cannot_read_consensus_are_left_out() -> None:
    class StatusOnly:
        async def validator_info(self) -> ValidatorInfo:
            return ValidatorInfo(ALICE, 1)

    probe = probe_of({"a": StatusOnly(), "b": Node(BOB)}, [])
    assert list(probe.rpcs) == ["b"] and PROBE_EVERY_S > 0


async def test_the_view_most_nodes_share_wins_over_a_cut_off_validators() -> None:
    """val-bob cut off from its sentry sees only its own prevote and blames alice;
    alice, her sentry and carol all see bob's missing: theirs is the network's view."""

    class Seeing(Node):
        def __init__(self, address: str, prevoted: tuple[bool, bool], rnd: int) -> None:
            super().__init__(address)
            self.view = ConsensusDump(10, rnd, ((ALICE, 100), (BOB, 100)), prevoted, prevoted)

        async def dump_consensus_state(self) -> ConsensusDump:
            return self.view

    majority = (True, False)
    nodes = {
        "val-alice": Seeing(ALICE, majority, 3),
        "sentry-alice": Seeing("", majority, 3),
        "node-carol": Seeing("", majority, 3),
        "val-bob": Seeing(BOB, (False, True), 5),  # alone, it runs rounds faster
    }
    seen: list[object] = []
    probe = probe_of(nodes, seen)
    await probe.probe()
    (votes,) = [o for o in seen if isinstance(o, RoundVotes)]
    assert votes.missing_prevotes == ("val-bob",) and votes.node != "val-bob"
