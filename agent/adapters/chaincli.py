"""The chain CLI (checkersd), run in a throwaway container.

Transactions are signed from a voter's *desk*: the desk directory is mounted as
the CLI home, the keyring password is written to the CLI's stdin (never argv,
never logged), and the container joins the Compose project's public network to
reach the transaction node by its service name, as in the seed tutorial.

Sign-first (``sign``): the transaction is built, signed and encoded in one container
with no network at all, so its hash is known (and can be recorded) before anything
is sent; the bytes are then broadcast over RPC (``HttpCometRPC.broadcast_tx_sync``),
and sending the same bytes again after a crash cannot make a second transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from agent.adapters.process import CommandResult, run_command
from agent.adapters.rpc import tx_hash
from agent.config import Config, VoterConfig
from agent.errors import CommandFailed, ConfigError, ProtocolError

__all__ = ["ChainCLI", "SignedTx", "TxResult", "proposal_args", "vote_args", "SIGN_SCRIPT"]

log = structlog.get_logger("agent.adapters.chaincli")

HOME_IN_CONTAINER = "/root/.checkers"

# Build, sign and encode in one offline container. Every value arrives as a positional
# parameter (never spliced into the script, so no quoting can go wrong), the tx
# arguments last ("$@"). Only `tx sign` reads stdin: the file keyring asks for its
# password once per process (a wrong one is asked again, up to three times, and then
# reads EOF). `--chain-id ""` on the build step: the CLI refuses a chain id together
# with --offline --generate-only, and a desk's client.toml usually sets one.
SIGN_SCRIPT = r"""set -e
from=$1 key=$2 acc=$3 seq=$4 chain=$5 gas=$6 home=$7 backend=$8
shift 8
checkersd tx "$@" --from "$from" --generate-only --offline \
  --account-number "$acc" --sequence "$seq" --chain-id "" --gas "$gas" \
  --home "$home" --output json </dev/null >/tmp/unsigned.json
checkersd tx sign /tmp/unsigned.json --from "$key" --offline \
  --account-number "$acc" --sequence "$seq" --chain-id "$chain" \
  --keyring-backend "$backend" --keyring-dir "$home/keys" --home "$home" \
  --output-document /tmp/signed.json
checkersd tx encode /tmp/signed.json --home "$home" </dev/null
"""


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    code: int
    raw_log: str


@dataclass(frozen=True, slots=True)
class SignedTx:
    """Signed transaction bytes and the hash the chain will index them under."""

    tx_bytes: bytes
    tx_hash: str  # uppercase hex SHA-256 of tx_bytes, as CometBFT computes it

    @property
    def base64(self) -> str:
        return base64.b64encode(self.tx_bytes).decode("ascii")


def proposal_args(name: str, height: int, summary: str, deposit: str) -> list[str]:
    """`tx` arguments of the software-upgrade proposal (plan ``name`` at ``height``)."""
    return [
        "upgrade",
        "software-upgrade",
        name,
        "--upgrade-height",
        str(height),
        "--upgrade-info",
        "{}",
        "--title",
        name,
        "--summary",
        summary,
        "--deposit",
        deposit,
        "--no-validate",
    ]


def vote_args(proposal_id: int, option: str = "yes") -> list[str]:
    """`tx` arguments of a governance vote."""
    return ["gov", "vote", str(proposal_id), option]


class ChainCLI:
    def __init__(self, cfg: Config, password: str) -> None:
        self.cfg = cfg
        self._password = password
        self._addresses: dict[str, str] = {}

    @property
    def network(self) -> str:
        return f"{self.cfg.stack.project}_{self.cfg.chain.cli_network}"

    @property
    def node_url(self) -> str:
        return f"tcp://{self.cfg.chain.tx_node}:26657"

    def _docker(
        self,
        image: str,
        desk: Path | None,
        network: str | None,
        entrypoint: str | None = None,
    ) -> list[str]:
        """``docker run`` up to the image. ``desk`` must be absolute (``_desk``);
        ``network`` None is Docker's default bridge, ``"none"`` no network at all."""
        # The label lets a clean-up find a CLI container whose client was killed
        # between create and start (it then never reaches --rm).
        argv = ["docker", "run", "--rm", "-i", "--label", f"rehearse.cli={self.cfg.stack.project}"]
        if network is not None:
            argv += ["--network", network]
        if desk is not None:
            argv += ["-v", f"{desk}:{HOME_IN_CONTAINER}"]
        if entrypoint is not None:
            argv += ["--entrypoint", entrypoint]
        return argv + [image]

    async def _desk(self, voter: VoterConfig) -> Path:
        """The voter's desk as an absolute, symlink-free path (the file system is
        asked off the event loop)."""
        return await anyio.to_thread.run_sync(self.cfg.path(voter.desk).resolve)

    def _keyring(self) -> list[str]:
        return [
            "--keyring-backend",
            self.cfg.keyring.backend,
            "--keyring-dir",
            f"{HOME_IN_CONTAINER}/keys",
        ]

    async def _run(self, argv: list[str], *, secret: bool, check: bool = True) -> CommandResult:
        return await run_command(
            argv,
            deadline=self.cfg.timing.command_timeout,
            stdin_secret=self._password if secret else None,
            check=check,
        )

    @property
    def addresses(self) -> dict[str, str]:
        """Voter name -> address, as resolved so far (journaled for a fast resume)."""
        return dict(self._addresses)

    def remember(self, addresses: dict[str, str]) -> None:
        """Addresses resolved by an earlier run of this rehearsal."""
        self._addresses.update(addresses)

    async def query(self, args: list[str], *, v2: bool) -> dict[str, Any]:
        """`<binary> query <args> --node <tx node> --output json`, in a container on the
        stack's network, with the v1 or v2 CLI image (a profile's declared read)."""
        image = self.cfg.chain.cli_image_v2 if v2 else self.cfg.chain.cli_image_v1
        argv = self._docker(image, None, self.network)
        argv += ["query", *args, "--node", self.node_url, "--output", "json"]
        r = await self._run(argv, secret=False)
        return _last_json(r.stdout)

    async def address(self, voter: VoterConfig) -> str:
        if voter.name not in self._addresses:
            argv = self._docker(self.cfg.chain.cli_image_v1, await self._desk(voter), None)
            argv += ["keys", "show", voter.key, "--address", *self._keyring()]
            r = await self._run(argv, secret=True)
            addr = r.stdout.strip().splitlines()[-1].strip() if r.stdout.strip() else ""
            if not addr.startswith("cosmos1"):
                raise ProtocolError(f"keys show {voter.key}: unexpected output")
            self._addresses[voter.name] = addr
        return self._addresses[voter.name]

    def _tx_flags(self, voter: VoterConfig) -> list[str]:
        c = self.cfg.chain
        return [
            "--from",
            voter.key,
            *self._keyring(),
            "--chain-id",
            c.chain_id,
            "--node",
            self.node_url,
            "--gas",
            c.gas,
            "--gas-adjustment",
            str(c.gas_adjustment),
            "--broadcast-mode",
            "sync",
            "--yes",
            "--output",
            "json",
        ]

    async def _tx(self, voter: VoterConfig, args: list[str]) -> TxResult:
        argv = self._docker(self.cfg.chain.cli_image_v1, await self._desk(voter), self.network)
        argv += ["tx", *args, *self._tx_flags(voter)]
        r = await self._run(argv, secret=True)
        doc = _last_json(r.stdout)
        tx_hash = str(doc.get("txhash", ""))
        code = int(doc.get("code", 0) or 0)
        if not tx_hash:
            raise ProtocolError("broadcast returned no txhash")
        if code != 0:
            raise CommandFailed(argv[:8], code, f"tx rejected by CheckTx: {doc.get('raw_log', '')}")
        return TxResult(tx_hash, code, str(doc.get("raw_log", "")))

    def proposal_args(self, name: str, height: int, summary: str) -> list[str]:
        """`tx` arguments of the upgrade proposal, with the configured deposit."""
        return proposal_args(name, height, summary, self.cfg.chain.deposit)

    async def submit_upgrade(
        self, voter: VoterConfig, name: str, height: int, summary: str
    ) -> TxResult:
        return await self._tx(voter, self.proposal_args(name, height, summary))

    async def vote(self, voter: VoterConfig, proposal_id: int, option: str = "yes") -> TxResult:
        return await self._tx(voter, vote_args(proposal_id, option))

    def sign_argv(
        self,
        voter: VoterConfig,
        args: list[str],
        *,
        desk: Path,
        address: str,
        account_number: int,
        sequence: int,
    ) -> list[str]:
        """The ``docker run`` argv of ``sign`` (``desk``: the voter's, absolute): no
        network, no secret (stdin carries it)."""
        c = self.cfg.chain
        if c.gas == "auto":
            raise ConfigError(
                "chain.gas",
                c.gas,
                "sign-first transactions are signed offline and cannot simulate: "
                'set a fixed gas limit (e.g. "400000")',
            )
        if account_number < 0 or sequence < 0:
            raise ValueError(f"account {account_number} / sequence {sequence} must be >= 0")
        argv = self._docker(c.cli_image_v1, desk, "none", entrypoint="sh")
        return argv + [
            "-c",
            SIGN_SCRIPT,
            "sign",  # $0
            address,
            voter.key,
            str(account_number),
            str(sequence),
            c.chain_id,
            c.gas,
            HOME_IN_CONTAINER,
            self.cfg.keyring.backend,
            *args,
        ]

    async def sign(
        self,
        voter: VoterConfig,
        args: list[str],
        *,
        address: str,
        account_number: int,
        sequence: int,
    ) -> SignedTx:
        """Build and sign ``tx <args>`` offline as ``voter`` (whose account is ``address``,
        at ``account_number`` / ``sequence``) and return the bytes and their hash.

        Nothing is broadcast, so this can be repeated freely; the signature is
        deterministic (RFC 6979), so equal inputs give equal bytes and an equal hash.
        """
        argv = self.sign_argv(
            voter,
            args,
            desk=await self._desk(voter),
            address=address,
            account_number=account_number,
            sequence=sequence,
        )
        r = await self._run(argv, secret=True)
        tx_bytes = parse_encoded(r.stdout)
        return SignedTx(tx_bytes, tx_hash(tx_bytes))

    async def show_leaderboard(self) -> dict[str, Any]:
        """`query checkers show-leaderboard --output json` with the v2 CLI."""
        argv = self._docker(self.cfg.chain.cli_image_v2, None, self.network)
        argv += [
            "query",
            "checkers",
            "show-leaderboard",
            "--node",
            self.node_url,
            "--output",
            "json",
        ]
        r = await self._run(argv, secret=False)
        return _last_json(r.stdout)


def parse_encoded(text: str) -> bytes:
    """The bytes of `tx encode`'s output: one base64 line (the last non-empty one)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise ProtocolError("tx encode printed nothing")
    try:
        tx_bytes = base64.b64decode(lines[-1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"tx encode: not base64: {lines[-1][-200:]!r}") from exc
    if not tx_bytes:
        raise ProtocolError("tx encode printed an empty transaction")
    return tx_bytes


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                return doc
    raise ProtocolError(f"no JSON object in CLI output: {text.strip()[-200:]!r}")
