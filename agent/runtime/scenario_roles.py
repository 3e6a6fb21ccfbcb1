"""A named scenario with the configuration's roles (which node is paused, which
runs without Cosmovisor): every bad name or role is an exit 2."""

from __future__ import annotations

import json
import re

from agent.config import Config
from agent.core.scenarios import SCENARIO_NAMES, Roles, Scenario, build
from agent.errors import ConfigError

__all__ = ["scenario_for"]


# The scenarios that pause, empty or kill a validator's node.
NEEDS_VALIDATOR = frozenset(
    {
        "validator-missing-binary",
        "validator-paused",
        "restart-in-window",
        "mixed-binary",
        "late-validator",
        "auto-download",
        "auto-download-bad-checksum",
    }
)


def scenario_for(cfg: Config, name: str, *, attach: bool = False) -> Scenario:
    """The named scenario with the config's roles; every bad name is exit 2, and so
    is a scenario that changes its own network on a network it is attached to."""
    if name not in SCENARIO_NAMES:
        raise ConfigError(
            "--scenario", name, f"no such scenario; one of {', '.join(SCENARIO_NAMES)}"
        )
    sc = cfg.scenarios
    names = {n.name for n in cfg.nodes}
    for i, v in enumerate(sc.validators):
        if v not in names:
            raise ConfigError(f"scenarios.validators[{i}]", v, "names no configured node")
    if name == "carol-without-cosmovisor":
        if sc.no_cosmovisor_node not in names:
            raise ConfigError(
                "scenarios.no_cosmovisor_node", sc.no_cosmovisor_node, "names no configured node"
            )
        _overlay(cfg, "no_cosmovisor_overlay", "the node's plain-v1 Compose file is needed")
    if name == "mixed-binary":
        _overlay(
            cfg, "divergent_overlay", "mixed-binary needs a divergent v2 (set [kit] v2_divergent)"
        )
        if cfg.traffic.rate <= 0:
            # The divergent binary differs only when a transaction is delivered.
            raise ConfigError(
                "traffic.rate", cfg.traffic.rate, "mixed-binary needs traffic: set a rate above 0"
            )
    if name == "late-validator":
        if len(sc.validators) < 4:
            # Of equal power, the others hold more than two-thirds only from four on:
            # with fewer the chain waits for the late one and no block is missed.
            raise ConfigError(
                "scenarios.validators",
                sc.validators,
                "late-validator needs four validators or more ([topology] validators = 4): "
                "the others must hold more than two-thirds of the power without it",
            )
        _overlay(cfg, "late_overlay", "the kit writes one per node")
    download = {"download_sha256": sc.download_sha256, "other_sha256": sc.other_sha256}
    if name in ("auto-download", "auto-download-bad-checksum"):
        _overlay(cfg, "download_overlay", "the kit writes one")
        if not sc.download_url:
            raise ConfigError("scenarios.download_url", "", "is empty: the URL v2 is served at")
        download = _checksums(cfg, download)
    if name in NEEDS_VALIDATOR and not sc.validators:
        raise ConfigError("scenarios.validators", [], f"is empty: {name} acts on a validator")
    if name == "sentry-lost" and sc.lone_peer not in names:
        why = "names no configured node" if sc.lone_peer else "is empty: this network has no sentry"
        raise ConfigError("scenarios.lone_peer", sc.lone_peer, why)
    roles = Roles(
        validators=tuple(sc.validators),
        tx_node=cfg.chain.tx_node,
        voters=tuple(v.name for v in cfg.voters),
        no_cosmovisor_node=sc.no_cosmovisor_node,
        no_cosmovisor_overlay=sc.no_cosmovisor_overlay,
        divergent_overlay=sc.divergent_overlay,
        late_overlay=sc.late_overlay,
        late_blocks=sc.late_blocks,
        download_overlay=sc.download_overlay,
        download_url=sc.download_url,
        **download,
        pause_s=sc.pause_s,
        disconnect_s=sc.disconnect_s,
        lone_peer=sc.lone_peer,
    )
    scenario = build(name, roles)
    if attach and (scenario.faults or scenario.launch_overlays or scenario.supervised):
        raise ConfigError(
            "--scenario", name, "injects faults into its own network; not with --attach"
        )
    return scenario


def _overlay(cfg: Config, key: str, empty: str) -> None:
    """A scenario's Compose overlay, ``[scenarios] key``, must name a file in the
    stack's Compose directory (``empty``: what to do when it names none)."""
    value = getattr(cfg.scenarios, key)
    if not value:
        raise ConfigError(f"scenarios.{key}", value, f"is empty: {empty}")
    if not (cfg.compose_dir / value).is_file():
        raise ConfigError(f"scenarios.{key}", value, f"no such file in {cfg.compose_dir}")


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _checksums(cfg: Config, given: dict[str, str]) -> dict[str, str]:
    """auto-download's right and wrong checksums: as configured, else the kit's
    manifest (v2's and v1's, recorded as the kit built them)."""
    out = dict(given)
    manifest = cfg.path(cfg.kit.dir) / "kit.json" if cfg.kit is not None else None
    recorded: dict[str, object] = {}
    if manifest is not None and manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = {}
    for key, kit_key in (("download_sha256", "v2_sha256"), ("other_sha256", "v1_sha256")):
        value = out[key] or str(recorded.get(kit_key, ""))
        if not _SHA256.match(value):
            why = (
                "is not a SHA-256 (64 lower-case hex digits)"
                if out[key]
                else "is empty and the kit recorded none (run `rehearse kit build`)"
            )
            raise ConfigError(f"scenarios.{key}", out[key], why)
        out[key] = value
    return out
