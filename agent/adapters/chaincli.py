"""The chain CLI (checkersd), run in a throwaway container.

Transactions are signed from a voter's *desk*: the desk directory is mounted as
the CLI home, the keyring password is written to the CLI's stdin (never argv,
never logged), and the container joins the Compose project's public network to
reach the transaction node by its service name, as in the seed tutorial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from agent.adapters.process import CommandResult, run_command
from agent.config import Config, VoterConfig
from agent.errors import CommandFailed, ProtocolError

__all__ = ["ChainCLI", "TxResult"]

log = structlog.get_logger("agent.adapters.chaincli")

HOME_IN_CONTAINER = "/root/.checkers"


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    code: int
    raw_log: str


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

    def _docker(self, image: str, desk: Path | None, network: bool) -> list[str]:
        # The label lets a clean-up find a CLI container whose client was killed
        # between create and start (it then never reaches --rm).
        argv = ["docker", "run", "--rm", "-i", "--label", f"rehearse.cli={self.cfg.stack.project}"]
        if network:
            argv += ["--network", self.network]
        if desk is not None:
            argv += ["-v", f"{desk.resolve()}:{HOME_IN_CONTAINER}"]
        return argv + [image]

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

    async def address(self, voter: VoterConfig) -> str:
        if voter.name not in self._addresses:
            argv = self._docker(self.cfg.chain.cli_image_v1, self.cfg.path(voter.desk), False)
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
        argv = self._docker(self.cfg.chain.cli_image_v1, self.cfg.path(voter.desk), True)
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

    async def submit_upgrade(
        self, voter: VoterConfig, name: str, height: int, summary: str
    ) -> TxResult:
        return await self._tx(
            voter,
            [
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
                self.cfg.chain.deposit,
                "--no-validate",
            ],
        )

    async def vote(self, voter: VoterConfig, proposal_id: int, option: str = "yes") -> TxResult:
        return await self._tx(voter, ["gov", "vote", str(proposal_id), option])

    async def show_leaderboard(self) -> dict[str, Any]:
        """`query checkers show-leaderboard --output json` with the v2 CLI."""
        argv = self._docker(self.cfg.chain.cli_image_v2, None, True)
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
