"""The chain CLI (``chain.binary``), run in long-lived CLI containers ("boxes").

Transactions are signed at a voter's *desk*: the desk directory is mounted as the
CLI home of a box with no network at all, and the keyring password is written to
the CLI's stdin (never argv, never logged). Reads run in a box on the Compose
project's public network and reach a node by its service name, as in the seed
tutorial. Each call is a ``docker exec`` into its box (``agent.adapters.clibox``).

Sign-first (``sign``): the transaction is built, signed and encoded offline, so its
hash is known (and can be recorded) before anything is sent; the bytes are then
broadcast over RPC (``HttpCometRPC.broadcast_tx_sync``), and sending the same bytes
again after a crash cannot make a second transaction.

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

from agent.adapters.clibox import Box, Boxes, gone
from agent.adapters.process import CommandResult, CommandRunner, run_command
from agent.adapters.rpc import tx_hash
from agent.adapters.sdk import DEFAULT_LINE, SdkLine, module_address
from agent.config import ChainConfig, Config, VoterConfig
from agent.errors import CommandFailed, ConfigError, ProtocolError

__all__ = [
    "CliSettings",
    "DOCUMENT",
    "ChainCLI",
    "SignedTx",
    "TxArgs",
    "build_chain_id",
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
# three times, and then reads EOF). The build step's chain id is $11
# (``build_chain_id``): SDK v0.46 and later refuse one together with --offline
# --generate-only (client/tx/factory.go BuildUnsignedTx), so it is "" there, overriding
# a desk's client.toml; v0.45 requires one. A non-empty $10 is written to
# /tmp/proposal.json first (a proposal file).
# The box outlives the call: the work files go to a directory of this shell's own.
SIGN_SCRIPT = r"""set -e
bin=$1 from=$2 key=$3 acc=$4 seq=$5 chain=$6 gas=$7 home=$8 backend=$9 doc=${10}
build_chain=${11}
shift 11
t=/tmp/sign.$$
rm -rf "$t"; mkdir "$t"; trap 'rm -rf "$t"' EXIT
if [ -n "$doc" ]; then printf '%s' "$doc" >/tmp/proposal.json; fi
"$bin" tx "$@" --from "$from" --generate-only --offline \
  --account-number "$acc" --sequence "$seq" --chain-id "$build_chain" --gas "$gas" \
  --home "$home" --output json </dev/null >"$t/unsigned.json"
"$bin" tx sign "$t/unsigned.json" --from "$key" --offline \
  --account-number "$acc" --sequence "$seq" --chain-id "$chain" \
  --keyring-backend "$backend" --keyring-dir "$home/keys" --home "$home" \
  --output-document "$t/signed.json"
"$bin" tx encode "$t/signed.json" --home "$home" </dev/null
"""


class TxArgs(list[str]):
    """``tx`` arguments, and the content of a file they name (``DOCUMENT``), if any."""

    def __init__(self, args: list[str], document: str = "") -> None:
        super().__init__(args)
        self.document = document


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


def build_chain_id(line: SdkLine, chain_id: str) -> str:
    """The chain id of the offline build step (``tx ... --generate-only --offline``):
    SDK v0.45's BuildUnsignedTx requires one ("chain ID required but not specified");
    from v0.46 on it refuses one in that mode ("chain ID cannot be used when offline and
    generate-only flags are set"), so the flag is set empty, over a client.toml's."""
    return chain_id if line == "v0.45" else ""


def vote_args(proposal_id: int, option: str = "yes") -> list[str]:
    """`tx` arguments of a governance vote: `gov vote ID OPTION` on every line (x/gov
    client/cli/tx.go NewCmdVote at v0.45.16/v0.46.16/v0.47.17; autocli
    "vote [proposal-id] [option]" in x/gov/autocli.go at v0.50.15/v0.53.8)."""
    return ["gov", "vote", str(proposal_id), option]


@dataclass(frozen=True, slots=True)
class CliSettings:
    """What the chain CLI needs of the configuration, and nothing more."""

    chain: ChainConfig
    keyring_backend: str
    project: str  # the Compose project: the boxes' label and the network's prefix
    command_timeout: float
    voters: tuple[VoterConfig, ...]
    base_dir: Path  # voters' desks are relative to it

    def desk(self, voter: VoterConfig) -> Path:
        """The voter's desk directory, as the configuration resolves it."""
        q = Path(voter.desk).expanduser()
        return q if q.is_absolute() else self.base_dir / q

    @classmethod
    def of(cls, cfg: Config) -> CliSettings:
        return cls(cfg.chain, cfg.keyring.backend, cfg.stack.project,
                   cfg.timing.command_timeout, tuple(cfg.voters), cfg.base_dir)  # fmt: skip


class ChainCLI:
    """``sdk_line``: the chain's SDK line, for the proposal's command form; the
    configured one, or (``chain.sdk_line = "auto"``) v0.50 until the wiring sets the
    detected one. Every call runs in a long-lived box (``agent.adapters.clibox``):
    a voter's desk box has no network; a query box sits on the stack's network."""

    def __init__(
        self,
        settings: CliSettings,
        password: str,
        sdk_line: SdkLine | None = None,
        *,
        boxes: Boxes | None = None,
        run: CommandRunner = run_command,
    ) -> None:
        self.s = settings
        self._run_command = run
        self._password = password
        self._addresses: dict[str, str] = {}
        configured = settings.chain.sdk_line
        self.sdk_line: SdkLine = sdk_line or (DEFAULT_LINE if configured == "auto" else configured)
        self.boxes = boxes or Boxes(settings.project, deadline=settings.command_timeout, run=run)

    @classmethod
    def for_config(
        cls,
        cfg: Config,
        password: str,
        sdk_line: SdkLine | None = None,
        *,
        boxes: Boxes | None = None,
        run: CommandRunner = run_command,
    ) -> ChainCLI:
        return cls(CliSettings.of(cfg), password, sdk_line, boxes=boxes, run=run)

    @property
    def home(self) -> str:
        """The CLI home inside the container: where the desk is mounted."""
        return self.s.chain.cli_home

    @property
    def network(self) -> str:
        return f"{self.s.project}_{self.s.chain.cli_network}"

    @property
    def node_url(self) -> str:
        return f"tcp://{self.s.chain.tx_node}:26657"

    def desk_box(self, desk: Path) -> Box:
        """The box a voter signs in: the v1 CLI, the desk (absolute) mounted, no network."""
        return Box(self.s.chain.cli_image_v1, "none", desk, self.home)

    def query_box(self, *, v2: bool) -> Box:
        """The box reads run in: the v1 or v2 CLI on the stack's public network."""
        c = self.s.chain
        return Box(c.cli_image_v2 if v2 else c.cli_image_v1, self.network)

    async def _desk(self, voter: VoterConfig) -> Path:
        """The voter's desk as an absolute, symlink-free path (the file system is
        asked off the event loop)."""
        return await anyio.to_thread.run_sync(self.s.desk(voter).resolve)

    def _keyring(self) -> list[str]:
        return [
            "--keyring-backend",
            self.s.keyring_backend,
            "--keyring-dir",
            f"{self.home}/keys",
        ]

    async def _run(self, box: Box, command: list[str], *, secret: bool) -> CommandResult:
        """``command`` in ``box``; once more in a new box if the box itself was gone."""
        for attempt in (1, 2):
            argv = [*await self.boxes.exec_prefix(box), *command]
            try:
                return await self._run_command(
                    argv,
                    deadline=self.s.command_timeout,
                    stdin_secret=self._password if secret else None,
                )
            except CommandFailed as exc:
                if attempt == 2 or not gone(exc):
                    raise
                log.info("cli_box_gone", image=box.image, network=box.network)
                self.boxes.forget(box)
        raise AssertionError("unreachable")

    async def warm(self, *, voters: bool = True, v1: bool = False, v2: bool = False) -> None:
        """Start the boxes the next calls will need (each start costs about what a
        throwaway container did; done ahead, the calls themselves only exec)."""
        boxes = [self.desk_box(await self._desk(v)) for v in self.s.voters] if voters else []
        if v1:
            boxes.append(self.query_box(v2=False))
        if v2:
            boxes.append(self.query_box(v2=True))
        await self.boxes.warm(*boxes)

    async def release_network(self) -> None:
        """Remove the query boxes on the stack's network (before Compose takes it down)."""
        await self.boxes.remove_on(self.network)

    async def aclose(self) -> None:
        """Remove the boxes this CLI started (``contextlib.aclosing``)."""
        await self.boxes.close()

    @property
    def addresses(self) -> dict[str, str]:
        """Voter name -> address, as resolved so far (journaled for a fast resume)."""
        return dict(self._addresses)

    def remember(self, addresses: dict[str, str]) -> None:
        """Addresses resolved by an earlier run of this rehearsal."""
        self._addresses.update(addresses)

    async def query(self, args: list[str], *, v2: bool, node: str | None = None) -> dict[str, Any]:
        """`<binary> query <args> --node <node> --output json` in the v1 or v2 query
        box (a profile's declared read). ``node``: a Compose service on the stack's
        network (default: the tx node)."""
        url = self.node_url if node is None else f"tcp://{node}:26657"
        command = [self.s.chain.binary, "query", *args, "--node", url, "--output", "json"]
        r = await self._run(self.query_box(v2=v2), command, secret=False)
        return _last_json(r.stdout)

    async def address(self, voter: VoterConfig) -> str:
        if voter.name not in self._addresses:
            c = self.s.chain
            command = [c.binary, "keys", "show", voter.key, "--address", *self._keyring()]
            command += ["--home", self.home]
            r = await self._run(self.desk_box(await self._desk(voter)), command, secret=True)
            addr = r.stdout.strip().splitlines()[-1].strip() if r.stdout.strip() else ""
            check_address(addr, c.bech32_prefix, f"keys show {voter.key}")
            self._addresses[voter.name] = addr
        return self._addresses[voter.name]

    def proposal_args(
        self, name: str, height: int, summary: str, line: SdkLine | None = None, *, info: str = ""
    ) -> TxArgs:
        """`tx` arguments of the upgrade proposal in the form of ``line`` (default: this
        CLI's ``sdk_line``), with the configured deposit, info (``info``: a scenario's,
        over it) and expedited flag."""
        c = self.s.chain
        return proposal_args(
            name,
            height,
            summary,
            c.deposit,
            line=line or self.sdk_line,
            info=info or c.upgrade_info,
            expedited=c.expedited,
            prefix=c.bech32_prefix,
        )

    def sign_command(
        self,
        voter: VoterConfig,
        args: list[str],
        *,
        address: str,
        account_number: int,
        sequence: int,
    ) -> list[str]:
        """The command of ``sign`` in the voter's desk box (``desk_box``): no secret
        in it (stdin carries the password)."""
        c = self.s.chain
        if c.gas == "auto":
            raise ConfigError(
                "chain.gas",
                c.gas,
                "sign-first transactions are signed offline and cannot simulate: "
                'set a fixed gas limit (e.g. "400000")',
            )
        if account_number < 0 or sequence < 0:
            raise ValueError(f"account {account_number} / sequence {sequence} must be >= 0")
        return [
            "sh",
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
            self.s.keyring_backend,
            args.document if isinstance(args, TxArgs) else "",
            build_chain_id(self.sdk_line, c.chain_id),
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
        command = self.sign_command(
            voter, args, address=address, account_number=account_number, sequence=sequence
        )
        r = await self._run(self.desk_box(await self._desk(voter)), command, secret=True)
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
