"""Reading config.toml: the one place configuration is parsed.

Every problem becomes a ``ConfigError`` naming the dotted key (with list
indexes) and the value, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from agent.config.schema import Config
from agent.errors import ConfigError
from agent.kit.plan import derived_sections
from agent.kit.spec import KitConfig, TopologyConfig
from agent.validation import Schema, validate

__all__ = ["load_config", "parse_config", "read_password"]


def load_config(path: Path | None) -> Config:
    """Read and validate a config file (None: the built-in defaults)."""
    if path is None:
        return parse_config({}, Path.cwd())
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("--config", str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", str(path), f"unreadable: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", str(path), f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError("--config", str(path), "nested too deeply to be a profile") from None
    try:
        return parse_config(raw, path.resolve().parent)
    except RecursionError:
        raise ConfigError("--config", str(path), "nested too deeply to be a profile") from None


class _KitSections(Schema):
    model_config = ConfigDict(extra="ignore")

    kit: KitConfig
    topology: TopologyConfig = Field(default_factory=TopologyConfig)


def parse_config(raw: dict[str, Any], base_dir: Path) -> Config:
    """Validate a parsed TOML document; relative paths are relative to ``base_dir``.
    A profile with ``[kit]`` gets every section its network implies (``agent.kit.plan``)
    where it left them out."""
    if "kit" in raw:
        sections = validate(_KitSections, raw, base_dir)
        kit_dir = Path(sections.kit.dir).expanduser()
        kit_dir = kit_dir if kit_dir.is_absolute() else base_dir / kit_dir
        # The binaries' local paths made absolute once, here: the image tags derive
        # from them, and the build must name the images the configuration names.
        kit = sections.kit
        specs = {k: spec.anchored(base_dir) for k in ("v1", "v2", "v2_divergent")
                 if (spec := getattr(kit, k)) is not None}  # fmt: skip
        kit = kit.model_copy(update=specs)
        raw = {**raw, "kit": {**raw["kit"], **{k: v.model_dump() for k, v in specs.items()}}}
        raw = derived_sections(raw, kit, sections.topology, kit_dir)
        raw.setdefault("topology", {})
    return validate(Config, raw, base_dir)


def read_password(cfg: Config) -> str:
    """The keyring password: from ``password_file`` when set, else the environment
    variable, else the testnet's ``.keyring-password`` (what ``make rehearse`` made);
    none (``""``) for the ``test`` backend, whose keyring is not encrypted."""
    k = cfg.keyring
    if k.backend == "test":
        return ""
    if k.password_file:
        p = cfg.path(k.password_file)
        try:
            pw = p.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise ConfigError(
                "keyring.password_file", str(p), f"unreadable: {exc.strerror}"
            ) from None
        except UnicodeDecodeError:
            # Never echo the bytes: they are the password.
            raise ConfigError("keyring.password_file", str(p), "is not UTF-8 text") from None
        if not pw:
            raise ConfigError("keyring.password_file", str(p), "is empty")
        return pw
    pw = os.environ.get(k.password_env, "")
    if pw:
        return pw
    # The testnet's own password file: `make rehearse` creates one beside the homes
    # when the variable is unset, so `rehearse doctor` and `rehearse run` in the same
    # checkout find what made the keyrings.
    beside = cfg.testnet_dir / ".keyring-password"
    try:
        pw = beside.read_text(encoding="utf-8").rstrip("\n")
    except OSError:
        pw = ""
    except UnicodeDecodeError:
        raise ConfigError("keyring.password_file", str(beside), "is not UTF-8 text") from None
    if pw:
        return pw
    raise ConfigError(
        "keyring.password_env",
        k.password_env,
        f"environment variable is unset or empty (and there is no {beside})",
    )
