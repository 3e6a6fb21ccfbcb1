"""Configuration: config.toml, validated before anything runs.

Every error names the key (dotted, with list indexes) and the bad value and
becomes exit code 2 in the CLI. Unknown keys are errors, so a typo cannot
silently fall back to a default. Secrets are never stored here: only where to
read them from (an environment variable or a file).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ConfigError
from agent.watchdog.settings import WatchSettings, parse_watch_settings

__all__ = [
    "Config",
    "StackConfig",
    "ChainConfig",
    "NodeConfig",
    "VoterConfig",
    "KeyringConfig",
    "TimingConfig",
    "AgentConfig",
    "load_config",
    "parse_config",
    "read_password",
]


@dataclass(frozen=True, slots=True)
class StackConfig:
    project: str = "rehearse"
    compose_dir: str = "prod-sim"
    base_file: str = "docker-compose.yml"
    cosmovisor_file: str = "docker-compose-cosmovisor.yml"
    v2_file: str = "docker-compose-v2.yml"
    compose_command: str | list[str] = "auto"
    reset_command: list[str] = field(
        default_factory=lambda: ["python3", "prod-sim/testnet.py", "reset"]
    )
    ports_check_command: list[str] = field(
        default_factory=lambda: ["python3", "prod-sim/testnet.py", "ports-check"]
    )
    testnet_dir: str = ""


@dataclass(frozen=True, slots=True)
class ChainConfig:
    chain_id: str = "checkers-1"
    denom: str = "upawn"
    upgrade_name: str = "v1tov2"
    deposit: str = "10000000upawn"
    cli_image_v1: str = "checkersd_i:v1"
    cli_image_v2: str = "checkersd_i:v2"
    cli_network: str = "net-public"
    tx_node: str = "node-carol"
    daemon_home: str = "/root/.checkers-upgrade"
    node_home: str = "/root/.checkers"
    gas: str = "auto"
    gas_adjustment: float = 1.5


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    rpc: str
    service: str = ""
    rest: str = ""

    @property
    def ws(self) -> str:
        u = urlsplit(self.rpc)
        scheme = "wss" if u.scheme == "https" else "ws"
        return f"{scheme}://{u.netloc}{u.path.rstrip('/')}/websocket"


@dataclass(frozen=True, slots=True)
class VoterConfig:
    name: str
    key: str
    desk: str


@dataclass(frozen=True, slots=True)
class KeyringConfig:
    backend: str = "file"
    password_env: str = "REHEARSE_KEYRING_PASSWORD"
    password_file: str = ""


@dataclass(frozen=True, slots=True)
class TimingConfig:
    height_margin_seconds: float = 12.0
    min_blocks_ahead: int = 10
    launch_timeout: float = 180.0
    vote_timeout: float = 90.0
    pass_grace: float = 30.0
    resume_budget: float = 90.0
    verify_timeout: float = 120.0
    restart_timeout: float = 180.0
    rpc_timeout: float = 5.0
    command_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class AgentConfig:
    state_dir: str = ".rehearse"
    report_json: str = "report.json"
    report_md: str = "report.md"
    log_file: str = ".rehearse/agent.log"
    log_level: str = "info"


def _default_nodes() -> list[NodeConfig]:
    return [
        NodeConfig("val-alice", "http://127.0.0.1:26601", "val-alice"),
        NodeConfig("sentry-alice", "http://127.0.0.1:26602", "sentry-alice"),
        NodeConfig("val-bob", "http://127.0.0.1:26603", "val-bob"),
        NodeConfig("sentry-bob", "http://127.0.0.1:26604", "sentry-bob"),
        NodeConfig("node-carol", "http://127.0.0.1:26657", "node-carol", "http://127.0.0.1:1317"),
    ]


def _default_voters() -> list[VoterConfig]:
    return [
        VoterConfig("alice", "alice", "prod-sim/desk-alice"),
        VoterConfig("bob", "bob", "prod-sim/desk-bob"),
    ]


@dataclass(frozen=True, slots=True)
class Config:
    base_dir: Path
    stack: StackConfig = field(default_factory=StackConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    nodes: list[NodeConfig] = field(default_factory=_default_nodes)
    voters: list[VoterConfig] = field(default_factory=_default_voters)
    keyring: KeyringConfig = field(default_factory=KeyringConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    # [watch], [metrics] and [[alerts.sinks]]: see agent/watchdog/settings.py.
    watch: WatchSettings = field(default_factory=WatchSettings)

    def path(self, p: str) -> Path:
        """Resolve a configured path relative to the config file's directory."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.base_dir / q)

    @property
    def compose_dir(self) -> Path:
        return self.path(self.stack.compose_dir)

    @property
    def testnet_dir(self) -> Path:
        return self.path(self.stack.testnet_dir) if self.stack.testnet_dir else self.compose_dir

    @property
    def rest_url(self) -> str:
        for n in self.nodes:
            if n.rest:
                return n.rest
        raise ConfigError("nodes[].rest", None, "no node has a REST endpoint")

    @property
    def state_dir(self) -> Path:
        return self.path(self.agent.state_dir)

    def node(self, name: str) -> NodeConfig:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


# --- parsing --------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "stack": StackConfig,
    "chain": ChainConfig,
    "keyring": KeyringConfig,
    "timing": TimingConfig,
    "agent": AgentConfig,
}
_LISTS: dict[str, type] = {"nodes": NodeConfig, "voters": VoterConfig}
_WATCH_SECTIONS = {"watch", "metrics", "alerts"}
_LOG_LEVELS = {"debug", "info", "warning", "error"}


def load_config(path: Path | None) -> Config:
    """Read and validate a config file (None: the built-in defaults)."""
    if path is None:
        return parse_config({}, Path.cwd())
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("--config", str(path), "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(path), f"not valid TOML: {exc}") from None
    return parse_config(raw, path.resolve().parent)


def parse_config(raw: dict[str, Any], base_dir: Path) -> Config:
    for key in raw:
        if key not in _SECTIONS and key not in _LISTS and key not in _WATCH_SECTIONS:
            raise ConfigError(key, raw[key], "unknown section")
    kwargs: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        section = raw.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(name, section, "must be a table")
        kwargs[name] = _build(cls, section, name)
    for name, cls in _LISTS.items():
        if name not in raw:
            continue
        items = raw[name]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ConfigError(name, items, f"must be an array of tables ([[{name}]])")
        kwargs[name] = [_build(cls, item, f"{name}[{i}]") for i, item in enumerate(items)]
    kwargs["watch"] = parse_watch_settings(raw, base_dir)
    cfg = Config(base_dir=base_dir, **kwargs)
    _validate(cfg)
    return cfg


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}", value, "unknown key")
    values: dict[str, Any] = {}
    for name, f in known.items():
        key = f"{where}.{name}"
        if name in data:
            values[name] = _coerce(key, data[name], str(f.type))
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(key, None, "required key is missing")
    return cls(**values)


def _coerce(key: str, value: Any, typ: str) -> Any:
    if typ == "str":
        if not isinstance(value, str):
            raise ConfigError(key, value, "must be a string")
        return value
    if typ == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, value, "must be an integer")
        return value
    if typ == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, value, "must be a number")
        return float(value)
    if typ == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            raise ConfigError(key, value, "must be a non-empty array of strings")
        return list(value)
    if typ == "str | list[str]":
        if isinstance(value, str):
            return value
        return _coerce(key, value, "list[str]")
    raise AssertionError(f"unhandled config type {typ} for {key}")  # pragma: no cover


def _validate(cfg: Config) -> None:
    t = cfg.timing
    for f in fields(TimingConfig):
        v = getattr(t, f.name)
        if f.name == "min_blocks_ahead":
            if v < 1:
                raise ConfigError(f"timing.{f.name}", v, "must be at least 1")
        elif f.name == "height_margin_seconds":
            if v < 0:
                raise ConfigError(f"timing.{f.name}", v, "must not be negative")
        elif v <= 0:
            raise ConfigError(f"timing.{f.name}", v, "must be a positive number of seconds")

    if not cfg.nodes:
        raise ConfigError("nodes", [], "at least one node is needed")
    seen: set[str] = set()
    for i, n in enumerate(cfg.nodes):
        if not n.name:
            raise ConfigError(f"nodes[{i}].name", n.name, "must not be empty")
        if n.name in seen:
            raise ConfigError(f"nodes[{i}].name", n.name, "duplicated node name")
        seen.add(n.name)
        _check_url(f"nodes[{i}].rpc", n.rpc)
        if n.rest:
            _check_url(f"nodes[{i}].rest", n.rest)

    if not cfg.voters:
        raise ConfigError("voters", [], "at least one voter (the proposer) is needed")
    names = [v.name for v in cfg.voters]
    for i, v in enumerate(cfg.voters):
        if not v.name or names.count(v.name) > 1:
            raise ConfigError(f"voters[{i}].name", v.name, "must be non-empty and unique")
        if not v.key:
            raise ConfigError(f"voters[{i}].key", v.key, "must not be empty")

    if cfg.keyring.backend not in {"file", "test", "os"}:
        raise ConfigError("keyring.backend", cfg.keyring.backend, "must be file, test or os")
    if not cfg.keyring.password_env and not cfg.keyring.password_file:
        raise ConfigError("keyring.password_env", "", "set password_env or password_file")

    cc = cfg.stack.compose_command
    if isinstance(cc, str) and cc != "auto":
        raise ConfigError("stack.compose_command", cc, 'must be "auto" or an argv array')
    if not cfg.stack.project or not all(c.isalnum() or c in "-_" for c in cfg.stack.project):
        raise ConfigError("stack.project", cfg.stack.project, "must be letters, digits, '-' or '_'")
    if cfg.stack.project != cfg.stack.project.lower():
        raise ConfigError("stack.project", cfg.stack.project, "Compose needs a lowercase name")

    if not _coin(cfg.chain.deposit):
        raise ConfigError("chain.deposit", cfg.chain.deposit, "must be <amount><denom>")
    if cfg.chain.gas != "auto":
        try:
            int(cfg.chain.gas)
        except ValueError:
            raise ConfigError("chain.gas", cfg.chain.gas, 'must be "auto" or an integer') from None
    if cfg.chain.gas_adjustment <= 0:
        raise ConfigError("chain.gas_adjustment", cfg.chain.gas_adjustment, "must be positive")
    if not cfg.chain.upgrade_name:
        raise ConfigError("chain.upgrade_name", "", "must not be empty")
    if cfg.agent.log_level not in _LOG_LEVELS:
        raise ConfigError("agent.log_level", cfg.agent.log_level, f"one of {sorted(_LOG_LEVELS)}")


def _check_url(key: str, url: str) -> None:
    u = urlsplit(url)
    if u.scheme not in {"http", "https"} or not u.hostname:
        raise ConfigError(key, url, "must be an http(s) URL with a host")
    try:
        u.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(key, url, "has an invalid port") from None


def _coin(s: str) -> bool:
    digits = len(s) - len(s.lstrip("0123456789"))
    return 0 < digits < len(s) and s[digits:].isalnum()


def read_password(cfg: Config) -> str:
    """The keyring password, from the configured file or environment variable."""
    k = cfg.keyring
    if k.password_file:
        p = cfg.path(k.password_file)
        try:
            pw = p.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ConfigError(
                "keyring.password_file", str(p), f"unreadable: {exc.strerror}"
            ) from None
        if not pw:
            raise ConfigError("keyring.password_file", str(p), "is empty")
        return pw
    pw = os.environ.get(k.password_env, "")
    if not pw:
        raise ConfigError(
            "keyring.password_env", k.password_env, "environment variable is unset or empty"
        )
    return pw
