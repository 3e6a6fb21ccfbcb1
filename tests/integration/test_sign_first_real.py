"""Sign-first transactions end to end: ChainCLI.sign in a real checkersd container (the
chain kit's node image of the solo chain's binary) with no network, broadcast over RPC
to a real solo chain, re-broadcast recognised."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from agent.adapters.chaincli import ChainCLI, SignedTx, vote_args
from agent.adapters.rest import RestClient
from agent.adapters.rpc import HttpCometRPC
from agent.config import Config, VoterConfig, parse_config
from agent.errors import CommandFailed, ProtocolError
from agent.kit import images
from agent.kit.build import busybox

from .solo_chain import CHAIN_ID, DENOM, SoloChain
from .test_docker_events_real import docker_available

pytestmark = [pytest.mark.anyio, pytest.mark.chain, pytest.mark.docker, pytest.mark.timeout(180)]

PASSWORD = "sign-first test password"
FUNDS = 5_000_000_000


@dataclass(frozen=True)
class Desk:
    cfg: Config
    voter: VoterConfig
    address: str
    project: str


def cli_image(binary: Path, work: Path) -> str:
    """The kit's node image of ``binary``, tagged by its content (a rebuild is a cache hit)."""
    tag = f"rehearse-test/checkersd:{hashlib.sha256(binary.read_bytes()).hexdigest()[:12]}"
    ctx = work / "image"
    images.stage(ctx, {"busybox": busybox(), "chain": binary}, images.node_dockerfile("checkersd"))
    images.build_image(tag, ctx)
    return tag


def _host(chain: SoloChain, *args: str, stdin: str = "") -> str:
    out = subprocess.run(
        [str(chain.binary), *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise RuntimeError(f"checkersd {' '.join(args[:3])}: {out.stderr[-1500:]}")
    return out.stdout


def _wait_account(api_url: str, address: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(
                f"{api_url}/cosmos/auth/v1beta1/accounts/{address}", timeout=2
            ) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"account {address} never appeared")


@pytest.fixture(scope="module")
def desk(solo_chain: SoloChain) -> Iterator[Desk]:
    """A desk with a file-keyring key `alice`, funded by the solo chain's validator."""
    docker_available()
    project = f"signtest-{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="rehearse-sign-"))
    try:
        image = cli_image(solo_chain.binary, root)
        home = root / "desk-alice"
        # A new file keyring asks for its password twice (enter, confirm).
        out = _host(
            solo_chain,
            "keys",
            "add",
            "alice",
            "--keyring-backend",
            "file",
            "--keyring-dir",
            str(home / "keys"),
            "--output",
            "json",
            stdin=f"{PASSWORD}\n{PASSWORD}\n",
        )
        address = json.loads(out)["address"]
        # The validator's key is in the chain home's `test` keyring (solo_chain.py).
        _host(
            solo_chain,
            "tx",
            "bank",
            "send",
            "val",
            address,
            f"{FUNDS}{DENOM}",
            "--keyring-backend",
            "test",
            "--home",
            str(solo_chain.home),
            "--chain-id",
            CHAIN_ID,
            "--node",
            solo_chain.rpc_url.replace("http://", "tcp://"),
            "--yes",
            "--output",
            "json",
        )
        _wait_account(solo_chain.api_url, address)
        cfg = parse_config(
            {
                "stack": {"project": project},
                "chain": {
                    "chain_id": CHAIN_ID,
                    "tx_node": "solo",
                    # the checkers profile (the schema defaults are simd's)
                    "binary": "checkersd",
                    "cli_image_v1": image,
                    "cli_home": "/root/.checkers",
                    "denom": DENOM,
                    "deposit": f"10000000{DENOM}",
                },
                "nodes": [{"name": "solo", "rpc": solo_chain.rpc_url, "rest": solo_chain.api_url}],
                "voters": [{"name": "alice", "key": "alice", "desk": "desk-alice"}],
            },
            root,
        )
        yield Desk(cfg, cfg.voters[0], address, project)
    finally:
        # Every CLI container is --rm; a killed client can still leave one behind.
        left = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=rehearse.cli={project}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


async def _included(rpc: HttpCometRPC, tx_hash: str, deadline: float = 30.0) -> dict[str, Any]:
    with anyio.fail_after(deadline):
        while True:
            found = await rpc.tx(tx_hash)
            if found is not None:
                return found
            await anyio.sleep(0.3)


async def _count_by_hash(rpc_url: str, tx_hash: str) -> int:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{rpc_url}/tx_search", params={"query": f"\"tx.hash='{tx_hash}'\""})
    return int(r.json()["result"]["total_count"])


async def _sign(cli: ChainCLI, desk: Desk, args: list[str], n: int, seq: int) -> SignedTx:
    return await cli.sign(desk.voter, args, address=desk.address, account_number=n, sequence=seq)


async def _boxes(project: str) -> list[str]:
    argv = ["docker", "ps", "-a", "--format", "{{.Names}}"]
    r = await anyio.run_process([*argv, "--filter", f"label=rehearse.cli={project}"])
    return r.stdout.decode().split()


async def test_sign_broadcast_rebroadcast(solo_chain: SoloChain, desk: Desk) -> None:
    async with (
        aclosing(ChainCLI.for_config(desk.cfg, PASSWORD)) as cli,
        HttpCometRPC(solo_chain.rpc_url, timeout=5) as rpc,
        RestClient(solo_chain.api_url, timeout=5) as rest,
    ):
        number, sequence = await rest.account(desk.address)
        assert sequence == 0

        send = ["bank", "send", desk.address, solo_chain.validator_address, f"1000{DENOM}"]
        started = time.monotonic()
        signed = await _sign(cli, desk, send, number, sequence)
        took = time.monotonic() - started
        print(f"\nsign (first: the desk box starts): {took:.2f}s")
        assert len(signed.tx_hash) == 64 and signed.tx_hash == signed.tx_hash.upper()
        # Deterministic: the same inputs sign to the same bytes, so re-signing after a
        # crash cannot make a second transaction either.
        started = time.monotonic()
        assert await _sign(cli, desk, send, number, sequence) == signed
        print(f"sign (exec into the desk box): {time.monotonic() - started:.2f}s")
        # One box for the desk, with no network, reused by every signature.
        (box,) = await _boxes(desk.project)
        inspect = await anyio.run_process(
            ["docker", "inspect", "--format", "{{.HostConfig.NetworkMode}}", box]
        )
        assert inspect.stdout.decode().strip() == "none"

        first = await rpc.broadcast_tx_sync(signed.tx_bytes)
        assert first.accepted, first
        assert first.hash == signed.tx_hash

        again = await rpc.broadcast_tx_sync(signed.tx_bytes)  # still pending, or just in
        assert again.duplicate and again.hash == signed.tx_hash

        found = await _included(rpc, signed.tx_hash)
        assert found["tx_result"]["code"] == 0
        assert found["hash"] == signed.tx_hash

        late = await rpc.broadcast_tx_sync(signed.tx_bytes)  # committed
        assert late.duplicate, late
        await anyio.sleep(1.0)  # a block or three: nothing new may have been committed
        assert await _count_by_hash(solo_chain.rpc_url, signed.tx_hash) == 1
        assert await rest.account(desk.address) == (number, sequence + 1)

        # The governance transactions sign offline the same way, and the fixed gas
        # covers them: the upgrade proposal, then a vote on it.
        height = (await rpc.status()).latest_height + 100_000
        proposal = await _sign(
            cli, desk, cli.proposal_args("v1tov2", height, "sign-first test"), number, sequence + 1
        )
        assert proposal.tx_hash != signed.tx_hash
        assert (await rpc.broadcast_tx_sync(proposal.tx_bytes)).accepted
        result = (await _included(rpc, proposal.tx_hash))["tx_result"]
        assert result["code"] == 0, result["log"]
        assert int(result["gas_used"]) < int(desk.cfg.chain.gas)
        (submitted,) = await rest.proposals()
        assert submitted.upgrade_plan is not None and submitted.upgrade_plan.height == height

        vote = await _sign(cli, desk, vote_args(submitted.id), number, sequence + 2)
        assert (await rpc.broadcast_tx_sync(vote.tx_bytes)).accepted
        assert (await _included(rpc, vote.tx_hash))["tx_result"]["code"] == 0
        assert await rest.vote(submitted.id, desk.address) == "VOTE_OPTION_YES"

        # SDK 0.50+: an expedited upgrade proposal goes through `gov submit-proposal FILE`
        # (the upgrade CLI has no --expedited); the sign script writes the file.
        fast_cfg = desk.cfg.model_copy(
            update={
                "chain": desk.cfg.chain.model_copy(
                    update={"expedited": True, "deposit": f"50000000{DENOM}"}
                )
            }
        )
        async with aclosing(ChainCLI.for_config(fast_cfg, PASSWORD, sdk_line="v0.50")) as fast:
            args = fast.proposal_args("v1tov2", height + 1, "expedited sign-first test")
            assert args[:2] == ["gov", "submit-proposal"] and args.document
            expedited = await _sign(fast, desk, args, number, sequence + 3)
        assert (await rpc.broadcast_tx_sync(expedited.tx_bytes)).accepted
        result = (await _included(rpc, expedited.tx_hash))["tx_result"]
        assert result["code"] == 0, result["log"]
        second = max(await rest.proposals(), key=lambda p: p.id)
        assert second.expedited and second.title == "v1tov2"
        assert second.upgrade_plan is not None and second.upgrade_plan.height == height + 1
    assert await _boxes(desk.project) == []  # closing the CLI removed its box


async def test_wrong_password_and_missing_account(solo_chain: SoloChain, desk: Desk) -> None:
    async with aclosing(ChainCLI.for_config(desk.cfg, "wrong password")) as cli:
        with pytest.raises(CommandFailed) as info:
            await _sign(cli, desk, vote_args(1), 0, 0)
    assert "wrong password" not in str(info.value)
    assert "passphrase" in info.value.output.lower() or "password" in info.value.output.lower()

    async with RestClient(solo_chain.api_url, timeout=5) as rest:
        with pytest.raises(ProtocolError, match="does not exist"):
            await rest.account("cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a")
