"""Wheel build hook: ship the default config and the bundled chain next to the package.

The wheel carries ``config.toml`` and the ``prod-sim/`` tree (the chain's sources,
its kit profile, players, check and scripts) as the top-level data directory
``rehearse_data/`` beside ``agent/`` in site-packages, so every install layout (a
venv, pipx, ``--user``, ``--target``) finds it next to the package
(``agent/bundle.py``). What git ignores stays out (built binaries, the kit's
network with its keyring password, the agent's state and reports). Editable
installs ship nothing: they read the checkout.
"""

from __future__ import annotations

import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

DATA_DIR = "rehearse_data"
# Never shipped, whatever .gitignore says (it may be missing from a source tree).
NEVER = ("prod-sim/build/", "prod-sim/.kit/", "prod-sim/.rehearse/", "prod-sim/report.")


class BundleHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        forced = build_data.setdefault("force_include", {})
        forced[os.path.join(self.root, "config.toml")] = f"{DATA_DIR}/config.toml"
        for rel in self._prod_sim_files():
            forced[os.path.join(self.root, rel)] = f"{DATA_DIR}/{rel}"

    def _excluded(self, rel: str) -> bool:
        if any(rel == n.rstrip("/") or rel.startswith(n) for n in NEVER):
            return True
        return bool(self.build_config.path_is_excluded(rel))

    def _prod_sim_files(self) -> list[str]:
        out: list[str] = []
        for root, dirs, files in os.walk(os.path.join(self.root, "prod-sim")):
            rel_root = os.path.relpath(root, self.root).replace(os.sep, "/")
            dirs[:] = sorted(
                d for d in dirs if d != "__pycache__" and not self._excluded(f"{rel_root}/{d}/")
            )
            for f in sorted(files):
                rel = f"{rel_root}/{f}"
                if not f.endswith(".pyc") and not self._excluded(rel):
                    out.append(rel)
        return out
