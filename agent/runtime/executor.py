"""Executors: perform one action, reconcile it with the chain, return a fact.

Every executor is idempotent against the chain, because after a kill -9 the
machine re-issues whatever had not completed:

- ``SubmitProposal`` first looks for a proposal for the same plan on chain,
  then for a proposal transaction it broadcast earlier (the tx ledger), and
  submits only when neither exists;
- ``CastVote`` first asks the chain for the voter's vote, then the ledger.

Failures are returned as ``ActionFailed`` facts with the reason; an executor
never raises into the task group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog

from agent import checkers
from agent.adapters.chaincli import ChainCLI
from agent.adapters.clock import Clock
from agent.adapters.compose import Compose
from agent.adapters.ledger import TxLedger
from agent.adapters.process import run_command
from agent.adapters.rest import RestClient
from agent.adapters.rpc import CometRPC
from agent.config import Config, VoterConfig
from agent.core.actions import (
    Action,
    CaptureBaseline,
    CastVote,
    LaunchStack,
    RestartOnV2,
    SubmitProposal,
    VerifyRestart,
    VerifyUpgrade,
    WriteReport,
)
from agent.core.chainview import ChainView, parse_rfc3339
from agent.core.facts import (
    ActionFailed,
    BaselineCaptured,
    Check,
    Fact,
    ProposalSubmitted,
    ReportWritten,
    RestartVerified,
    StackLaunched,
    StackRestarted,
    UpgradeVerified,
    VoteCast,
)
from agent.core.machine import State
from agent.core.policy import UpgradeHeightPolicy
from agent.errors import AgentError, ProtocolError, TransientError

__all__ = ["Executor"]

log = structlog.get_logger("agent.runtime.executor")

T = TypeVar("T")

_OPEN = {
    "PROPOSAL_STATUS_DEPOSIT_PERIOD",
    "PROPOSAL_STATUS_VOTING_PERIOD",
    "PROPOSAL_STATUS_PASSED",
}


class Executor:
    def __init__(
        self,
        cfg: Config,
        *,
        compose: Compose,
        cli: ChainCLI,
        rpcs: dict[str, CometRPC],
        rest: RestClient,
        view: ChainView,
        ledger: TxLedger,
        clock: Clock,
        write_report: Callable[[State], Awaitable[Path]],
        wait_blocks: Callable[[int], Awaitable[None]],
    ) -> None:
        self.cfg = cfg
        self.compose = compose
        self.cli = cli
        self.rpcs = rpcs
        self.rest = rest
        self.view = view
        self.ledger = ledger
        self.clock = clock
        self.write_report = write_report
        # Waits until `n` more blocks were seen (driven by NewBlock, not a sleep loop).
        self.wait_blocks = wait_blocks
        t = cfg.timing
        self.height_policy = UpgradeHeightPolicy(t.height_margin_seconds, t.min_blocks_ahead)

    @property
    def tx_rpc(self) -> CometRPC:
        return self.rpcs.get(self.cfg.chain.tx_node) or next(iter(self.rpcs.values()))

    def _files(self, overlay: str) -> list[str]:
        return [self.cfg.stack.base_file, overlay]

    def _fact_kw(self) -> dict[str, Any]:
        return {"height": self.view.max_height, "at": self.clock.wall()}

    async def run(self, action: Action, state: State) -> Fact:
        """Perform ``action``; never raises (except cancellation)."""
        log.info("action_start", action=action.key, height=self.view.max_height)
        try:
            fact = await self._dispatch(action, state)
        except AgentError as exc:
            log.warning("action_failed", action=action.key, error=str(exc))
            return ActionFailed(action.key, str(exc), **self._fact_kw())
        except Exception as exc:  # a bug must fail the rehearsal, not kill the daemon
            log.exception("action_crashed", action=action.key)
            return ActionFailed(action.key, f"internal error: {exc!r}", **self._fact_kw())
        log.info(
            "action_done", action=action.key, fact=type(fact).__name__, height=self.view.max_height
        )
        return fact

    async def _dispatch(self, action: Action, state: State) -> Fact:
        match action:
            case LaunchStack():
                return await self._launch(action)
            case SubmitProposal():
                return await self._submit(action, state)
            case CastVote():
                return await self._vote(action, state)
            case CaptureBaseline():
                return await self._baseline()
            case VerifyUpgrade():
                return await self._verify_upgrade(action, state)
            case RestartOnV2():
                return await self._restart(state)
            case VerifyRestart():
                return await self._verify_restart(action, state)
            case WriteReport():
                path = await self.write_report(state)
                return ReportWritten(str(path), **self._fact_kw())
        raise ProtocolError(f"no executor for {action!r}")

    # --- launch and restart ----------------------------------------------------

    async def _launch(self, action: LaunchStack) -> Fact:
        s = self.cfg.stack
        await self.compose.down([s.base_file, s.cosmovisor_file])
        env = {"REHEARSE_TESTNET_DIR": str(self.cfg.testnet_dir)}
        if action.reset:
            await run_command(
                s.reset_command,
                deadline=self.cfg.timing.command_timeout,
                env=env,
                cwd=self.cfg.base_dir,
            )
        await run_command(s.ports_check_command, deadline=60, env=env, cwd=self.cfg.base_dir)
        await self.compose.up([s.base_file, s.cosmovisor_file])
        return StackLaunched(**self._fact_kw())

    async def _restart(self, state: State) -> Fact:
        s = self.cfg.stack
        last = self.view.max_height
        balances = await self._balances()
        board = await self._stored_leaderboard()
        await self.compose.down([s.base_file, s.cosmovisor_file])
        await self.compose.up([s.base_file, s.v2_file])
        return StackRestarted(
            last_height=last, balances=balances, leaderboard=tuple(board), **self._fact_kw()
        )

    # --- governance -------------------------------------------------------------

    @property
    def proposer(self) -> VoterConfig:
        return self.cfg.voters[0]

    def _voter(self, name: str) -> VoterConfig:
        for v in self.cfg.voters:
            if v.name == name:
                return v
        raise ProtocolError(f"unknown voter {name!r}")

    async def _find_proposal(self, name: str) -> tuple[int, int, float | None] | None:
        for p in await self.rest.proposals():
            if p.upgrade_plan and p.upgrade_plan.name == name and p.status in _OPEN:
                return p.id, p.upgrade_plan.height, parse_rfc3339(p.voting_end_time)
        return None

    async def _submit(self, action: SubmitProposal, state: State) -> Fact:
        found = await self._find_proposal(action.upgrade_name)
        if found is None:
            # A broadcast from before a crash may still be on its way into a block.
            for tx_hash in await self.ledger.find(state.rehearsal_id, "submit_proposal"):
                if await self._tx_included(tx_hash, blocks=3) is not None:
                    found = await self._find_proposal(action.upgrade_name)
                    break
        if found is not None:
            pid, height, end = found
            log.info("proposal_reused", proposal_id=pid, upgrade_height=height)
            return ProposalSubmitted(
                pid, "", height, reused=True, voting_end=end, **self._fact_kw()
            )

        height = max(
            action.upgrade_height,
            self.height_policy.height(
                self.view.max_height, action.block_interval, action.voting_period
            ),
        )
        tx = await self.cli.submit_upgrade(
            self.proposer,
            action.upgrade_name,
            height,
            f"Rehearsal {state.rehearsal_id}: upgrade to {action.upgrade_name}",
        )
        await self.ledger.record(state.rehearsal_id, "submit_proposal", tx.tx_hash)
        log.info("proposal_broadcast", tx_hash=tx.tx_hash, upgrade_height=height)
        result = await self._tx_included(tx.tx_hash, blocks=10)
        if result is None:
            raise TransientError(f"proposal tx {tx.tx_hash} not included within 10 blocks")
        code, events = result
        if code != 0:
            raise ProtocolError(f"proposal tx {tx.tx_hash} failed with code {code}")
        pid_attr = _event_attr(events, "submit_proposal", "proposal_id")
        if pid_attr is None:
            raise ProtocolError(f"proposal tx {tx.tx_hash} has no proposal_id event")
        proposal = await self.rest.proposal(int(pid_attr))
        end = parse_rfc3339(proposal.voting_end_time) if proposal else None
        return ProposalSubmitted(
            int(pid_attr), tx.tx_hash, height, voting_end=end, **self._fact_kw()
        )

    async def _vote(self, action: CastVote, state: State) -> Fact:
        voter = self._voter(action.voter)
        address = await self.cli.address(voter)
        kind = f"vote:{voter.name}:{action.proposal_id}"
        if await self.rest.vote(action.proposal_id, address) is not None:
            return VoteCast(voter.name, action.proposal_id, "", reused=True, **self._fact_kw())
        for tx_hash in await self.ledger.find(state.rehearsal_id, kind):
            r = await self._tx_included(tx_hash, blocks=3)
            if r is not None and r[0] == 0:
                return VoteCast(
                    voter.name, action.proposal_id, tx_hash, reused=True, **self._fact_kw()
                )
        tx = await self.cli.vote(voter, action.proposal_id, "yes")
        await self.ledger.record(state.rehearsal_id, kind, tx.tx_hash)
        log.info("vote_broadcast", voter=voter.name, tx_hash=tx.tx_hash)
        r = await self._tx_included(tx.tx_hash, blocks=10)
        if r is None:
            raise TransientError(f"vote tx {tx.tx_hash} not included within 10 blocks")
        if r[0] != 0:
            raise ProtocolError(f"vote tx {tx.tx_hash} failed with code {r[0]}")
        return VoteCast(voter.name, action.proposal_id, tx.tx_hash, **self._fact_kw())

    async def _tx_included(
        self, tx_hash: str, *, blocks: int
    ) -> tuple[int, list[dict[str, Any]]] | None:
        """(code, events) once the tx is in a block; None if not within ``blocks``."""
        for _ in range(blocks + 1):
            found = await self._lookup_tx(tx_hash)
            if found is not None:
                return found
            await self.wait_blocks(1)
        return None

    async def _lookup_tx(self, tx_hash: str) -> tuple[int, list[dict[str, Any]]] | None:
        rpc = self.tx_rpc
        lookup = getattr(rpc, "tx", None)
        if lookup is None:
            raise ProtocolError("the RPC client cannot look up transactions")
        result: dict[str, Any] | None = await lookup(tx_hash)
        if result is None:
            return None
        tx_result = result.get("tx_result", {})
        return int(tx_result.get("code", 0) or 0), list(tx_result.get("events", []))

    # --- state reads ----------------------------------------------------------------

    async def _players(self) -> list[checkers.PlayerInfo]:
        return await self._on_next_blocks("player_infos", self._read_players)

    async def _read_players(self) -> list[checkers.PlayerInfo]:
        raw = await self.tx_rpc.abci_query("/store/checkers/subspace", checkers.PLAYER_PREFIX)
        return checkers.parse_players(checkers.decode_kv_pairs(raw or b""))

    async def _stored_leaderboard(self) -> list[tuple[str, int]]:
        return await self._on_next_blocks("leaderboard", self._read_leaderboard)

    async def _read_leaderboard(self) -> list[tuple[str, int]]:
        raw = await self.tx_rpc.abci_query("/store/checkers/key", checkers.LEADERBOARD_KEY)
        if raw is None:
            raise ProtocolError("no leaderboard in the checkers store")
        return checkers.parse_leaderboard(raw)

    async def _on_next_blocks(
        self, what: str, fn: Callable[[], Awaitable[T]], blocks: int = 5
    ) -> T:
        """Call ``fn``; on an error, retry on each of the next ``blocks`` blocks.

        A node that just restarted answers REST queries with "invalid height"
        until its first new block is committed; this absorbs that without a sleep.
        """
        for attempt in range(blocks + 1):
            try:
                return await fn()
            except AgentError as exc:
                if attempt == blocks:
                    raise
                log.info("read_retry", what=what, error=str(exc)[:200], attempt=attempt + 1)
                await self.wait_blocks(1)
        raise AssertionError("unreachable")

    async def _balances(self) -> tuple[tuple[str, int], ...]:
        return await self._on_next_blocks("balances", self._read_balances)

    async def _read_balances(self) -> tuple[tuple[str, int], ...]:
        out = []
        for v in self.cfg.voters:
            addr = await self.cli.address(v)
            out.append((addr, await self.rest.balance(addr, self.cfg.chain.denom)))
        return tuple(out)

    async def _baseline(self) -> Fact:
        players = await self._players()
        info = await self.tx_rpc.abci_info()
        return BaselineCaptured(
            players=tuple((p.index, p.won, p.lost, p.forfeited) for p in players),
            balances=await self._balances(),
            app_version=info.app_version,
            **self._fact_kw(),
        )

    # --- verification ---------------------------------------------------------------

    async def _current_link(self, service: str, ids: dict[str, str]) -> str:
        cid = ids.get(service)
        if cid is None:
            raise TransientError(f"no running container for {service}")
        link = f"{self.cfg.chain.daemon_home}/cosmovisor/current"
        r = await run_command(["docker", "exec", cid, "readlink", link], deadline=30)
        return r.stdout.strip()

    async def _verify_upgrade(self, action: VerifyUpgrade, state: State) -> Fact:
        checks: list[Check] = []
        name, h = action.upgrade_name, action.upgrade_height

        want = f"upgrades/{name.lower()}"
        links = {}
        ids = await self.compose.container_ids()
        for n in self.cfg.nodes:
            try:
                links[n.name] = await self._current_link(n.service or n.name, ids)
            except AgentError as exc:
                links[n.name] = f"error: {exc}"
        bad = [f"{k} -> {v}" for k, v in links.items() if not v.rstrip("/").endswith(want)]
        checks.append(Check("cosmovisor_current", not bad, "; ".join(bad) or f"all -> {want}"))

        applied = await self.rest.applied_plan(name)
        checks.append(
            Check("applied_plan_height", applied == h, f"applied at {applied}, planned {h}")
        )

        before = state.baseline.app_version if state.baseline else None
        versions = {n: (await r.abci_info()) for n, r in self.rpcs.items()}
        changed = all(before is not None and v.app_version != before for v in versions.values())
        checks.append(
            Check(
                "app_version_changed",
                changed,
                f"before {before}; after "
                + ", ".join(f"{n}={v.app_version} ({v.version})" for n, v in versions.items()),
            )
        )

        expected = checkers.expected_leaderboard(
            [checkers.PlayerInfo(*p) for p in (state.baseline.players if state.baseline else ())]
        )
        try:
            cli_board = checkers.parse_leaderboard(await self.cli.show_leaderboard())
            checks.append(
                Check(
                    "leaderboard_cli",
                    cli_board == expected,
                    f"got {cli_board}, expected {expected}",
                )
            )
        except AgentError as exc:
            checks.append(Check("leaderboard_cli", False, f"show-leaderboard failed: {exc}"))
        if state.baseline is None:
            checks.append(
                Check("baseline", False, "player infos were never read before the upgrade")
            )

        # State after executing block h (the migration) is in block h+1's app hash.
        target = h + 1
        await self._wait_all_at(target)
        hashes = {n: (await r.block_header(target)).app_hash for n, r in self.rpcs.items()}
        agree = len(set(hashes.values())) == 1
        checks.append(
            Check(
                "app_hash_agree",
                agree,
                f"at {target}: " + ", ".join(f"{n}={v[:12]}" for n, v in hashes.items()),
            )
        )
        return UpgradeVerified(tuple(checks), **self._fact_kw())

    async def _wait_all_at(self, height: int) -> None:
        while not self.view.all_above(height - 1):
            await self.wait_blocks(1)

    async def _verify_restart(self, action: VerifyRestart, state: State) -> Fact:
        checks: list[Check] = []
        heights = {n: nv.height for n, nv in self.view.nodes.items()}
        above = all(h > action.last_height for h in heights.values())
        checks.append(
            Check(
                "blocks_resumed",
                above,
                f"last before restart {action.last_height}; now "
                + ", ".join(f"{n}={h}" for n, h in heights.items()),
            )
        )
        board = await self._stored_leaderboard()
        kept = board == list(state.restart_leaderboard) and bool(
            state.restart_leaderboard or board == []
        )
        checks.append(
            Check(
                "leaderboard_kept", kept, f"before {list(state.restart_leaderboard)}, after {board}"
            )
        )
        balances = await self._balances()
        checks.append(
            Check(
                "balances_kept",
                balances == state.restart_balances,
                f"before {list(state.restart_balances)}, after {list(balances)}",
            )
        )
        return RestartVerified(tuple(checks), **self._fact_kw())


def _event_attr(events: Sequence[dict[str, Any]], etype: str, key: str) -> str | None:
    for e in events:
        if e.get("type") != etype:
            continue
        for a in e.get("attributes", []):
            if a.get("key") == key:
                return str(a.get("value"))
    return None
