"""The kit's reset, done as files, leaves what `checkersd comet unsafe-reset-all
--keep-addr-book` leaves: compared on two copies of one real node home."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.kit.testnet import reset_home

from .conftest import require_binary

pytestmark = pytest.mark.timeout(120)


def _tree(home: Path) -> dict[str, str]:
    """Every file under ``home`` (relative path -> content, JSON normalised)."""
    out = {}
    for p in sorted(home.rglob("*")):
        if p.is_file():
            text = p.read_bytes().decode(errors="replace")
            try:
                text = json.dumps(json.loads(text), sort_keys=True)
            except ValueError:
                pass
            out[str(p.relative_to(home))] = text
    return out


def test_reset_as_files_matches_unsafe_reset_all(tmp_path: Path) -> None:
    binary = require_binary()
    home = tmp_path / "node"
    subprocess.run(
        [str(binary), "init", "n", "--chain-id", "c", "--home", str(home)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    # What a rehearsal leaves: stores, a WAL, a signed state, an upgrade-info.json.
    data = home / "data"
    for d in ("blockstore.db", "state.db", "application.db", "cs.wal", "snapshots/metadata.db"):
        (data / d).mkdir(parents=True, exist_ok=True)
        (data / d / "000001.log").write_text("x")
    (data / "priv_validator_state.json").write_text(
        json.dumps({"height": "20", "round": 0, "step": 3, "signature": "AA==", "signbytes": "00"})
    )
    (data / "upgrade-info.json").write_text('{"name":"v1tov2","height":19}')
    (home / "config" / "addrbook.json").write_text('{"key": "k", "addrs": []}')
    by_cli, by_files = tmp_path / "cli", tmp_path / "files"
    shutil.copytree(home, by_cli)
    shutil.copytree(home, by_files)

    subprocess.run(
        [str(binary), "comet", "unsafe-reset-all", "--home", str(by_cli), "--keep-addr-book"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (by_cli / "data" / "upgrade-info.json").unlink(missing_ok=True)  # what reset adds
    reset_home(by_files)

    assert _tree(by_files) == _tree(by_cli)
    assert sorted(p.name for p in (by_files / "data").iterdir()) == ["priv_validator_state.json"]
    assert oct((by_files / "data").stat().st_mode & 0o777) == oct(0o700)
