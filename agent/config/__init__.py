"""Configuration: config.toml, validated before anything runs.

``schema`` holds the pydantic models (strict, unknown keys refused), ``load``
reads the file and turns validation errors into ``ConfigError``.
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
