"""The configuration schema: one pydantic model per config.toml section.

The ``description`` of a field is its documentation; config.toml at the repo
root documents the same keys with the same defaults (a test keeps them equal).
Secrets are never stored here: only where to read them from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, model_validator
from pydantic import ValidationInfo as Info

from agent.config.checks import CheckConfig, ReadConfig, VerifyConfig
from agent.config.fields import (
    Bech32Prefix,
    ChainId,
    Coin,
    ComposeCommand,
    ContainerPath,
    Denom,
    Desk,
    Gas,
    Program,
    ProjectName,
    RestUrl,
    RpcUrl,
    SdkLineSetting,
    UpgradeInfo,
)
from agent.config.rules import cross_field_problems
from agent.config.state import StateConfig
from agent.config.traffic import TrafficConfig
from agent.config.watch import AlertSettings, MetricsSettings, WatchSettings, WatchTuning
from agent.core.policy import UpgradeHeightPolicy
from agent.errors import ConfigError
from agent.kit.spec import KitConfig, TopologyConfig
from agent.validation import (
    ArgvValue,
    Count,
    OptionalText,
    SafeName,
    Schema,
    Seconds,
    SecondsOrZero,
    Text,
    problems,
)

__all__ = [
    "PROFILE_KEYS",
    "AgentConfig",
    "ChainConfig",
    "Config",
    "KeyringConfig",
    "NodeConfig",
    "StackConfig",
    "TimingConfig",
    "VoterConfig",
]


class StackConfig(Schema):
    project: ProjectName = Field(default="rehearse", description="Compose project name")
    compose_dir: Text = "."
    base_file: Text = "docker-compose.yml"
    cosmovisor_file: Text = "docker-compose-cosmovisor.yml"
    v2_file: Text = "docker-compose-v2.yml"
    compose_command: ComposeCommand = "auto"
    # Without the kit a stack names these itself: there is no sensible default.
    reset_command: list[Text] = Field(
        default_factory=list,
        max_length=256,
        description="resets the homes to v1 genesis; a rehearsal without --attach needs one",
    )
    ports_check_command: list[Text] = Field(
        default_factory=list, max_length=256, description="checks the host ports; []: none"
    )
    testnet_dir: OptionalText = Field(default="", description='"" means compose_dir')
    restart_command: list[Text] = Field(
        default_factory=list,
        description="rehearse run --attach: how to restart the nodes on v2 (argv); "
        "empty: nothing (Cosmovisor already runs v2)",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="variables for Compose and the stack commands (beside REHEARSE_TESTNET_DIR)",
    )


# The chain-specific keys of [chain]: a profile (config.toml is the bundled one) sets
# them for its chain; the schema defaults describe a plain simapp ("simd").
PROFILE_KEYS = (
    "chain_id",
    "denom",
    "deposit",
    "binary",
    "bech32_prefix",
    "cli_image_v1",
    "cli_image_v2",
    "cli_home",
    "daemon_home",
    "node_home",
)


class ChainConfig(Schema):
    chain_id: ChainId = "testnet-1"
    denom: Denom = "stake"
    upgrade_name: SafeName = "v1tov2"  # a directory name under cosmovisor/upgrades/
    deposit: Coin = "10000000stake"
    binary: Program = Field(
        default="simd", description="the chain's daemon/CLI inside the CLI images"
    )
    bech32_prefix: Bech32Prefix = Field(
        default="cosmos", description="account address prefix (voter addresses are checked)"
    )
    sdk_line: SdkLineSetting = Field(
        default="auto",
        description='Cosmos SDK line for command forms and REST shapes; "auto" asks the node',
    )
    expedited: bool = Field(
        default=False, description="submit the upgrade as an expedited proposal (SDK 0.50+)"
    )
    upgrade_info: UpgradeInfo = Field(
        default="{}",
        description="the plan's info; Cosmovisor auto-download JSON needs checksum= URLs",
    )
    cli_image_v1: ArgvValue = "simd_i:v1"
    cli_image_v2: ArgvValue = "simd_i:v2"
    cli_home: ContainerPath = Field(
        default="/root/.simapp",
        description="where a voter's desk is mounted in the CLI container (keyring: <home>/keys)",
    )
    cli_network: SafeName = "net-public"
    tx_node: Text = Field(default="node-carol", description="a node name; transactions go there")
    daemon_home: Text = "/root/.simapp-upgrade"
    node_home: Text = "/root/.simapp"
    gas: Gas = Field(
        default="400000",
        description="gas limit per transaction; fixed, since sign-first signs offline "
        '("auto" simulates and suits only the broadcast-by-CLI path)',
    )
    gas_adjustment: Annotated[float, Field(gt=0, le=100)] = 1.5

    @model_validator(mode="after")
    def _expedited_needs_050(self) -> ChainConfig:
        if self.expedited and self.sdk_line in ("v0.45", "v0.46", "v0.47"):
            raise problems(
                [(("expedited",), True, f"SDK {self.sdk_line} has no expedited proposals")]
            )
        return self


class NodeConfig(Schema):
    name: SafeName
    rpc: RpcUrl
    service: Annotated[str, Field(max_length=128, pattern=r"^([A-Za-z0-9_][A-Za-z0-9._-]*)?$")] = (
        Field(default="", description='Compose service; "" means name')
    )
    rest: RestUrl = Field(default="", description="Cosmos REST API; optional")

    @property
    def ws(self) -> str:
        u = urlsplit(self.rpc)
        scheme = "wss" if u.scheme == "https" else "ws"
        return f"{scheme}://{u.netloc}{u.path.rstrip('/')}/websocket"


class VoterConfig(Schema):
    name: SafeName
    key: SafeName
    desk: Desk


class KeyringConfig(Schema):
    backend: Literal["file", "test", "os"] = "file"
    password_env: OptionalText = "REHEARSE_KEYRING_PASSWORD"
    password_file: OptionalText = ""

    @model_validator(mode="after")
    def _has_a_source(self) -> KeyringConfig:
        if not self.password_env and not self.password_file:
            raise problems([(("password_env",), "", "set password_env or password_file")])
        return self


class TimingConfig(Schema):
    # The upgrade height, in blocks ahead (agent/core/policy.py): the proposal's
    # inclusion, the voting period at the fastest block interval less
    # block_speedup, the tally block, spare blocks, and an optional fixed margin.
    height_margin_seconds: SecondsOrZero = 0.0
    min_blocks_ahead: Count = 10
    block_speedup: float = Field(default=0.10, ge=0.0, le=0.5, allow_inf_nan=False)
    inclusion_blocks: Count = 1
    spare_blocks: int = Field(default=1, ge=0, le=1000)
    min_block_interval_s: Seconds | None = Field(
        default=None,
        description="the shortest gap blocks can come at (the chain's timeout_commit): the "
        "height is never planned at a slower pace (the kit fills it from [kit] block_time)",
    )
    launch_timeout: Seconds = 180.0
    state_timeout: Seconds = Field(
        default=300.0, description="[[state.txs]]: from the chain live until every one is in"
    )
    vote_timeout: Seconds = 90.0
    pass_grace: Seconds = 30.0
    resume_budget: Seconds = 90.0
    verify_timeout: Seconds = 120.0
    restart_timeout: Seconds = 180.0
    rpc_timeout: Seconds = 5.0
    command_timeout: Seconds = 120.0

    # What one request's deadline implies for the reads made of several. One home
    # for each multiple, named for what it covers.
    @property
    def chain_read_s(self) -> float:
        """A chain read the daemon waits on: the tx node, then one failover."""
        return self.rpc_timeout * 2

    @property
    def sdk_probe_s(self) -> float:
        """Detecting the SDK line: node_info, then up to two gov API probes."""
        return self.rpc_timeout * 3

    @property
    def node_probe_s(self) -> float:
        """Doctor's question to one node: its request plus connecting."""
        return self.rpc_timeout + 1.0


class AgentConfig(Schema):
    state_dir: Text = ".rehearse"
    report_json: Text = "report.json"
    report_md: Text = "report.md"
    log_file: Text = ".rehearse/agent.log"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_max_bytes: int = Field(
        default=10_000_000,
        ge=0,
        le=2**40,
        description="rotate the JSON log before it grows past this many bytes (0: never)",
    )
    log_backups: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="rotated logs kept: log_file.1 (newest) .. log_file.N (0: none, emptied)",
    )


class ScenarioConfig(Schema):
    """Which nodes play which part in ``rehearse run --scenario`` (see ``rehearse scenarios``)."""

    validators: list[Text] = Field(
        default_factory=lambda: ["val-alice", "val-bob"],
        description="validator nodes: the first is paused, the last loses its upgrade binary",
    )
    no_cosmovisor_node: Text = Field(
        default="node-carol", description="the node carol-without-cosmovisor runs on plain v1"
    )
    no_cosmovisor_overlay: Text = Field(
        default="docker-compose-plain.yml",
        description="Compose file (in compose_dir) that runs that node without Cosmovisor",
    )
    divergent_overlay: OptionalText = Field(
        default="",
        description="mixed-binary: Compose file (in compose_dir) that gives the last "
        'validator a v2 computing another state under transactions ("": unavailable; '
        "the kit writes one from [kit] v2_divergent)",
    )
    late_overlay: OptionalText = Field(
        default="",
        description="late-validator: Compose file (in compose_dir) that runs the last "
        "validator on plain v1 without Cosmovisor (the kit fills it)",
    )
    late_blocks: int = Field(
        default=10, ge=1, le=1000,
        description="late-validator: blocks past the upgrade height before its swap by hand",
    )  # fmt: skip
    download_overlay: OptionalText = Field(
        default="",
        description="auto-download: Compose file (in compose_dir) that serves v2 on the "
        "stack's network and leaves the last validator's Cosmovisor to download it (the "
        "kit writes one)",
    )
    download_url: OptionalText = Field(
        default="", description="auto-download: v2's URL as the nodes reach it (the kit's)"
    )
    download_sha256: OptionalText = Field(
        default="", description="auto-download: v2's SHA-256 (\"\": the kit's manifest)"
    )
    other_sha256: OptionalText = Field(
        default="",
        description="auto-download-bad-checksum: another build's SHA-256 (\"\": v1's, from "
        "the kit's manifest)",
    )
    lone_peer: OptionalText = Field(
        default="sentry-bob",
        description="sentry-lost: the last validator's only peer, which it stops",
    )
    pause_s: Seconds = Field(default=35.0, description="validator-paused: how long")
    disconnect_s: Seconds = Field(default=20.0, description="tx-node-loss: network cut length")


def _default_nodes() -> list[NodeConfig]:
    def node(name: str, port: int, rest: str = "") -> NodeConfig:
        return NodeConfig(name=name, rpc=f"http://127.0.0.1:{port}", service=name, rest=rest)

    return [
        node("val-alice", 26601),
        node("sentry-alice", 26602, "http://127.0.0.1:1318"),
        node("val-bob", 26603),
        node("sentry-bob", 26604, "http://127.0.0.1:1319"),
        node("node-carol", 26657, "http://127.0.0.1:1317"),
    ]


def _default_voters() -> list[VoterConfig]:
    return [
        VoterConfig(name="alice", key="alice", desk="desk-alice"),
        VoterConfig(name="bob", key="bob", desk="desk-bob"),
    ]


class Config(Schema):
    """The whole file. ``base_dir`` (the file's directory) comes from the loader."""

    stack: StackConfig = Field(default_factory=StackConfig)
    chain: ChainConfig = Field(default_factory=ChainConfig)
    nodes: Annotated[list[NodeConfig], Field(min_length=1, max_length=500)] = Field(
        default_factory=_default_nodes
    )
    voters: Annotated[list[VoterConfig], Field(min_length=1, max_length=100)] = Field(
        default_factory=_default_voters, description="the first voter also proposes"
    )
    keyring: KeyringConfig = Field(default_factory=KeyringConfig)
    timing: TimingConfig = Field(default_factory=TimingConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    scenarios: ScenarioConfig = Field(default_factory=ScenarioConfig)
    reads: list[ReadConfig] = Field(default_factory=list, max_length=100)
    checks: list[CheckConfig] = Field(default_factory=list, max_length=100)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    # [watch], [metrics], [alerts]: agent/config/watch.py. Validated defaults
    # so their relative paths resolve against base_dir; ``watch`` is the property.
    watch_tuning: WatchTuning = Field(default_factory=dict, validate_default=True, alias="watch")
    # [kit], [topology]: the network built from two binaries (agent/kit); the loader
    # fills the sections they imply before this model sees them.
    kit: KitConfig | None = None
    topology: TopologyConfig | None = None
    metrics: MetricsSettings = Field(default_factory=dict, validate_default=True)
    alerts: AlertSettings = Field(default_factory=dict, validate_default=True)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _cross_field(self, info: Info) -> Config:
        base = (info.context or {}).get("base_dir")
        if base is not None:
            self._base_dir = Path(base)
        found = cross_field_problems(self)
        if found:
            raise problems(found)
        return self

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def watch(self) -> WatchSettings:
        return WatchSettings.model_construct(
            watch=self.watch_tuning, metrics=self.metrics, alerts=self.alerts
        )

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
    def stack_env(self) -> dict[str, str]:
        """What Compose and the stack's commands get beside the minimal environment."""
        return {**self.stack.env, "REHEARSE_TESTNET_DIR": str(self.testnet_dir)}

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


def height_policy(t: TimingConfig) -> UpgradeHeightPolicy:
    """The upgrade-height policy ``[timing]`` describes."""
    return UpgradeHeightPolicy(
        margin_seconds=t.height_margin_seconds,
        min_blocks_ahead=t.min_blocks_ahead,
        speedup=t.block_speedup,
        inclusion_blocks=t.inclusion_blocks,
        spare_blocks=t.spare_blocks,
        min_interval=t.min_block_interval_s,
    )
