"""Configuration and constants the fakes share: the bundled profile as a Config."""

from __future__ import annotations

import copy
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import Config, load_config, parse_config
from agent.core.facts import Check

REPO = Path(__file__).resolve().parents[3]
LEADERBOARD_PROGRAM = REPO / "prod-sim" / "checks" / "leaderboard.py"
sys.path.insert(0, str(LEADERBOARD_PROGRAM.parent))

# The profile's check program, imported from its directory: the fake chain's
# checkers store is encoded the way the program decodes it.
from leaderboard import (  # noqa: E402
    LEADERBOARD_KEY,
    PLAYER_PREFIX,
    PlayerInfo,
)

__all__ = [
    "DEPOSIT",
    "GENESIS",
    "LEADERBOARD_KEY",
    "LEADERBOARD_PROGRAM",
    "OK",
    "PASSED",
    "PLAYER_PREFIX",
    "PROFILE",
    "REPO",
    "VOTING",
    "PlayerInfo",
    "SimulatedCrash",
    "make_config",
    "profile_sections",
    "rfc3339",
]

GENESIS = 1_700_000_000.0
VOTING = "PROPOSAL_STATUS_VOTING_PERIOD"
PASSED = "PROPOSAL_STATUS_PASSED"
OK = (Check("fake", True, "fine"),)
DEPOSIT = "10000000upawn"


class SimulatedCrash(BaseException):
    """A kill -9 stand-in: a BaseException, so no ``except Exception`` swallows it."""


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _load_profile() -> dict[str, Any]:
    """The bundled profile's ``[[reads]]``/``[[checks]]`` (and ``[verify]``) from config.toml.

    The programs run with the interpreter running the tests, by absolute path, so a
    test's ``base_dir`` (the program's cwd) may be anywhere. Read once, at import (no
    file I/O inside the event loop).
    """
    doc = tomllib.loads((REPO / "config.toml").read_text())
    checks = []
    for c in doc["checks"]:
        c = dict(c)
        if c.get("program"):
            c["program"] = [sys.executable, str(REPO / c["program"][-1])]
        checks.append(c)
    return {
        # The schema's defaults are chain-neutral (simd): the bundled chain's [chain]
        # as the kit fills it (program checkersd, its images and homes).
        "chain": load_config(REPO / "config.toml").chain.model_dump(mode="json"),
        # A hand-written stack names its reset and port check (no defaults).
        "stack": {"reset_command": ["reset-homes"], "ports_check_command": ["check-ports"]},
        "reads": doc["reads"],
        "checks": checks,
        "verify": doc.get("verify", {}),
    }


PROFILE = _load_profile()


def profile_sections() -> dict[str, Any]:
    return copy.deepcopy(PROFILE)


def make_config(
    base_dir: Path, extra: dict[str, Any] | None = None, *, profile: bool = True
) -> Config:
    """The documented defaults (five nodes, voters alice and bob) and the bundled
    profile's reads and checks, via the loader; ``extra`` sections merged on top."""
    raw: dict[str, Any] = profile_sections() if profile else {}
    raw.update(extra or {})
    return parse_config(raw, base_dir)
