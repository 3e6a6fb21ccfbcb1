"""What the report reads at the end: commits (missed blocks), versions, image IDs.

The RPC parts run HttpCometRPC against httpx.MockTransport answering with recorded
CometBFT v0.38 shapes; the collector runs against fakes that answer, fail or hang.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fakes.reports import restarted

from agent.adapters.docker import Docker
from agent.adapters.process import CommandResult
from agent.adapters.rpc import (
    AbciInfo,
    CommitSignatures,
    HttpCometRPC,
    RPCError,
    ValidatorInfo,
)
from agent.adapters.rpc_answers import parse_commit
from agent.config import Config, parse_config
from agent.errors import CommandFailed, ConnectError, ProtocolError
from agent.runtime.report_data import collect, collect_for, compose_images, count_missed

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

ALICE = "6A3E4F1B2C3D4E5F60718293A4B5C6D7E8F90A1B"
BOB = "0B1C2D3E4F5061728394A5B6C7D8E9F00112233F"

# /commit?height=29 from a v0.38 node: alice signed, bob absent (flag 1, no address).
COMMIT_29 = {
    "signed_header": {
        "header": {
            "version": {"block": "11", "app": "0"},
            "chain_id": "checkers-1",
            "height": "29",
            "time": "2026-11-29T15:40:01.102345678Z",
            "proposer_address": ALICE,
        },
        "commit": {
            "height": "29",
            "round": 0,
            "block_id": {"hash": "5F9A", "parts": {"total": 1, "hash": "77AB"}},
            "signatures": [
                {
                    "block_id_flag": 2,
                    "validator_address": ALICE,
                    "timestamp": "2026-11-29T15:40:02.203456789Z",
                    "signature": "c2lnbmF0dXJlLWFsaWNl",
                },
                {
                    "block_id_flag": 1,
                    "validator_address": "",
                    "timestamp": "0001-01-01T00:00:00Z",
                    "signature": None,
                },
            ],
        },
    },
    "canonical": True,
}


def commit_doc(height: int, flags: dict[str, int]) -> dict[str, Any]:
    """A /commit result with the given validators' flags (absent ones carry no address)."""
    sigs = [
        {
            "block_id_flag": f,
            "validator_address": a if f != 1 else "",
            "timestamp": "2026-11-29T15:40:02Z",
            "signature": "c2ln" if f != 1 else None,
        }
        for a, f in flags.items()
    ]
    return {"signed_header": {"commit": {"height": str(height), "signatures": sigs}}}


STATUS_VAL = {
    "node_info": {"id": "ab", "moniker": "val-alice", "network": "checkers-1"},
    "sync_info": {
        "latest_block_height": "40",
        "latest_block_time": "2026-11-29T15:40:30Z",
        "latest_app_hash": "AA",
        "catching_up": False,
    },
    "validator_info": {
        "address": ALICE.lower(),
        "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "cHVi"},
        "voting_power": "100",
    },
}


def rpc_with(handler: Any) -> HttpCometRPC:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpCometRPC("http://node0:26657/", timeout=2.0, client=client)


def ok(result: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"jsonrpc": "2.0", "id": -1, "result": result})


# --- parsing and the RPC client ---------------------------------------------


def test_parse_commit_keeps_only_commit_flags() -> None:
    c = parse_commit(COMMIT_29)
    assert c == CommitSignatures(29, frozenset({ALICE}), 2)


def test_parse_commit_nil_votes_and_string_flags() -> None:
    doc = commit_doc(30, {ALICE: 3, BOB: 2})
    assert parse_commit(doc).signed == {BOB}
    doc["signed_header"]["commit"]["signatures"][0]["block_id_flag"] = "BLOCK_ID_FLAG_COMMIT"
    assert parse_commit(doc).signed == {ALICE, BOB}


def test_parse_commit_refuses_a_shape_it_does_not_know() -> None:
    with pytest.raises(ProtocolError):
        parse_commit({"signed_header": {"commit": {"signatures": "nope"}}})
    with pytest.raises(ProtocolError):
        parse_commit({})


async def test_http_commit_signatures_and_validator_info() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.url.path == "/commit":
            return ok(COMMIT_29)
        return ok(STATUS_VAL)

    async with rpc_with(handler) as rpc:
        c = await rpc.commit_signatures(29)
        v = await rpc.validator_info()
    assert c.signed == {ALICE} and c.height == 29
    assert v == ValidatorInfo(ALICE, 100)
    assert seen == ["/commit?height=29", "/status?"]


async def test_http_commit_of_a_height_the_node_lacks_is_an_rpc_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "jsonrpc": "2.0",
            "id": -1,
            "error": {
                "code": -32603,
                "message": "Internal error",
                "data": "height 99 must be less than or equal to the current blockchain height 40",
            },
        }
        return httpx.Response(500, json=body)

    async with rpc_with(handler) as rpc:
        with pytest.raises(RPCError, match="current blockchain height"):
            await rpc.commit_signatures(99)


# --- counting ---------------------------------------------------------------


def test_count_missed_per_validator() -> None:
    commits: dict[int, CommitSignatures | None] = {
        28: parse_commit(commit_doc(28, {ALICE: 2, BOB: 2})),
        29: parse_commit(COMMIT_29),
        30: parse_commit(commit_doc(30, {ALICE: 2, BOB: 3})),
        31: None,  # unreadable: not counted either way
    }
    missed, checked = count_missed({"val-alice": ALICE, "val-bob": BOB.lower()}, commits)
    assert missed == {"val-alice": [], "val-bob": [29, 30]}
    assert checked == [28, 29, 30]


def test_count_missed_without_any_commit_is_unknown() -> None:
    missed, checked = count_missed({"val-alice": ALICE}, {5: None})
    assert missed == {"val-alice": None} and checked == []


# --- the collector ----------------------------------------------------------


class FakeNode:
    def __init__(
        self,
        *,
        address: str = "",
        power: int = 0,
        version: str = "v2",
        commits: dict[int, dict[str, int]] | None = None,
        mode: str = "ok",  # "ok", "down" (connection refused), "hang"
        hang_commits: bool = False,
    ) -> None:
        self.hang_commits = hang_commits
        self.address, self.power, self.version = address, power, version
        self.commits = commits or {}
        self.mode = mode

    async def _gate(self) -> None:
        if self.mode == "down":
            raise ConnectError("refused")
        if self.mode == "hang":
            await anyio.sleep_forever()

    async def abci_info(self) -> AbciInfo:
        await self._gate()
        return AbciInfo(2, self.version, 40)

    async def validator_info(self) -> ValidatorInfo:
        await self._gate()
        return ValidatorInfo(self.address, self.power)

    async def commit_signatures(self, height: int) -> CommitSignatures:
        await self._gate()
        if self.hang_commits:
            await anyio.sleep_forever()
        if height not in self.commits:
            raise RPCError("commit", -32603, "Internal error", "height too high")
        return parse_commit(commit_doc(height, self.commits[height]))


def chain_commits(u: int) -> dict[int, dict[str, int]]:
    """Bob was paused over the upgrade: he missed U-1 and U; the chain got to U+3."""
    return {h: {ALICE: 2, BOB: 1 if h in (u - 1, u) else 2} for h in range(u - 5, u + 4)}


class ImageDocker(Docker):
    """A Docker adapter whose ``image inspect`` is answered here; ``calls`` records."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.calls: list[list[str]] = []

    async def _answer(self, argv: Sequence[str], **kw: Any) -> CommandResult:
        self.calls.append(list(argv))
        image = argv[-1]
        if image == "checkersd_i:v1":
            return CommandResult(tuple(argv), 0, "sha256:" + "1f" * 32 + "\n", "")
        if image == "gone:v9":
            return CommandResult(tuple(argv), 1, "", "Error: No such image: gone:v9")
        raise CommandFailed(list(argv), 127, "cannot run docker: No such file or directory")


@pytest.fixture
def no_docker() -> ImageDocker:
    return ImageDocker()


async def test_collect_counts_missed_blocks_and_reads_versions(no_docker: ImageDocker) -> None:
    u = 30
    commits = chain_commits(u)
    rpcs = {
        "val-alice": FakeNode(address=ALICE, power=100, mode="down"),  # gone at report time
        "val-bob": FakeNode(address=BOB, power=100, commits=commits),
        "sentry-alice": FakeNode(address="5E", commits=commits, version="v1"),
        "node-carol": FakeNode(commits=commits, mode="hang"),
    }
    images = ["checkersd_i:v1", "checkersd_i:v2", "gone:v9"]
    data = await collect(rpcs, u, images, read_deadline=0.2, docker=no_docker)
    assert data.heights == (25, 55)
    assert data.checked == list(range(25, 34))  # 34 to 55 not produced yet
    # alice's status is unreadable: she is not counted, and the report says so
    assert data.missed == {"val-bob": [29, 30]}
    assert data.unreadable_nodes == ["node-carol", "val-alice"]
    assert data.versions == {
        "val-alice": "unknown",
        "val-bob": "v2",
        "sentry-alice": "v1",
        "node-carol": "unknown",
    }
    assert data.digests == {
        "checkersd_i:v1": "sha256:" + "1f" * 32,
        "checkersd_i:v2": "unknown",
        "gone:v9": "unknown",
    }
    assert no_docker.calls[0][:5] == ["docker", "image", "inspect", "--format", "{{.Id}}"]
    doc = data.to_json()
    assert doc["missed_blocks"]["validators"]["val-bob"] == {"missed": [29, 30], "count": 2}


async def test_collect_without_an_upgrade_height_or_any_node(no_docker: ImageDocker) -> None:
    data = await collect({}, None, [], read_deadline=0.2, docker=no_docker)
    assert data.heights is None and data.missed == {} and data.versions == {}
    assert data.to_json()["missed_blocks"]["heights"] is None


async def test_collect_never_outlives_its_total_deadline(no_docker: ImageDocker) -> None:
    rpcs = {"val-a": FakeNode(address=ALICE, power=1, hang_commits=True)}
    with anyio.fail_after(5):
        data = await collect(rpcs, 30, [], read_deadline=60, total_deadline=0.3, docker=no_docker)
    assert data.versions == {"val-a": "v2"}
    assert data.missed == {"val-a": None}  # a validator is named, but no commit was read


async def test_collect_ignores_clients_that_cannot_read_signatures(no_docker: ImageDocker) -> None:
    class VersionOnly:
        async def abci_info(self) -> AbciInfo:
            return AbciInfo(1, "v1", 3)

    data = await collect({"x": VersionOnly()}, 10, [], read_deadline=0.2, docker=no_docker)
    assert data.versions == {"x": "v1"} and data.missed == {} and data.checked == []


def default_config(base_dir: Path) -> Config:
    return parse_config({}, base_dir)


def test_compose_images(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(
        "services:\n  val-alice:\n    image: checkersd_i:v1\n"
        '  x:\n    image: "cosmovisor_i:v1tov2"  # quoted\n'
        "  y:\n    image: ${IMAGE}\n  z:\n    image: checkersd_i:v1\n"
    )
    assert compose_images([tmp_path / "a.yml", tmp_path / "missing.yml"]) == [
        "checkersd_i:v1",
        "cosmovisor_i:v1tov2",
    ]


async def test_collect_for_reads_the_configured_images(
    tmp_path: Path, no_docker: ImageDocker
) -> None:
    cfg = await anyio.to_thread.run_sync(default_config, tmp_path)
    compose_dir = anyio.Path(cfg.compose_dir)
    await compose_dir.mkdir(parents=True, exist_ok=True)
    await (compose_dir / cfg.stack.base_file).write_text("    image: base_i:v1\n")
    await (compose_dir / cfg.stack.v2_file).write_text("    image: checkersd_i:v2\n")
    data = await collect_for(
        {},
        restarted(),
        cli_images=("simd_i:v1", "simd_i:v2"),
        compose_dir=cfg.compose_dir,
        compose_files=(cfg.stack.base_file, cfg.stack.v2_file),
        read_deadline=cfg.timing.rpc_timeout,
        docker=no_docker,
    )
    assert list(data.digests) == ["simd_i:v1", "simd_i:v2", "base_i:v1", "checkersd_i:v2"]
    assert data.heights == (25, 55)
