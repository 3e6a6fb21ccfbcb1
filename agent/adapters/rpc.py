"""CometBFT JSON-RPC over HTTP (v0.38; same shape in v0.39).

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
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

from agent.adapters.httpjson import (
    JsonHttpClient,
    JsonResponse,
    as_dict,
    as_int,
    as_str,
    clip,
    get_json,
    post_json,
)
from agent.adapters.rest import GovParams, Proposal, RestClient, RestError, UpgradePlan
from agent.errors import FatalError, ProtocolError, TransientError

__all__ = [
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
]

# /blockchain returns at most this many headers per call (CometBFT's hard limit).
BLOCKCHAIN_PAGE = 20

# CometBFT's mempool refuses bytes it has already seen (pending, or committed while
# still in its LRU cache) with this JSON-RPC error, before any CheckTx runs.
TX_IN_CACHE = "tx already exists in cache"
# Cosmos SDK codes (codespace "sdk") that mean "these bytes were seen before":
# ErrTxInMempoolCache (an app-side mempool) and ErrWrongSequence (the signer's sequence
# has moved past the one signed: ours committed, or another tx took the sequence).
SDK_TX_IN_MEMPOOL = 19
SDK_WRONG_SEQUENCE = 32
_SEQUENCE_MISMATCH = re.compile(r"account sequence mismatch, expected (\d+), got (\d+)")
# The mempool is full or the node is shedding load: the same bytes may be accepted later.
_TRANSIENT_BROADCAST = ("mempool is full", "too many", "rate limit")


class RPCError(FatalError):
    """CometBFT answered with a JSON-RPC error object (e.g. a height it does not have)."""

    def __init__(self, method: str, code: int, message: str, data: str) -> None:
        self.method = method
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{method}: RPC error {code} {message}: {data}")


class QueryFailed(FatalError):
    """An ABCI query ran but the app refused it (non-zero code); ``log`` says why."""

    def __init__(self, path: str, code: int, codespace: str, log: str) -> None:
        self.path = path
        self.code = code
        self.codespace = codespace
        self.log = log
        super().__init__(f"abci_query {path}: code {code} ({codespace}): {log}")


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """The node's answer to ``broadcast_tx_sync``: CheckTx ran (``code``) or the bytes
    were recognised as seen before (``duplicate``).

    ``duplicate`` means "not refused: look the hash up". The node had the bytes in its
    cache (``code`` 0: no CheckTx ran), or CheckTx answered that the signer's sequence
    is already past the one signed (``code`` 32), which is what a re-broadcast of a
    committed transaction gets once the cache has forgotten it. A sequence taken by
    some *other* transaction looks the same; only the lookup can tell.
    """

    code: int
    log: str
    hash: str  # uppercase hex SHA-256 of the bytes, as /tx and tx_search take it
    codespace: str = ""
    duplicate: bool = False

    @property
    def accepted(self) -> bool:
        """CheckTx passed: the transaction is in the mempool (not yet in a block)."""
        return self.code == 0 and not self.duplicate


@dataclass(frozen=True, slots=True)
class NodeStatus:
    latest_height: int
    latest_block_time: str  # RFC 3339 with nanoseconds, as CometBFT sends it
    latest_app_hash: str  # hex
    catching_up: bool
    node_id: str
    moniker: str
    network: str  # the chain id


@dataclass(frozen=True, slots=True)
class AbciInfo:
    app_version: int  # omitted by CometBFT when 0, so it defaults to 0
    version: str  # the app's version string (e.g. "v1")
    last_block_height: int
    # Hex, upper case, as in a header: the app hash *after* executing
    # ``last_block_height`` (block last_block_height + 1 will carry it).
    last_block_app_hash: str = ""


@dataclass(frozen=True, slots=True)
class BlockHeader:
    height: int
    time: str  # RFC 3339
    app_hash: str  # hex; the app hash *after* the previous block


@dataclass(frozen=True, slots=True)
class CommitSignatures:
    """Who signed block ``height`` (``/commit``): the addresses whose signature has
    ``block_id_flag`` COMMIT (2). An absent validator's entry carries no address, so
    whoever is not in ``signed`` did not sign."""

    height: int
    signed: frozenset[str]  # uppercase hex validator addresses
    total: int  # entries in the commit (the validator set's size)


@dataclass(frozen=True, slots=True)
class ValidatorInfo:
    """The node's own validator key (``/status`` ``validator_info``)."""

    address: str  # uppercase hex
    voting_power: int


# CometBFT's BlockIDFlag: 1 absent, 2 commit, 3 nil. JSON has the number (v0.38) or,
# from some encoders, the enum name.
BLOCK_ID_FLAG_COMMIT = 2


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


def tx_hash(tx_bytes: bytes) -> str:
    """The hash CometBFT indexes a transaction under: SHA-256 of its bytes, uppercase hex."""
    return hashlib.sha256(tx_bytes).hexdigest().upper()


def parse_broadcast(result: dict[str, Any], local_hash: str) -> BroadcastResult:
    """A ``broadcast_tx_sync`` result; its hash must be the one computed locally."""
    code = as_int(result.get("code", 0), "broadcast_tx_sync code")
    log = str(result.get("log") or "")
    codespace = str(result.get("codespace") or "")
    node_hash = as_str(result.get("hash", ""), "broadcast_tx_sync hash").upper()
    if node_hash != local_hash:
        raise ProtocolError(
            f"broadcast_tx_sync: node hashed the tx as {clip(node_hash, 80)}, expected {local_hash}"
        )
    duplicate = _seen_before(code, codespace, log)
    return BroadcastResult(code, log, local_hash, codespace, duplicate=duplicate)


def _seen_before(code: int, codespace: str, log: str) -> bool:
    if codespace != "sdk":
        return False
    if code == SDK_TX_IN_MEMPOOL:
        return True
    if code != SDK_WRONG_SEQUENCE:
        return False
    mismatch = sequence_mismatch(log)
    if mismatch is None:
        return True  # a wording we do not know: let the hash lookup decide
    expected, signed = mismatch
    # Signed *ahead* of the account (expected < signed): a plain refusal, nothing with
    # these bytes can have been committed.
    return expected > signed


def sequence_mismatch(log: str) -> tuple[int, int] | None:
    """(expected, signed) from CheckTx's "account sequence mismatch" log, else None."""
    match = _SEQUENCE_MISMATCH.search(log)
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def broadcast_error(exc: RPCError, local_hash: str) -> BroadcastResult:
    """A JSON-RPC error answering ``broadcast_tx_sync``: a duplicate, or raised."""
    if TX_IN_CACHE in exc.data:
        return BroadcastResult(0, exc.data, local_hash, duplicate=True)
    text = f"{exc.message}: {exc.data}"
    if any(marker in text.lower() for marker in _TRANSIENT_BROADCAST):
        raise TransientError(f"broadcast_tx_sync: {text}") from exc
    raise exc


def parse_status(result: dict[str, Any]) -> NodeStatus:
    try:
        sync = as_dict(result["sync_info"], "status sync_info")
        node = as_dict(result["node_info"], "status node_info")
        catching_up = sync["catching_up"]
        if not isinstance(catching_up, bool):
            raise ProtocolError(f"status: catching_up is {clip(catching_up)}")
        return NodeStatus(
            latest_height=as_int(sync["latest_block_height"], "status latest_block_height"),
            latest_block_time=as_str(sync["latest_block_time"], "status latest_block_time"),
            latest_app_hash=as_str(sync["latest_app_hash"], "status latest_app_hash"),
            catching_up=catching_up,
            node_id=as_str(node["id"], "status node_info.id"),
            moniker=as_str(node["moniker"], "status node_info.moniker"),
            network=as_str(node["network"], "status node_info.network"),
        )
    except KeyError as exc:
        raise ProtocolError(f"status: missing field {exc}") from exc


def parse_abci_info(result: dict[str, Any]) -> AbciInfo:
    # Go's omitempty drops zero values: a fresh chain has no app_version, and a node
    # before its first block has no last_block_height either.
    response = as_dict(result.get("response"), "abci_info response")
    return AbciInfo(
        app_version=as_int(response.get("app_version", 0), "abci_info app_version"),
        version=str(response.get("version", "")),
        last_block_height=as_int(response.get("last_block_height", 0), "abci_info height"),
        last_block_app_hash=_b64_hex(response.get("last_block_app_hash", ""), "abci_info app hash"),
    )


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _b64_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def plain_events(events: list[Any]) -> list[Any]:
    """ABCI events with plain-text attribute keys and values.

    Tendermint v0.34 (SDK v0.45, v0.46) sends both base64-encoded; CometBFT v0.37 and
    later send text. Decided per transaction, not per attribute: the events are base64
    when every attribute key decodes to an identifier. A plain key set never does, as
    every transaction's ``tx`` event carries ``fee_payer`` or ``acc_seq`` (``_`` is not
    a base64 character), and one attribute alone could be either."""
    keys = [
        a.get("key")
        for e in events
        if isinstance(e, dict)
        for a in (e.get("attributes") or [])
        if isinstance(a, dict)
    ]
    decoded = [_b64_text(k) for k in keys]
    if not keys or not all(d is not None and _IDENTIFIER.match(d) for d in decoded):
        return events
    out: list[Any] = []
    for e in events:
        if not isinstance(e, dict):
            out.append(e)
            continue
        attrs = []
        for a in e.get("attributes") or []:
            if isinstance(a, dict):
                value = a.get("value")
                text = "" if value in (None, "") else _b64_text(value)
                a = {**a, "key": _b64_text(a.get("key")), "value": value if text is None else text}
            attrs.append(a)
        out.append({**e, "attributes": attrs})
    return out


def _b64_hex(value: object, what: str) -> str:
    """CometBFT's JSON gives byte slices in base64; headers give hashes in hex."""
    try:
        return base64.b64decode(as_str(value, what), validate=True).hex().upper()
    except binascii.Error as exc:
        raise ProtocolError(f"{what}: not base64: {str(value)[:40]!r}") from exc


def parse_header(header: object, what: str) -> BlockHeader:
    h = as_dict(header, f"{what} header")
    try:
        return BlockHeader(
            height=as_int(h["height"], f"{what} header.height"),
            time=as_str(h["time"], f"{what} header.time"),
            app_hash=as_str(h.get("app_hash", ""), f"{what} header.app_hash"),
        )
    except KeyError as exc:
        raise ProtocolError(f"{what}: header missing {exc}") from exc


def _is_commit_flag(flag: object) -> bool:
    if isinstance(flag, bool):
        return False
    if isinstance(flag, int):
        return flag == BLOCK_ID_FLAG_COMMIT
    if isinstance(flag, str):
        return flag.strip() in (str(BLOCK_ID_FLAG_COMMIT), "BLOCK_ID_FLAG_COMMIT")
    return False


def parse_commit(result: dict[str, Any]) -> CommitSignatures:
    signed_header = as_dict(result.get("signed_header"), "commit signed_header")
    commit = as_dict(signed_header.get("commit"), "commit commit")
    sigs = commit.get("signatures")
    if not isinstance(sigs, list):
        raise ProtocolError(f"commit: signatures is {clip(sigs)}")
    signed: set[str] = set()
    for raw in sigs:
        sig = as_dict(raw, "commit signature")
        address = str(sig.get("validator_address") or "").upper()
        if address and _is_commit_flag(sig.get("block_id_flag")):
            signed.add(address)
    height = as_int(commit.get("height", 0), "commit height")
    return CommitSignatures(height, frozenset(signed), len(sigs))


def parse_validator_info(result: dict[str, Any]) -> ValidatorInfo:
    info = as_dict(result.get("validator_info"), "status validator_info")
    return ValidatorInfo(
        address=as_str(info.get("address", ""), "status validator_info.address").upper(),
        voting_power=as_int(info.get("voting_power", 0), "status validator_info.voting_power"),
    )
