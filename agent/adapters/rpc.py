"""CometBFT JSON-RPC over HTTP (v0.38; same shape in v0.39). The answers and their
parsers are in ``agent.adapters.rpc_answers``, re-exported here.

Only what the rehearsal needs: node status, ABCI info, block headers (one, or a range
for backfill), raw store queries (all GET, URI form) and ``broadcast_tx_sync`` of a
transaction signed beforehand (POST, JSON-RPC body). Answers become frozen dataclasses with integers
parsed (CometBFT sends int64 as JSON strings). Errors are translated where they enter:
transport trouble is a ``TransientError``, a JSON-RPC error object is ``RPCError`` and a
non-zero ABCI query code is ``QueryFailed`` (both fatal: asking again gives the same).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol

from agent.adapters.httpjson import (
    JsonHttpClient,
    JsonResponse,
    as_dict,
    as_int,
    as_str,
    get_json,
    post_json,
)
from agent.adapters.rest import GovParams, Proposal, RestClient, RestError, UpgradePlan
from agent.adapters.rpc_answers import (
    BLOCK_ID_FLAG_COMMIT,
    SDK_TX_IN_MEMPOOL,
    SDK_WRONG_SEQUENCE,
    TX_IN_CACHE,
    AbciInfo,
    BlockHeader,
    BroadcastResult,
    CommitSignatures,
    ConsensusDump,
    NodeStatus,
    QueryFailed,
    RPCError,
    ValidatorInfo,
    broadcast_error,
    parse_abci_info,
    parse_broadcast,
    parse_commit,
    parse_consensus_dump,
    parse_header,
    parse_status,
    parse_validator_info,
    plain_events,
    sequence_mismatch,
    tx_hash,
)
from agent.errors import ProtocolError, TransientError

__all__ = [
    "BLOCK_ID_FLAG_COMMIT",
    "SDK_TX_IN_MEMPOOL",
    "SDK_WRONG_SEQUENCE",
    "TX_IN_CACHE",
    "sequence_mismatch",
    "parse_header",
    "AbciInfo",
    "BlockHeader",
    "BroadcastResult",
    "CometRPC",
    "CommitSignatures",
    "HttpCometRPC",
    "NodeStatus",
    "QueryFailed",
    "RPCError",
    "plain_events",
    "tx_hash",
    # The Cosmos REST client lives in ``rest``; re-exported as the brief names it here.
    "GovParams",
    "Proposal",
    "RestClient",
    "RestError",
    "UpgradePlan",
    "ValidatorInfo",
]  # /blockchain returns at most this many headers per call (CometBFT's hard limit).
BLOCKCHAIN_PAGE = 20


class CometRPC(Protocol):
    """What the sources need from a node's RPC; ``HttpCometRPC`` or a fake in tests."""

    async def status(self) -> NodeStatus: ...

    async def abci_info(self) -> AbciInfo: ...

    async def block_header(self, height: int | None = None) -> BlockHeader: ...

    async def headers(self, min_height: int, max_height: int) -> list[BlockHeader]: ...

    async def tx(self, tx_hash: str) -> dict[str, Any] | None: ...

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]: ...

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult: ...

    async def abci_query(
        self, path: str, data: bytes, height: int | None = None
    ) -> bytes | None: ...


class HttpCometRPC(JsonHttpClient):
    """CometBFT RPC over HTTP GET (URI form); every call under ``timeout`` seconds.

    Pass ``client`` to share a connection pool (it is then yours to close); otherwise
    one is created and closed by ``aclose()`` / ``async with``.
    """

    async def get(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """Any RPC method's ``result`` (a profile's declared read)."""
        return await self._call(method, params)

    async def _call(self, method: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        url = f"{self.base_url}/{method}"
        response = await get_json(self._client, url, params=params, deadline=self.timeout)
        return _result(method, response)

    async def _post(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A JSON-RPC 2.0 request in a POST body (for arguments too big for a URL)."""
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        response = await post_json(
            self._client, self.base_url + "/", body=request, deadline=self.timeout
        )
        return _result(method, response)

    async def status(self) -> NodeStatus:
        return parse_status(await self._call("status"))

    async def abci_info(self) -> AbciInfo:
        return parse_abci_info(await self._call("abci_info"))

    async def commit_signatures(self, height: int) -> CommitSignatures:
        """The signatures on block ``height`` (an ``RPCError`` when the node lacks it)."""
        return parse_commit(await self._call("commit", {"height": str(height)}))

    async def validator_info(self) -> ValidatorInfo:
        return parse_validator_info(await self._call("status"))

    async def dump_consensus_state(self) -> ConsensusDump:
        """The round this node is in and who has voted in it (the cause of a halt)."""
        return parse_consensus_dump(await self._call("dump_consensus_state"))

    async def block_header(self, height: int | None = None) -> BlockHeader:
        """One block's header (None: the newest), through ``/blockchain``: every
        CometBFT line serves it, while ``/header`` came only in v0.37 (a Tendermint
        v0.34 node of SDK v0.45/v0.46 answers it with HTTP 404)."""
        if height is None:
            result = await self._call("blockchain")
            metas = result.get("block_metas") or []
            if not isinstance(metas, list) or not metas:
                raise ProtocolError("blockchain: no block_metas")
            page = [
                parse_header(as_dict(m, "blockchain block_meta").get("header"), "blockchain")
                for m in metas
            ]
            return max(page, key=lambda h: h.height)
        found = await self.headers(height, height)
        if not found:
            raise TransientError(f"blockchain: no header at height {height} yet")
        return found[0]

    async def headers(self, min_height: int, max_height: int) -> list[BlockHeader]:
        """Headers ``min_height..max_height`` (inclusive) in ascending order.

        /blockchain answers at most 20 per call, newest first, and clamps the range to
        what the node has (``max`` to the latest height, ``min`` to the pruning base),
        so page downwards and return only what exists; callers check for holes.
        """
        min_height = max(1, min_height)
        found: dict[int, BlockHeader] = {}
        high = max_height
        while high >= min_height:
            try:
                result = await self._call(
                    "blockchain", {"minHeight": str(min_height), "maxHeight": str(high)}
                )
            except RPCError as exc:
                # "min height X can't be greater than max height Y": the rest of the range
                # is above the tip or below the pruning base; nothing more to fetch.
                if "can't be greater than" in exc.data:
                    break
                raise
            metas = result.get("block_metas") or []
            if not isinstance(metas, list):
                raise ProtocolError("blockchain: block_metas is not a list")
            page = [
                parse_header(as_dict(m, "blockchain block_meta").get("header"), "blockchain")
                for m in metas
            ]
            page = [h for h in page if min_height <= h.height <= high]
            if not page:
                break
            for header in page:
                found[header.height] = header
            # Strictly decreasing, so the loop ends even if a node misbehaves.
            high = min(h.height for h in page) - 1
        return [found[h] for h in sorted(found)]

    async def tx(self, tx_hash: str) -> dict[str, Any] | None:
        """The committed transaction (``/tx``), or None while it is not in a block.
        Its events come with plain-text attributes on every line (``plain_events``)."""
        try:
            result = await self._call("tx", {"hash": "0x" + tx_hash.removeprefix("0x")})
        except RPCError as exc:
            if "not found" in (exc.data + exc.message).lower():
                return None
            raise
        tx_result = result.get("tx_result")
        if isinstance(tx_result, dict) and isinstance(tx_result.get("events"), list):
            events = plain_events(tx_result["events"])
            result = {**result, "tx_result": {**tx_result, "events": events}}
        return result

    async def broadcast_tx_sync(self, tx_bytes: bytes) -> BroadcastResult:
        """Hand signed bytes to the node's mempool and return CheckTx's answer.

        Re-sending bytes the node has seen is not an error: the result says
        ``duplicate`` (see ``BroadcastResult``). A full mempool is a ``TransientError``;
        any other JSON-RPC error is an ``RPCError``. A ``DeadlineExceeded`` or
        ``ConnectError`` leaves it open whether the node got the bytes: look the hash
        (``tx_hash(tx_bytes)``) up, or send the same bytes again.
        """
        local = tx_hash(tx_bytes)
        try:
            result = await self._post(
                "broadcast_tx_sync", {"tx": base64.b64encode(tx_bytes).decode("ascii")}
            )
        except RPCError as exc:
            return broadcast_error(exc, local)
        return parse_broadcast(result, local)

    async def abci_query(self, path: str, data: bytes, height: int | None = None) -> bytes | None:
        """Raw ABCI query; the value base64-decoded, or None when the key is absent."""
        # URI form: strings must be JSON-quoted, bytes given as 0x-hex.
        params = {"path": f'"{path}"', "data": "0x" + data.hex(), "prove": "false"}
        if height is not None:
            params["height"] = str(height)
        result = await self._call("abci_query", params)
        response = as_dict(result.get("response"), "abci_query response")
        code = as_int(response.get("code", 0), "abci_query code")
        if code != 0:
            raise QueryFailed(
                path, code, str(response.get("codespace") or ""), str(response.get("log") or "")
            )
        value = response.get("value")
        if not value:
            return None
        try:
            return base64.b64decode(as_str(value, "abci_query value"), validate=True)
        except binascii.Error as exc:
            raise ProtocolError(f"abci_query {path}: value is not base64: {exc}") from exc


def _result(method: str, response: JsonResponse) -> dict[str, Any]:
    body = response.body
    # CometBFT reports JSON-RPC errors with HTTP 500 (GET) or 200 (POST); the error
    # object is the answer either way.
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        raise RPCError(
            method,
            as_int(err.get("code", 0), f"{method} error.code"),
            str(err.get("message", "")),
            str(err.get("data", "")),
        )
    if response.status_code >= 500:
        raise TransientError(f"{method}: HTTP {response.status_code}: {response.text}")
    if response.status_code != 200:
        raise ProtocolError(f"{method}: HTTP {response.status_code}: {response.text}")
    if not isinstance(body, dict) or "result" not in body:
        raise ProtocolError(f"{method}: not a JSON-RPC answer: {response.text!r}")
    return as_dict(body["result"], f"{method} result")
