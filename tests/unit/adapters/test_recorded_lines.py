"""The agent's RPC reads and its proposal-id lookup on what real nodes of each SDK
line answered (tests/fixtures/<line>/, recorded by scripts/record_fixtures.py).

Each of these failed on the code before the recordings existed: on SDK v0.45 and
v0.46 (Tendermint v0.34) event attributes are base64 and there is no ``/header``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from agent.adapters.chaincli import build_chain_id
from agent.adapters.rpc import HttpCometRPC, plain_events
from agent.runtime.executors.txs import event_attr as _event_attr

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

FIX = Path(__file__).resolve().parents[2] / "fixtures"
RECORDED = sorted(p.parent.parent.name for p in FIX.glob("*/rpc/tx_proposal.json"))
# Read once at import: the tests run in an event loop that forbids blocking reads.
_DOCS = {str(p.relative_to(FIX)): json.loads(p.read_text()) for p in FIX.glob("sdk*/**/*.json")}


def recorded(line: str, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = _DOCS[f"{line}/{name}.json"]
    return doc


def node(line: str) -> HttpCometRPC:
    """An RPC node answering each method as the recorded node did (status and body)."""

    def handler(request: httpx.Request) -> httpx.Response:
        method = request.url.path.strip("/")
        query = parse_qs(request.url.query.decode())
        if method == "tx":
            wanted = query["hash"][0].removeprefix("0x")
            for kind in ("proposal", "vote"):
                doc = recorded(line, f"rpc/tx_{kind}")
                if doc["body"]["result"]["hash"] == wanted:
                    break
            else:
                doc = recorded(line, "rpc/tx_unknown")
        elif method == "header":
            doc = recorded(line, "rpc/header")
        elif method == "blockchain":
            doc = recorded(line, "rpc/blockchain")
        else:
            doc = recorded(line, f"rpc/{method}")
        body = doc["body"]
        if isinstance(body, str):
            return httpx.Response(doc["status"], text=body)
        return httpx.Response(doc["status"], json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpCometRPC("http://node:26657", timeout=2, client=client)


def test_every_line_is_recorded() -> None:
    assert RECORDED == ["sdk045", "sdk046", "sdk047", "sdk050", "sdk053"]
    for line in RECORDED:
        assert recorded(line, "recorded")["_source"]["by"] == "scripts/record_fixtures.py"


@pytest.mark.parametrize("line", RECORDED)
async def test_the_proposal_id_is_read_from_the_recorded_tx(line: str) -> None:
    tx = recorded(line, "rpc/tx_proposal")["body"]["result"]
    async with node(line) as rpc:
        found = await rpc.tx(tx["hash"])
    assert found is not None
    events = found["tx_result"]["events"]
    assert _event_attr(events, "submit_proposal", "proposal_id") == "1"
    assert _event_attr(events, "message", "sender") is not None


@pytest.mark.parametrize("line", RECORDED)
async def test_the_vote_tx_is_found_and_an_unknown_one_is_not(line: str) -> None:
    tx = recorded(line, "rpc/tx_vote")["body"]["result"]
    async with node(line) as rpc:
        found = await rpc.tx(tx["hash"])
        assert found is not None and int(found["tx_result"].get("code", 0) or 0) == 0
        assert _event_attr(found["tx_result"]["events"], "proposal_vote", "proposal_id") == "1"
        assert await rpc.tx("AB" * 32) is None


@pytest.mark.parametrize("line", RECORDED)
async def test_a_block_header_is_read_on_every_line(line: str) -> None:
    metas = recorded(line, "rpc/blockchain")["body"]["result"]["block_metas"]
    height = int(metas[0]["header"]["height"])
    async with node(line) as rpc:
        header = await rpc.block_header(height)
        newest = await rpc.block_header()
    assert header.height == height
    assert header.app_hash == metas[0]["header"]["app_hash"]
    assert newest.height == max(int(m["header"]["height"]) for m in metas)


def test_tendermint_034_lines_have_no_header_method() -> None:
    # What made ``block_header`` move to /blockchain: the recorded 404.
    for line in ("sdk045", "sdk046"):
        assert recorded(line, "rpc/header")["status"] == 404


def test_plain_events_leaves_plain_attributes_alone() -> None:
    events = [
        {"type": "tx", "attributes": [{"key": "fee_payer", "value": "cosmos1x", "index": True}]},
        {"type": "submit_proposal", "attributes": [{"key": "proposal_id", "value": "7"}]},
    ]
    assert plain_events(events) == events
    assert plain_events([]) == []


@pytest.mark.parametrize("line", RECORDED)
def test_the_recorded_sign_script_built_the_tx_offline(line: str) -> None:
    # The recording ran the agent's own sign script with the build-step chain id of
    # ``build_chain_id``; v0.45 needs the chain id there, later lines refuse it.
    sign = recorded(line, "cli/sign_proposal")
    assert sign["status"] == 0, sign["body"]["stderr"][-500:]
    source = recorded(line, "recorded")["_source"]["line"]
    assert build_chain_id(source, "c-1") == ("c-1" if source == "v0.45" else "")


# The halt probe's read, recorded where the recorder has run since it was added (the
# other lines are recorded again with `make fixtures`).
ROUNDS = sorted(p.parent.parent.name for p in FIX.glob("*/rpc/dump_consensus_state.json"))


def test_the_consensus_round_is_recorded_for_the_bundled_line() -> None:
    assert "sdk053" in ROUNDS


@pytest.mark.parametrize("line", ROUNDS)
async def test_the_consensus_round_is_read_as_the_node_sent_it(line: str) -> None:
    rs = recorded(line, "rpc/dump_consensus_state")["body"]["result"]["round_state"]
    async with node(line) as rpc:
        dump = await rpc.dump_consensus_state()
    assert dump.height == int(rs["height"]) and dump.round == int(rs["round"])
    assert dump.validators == tuple(
        (v["address"], int(v["voting_power"])) for v in rs["validators"]["validators"]
    )
    votes = next(r for r in rs["votes"] if int(r["round"]) == dump.round)
    assert dump.prevoted == tuple(s != "nil-Vote" for s in votes["prevotes"])
    assert len(dump.precommitted) == len(dump.validators)


@pytest.mark.parametrize("line", RECORDED)
def test_a_new_blocks_signers_are_read_as_the_node_sent_them(line: str) -> None:
    """Missed blocks are counted from each NewBlock's last_commit: the recorded node
    is the chain's one validator, and it signed the block before."""
    from agent.adapters.ws import _new_block

    frame = recorded(line, "rpc/ws_new_block")["body"]
    me = recorded(line, "rpc/status")["body"]["result"]["validator_info"]["address"]
    height = int(frame["result"]["data"]["value"]["block"]["header"]["height"])
    assert _new_block(frame) == (
        height,
        frame["result"]["data"]["value"]["block"]["header"]["time"],
        (me.upper(),),
    )
