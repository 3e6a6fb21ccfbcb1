"""[[state.txs]]: the config, the placeholders and the executor on the fake chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes import KILL_POINTS, SimulatedCrash, World, make_config, make_world

from agent.adapters.ledger import TxLedger
from agent.adapters.sdk import bech32_decode, bech32_encode, valoper_address
from agent.core.actions import PrepareState
from agent.core.facts import StatePrepared, StateTx
from agent.core.machine import Params, State, initial_state
from agent.core.templates import Placeholder, fill, placeholders
from agent.errors import ConfigError, ProtocolError
from agent.runtime.executors.prepare import prepare_state

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

DECLARED = {
    "state": {
        "txs": [
            {
                "name": "pay",
                "from": "alice",
                "tx": ["bank", "send", "{alice}", "{bob}", "{i}stake"],
                "repeat": 2,
            },
            {"name": "bond", "from": "bob", "tx": ["staking", "delegate", "val", "7stake"]},
        ]
    }
}


def state() -> State:
    return initial_state("r1", Params(state_txs=("pay", "bond")))


# --- placeholders --------------------------------------------------------------------


def test_placeholders_are_found_and_filled() -> None:
    assert placeholders(["{alice}x{bob.valoper}", '{"a": 1}', "{i}"]) == [
        Placeholder("alice"),
        Placeholder("bob", valoper=True),
        Placeholder("i"),
    ]
    addresses = {"alice": "cosmos1a"}
    assert fill("{alice}:{i}:{alice.valoper}", addresses, index=3, valoper=str.upper) == (
        "cosmos1a:3:COSMOS1A"
    )
    assert fill('{"amount": "{i}"}', addresses, index=2) == '{"amount": "2"}'
    with pytest.raises(KeyError, match="carol"):
        fill("{carol}", addresses)


def test_a_recorded_validator_address_round_trips_through_bech32() -> None:
    """The valoper of an account is its key bytes under <prefix>valoper: decode a
    validator address a real v0.45 node printed, re-encode it as an account, and the
    account's valoper is that address again (checksums included)."""
    block = (FIXTURES / "sdk045" / "rpc" / "ws_new_block.json").read_text()
    start = block.index("cosmosvaloper1")
    recorded = block[start : block.index('"', start)]
    prefix, data = bech32_decode(recorded)
    assert prefix == "cosmosvaloper" and len(data) == 20
    assert valoper_address(bech32_encode("cosmos", data)) == recorded
    with pytest.raises(ValueError, match="checksum"):
        bech32_decode(recorded[:-1] + ("q" if recorded[-1] != "q" else "p"))


# --- configuration -------------------------------------------------------------------


def problems_of(tmp_path: Path, txs: list[dict[str, Any]]) -> str:
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, {"state": {"txs": txs}})
    return str(err.value)


def test_the_config_refuses_what_cannot_be_sent(tmp_path: Path) -> None:
    tx = ["bank", "send", "{alice}", "{bob}", "1stake"]
    assert "state.txs[0].from = 'eve'" in problems_of(
        tmp_path, [{"name": "a", "from": "eve", "tx": tx}]
    )
    msg = problems_of(tmp_path, [{"name": "a", "from": "alice", "tx": [*tx[:3], "{carol}"]}])
    assert "state.txs[0].tx[3]" in msg and "{carol} names no voter" in msg
    msg = problems_of(tmp_path, [{"name": "a", "from": "alice", "tx": [*tx, "--sequence=4"]}])
    assert "--sequence=4" in msg and "set by the agent" in msg
    msg = problems_of(tmp_path, [{"name": "a b", "from": "alice", "tx": tx}])
    assert "state.txs[0].name" in msg
    assert "repeat" in problems_of(
        tmp_path, [{"name": "a", "from": "alice", "tx": tx, "repeat": 0}]
    )
    twice = [{"name": "a", "from": "alice", "tx": tx}] * 2
    assert "duplicated" in problems_of(tmp_path, twice)


# --- the executor --------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, extra=DECLARED, ledger=TxLedger(tmp_path / "s" / "txs.jsonl"))


async def test_each_declared_tx_is_sent_in_order_with_its_placeholders(world: World) -> None:
    fact = await prepare_state(world.ctx, PrepareState(), state())
    assert isinstance(fact, StatePrepared)
    assert [(t.name, t.index, t.reused, t.code) for t in fact.txs] == [
        ("pay", 1, False, 0),
        ("pay", 2, False, 0),
        ("bond", 1, False, 0),
    ]
    sent = [t.what for t in world.chain.committed]
    assert sent == [
        ("state", "bank", "send", "cosmos1alice", "cosmos1bob", "1stake"),
        ("state", "bank", "send", "cosmos1alice", "cosmos1bob", "2stake"),
        ("state", "staking", "delegate", "val", "7stake"),
    ]
    assert [(t.sender, t.sequence) for t in world.chain.committed] == [
        ("cosmos1alice", 0),
        ("cosmos1alice", 1),
        ("cosmos1bob", 0),
    ]
    for kind, tx in zip(["state:pay:1", "state:pay:2", "state:bond:1"], fact.txs, strict=True):
        assert [h for h, _ in await world.ledger.entries("r1", kind)] == [tx.tx_hash]


async def kill_at_nth(w: World, point: str, n: int) -> None:
    """Run the step until ``point`` is reached the ``n``-th time; there kill it."""
    seen = {"n": 0}

    async def hook() -> None:
        seen["n"] += 1
        if seen["n"] < n:
            w.chain.kill_at[point] = hook  # not yet: armed again for the next time
            return
        raise SimulatedCrash(f"killed at {point} #{n}")

    w.chain.kill_at[point] = hook
    with pytest.raises(SimulatedCrash):
        await prepare_state(w.ctx, PrepareState(), state())


@pytest.mark.parametrize("nth", [1, 2])
@pytest.mark.parametrize("point", [*KILL_POINTS, "signed"])
async def test_a_kill_anywhere_sends_each_declared_tx_once(
    world: World, point: str, nth: int
) -> None:
    """Killed at each point of the first or second transaction, then resumed after a
    block: the chain holds each declared transaction once, in order, and a recorded one
    is never signed again (a signature not yet recorded is made again, byte for byte)."""
    w = world
    await kill_at_nth(w, point, nth)
    w.chain.advance()
    fact = await prepare_state(w.ctx, PrepareState(), state())
    assert isinstance(fact, StatePrepared)
    assert [(t.name, t.index) for t in fact.txs] == [("pay", 1), ("pay", 2), ("bond", 1)]
    w.chain.advance(3)
    assert [t.what[-1] for t in w.chain.committed] == ["1stake", "2stake", "7stake"]
    assert len({t.hash for t in w.chain.signed}) == 3
    assert [t.hash for t in w.chain.committed] == [t.tx_hash for t in fact.txs]
    assert w.chain.mempool == []


async def test_a_declared_tx_that_fails_in_its_block_fails_the_step(world: World) -> None:
    world.chain.tx_code = 5
    with pytest.raises(ProtocolError, match=r"declared tx pay #1 \(\w+\) failed .* code 5"):
        await prepare_state(world.ctx, PrepareState(), state())
    assert len(world.chain.committed) == 1


async def test_a_declared_tx_refused_at_checktx_names_it(world: World) -> None:
    world.chain.check_code = 13
    with pytest.raises(ProtocolError, match=r"state:pay:1 tx \w+ refused by CheckTx \(code 13\)"):
        await prepare_state(world.ctx, PrepareState(), state())


# --- the report ----------------------------------------------------------------------


def test_the_report_lists_the_declared_txs_and_what_reached_a_block() -> None:
    from agent.core.facts import Begin, ChainLive, Fact, StackLaunched
    from agent.core.machine import decide
    from agent.runtime.report import build_report, render_markdown

    s = initial_state("r", Params(state_txs=("pay", "bond")))
    facts: list[Fact] = [Begin("r", 0, 1.0), StackLaunched(0, 2.0), ChainLive(1.0, 20.0, 3, 5.0)]
    for f in facts:
        s, _ = decide(s, f)
    doc = build_report(s)
    assert doc["state"] == {"declared": ["pay", "bond"], "txs": []}
    assert "Declared (pay, bond); not all reached a block." in render_markdown(doc)
    txs = (StateTx("pay", 1, "TXP"), StateTx("bond", 1, "TXB", reused=True))
    s, _ = decide(s, StatePrepared(txs, 9, 12.0))
    doc = build_report(s)
    assert doc["state"]["txs"][1] == {
        "name": "bond", "index": 1, "tx_hash": "TXB", "code": 0, "reused": True,
    }  # fmt: skip
    md = render_markdown(doc)
    assert "## State before the upgrade" in md
    assert "- bond #1: `TXB` (found after a restart)" in md
    assert "## State before" not in render_markdown(build_report(initial_state("r", Params())))


def test_a_read_may_name_a_voters_address_and_nothing_else(tmp_path: Path) -> None:
    read = {"name": "d", "kind": "rest", "path": "/x/{alice.valoper}/delegations/{bob}"}
    make_config(tmp_path, {"reads": [read]}, profile=False)
    bad = {**read, "path": "/x/{carol}"}
    with pytest.raises(ConfigError, match=r"reads\[0\]\.path = '/x/\{carol\}': \{carol\} names"):
        make_config(tmp_path, {"reads": [bad]}, profile=False)
    with pytest.raises(ConfigError, match=r"\{i\} names no voter"):
        make_config(tmp_path, {"reads": [{**read, "path": "/x/{i}"}]}, profile=False)


async def test_a_reads_placeholders_are_filled_before_it_is_taken(world: World) -> None:
    from agent.core.checks import ReadSpec
    from agent.runtime.executors.declared import _filled

    spec = ReadSpec("d", "cli", "", args=("bank", "balances", "{bob}"))
    assert (await _filled(world.ctx, spec)).args == ("bank", "balances", "cosmos1bob")
    assert await _filled(world.ctx, ReadSpec("p", "rest", "/plain")) == ReadSpec(
        "p", "rest", "/plain"
    )
