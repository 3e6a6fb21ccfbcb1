"""What the executors read of the configuration, taken from it once.

The executors get these typed settings, not the whole ``Config``: the sections
they act on, the declared reads and checks already turned into the core's specs,
and the paths and environment of the stack's commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agent.config import ChainConfig, Config, NodeConfig, StackConfig, TimingConfig, VoterConfig
from agent.config.state import StateTxConfig
from agent.core.checks import CheckSpec, ReadSpec, reads_needed

__all__ = ["ExecSettings"]


@dataclass(frozen=True)
class ExecSettings:
    chain: ChainConfig
    stack: StackConfig
    nodes: tuple[NodeConfig, ...]
    voters: tuple[VoterConfig, ...]
    timing: TimingConfig
    verify_disabled: frozenset[str]  # built-in checks the profile turned off
    state_txs: tuple[StateTxConfig, ...]  # the declared transactions before the proposal
    reads: Mapping[str, ReadSpec]  # the declared reads, by name
    checks: tuple[CheckSpec, ...]  # the declared checks
    base_dir: Path  # where the profile lives: the stack's commands and programs run there
    stack_env: Mapping[str, str]  # the environment the profile gives the stack's commands

    @classmethod
    def of(cls, cfg: Config) -> ExecSettings:
        return cls(
            chain=cfg.chain,
            stack=cfg.stack,
            nodes=tuple(cfg.nodes),
            voters=tuple(cfg.voters),
            timing=cfg.timing,
            verify_disabled=frozenset(cfg.verify.disable),
            state_txs=tuple(cfg.state.txs),
            reads={
                r.name: ReadSpec(r.name, r.kind, r.path, r.data, tuple(r.args), r.binary)
                for r in cfg.reads
            },
            checks=tuple(
                CheckSpec(
                    c.name,
                    c.stage,
                    c.read,
                    c.json_path,
                    c.expect,
                    c.value,
                    c.min,
                    c.max,
                    tuple(c.program),
                    tuple(c.reads),
                    tuple(c.baseline_reads),
                    tuple(c.upgraded_reads),
                )
                for c in cfg.checks
            ),
            base_dir=cfg.base_dir,
            stack_env=dict(cfg.stack_env),
        )

    def cli_binaries_read(self) -> set[str]:
        """Which CLI binaries ("v1", "v2") some check's read runs (their boxes to warm)."""
        needed = {n for stage in ("baseline", "upgraded", "restarted")
                  for n in reads_needed(self.checks, stage)}  # fmt: skip
        specs = self.reads
        return {specs[n].binary for n in needed if n in specs and specs[n].kind == "cli"}
