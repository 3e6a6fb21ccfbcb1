"""HttpCometRPC against httpx.MockTransport answering with real CometBFT v0.38 shapes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agent.adapters.rpc import (
    AbciInfo,
    BlockHeader,
    HttpCometRPC,
    NodeStatus,
    QueryFailed,
    RPCError,
)
from agent.errors import ConnectError, DeadlineExceeded, ProtocolError, TransientError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

Handler = Callable[[httpx.Request], httpx.Response]


def rpc_with(handler: Handler, timeout: float = 2.0) -> HttpCometRPC:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpCometRPC("http://node0:26657/", timeout=timeout, client=client)


def ok(result: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": -1, "result": result})


def rpc_error(data: str) -> httpx.Response:
    # CometBFT answers handler errors with HTTP 500 and a JSON-RPC error object.
    body = {
        "jsonrpc": "2.0",
        "id": -1,
        "error": {"code": -32603, "message": "Internal error", "data": data},
    }
    return httpx.Response(500, json=body)


STATUS = {
    "node_info": {
        "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
        "id": "b177c4d2ff9917666704d3b4bf852cb0d7196e4c",
        "listen_addr": "tcp://127.0.0.1:47157",
        "network": "checkers-solo",
        "version": "0.38.22",
        "moniker": "solo",
    },
    "sync_info": {
        "latest_block_hash": "A184",
        "latest_app_hash": "6B755B21",
        "latest_block_height": "5",
        "latest_block_time": "2026-11-29T15:39:38.010805748Z",
        "earliest_block_height": "1",
        "catching_up": False,
    },
    "validator_info": {"address": "34FA", "voting_power": "100"},
}


async def test_status_parses_strings_into_integers() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return ok(STATUS)

    async with rpc_with(handler) as rpc:
        status = await rpc.status()
    assert seen == ["/status"]
    assert status == NodeStatus(
        latest_height=5,
        latest_block_time="2026-11-29T15:39:38.010805748Z",
        latest_app_hash="6B755B21",
        catching_up=False,
        node_id="b177c4d2ff9917666704d3b4bf852cb0d7196e4c",
        moniker="solo",
        network="checkers-solo",
    )


async def test_abci_info_defaults_missing_app_version_to_zero() -> None:
    # Exactly what checkersd v1 answers: Go's omitempty drops app_version 0.
    response = {
        "data": "checkers",
        "version": "v1",
        "last_block_height": "5",
        "last_block_app_hash": "nQYf",
    }
    async with rpc_with(lambda r: ok({"response": response})) as rpc:
        assert await rpc.abci_info() == AbciInfo(
            app_version=0, version="v1", last_block_height=5, last_block_app_hash="9D061F"
        )

    response = {**response, "app_version": "2"}
    async with rpc_with(lambda r: ok({"response": response})) as rpc:
        assert (await rpc.abci_info()).app_version == 2


def header(height: int) -> dict[str, Any]:
    return {
        "chain_id": "c",
        "height": str(height),
        "time": f"2026-01-01T00:00:{height:02d}Z",
        "app_hash": f"H{height}",
    }


def blockchain_handler(
    latest: int, base: int = 1, calls: list[tuple[int, int]] | None = None
) -> Handler:
    """Mimics CometBFT's /blockchain: clamps, at most 20 per call, newest first."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/blockchain"
        lo = int(request.url.params["minHeight"])
        hi = int(request.url.params["maxHeight"])
        if calls is not None:
            calls.append((lo, hi))
        hi = min(hi, latest)
        lo = max(lo, base, hi - 20 + 1)
        if lo > hi:
            return rpc_error(f"min height {lo} can't be greater than max height {hi}")
        metas = [
            {"block_id": {}, "block_size": "595", "header": header(h), "num_txs": "0"}
            for h in range(hi, lo - 1, -1)
        ]
        return ok({"last_height": str(latest), "block_metas": metas})

    return handler


async def test_headers_pages_by_twenty_and_returns_ascending() -> None:
    calls: list[tuple[int, int]] = []
    async with rpc_with(blockchain_handler(latest=100, calls=calls)) as rpc:
        got = await rpc.headers(3, 47)
    assert [h.height for h in got] == list(range(3, 48))
    assert got[0] == BlockHeader(3, "2026-01-01T00:00:03Z", "H3")
    assert calls == [(3, 47), (3, 27), (3, 7)]


async def test_headers_stops_at_the_tip_and_at_the_pruning_base() -> None:
    async with rpc_with(blockchain_handler(latest=30, base=10)) as rpc:
        assert [h.height for h in await rpc.headers(25, 40)] == list(range(25, 31))
        assert [h.height for h in await rpc.headers(1, 12)] == [10, 11, 12]
        assert await rpc.headers(31, 40) == []
        assert await rpc.headers(9, 8) == []


async def test_block_header_reads_blockchain_not_header() -> None:
    # /header exists only from CometBFT v0.37; /blockchain on every line.
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path != "/blockchain":
            return httpx.Response(404, text="404 page not found\n")
        if "minHeight" not in request.url.params:  # the newest page
            return ok({"last_height": "9", "block_metas": [{"header": header(9)}]})
        assert request.url.params["minHeight"] == request.url.params["maxHeight"] == "7"
        return ok({"last_height": "9", "block_metas": [{"header": header(7)}]})

    async with rpc_with(handler) as rpc:
        assert await rpc.block_header(7) == BlockHeader(7, "2026-01-01T00:00:07Z", "H7")
        assert (await rpc.block_header()).height == 9
    assert asked == ["/blockchain", "/blockchain"]


async def test_block_header_above_the_tip_is_transient() -> None:
    async with rpc_with(blockchain_handler(latest=30, base=10)) as rpc:
        with pytest.raises(TransientError, match="no header at height 31"):
            await rpc.block_header(31)


async def test_abci_query_sends_quoted_path_and_hex_data_and_decodes_value() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.url.params)
        value = base64.b64encode(b"\x01\x02hello").decode()
        return ok(
            {
                "response": {
                    "code": 0,
                    "log": "",
                    "key": "UGw=",
                    "value": value,
                    "height": "5",
                    "codespace": "",
                }
            }
        )

    async with rpc_with(handler) as rpc:
        value = await rpc.abci_query("/store/checkers/key", b"Pl", height=5)
    assert value == b"\x01\x02hello"
    assert seen["path"] == '"/store/checkers/key"'
    assert seen["data"] == "0x506c"
    assert seen["height"] == "5"


@pytest.mark.parametrize("value", ["", None])
async def test_abci_query_absent_key_is_none(value: str | None) -> None:
    answer = {"response": {"code": 0, "log": "", "value": value, "height": "5"}}
    async with rpc_with(lambda r: ok(answer)) as rpc:
        assert await rpc.abci_query("/store/checkers/subspace", b"PlayerInfo/value/") is None


async def test_abci_query_nonzero_code_raises_query_failed_with_log() -> None:
    answer = {
        "response": {
            "code": 4,
            "log": "no such store: nostore: unknown request",
            "key": None,
            "value": None,
            "height": "0",
            "codespace": "store",
        }
    }
    async with rpc_with(lambda r: ok(answer)) as rpc:
        with pytest.raises(QueryFailed) as info:
            await rpc.abci_query("/store/nostore/key", b"\x01")
    assert info.value.code == 4
    assert info.value.codespace == "store"
    assert "no such store" in info.value.log


async def test_json_rpc_error_object_is_rpc_error_not_transient() -> None:
    async with rpc_with(
        lambda r: rpc_error(
            "height 99999 must be less than or equal to the current blockchain height 5"
        )
    ) as rpc:
        with pytest.raises(RPCError) as info:
            await rpc.block_header(99999)
    assert "current blockchain height" in info.value.data


def raise_(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (raise_(httpx.ConnectError("refused")), ConnectError),
        (raise_(httpx.ReadError("reset")), ConnectError),
        (raise_(httpx.RemoteProtocolError("cut")), ConnectError),
        (raise_(httpx.ReadTimeout("slow")), DeadlineExceeded),
        (raise_(httpx.ConnectTimeout("slow")), DeadlineExceeded),
        (lambda r: httpx.Response(502, text="bad gateway"), TransientError),
        (lambda r: httpx.Response(503, text="<html>"), TransientError),
        (lambda r: httpx.Response(200, text="not json"), ProtocolError),
        (lambda r: httpx.Response(200, json={"jsonrpc": "2.0", "id": -1}), ProtocolError),
        (lambda r: ok({"sync_info": {}, "node_info": {}}), ProtocolError),
        (lambda r: httpx.Response(404, text="404 page not found"), ProtocolError),
    ],
)
async def test_errors_are_translated(handler: Handler, expected: type[Exception]) -> None:
    async with rpc_with(handler) as rpc:
        with pytest.raises(expected):
            await rpc.status()


async def test_a_hanging_node_hits_the_deadline() -> None:
    import anyio

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        return ok(STATUS)

    client = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    async with HttpCometRPC("http://node0:26657", timeout=0.1, client=client) as rpc:
        with pytest.raises(DeadlineExceeded):
            await rpc.status()
    await client.aclose()


async def test_tx_found_and_not_yet_included() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/tx"
        if request.url.params["hash"] == "0xAB":
            return ok({"hash": "AB", "height": "7", "tx_result": {"code": 0}})
        return rpc_error("tx (CD) not found")

    async with rpc_with(handler) as rpc:
        found = await rpc.tx("AB")
        assert found is not None and found["height"] == "7"
        assert await rpc.tx("0xCD") is None
