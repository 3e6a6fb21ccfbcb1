"""The chain CLI (``chain.binary``), run in a throwaway container.

Transactions are signed from a voter's *desk*: the desk directory is mounted as
the CLI home, the keyring password is written to the CLI's stdin (never argv,
never logged), and the container joins the Compose project's public network to
reach the transaction node by its service name, as in the seed tutorial.

Sign-first (``sign``): the transaction is built, signed and encoded in one container
with no network at all, so its hash is known (and can be recorded) before anything
is sent; the bytes are then broadcast over RPC (``HttpCometRPC.broadcast_tx_sync``),
and sending the same bytes again after a crash cannot make a second transaction.

The proposal's command form depends on the chain's Cosmos SDK line (``sdk_line``,
see ``proposal_args``); the desk is mounted at ``chain.cli_home``.
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
from agent.adapters.sdk import DEFAULT_LINE, SdkLine, module_address
from agent.config import Config, VoterConfig
from agent.errors import CommandFailed, ConfigError, ProtocolError

__all__ = [
    "DOCUMENT",
    "ChainCLI",
    "SignedTx",
    "TxArgs",
    "TxResult",
    "proposal_args",
    "vote_args",
    "SIGN_SCRIPT",
]

log = structlog.get_logger("agent.adapters.chaincli")

# Where the sign script writes ``TxArgs.document`` (a proposal file) before the build.
DOCUMENT = "/tmp/proposal.json"

# Build, sign and encode in one offline container. Every value arrives as a positional
# parameter (never spliced into the script, so no quoting can go wrong), the tx
# arguments last ("$@"); $1 is the chain's binary. Only `tx sign` reads stdin: the file
# keyring asks for its password once per process (a wrong one is asked again, up to
# three times, and then reads EOF). `--chain-id ""` on the build step: the CLI refuses
# a chain id together with --offline --generate-only, and a desk's client.toml usually
# sets one. A non-empty $10 is written to /tmp/proposal.json first (a proposal file).
SIGN_SCRIPT = r"""set -e
bin=$1 from=$2 key=$3 acc=$4 seq=$5 chain=$6 gas=$7 home=$8 backend=$9 doc=${10}
shift 10
if [ -n "$doc" ]; then printf '%s' "$doc" >/tmp/proposal.json; fi
"$bin" tx "$@" --from "$from" --generate-only --offline \
  --account-number "$acc" --sequence "$seq" --chain-id "" --gas "$gas" \
  --home "$home" --output json </dev/null >/tmp/unsigned.json
"$bin" tx sign /tmp/unsigned.json --from "$key" --offline \
  --account-number "$acc" --sequence "$seq" --chain-id "$chain" \
  --keyring-backend "$backend" --keyring-dir "$home/keys" --home "$home" \
  --output-document /tmp/signed.json
"$bin" tx encode /tmp/signed.json --home "$home" </dev/null
"""


class TxArgs(list[str]):
    """``tx`` arguments, and the content of a file they name (``DOCUMENT``), if any."""

    def __init__(self, args: list[str], document: str = "") -> None:
        super().__init__(args)
        self.document = document


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


def proposal_args(
    name: str,
    height: int,
    summary: str,
    deposit: str,
    *,
    line: SdkLine = DEFAULT_LINE,
    info: str = "{}",
    expedited: bool = False,
    prefix: str = "cosmos",
) -> TxArgs:
    """`tx` arguments of the software-upgrade proposal (plan ``name`` at ``height``) in
    the form the CLI of SDK ``line`` accepts (flags checked in the SDK source at each tag):

    * v0.45 (v0.45.16 x/upgrade/client/cli/tx.go NewCmdSubmitUpgradeProposal, registered
      under `gov submit-proposal` by the proposal handler): --title/--description/
      --deposit/--upgrade-height/--upgrade-info; there is no --no-validate.
    * v0.46, v0.47 (v0.46.16 and v0.47.17 x/upgrade/client/cli/tx.go
      NewCmdSubmitLegacyUpgradeProposal under `gov submit-legacy-proposal`; x/upgrade's
      own `tx upgrade` has no subcommand before 0.50): the same flags plus --no-validate
      (else the CLI parses the info as Cosmovisor JSON and fetches every URL). Needs the
      chain to register upgradeclient.LegacyProposalHandler (simapp does).
    * v0.50 (cosmossdk.io/x/upgrade v0.1.4 / v0.2.0 client/cli/tx.go
      NewCmdSubmitUpgradeProposal, SDK 0.50-0.53 alike): `upgrade software-upgrade` with
      --title/--summary/--deposit (x/gov AddGovPropFlagsToCmd) and --no-validate. It has
      no --expedited (commented out in x/gov/client/cli/util.go at v0.50.15 and v0.53.8),
      so an expedited proposal is `gov submit-proposal FILE` (x/gov/client/cli/util.go
      parseSubmitProposal: messages, metadata, deposit, title, summary, expedited) with
      the MsgSoftwareUpgrade signed by the gov module account.
    """
    if expedited and line != "v0.50":
        raise ConfigError("chain.expedited", True, f"SDK {line} has no expedited proposals")
    plan = ["--upgrade-height", str(height), "--upgrade-info", info]
    if line == "v0.45":
        return TxArgs(
            ["gov", "submit-proposal", "software-upgrade", name, *plan,
             "--title", name, "--description", summary, "--deposit", deposit]
        )  # fmt: skip
    if line in ("v0.46", "v0.47"):
        return TxArgs(
            ["gov", "submit-legacy-proposal", "software-upgrade", name, *plan,
             "--title", name, "--description", summary, "--deposit", deposit, "--no-validate"]
        )  # fmt: skip
    if expedited:
        message = {
            "@type": "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade",
            "authority": module_address("gov", prefix),
            "plan": {"name": name, "height": str(height), "info": info},
        }
        doc = {
            "messages": [message],
            "metadata": "",
            "deposit": deposit,
            "title": name,
            "summary": summary,
            "expedited": True,
        }
        return TxArgs(["gov", "submit-proposal", DOCUMENT], json.dumps(doc, sort_keys=True))
    return TxArgs(
        ["upgrade", "software-upgrade", name, *plan,
         "--title", name, "--summary", summary, "--deposit", deposit, "--no-validate"]
    )  # fmt: skip


def vote_args(proposal_id: int, option: str = "yes") -> list[str]:
    """`tx` arguments of a governance vote: `gov vote ID OPTION` on every line (x/gov
    client/cli/tx.go NewCmdVote at v0.45.16/v0.46.16/v0.47.17; autocli
    "vote [proposal-id] [option]" in x/gov/autocli.go at v0.50.15/v0.53.8)."""
    return ["gov", "vote", str(proposal_id), option]


class ChainCLI:
    """``sdk_line``: the chain's SDK line, for the proposal's command form; the
    configured one, or (``chain.sdk_line = "auto"``) v0.50 until the wiring sets the
    detected one."""

    def __init__(self, cfg: Config, password: str, sdk_line: SdkLine | None = None) -> None:
        self.cfg = cfg
        self._password = password
        self._addresses: dict[str, str] = {}
        configured = cfg.chain.sdk_line
        self.sdk_line: SdkLine = sdk_line or (DEFAULT_LINE if configured == "auto" else configured)

    @property
    def home(self) -> str:
        """The CLI home inside the container: where the desk is mounted."""
        return self.cfg.chain.cli_home

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
            argv += ["-v", f"{desk}:{self.home}"]
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
            f"{self.home}/keys",
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

    async def query(self, args: list[str], *, v2: bool, node: str | None = None) -> dict[str, Any]:
        """`<binary> query <args> --node <node> --output json`, in a container on the
        stack's network, with the v1 or v2 CLI image (a profile's declared read).
        ``node``: a Compose service on that network (default: the tx node)."""
        image = self.cfg.chain.cli_image_v2 if v2 else self.cfg.chain.cli_image_v1
        argv = self._docker(image, None, self.network)
        url = self.node_url if node is None else f"tcp://{node}:26657"
        argv += ["query", *args, "--node", url, "--output", "json"]
        r = await self._run(argv, secret=False)
        return _last_json(r.stdout)

    async def address(self, voter: VoterConfig) -> str:
        if voter.name not in self._addresses:
            c = self.cfg.chain
            argv = self._docker(c.cli_image_v1, await self._desk(voter), None, c.binary)
            argv += ["keys", "show", voter.key, "--address", *self._keyring(), "--home", self.home]
            r = await self._run(argv, secret=True)
            addr = r.stdout.strip().splitlines()[-1].strip() if r.stdout.strip() else ""
            check_address(addr, c.bech32_prefix, f"keys show {voter.key}")
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
        c = self.cfg.chain
        argv = self._docker(c.cli_image_v1, await self._desk(voter), self.network, c.binary)
        argv += ["tx", *args, *self._tx_flags(voter), "--home", self.home]
        r = await self._run(argv, secret=True)
        doc = _last_json(r.stdout)
        tx_hash = str(doc.get("txhash", ""))
        code = int(doc.get("code", 0) or 0)
        if not tx_hash:
            raise ProtocolError("broadcast returned no txhash")
        if code != 0:
            raise CommandFailed(argv[:8], code, f"tx rejected by CheckTx: {doc.get('raw_log', '')}")
        return TxResult(tx_hash, code, str(doc.get("raw_log", "")))

    def proposal_args(
        self, name: str, height: int, summary: str, line: SdkLine | None = None
    ) -> TxArgs:
        """`tx` arguments of the upgrade proposal in the form of ``line`` (default: this
        CLI's ``sdk_line``), with the configured deposit, info and expedited flag."""
        c = self.cfg.chain
        return proposal_args(
            name,
            height,
            summary,
            c.deposit,
            line=line or self.sdk_line,
            info=c.upgrade_info,
            expedited=c.expedited,
            prefix=c.bech32_prefix,
        )

    async def submit_upgrade(
        self, voter: VoterConfig, name: str, height: int, summary: str
    ) -> TxResult:
        args = self.proposal_args(name, height, summary)
        if args.document:
            raise ConfigError(
                "chain.expedited", True, "an expedited proposal is sent by sign-first only"
            )
        return await self._tx(voter, args)

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
            c.binary,
            address,
            voter.key,
            str(account_number),
            str(sequence),
            c.chain_id,
            c.gas,
            self.home,
            self.cfg.keyring.backend,
            args.document if isinstance(args, TxArgs) else "",
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


def check_address(address: str, prefix: str, what: str) -> str:
    """``address`` if it is an account address of ``prefix`` (``<prefix>1...``)."""
    if not address.startswith(prefix + "1") or len(address) < len(prefix) + 39:
        raise ProtocolError(f"{what}: not a {prefix}1... address: {address[-100:]!r}")
    return address


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
