"""Configuration: config.toml, validated before anything runs.

``schema`` holds the pydantic models of the sections (strict, unknown keys
refused), with ``checks`` (reads and declared checks), ``state`` (transactions
before the upgrade), ``watch`` (watchdog, metrics, alerts) and ``rules`` (rules
across sections); ``load`` reads the file, fills what a ``[kit]`` implies, and
turns validation errors into ``ConfigError``.
"""

from __future__ import annotations

from agent.config.load import load_config, parse_config, read_password
from agent.config.schema import (
    AgentConfig,
    ChainConfig,
    Config,
    KeyringConfig,
    NodeConfig,
    StackConfig,
    TimingConfig,
    VoterConfig,
    height_policy,
)

__all__ = [
    "Config",
    "StackConfig",
    "ChainConfig",
    "NodeConfig",
    "VoterConfig",
    "KeyringConfig",
    "TimingConfig",
    "AgentConfig",
    "height_policy",
    "load_config",
    "parse_config",
    "read_password",
]
