"""Property tests: malformed frames, events and JSON bodies never escape as anything
but the project's own errors (no KeyError, TypeError, RecursionError, OverflowError...)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.adapters import ws
from agent.adapters.docker_events import parse_container_event
from agent.adapters.httpjson import as_dict, as_int, as_str
from agent.adapters.rest import RestClient
from agent.adapters.rpc import HttpCometRPC
from agent.errors import AgentError

pytestmark = pytest.mark.timeout(120)

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["1", "-1", "1e999", "Infinity", "0x10", "9" * 5000, "", "v1tov2"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["height", "time", "header", "block", "value", "data", "type", "result", "id",
             "error", "Actor", "Attributes", "Action", "timeNano", "Type", "ID", "exitCode",
             "sync_info", "node_info", "response", "plan", "proposals", "pagination",
             "next_key", "vote", "options", "weight", "option", "params", "code", "message",
             "block_metas", "balance", "amount", "name", "status", "messages", "@type",
             "com.docker.compose.service", "voting_period", "min_deposit", "denom"]
        )
        | st.text(max_size=8),
        children,
        max_size=5,
    ),
    max_leaves=25,
)  # fmt: skip

NEW_BLOCK = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "data": {
                "type": ws.NEW_BLOCK_TYPE,
                "value": {"block": {"header": {"height": "7", "time": "2026-01-01T00:00:00Z"}}},
            }
        },
    }
)
NASTY_FRAMES = [
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    NEW_BLOCK.replace('"7"', "Infinity"),
    NEW_BLOCK.replace('"7"', "-Infinity"),
    NEW_BLOCK.replace('"7"', "NaN"),
    NEW_BLOCK.replace('"7"', "1e400"),
    NEW_BLOCK.replace('"7"', "9" * 5000),
    NEW_BLOCK.replace('"7"', '"' + "9" * 5000 + '"'),
    NEW_BLOCK.replace('"7"', "true"),
    NEW_BLOCK.replace('"7"', "[7]"),
    NEW_BLOCK.replace('"2026-01-01T00:00:00Z"', "7"),
    b"\xff\xfe\x00",
]


def _parse_frame(raw: str | bytes) -> object:
    message = ws._decode(raw)
    return ws._new_block(message)


def _frame_ok(raw: str | bytes) -> None:
    try:
        _parse_frame(raw)
    except AgentError:
        pass


@pytest.mark.parametrize("raw", NASTY_FRAMES, ids=range(len(NASTY_FRAMES)))
def test_ws_nasty_frames(raw: str | bytes) -> None:
    _frame_ok(raw)


@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_ws_random_frames(raw: str | bytes) -> None:
    _frame_ok(raw)


@FUZZ
@given(st.integers(min_value=0, max_value=len(NEW_BLOCK)))
def test_ws_truncated_frames(cut: int) -> None:
    _frame_ok(NEW_BLOCK[:cut])


@FUZZ
@given(json_values)
def test_ws_random_json_messages(value: Any) -> None:
    frame = {"jsonrpc": "2.0", "id": 1, "result": {"data": {"type": ws.NEW_BLOCK_TYPE,
             "value": value}}}  # fmt: skip
    _frame_ok(json.dumps(value))
    _frame_ok(json.dumps(frame))
    header = {"block": {"header": value}}
    frame["result"]["data"]["value"] = header  # type: ignore[index]
    _frame_ok(json.dumps(frame))


@FUZZ
@given(json_values, json_values, json_values)
def test_docker_event_parser_never_raises(raw: Any, actor: Any, attributes: Any) -> None:
    parse_container_event(raw, 1.0)
    event = {"Type": "container", "Action": "die", "timeNano": 5, "Actor": actor}
    parse_container_event(event, 1.0)
    event["Actor"] = {"ID": "c1", "Attributes": attributes}
    parse_container_event(event, 1.0)
    if isinstance(attributes, dict):
        attributes["com.docker.compose.service"] = "node0"
        parse_container_event(event, 1.0)


@pytest.mark.parametrize("code", [float("inf"), float("-inf"), float("nan"), "x", [1], True])
def test_docker_exit_code_junk_is_none(code: object) -> None:
    event = {
        "Type": "container",
        "Action": "die",
        "timeNano": 5,
        "Actor": {"ID": "c", "Attributes": {"com.docker.compose.service": "s", "exitCode": code}},
    }
    parsed = parse_container_event(event, 1.0)
    assert parsed is not None and parsed.exit_code is None


@FUZZ
@given(json_values)
def test_httpjson_helpers(value: Any) -> None:
    for helper in (as_int, as_dict, as_str):
        try:
            helper(value, "x")
        except AgentError:
            pass


Call = Callable[[Any], Awaitable[object]]
RPC_CALLS: list[Call] = [
    lambda c: c.status(),
    lambda c: c.abci_info(),
    lambda c: c.block_header(5),
    lambda c: c.headers(1, 30),
    lambda c: c.tx("AB"),
    lambda c: c.abci_query("/store/x/key", b"k"),
]
REST_CALLS: list[Call] = [
    lambda c: c.proposals(),
    lambda c: c.proposal(1),
    lambda c: c.vote(1, "cosmos1x"),
    lambda c: c.current_plan(),
    lambda c: c.applied_plan("v2"),
    lambda c: c.balance("cosmos1x", "upawn"),
    lambda c: c.gov_params(),
]


def _exercise(body: bytes, status: int, make: Callable[[httpx.AsyncClient], Any],
              calls: list[Call]) -> None:  # fmt: skip
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = make(http)
            for call in calls:
                try:
                    await call(client)
                except AgentError:
                    pass

    anyio.run(main)


def _bodies() -> st.SearchStrategy[bytes]:
    as_json = json_values.map(lambda v: json.dumps(v).encode())
    wrapped = json_values.map(lambda v: json.dumps({"jsonrpc": "2.0", "result": v}).encode())
    return as_json | wrapped | st.binary(max_size=200)


@FUZZ
@given(_bodies(), st.sampled_from([200, 200, 200, 400, 404, 500]))
def test_rpc_random_bodies(body: bytes, status: int) -> None:
    _exercise(body, status, lambda h: HttpCometRPC("http://n:26657", client=h), RPC_CALLS)


@FUZZ
@given(_bodies(), st.sampled_from([200, 200, 200, 400, 404, 500]))
def test_rest_random_bodies(body: bytes, status: int) -> None:
    _exercise(body, status, lambda h: RestClient("http://n:1317", client=h), REST_CALLS)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"jsonrpc":"2.0","result":{"sync_info":{"latest_block_height":Infinity}}}',
        b'{"proposals": 5}',
        b'{"proposals": [], "pagination": {"next_key": {"a": 1}}}',
        b'{"vote": {"options": [{"weight": "abc", "option": "YES"}]}}',
        b'{"vote": {"options": [{"weight": {"x": 1}, "option": "YES"}]}}',
        b'{"balance": {"amount": 1e999}}',
    ],
)
def test_nasty_bodies(body: bytes) -> None:
    _exercise(body, 200, lambda h: HttpCometRPC("http://n:26657", client=h), RPC_CALLS)
    _exercise(body, 200, lambda h: RestClient("http://n:1317", client=h), REST_CALLS)


def test_absent_signatures_are_no_signers() -> None:
    """CometBFT lists an absent validator with flag 1 and no address; a nil
    precommit (3) is a signature, as the slashing module counts it."""
    frame: dict[str, Any] = {
        "result": {"data": {"type": "tendermint/event/NewBlock", "value": {"block": {
            "header": {"height": "8", "time": "2026-01-01T00:00:00Z"},
            "last_commit": {"signatures": [
                {"block_id_flag": 2, "validator_address": "aa"},
                {"block_id_flag": 1, "validator_address": ""},
                {"block_id_flag": 3, "validator_address": "CC"},
                {"block_id_flag": "BLOCK_ID_FLAG_ABSENT", "validator_address": "DD"},
            ]},
        }}}}
    }  # fmt: skip
    assert ws._new_block(frame) == (8, "2026-01-01T00:00:00Z", ("AA", "CC"))
    frame["result"]["data"]["value"]["block"]["last_commit"] = {"signatures": []}
    assert ws._new_block(frame) == (8, "2026-01-01T00:00:00Z", None)  # the first block
    frame["result"]["data"]["value"]["block"]["last_commit"] = {"signatures": ["x"]}
    assert ws._new_block(frame) == (8, "2026-01-01T00:00:00Z", None)  # not a shape we know
