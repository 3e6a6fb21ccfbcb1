"""What a CometBFT node answers, parsed: the answer types, the JSON-RPC errors, and
the parsers that turn raw JSON into them (integers parsed, base64 decoded, event
attributes made plain). Pure, no I/O, so every parser can be fed recorded answers.

``agent.adapters.rpc`` fetches; this module says what the answers mean.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from agent.adapters.httpjson import as_dict, as_int, as_str, clip
from agent.errors import FatalError, ProtocolError, TransientError

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
BLOCK_ID_FLAG_ABSENT = 1


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


def _flag_is(flag: object, value: int, name: str) -> bool:
    """A commit signature's ``block_id_flag`` is ``value`` (the number, or the enum
    ``name``); an unknown shape is neither."""
    if isinstance(flag, bool):
        return False
    if isinstance(flag, int):
        return flag == value
    if isinstance(flag, str):
        return flag.strip() in (str(value), name)
    return False


def is_absent_flag(flag: object) -> bool:
    """The signature's validator did not sign; an unknown value is not absence."""
    return _flag_is(flag, BLOCK_ID_FLAG_ABSENT, "BLOCK_ID_FLAG_ABSENT")


def _is_commit_flag(flag: object) -> bool:
    return _flag_is(flag, BLOCK_ID_FLAG_COMMIT, "BLOCK_ID_FLAG_COMMIT")


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


# A vote not (yet) received, as ``dump_consensus_state`` lists it (CometBFT's nilVoteStr).
NIL_VOTE = "nil-Vote"


@dataclass(frozen=True, slots=True)
class ConsensusDump:
    """The consensus round a node is in, from ``dump_consensus_state``: the height
    it works on (one past its last block), the round, the validator set, and for
    each validator (by index) whether its prevote and precommit of that round came."""

    height: int
    round: int
    validators: tuple[tuple[str, int], ...]  # address (hex), voting power
    prevoted: tuple[bool, ...]
    precommitted: tuple[bool, ...]


def parse_consensus_dump(result: dict[str, Any]) -> ConsensusDump:
    rs = as_dict(result.get("round_state"), "dump_consensus_state round_state")
    height = as_int(rs.get("height"), "round_state height")
    rnd = as_int(rs.get("round"), "round_state round")
    vset = as_dict(rs.get("validators"), "round_state validators")
    raw = vset.get("validators")
    if not isinstance(raw, list):
        raise ProtocolError("round_state validators: expected a list")
    validators = tuple(
        (
            as_str(as_dict(v, "validator").get("address"), "validator address").upper(),
            as_int(v.get("voting_power"), "validator voting_power"),
        )
        for v in raw
    )
    rounds = rs.get("votes")
    if not isinstance(rounds, list):
        raise ProtocolError("round_state votes: expected a list")
    current = [r for r in rounds if isinstance(r, dict) and r.get("round") == rnd] or [
        r for r in rounds if isinstance(r, dict)
    ][-1:]
    votes = current[0] if current else {}

    def cast(kind: str) -> tuple[bool, ...]:
        got = votes.get(kind, [])
        if not isinstance(got, list):
            raise ProtocolError(f"round_state votes {kind}: expected a list")
        flags = tuple(isinstance(s, str) and s != NIL_VOTE for s in got)
        # One entry per validator; a round not started yet lists none.
        return flags if len(flags) == len(validators) else (False,) * len(validators)

    return ConsensusDump(height, rnd, validators, cast("prevotes"), cast("precommits"))
