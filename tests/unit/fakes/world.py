"""A world: one fake chain and every client onto it, in an ExecContext."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from agent.adapters.clock import FakeClock
from agent.adapters.docker import Docker
from agent.config import Config
from agent.core.chainview import ChainView
from agent.core.machine import State
from agent.core.observations import NewBlock
from agent.runtime.executors.context import ExecContext
from agent.runtime.executors.settings import ExecSettings
from fakes.chain import FakeChain
from fakes.clients import FakeCLI, FakeLedger, FakeRest, FakeRPC, hook_ledger
from fakes.config import GENESIS, make_config
from fakes.docker import CommandRecorder, FakeCompose


@dataclass
class World:
    """A fake chain with every adapter the executors use, and an ExecContext on it."""

    cfg: Config
    chain: FakeChain
    view: ChainView
    cli: FakeCLI
    rest: FakeRest
    compose: FakeCompose
    rpcs: dict[str, FakeRPC]
    ledger: Any
    clock: FakeClock
    ctx: ExecContext
    reports: list[State]
    commands: CommandRecorder  # every program and docker call the context runs


def make_world(
    base_dir: Path,
    *,
    ledger: Any = None,
    height: int = 10,
    extra: dict[str, Any] | None = None,
    profile: bool = True,
) -> World:
    cfg = make_config(base_dir, extra, profile=profile)
    names = [n.name for n in cfg.nodes]
    chain = FakeChain(names, height=height)
    view = ChainView(names)
    chain.views.append(view)
    for n in cfg.nodes:
        # Three blocks seen: the block time is measured (two gaps), as when the
        # machine asks for a proposal.
        for h in range(max(1, height - 2), height + 1):
            view.observe(NewBlock(n.name, h, chain.block_time(h), GENESIS + h))
        cid = f"cid-{n.service or n.name}"
        chain.containers[n.service or n.name] = cid
        chain.links[cid] = f"{cfg.chain.daemon_home}/cosmovisor/upgrades/{cfg.chain.upgrade_name}"
    cli, rest, compose = FakeCLI(chain), FakeRest(chain), FakeCompose(chain)
    rpcs = {n: FakeRPC(chain, n) for n in names}
    clock = FakeClock(wall=GENESIS + 100)
    reports: list[State] = []

    async def write_report(state: State) -> Path:
        reports.append(state)
        return base_dir / "report.json"

    async def wait_blocks(n: int) -> None:
        await anyio.lowlevel.checkpoint()
        chain.advance(n)
        await chain.hit("block")

    commands = CommandRecorder(chain)
    ledger = FakeLedger() if ledger is None else ledger
    hook_ledger(ledger, chain)
    ctx = ExecContext(
        ExecSettings.of(cfg),
        compose=compose,  # type: ignore[arg-type]
        cli=cli,  # type: ignore[arg-type]
        rpcs=rpcs,  # type: ignore[arg-type]
        rest=rest,  # type: ignore[arg-type]
        view=view,
        ledger=ledger,
        clock=clock,
        write_report=write_report,
        wait_blocks=wait_blocks,
        docker=Docker(commands),
        run=commands,
    )
    return World(cfg, chain, view, cli, rest, compose, rpcs, ledger, clock, ctx, reports, commands)
