"""The command forms of a chain binary's node and genesis CLI, which moved between
SDK lines. Pure: the forms come from the binary's own ``--help`` text, so a chain
that renamed or re-grouped a command is read as it is, not guessed from its line.

* v0.45, v0.46: ``add-genesis-account``, ``gentx``, ``collect-gentxs`` and
  ``validate-genesis`` at the top level; ``tendermint show-node-id``; ``init`` has no
  ``--default-denom`` before v0.47.
* v0.47: the ``genesis`` group (``genesis validate-genesis``); ``comet`` beside its
  alias ``tendermint``.
* v0.50 and later: ``genesis validate`` (``validate-genesis`` is an alias); ``comet``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CliForms", "commands_of", "forms_from_help"]


def commands_of(help_text: str) -> set[str]:
    """The subcommand names a cobra ``--help`` lists under "Available Commands"."""
    names: set[str] = set()
    inside = False
    for line in help_text.splitlines():
        if line.strip().startswith("Available Commands"):
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = re.match(r"^\s+([A-Za-z0-9][\w-]*)\s", line + " ")
            if m:
                names.add(m.group(1))
    return names


@dataclass(frozen=True, slots=True)
class CliForms:
    """Argv prefixes (after the binary) of each command the kit runs."""

    genesis_group: tuple[str, ...]  # () or ("genesis",)
    validate: tuple[str, ...]
    consensus_group: str  # "comet" or "tendermint"
    default_denom_flag: bool  # `init --default-denom`

    def add_genesis_account(self) -> list[str]:
        return [*self.genesis_group, "add-genesis-account"]

    def gentx(self) -> list[str]:
        return [*self.genesis_group, "gentx"]

    def collect_gentxs(self) -> list[str]:
        return [*self.genesis_group, "collect-gentxs"]

    def validate_genesis(self) -> list[str]:
        return list(self.validate)

    def show_node_id(self) -> list[str]:
        return [self.consensus_group, "show-node-id"]

    def show_validator(self) -> list[str]:
        return [self.consensus_group, "show-validator"]

    def unsafe_reset_all(self) -> list[str]:
        return [self.consensus_group, "unsafe-reset-all"]


def forms_from_help(top: str, genesis: str = "", init: str = "") -> CliForms:
    """The forms told by ``<bin> --help``, ``<bin> genesis --help`` (when the top level
    lists ``genesis``) and ``<bin> init --help``."""
    commands = commands_of(top)
    if "genesis" in commands:
        group: tuple[str, ...] = ("genesis",)
        sub = commands_of(genesis)
        validate: tuple[str, ...] = (
            "genesis",
            "validate" if "validate" in sub else "validate-genesis",
        )
    elif "add-genesis-account" in commands:
        group, validate = (), ("validate-genesis",)
    else:
        raise ValueError("the binary lists neither `genesis` nor `add-genesis-account`")
    if "comet" in commands:
        consensus = "comet"
    elif "tendermint" in commands:
        consensus = "tendermint"
    else:
        raise ValueError("the binary lists neither `comet` nor `tendermint`")
    return CliForms(group, validate, consensus, "--default-denom" in init)
