"""Sign-first transactions: ChainCLI.sign's argv and output, broadcast_tx_sync's answers,
RestClient.account. Every JSON shape below was recorded from a real checkersd v1 node
(SDK v0.53, CometBFT 0.38) on the solo chain."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from fakes import RecordingBoxes

from agent.adapters.chaincli import SIGN_SCRIPT, ChainCLI, SignedTx, parse_encoded, vote_args
from agent.adapters.process import CommandResult
from agent.adapters.rest import AccountState, RestClient
from agent.adapters.rpc import BroadcastResult, HttpCometRPC, RPCError, tx_hash
from agent.adapters.rpc_answers import broadcast_error, parse_broadcast
from agent.config import Config, parse_config
from agent.errors import (
    CommandFailed,
    ConfigError,
    ConnectError,
    DeadlineExceeded,
    ProtocolError,
    TransientError,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

Handler = Callable[[httpx.Request], httpx.Response]

# A bank send signed by ChainCLI.sign (docker run --network none) on the solo chain.
TX_B64 = (
    "CpABCo0BChwvY29zbW9zLmJhbmsudjFiZXRhMS5Nc2dTZW5kEm0KLWNvc21vczE3OTVsYzVtaG1yZ3hhOHI0bjIw"
    "bTJ4ZnkzeXFyMG5yZjZ4bTRudBItY29zbW9zMWx4c3lubXlxeW44c3VldWx0eHNubGdsM3c4amR5dW1rOTlhaGFl"
    "Gg0KBXVwYXduEgQxMDAwElYKTgpGCh8vY29zbW9zLmNyeXB0by5zZWNwMjU2azEuUHViS2V5EiMKIQJElhDL4jB+"
    "C9NH99AHU4OKc93mVK+mn8tbuhYJaLqUchIECgIIARIEEMCaDBpAvZ1gPAyq5FHG47RY5HzFO49RUdC0PPbJ3ydJ"
    "qlRdyo4gwmXn+EVcBnjmXVBKS4wx0cFX9zoU2TEjn7DM6x4Z1g=="
)
TX = base64.b64decode(TX_B64)

# What the node answered as the hash of TX.
TX_HASH = "0559E3777A82FEBB0FD6C5FE0CF9BCBCC8854D8FB46C17ABC3237673DE655735"


class RPCErrorObject(TypedDict):
    """A JSON-RPC error object as CometBFT sends it."""

    code: int
    message: str
    data: str


ACCEPTED = {"code": 0, "data": "", "log": "", "codespace": "", "hash": TX_HASH}
# The same bytes again, pending or committed, while the mempool cache remembers them
# (HTTP 200 for a POST; a GET gets HTTP 500 with the same body).
IN_CACHE: RPCErrorObject = {
    "code": -32603,
    "message": "Internal error",
    "data": "tx already exists in cache",
}
# Committed, then the cache forgot it (node restart): CheckTx sees an old sequence.
OLD_SEQUENCE = {
    "code": 32,
    "data": "",
    "log": "account sequence mismatch, expected 1, got 0: incorrect account sequence",
    "codespace": "sdk",
    "hash": TX_HASH,
}
# Signed for a sequence the account has not reached: refused, not a duplicate.
FUTURE_SEQUENCE = {
    **OLD_SEQUENCE,
    "log": "account sequence mismatch, expected 1, got 5: incorrect account sequence",
}
PARSE_ERROR = {
    "code": 2,
    "data": "",
    "log": "expected 2 wire type, got 6: tx parse error: tx parse error",
    "codespace": "sdk",
    "hash": TX_HASH,
}
BAD_BASE64: RPCErrorObject = {
    "code": -32602,
    "message": "Invalid params",
    "data": "error converting json params to arguments: illegal base64 data at input byte 0",
}

ADDRESS = "cosmos1795lc5mhmrgxa8r4n20m2xfy3yqr0nrf6xm4nt"
BASE_ACCOUNT = {
    "account": {
        "@type": "/cosmos.auth.v1beta1.BaseAccount",
        "address": ADDRESS,
        "pub_key": None,
        "account_number": "6",
        "sequence": "0",
    }
}
VALIDATOR_ACCOUNT = {
    "account": {
        "@type": "/cosmos.auth.v1beta1.BaseAccount",
        "address": "cosmos1lxsynmyqyn8sueultxsnlgl3w8jdyumk99ahae",
        "pub_key": {
            "@type": "/cosmos.crypto.secp256k1.PubKey",
            "key": "A/OiDH85RFSf9x8LmmYc+Ca4hf8iawizaK0u3XCwTTU8",
        },
        "account_number": "0",
        "sequence": "2",
    }
}
MODULE_ACCOUNT = {
    "account": {
        "@type": "/cosmos.auth.v1beta1.ModuleAccount",
        "base_account": {
            "address": "cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn",
            "pub_key": None,
            "account_number": "9",
            "sequence": "0",
        },
        "name": "gov",
        "permissions": ["burner"],
    }
}
NO_ACCOUNT = {
    "code": 5,
    "message": "account cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a not found",
    "details": [],
}

PASSWORD = "correct horse battery"


def rpc_with(handler: Handler) -> HttpCometRPC:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpCometRPC("http://node0:26657", timeout=2, client=client)


def jsonrpc(result: dict[str, Any] | None = None, error: Mapping[str, object] | None = None) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    return body


# --- hashing and result mapping ------------------------------------------------


def test_hash_is_uppercase_sha256_as_the_node_computes_it() -> None:
    assert tx_hash(TX) == TX_HASH


@pytest.mark.parametrize(
    ("result", "code", "duplicate", "accepted"),
    [
        (ACCEPTED, 0, False, True),
        (OLD_SEQUENCE, 32, True, False),
        (FUTURE_SEQUENCE, 32, False, False),
        (PARSE_ERROR, 2, False, False),
        ({**OLD_SEQUENCE, "log": "some other wording"}, 32, True, False),
        ({**OLD_SEQUENCE, "codespace": "checkers"}, 32, False, False),
        (
            {**ACCEPTED, "code": 19, "codespace": "sdk", "log": "tx already in mempool"},
            19,
            True,
            False,
        ),
    ],
)
def test_parse_broadcast(
    result: dict[str, Any], code: int, duplicate: bool, accepted: bool
) -> None:
    got = parse_broadcast(result, TX_HASH)
    assert (got.code, got.duplicate, got.accepted, got.hash) == (code, duplicate, accepted, TX_HASH)
    assert got.log == result["log"]


def test_parse_broadcast_hash_must_match() -> None:
    with pytest.raises(ProtocolError, match="hashed the tx"):
        parse_broadcast({**ACCEPTED, "hash": "00" * 32}, TX_HASH)
    with pytest.raises(ProtocolError):
        parse_broadcast({**ACCEPTED, "hash": 5}, TX_HASH)
    # Lowercase from a node is the same hash.
    assert parse_broadcast({**ACCEPTED, "hash": TX_HASH.lower()}, TX_HASH).hash == TX_HASH


def test_broadcast_error_mapping() -> None:
    dup = broadcast_error(
        RPCError("broadcast_tx_sync", -32603, "Internal error", IN_CACHE["data"]), TX_HASH
    )
    assert dup == BroadcastResult(0, "tx already exists in cache", TX_HASH, duplicate=True)
    assert not dup.accepted
    full = RPCError(
        "broadcast_tx_sync", -32603, "Internal error", "mempool is full: number of txs 5000"
    )
    with pytest.raises(TransientError, match="mempool is full"):
        broadcast_error(full, TX_HASH)
    bad = RPCError("broadcast_tx_sync", -32602, "Invalid params", BAD_BASE64["data"])
    with pytest.raises(RPCError):
        broadcast_error(bad, TX_HASH)


# --- broadcast_tx_sync over the wire ---------------------------------------------


async def test_broadcast_posts_jsonrpc_with_base64_tx() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=jsonrpc(ACCEPTED))

    async with rpc_with(handler) as rpc:
        got = await rpc.broadcast_tx_sync(TX)
    assert got == BroadcastResult(0, "", TX_HASH, "", duplicate=False)
    assert got.accepted
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/"
    body = json.loads(request.content)
    assert body["method"] == "broadcast_tx_sync"
    assert body["params"] == {"tx": TX_B64}
    assert body["jsonrpc"] == "2.0"


@pytest.mark.parametrize("status", [200, 500])
async def test_broadcast_duplicate_in_cache(status: int) -> None:
    async with rpc_with(lambda r: httpx.Response(status, json=jsonrpc(error=IN_CACHE))) as rpc:
        got = await rpc.broadcast_tx_sync(TX)
    assert got.duplicate and got.hash == TX_HASH and not got.accepted


async def test_broadcast_committed_and_forgotten_is_duplicate() -> None:
    async with rpc_with(lambda r: httpx.Response(200, json=jsonrpc(OLD_SEQUENCE))) as rpc:
        got = await rpc.broadcast_tx_sync(TX)
    assert got.duplicate and got.code == 32


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(200, json=jsonrpc(error=BAD_BASE64)), RPCError),
        (httpx.Response(503, text="unavailable"), TransientError),
        (httpx.Response(200, text="<html>proxy</html>"), ProtocolError),
        (httpx.Response(200, json={"jsonrpc": "2.0", "id": 1}), ProtocolError),
        (httpx.Response(200, json=jsonrpc({**ACCEPTED, "code": "x"})), ProtocolError),
        (httpx.Response(404, text="not found"), ProtocolError),
    ],
)
async def test_broadcast_errors_are_translated(
    response: httpx.Response, expected: type[Exception]
) -> None:
    async with rpc_with(lambda r: response) as rpc:
        with pytest.raises(expected):
            await rpc.broadcast_tx_sync(TX)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ConnectError),
        (httpx.ReadTimeout("timed out"), DeadlineExceeded),
    ],
)
async def test_broadcast_transport_errors(exc: Exception, expected: type[Exception]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    async with rpc_with(fail) as rpc:
        with pytest.raises(expected, match="POST"):
            await rpc.broadcast_tx_sync(TX)


# --- RestClient.account ----------------------------------------------------------


def rest_with(answer: httpx.Response, seen: list[str] | None = None) -> RestClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request.url.path)
        return answer

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return RestClient("http://node0:1317", client=client)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (BASE_ACCOUNT, AccountState(6, 0)),
        (VALIDATOR_ACCOUNT, AccountState(0, 2)),
        (MODULE_ACCOUNT, AccountState(9, 0)),
    ],
)
async def test_account_shapes(body: dict[str, Any], expected: AccountState) -> None:
    seen: list[str] = []
    async with rest_with(httpx.Response(200, json=body), seen) as rest:
        number, sequence = await rest.account(ADDRESS)
    assert (number, sequence) == expected
    assert seen == [f"/cosmos/auth/v1beta1/accounts/{ADDRESS}"]


async def test_account_missing_is_protocol_error() -> None:
    async with rest_with(httpx.Response(404, json=NO_ACCOUNT)) as rest:
        with pytest.raises(ProtocolError, match="does not exist"):
            await rest.account("cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a")


async def test_account_bad_address_never_asks() -> None:
    seen: list[str] = []
    async with rest_with(httpx.Response(200, json=BASE_ACCOUNT), seen) as rest:
        for bad in ("notanaddress", "cosmos1/../../x", "", "COSMOS1" + "q" * 38):
            with pytest.raises(ProtocolError, match="bech32"):
                await rest.account(bad)
    assert seen == []


@pytest.mark.parametrize(
    "body",
    [
        {"account": {"@type": "/x.Weird", "address": ADDRESS}},
        {"account": {**BASE_ACCOUNT["account"], "account_number": "six"}},
        {"account": None},
        {},
    ],
)
async def test_account_bad_shapes(body: dict[str, Any]) -> None:
    async with rest_with(httpx.Response(200, json=body)) as rest:
        with pytest.raises(ProtocolError):
            await rest.account(ADDRESS)


async def test_account_server_trouble_is_transient() -> None:
    async with rest_with(httpx.Response(503, text="unavailable")) as rest:
        with pytest.raises(TransientError):
            await rest.account(ADDRESS)


# --- ChainCLI.sign ---------------------------------------------------------------


def make_config(tmp_path: Path, **chain: Any) -> Config:
    return parse_config({"chain": chain}, tmp_path)


def test_sign_runs_offline_and_holds_no_secret(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    cli = ChainCLI.for_config(cfg, PASSWORD)
    voter = cfg.voters[0]
    argv = cli.sign_command(
        voter,
        cli.proposal_args("v1tov2", 1234, "Upgrade to v2"),
        address=ADDRESS,
        account_number=6,
        sequence=3,
    )
    assert not any(PASSWORD in a for a in argv)
    desk = tmp_path / "desk"
    box = cli.desk_box(desk)
    assert (box.image, box.network, box.desk, box.home) == (
        "simd_i:v1",
        "none",  # no network: nothing signed here can leave on its own
        desk,
        "/root/.simapp",
    )
    assert argv[:4] == ["sh", "-c", SIGN_SCRIPT, "sign"]
    positional = argv[4:]
    assert positional[:11] == [
        "simd",
        ADDRESS,
        "alice",
        "6",
        "3",
        "testnet-1",
        "400000",
        "/root/.simapp",
        "file",
        "",  # no proposal file
        "",  # the build step's chain id: refused offline from SDK v0.46 on
    ]
    assert positional[11:] == [
        "upgrade",
        "software-upgrade",
        "v1tov2",
        "--upgrade-height",
        "1234",
        "--upgrade-info",
        "{}",
        "--title",
        "v1tov2",
        "--summary",
        "Upgrade to v2",
        "--deposit",
        "10000000stake",
        "--no-validate",
    ]


def test_sign_script_takes_values_as_parameters_only() -> None:
    # Nothing but "$N"-style parameters reaches the commands: no value is spliced into
    # the script, and only `tx sign` may read stdin (the password).
    assert SIGN_SCRIPT.count("</dev/null") == 2
    sign_step = SIGN_SCRIPT[SIGN_SCRIPT.index('"$bin" tx sign') :]
    sign_step = sign_step[: sign_step.index('"$bin" tx encode')]
    assert "</dev/null" not in sign_step
    assert '"$@"' in SIGN_SCRIPT and "--network" not in SIGN_SCRIPT
    assert "--generate-only --offline" in SIGN_SCRIPT


def test_sign_refuses_auto_gas(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, gas="auto")
    cli = ChainCLI.for_config(cfg, PASSWORD)
    with pytest.raises(ConfigError) as info:
        cli.sign_command(
            cfg.voters[0],
            vote_args(1),
            address=ADDRESS,
            account_number=0,
            sequence=0,
        )
    assert info.value.key == "chain.gas"
    assert "offline" in str(info.value)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # Built outside the event loop: validation reads the working directory.
    return make_config(tmp_path)


async def test_sign_feeds_password_on_stdin_once(config: Config) -> None:
    calls: list[tuple[Sequence[str], str | None]] = []

    async def fake_run(
        argv: Sequence[str], *, deadline: float, stdin_secret: str | None = None, **kw: Any
    ) -> CommandResult:
        calls.append((argv, stdin_secret))
        return CommandResult(tuple(argv), 0, TX_B64 + "\n", "")

    cfg = config
    boxes = RecordingBoxes()
    cli = ChainCLI.for_config(cfg, PASSWORD, boxes=boxes, run=fake_run)  # type: ignore[arg-type]
    signed = await cli.sign(
        cfg.voters[1], vote_args(7, "no"), address=ADDRESS, account_number=6, sequence=1
    )
    assert signed == SignedTx(TX, TX_HASH)
    assert signed.base64 == TX_B64
    ((argv, secret),) = calls
    assert secret == PASSWORD  # run_command writes it once, newline-terminated
    assert not any(PASSWORD in a for a in argv)
    assert argv[-4:] == ["gov", "vote", "7", "no"]
    assert "bob" in argv
    assert list(argv[:4]) == ["docker", "exec", "-i", "box1"]
    (box,) = boxes.used
    assert box.network == "none" and box.desk is not None and box.desk.name == "desk-bob"


async def test_a_box_that_vanished_is_started_again_once(config: Config) -> None:
    answers = [
        CommandResult((), 1, "", "Error response from daemon: No such container: box1"),
        CommandResult((), 0, TX_B64 + "\n", ""),
    ]

    async def fake_run(argv: Sequence[str], **kw: Any) -> CommandResult:
        r = answers.pop(0)
        if r.returncode:
            raise CommandFailed(list(argv), r.returncode, r.stderr)
        return r

    boxes = RecordingBoxes()
    cli = ChainCLI.for_config(config, PASSWORD, boxes=boxes, run=fake_run)  # type: ignore[arg-type]
    signed = await cli.sign(
        config.voters[0], vote_args(7), address=ADDRESS, account_number=6, sequence=1
    )
    assert signed.tx_hash == TX_HASH
    assert len(boxes.forgotten) == 1 and len(boxes.used) == 2


async def test_a_failing_command_is_not_retried(config: Config) -> None:
    calls: list[Sequence[str]] = []

    async def fake_run(argv: Sequence[str], **kw: Any) -> CommandResult:
        calls.append(argv)
        raise CommandFailed(list(argv), 1, "Error: key not found")

    boxes = RecordingBoxes()
    cli = ChainCLI.for_config(config, PASSWORD, boxes=boxes, run=fake_run)  # type: ignore[arg-type]
    with pytest.raises(CommandFailed, match="key not found"):
        await cli.address(config.voters[0])
    assert len(calls) == 1 and not boxes.forgotten


@pytest.mark.parametrize(
    "stdout", ["", "\n\n", "not base64 at all!\n", "Error: something\n", "====\n"]
)
def test_parse_encoded_refuses_junk(stdout: str) -> None:
    with pytest.raises(ProtocolError):
        parse_encoded(stdout)


def test_parse_encoded_takes_the_last_line() -> None:
    assert parse_encoded("gas estimate: 5\n" + TX_B64 + "\n\n") == TX
