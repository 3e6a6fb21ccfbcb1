"""`rehearse init` and the bundled data (source-checkout layout; the wheel layout
is checked by building and installing the wheel, see docs/install.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent import bundle
from agent.cli import main
from agent.config import load_config

ROOT = Path(__file__).resolve().parents[3]


def test_bundle_found_in_the_source_checkout() -> None:
    assert bundle.bundle_root() == ROOT


def test_init_writes_the_documented_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "new")]) == 0
    written = tmp_path / "new" / "config.toml"
    assert written.read_bytes() == (ROOT / "config.toml").read_bytes()
    assert not (tmp_path / "new" / "prod-sim").exists()
    out = capsys.readouterr().out
    assert str(written) in out and "--prod-sim" in out
    assert main(["check-config", "--config", str(written)]) == 0


def test_init_defaults_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "config.toml").is_file()
    assert "cd " not in capsys.readouterr().out


def test_init_prod_sim_copies_the_sources_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "d"
    assert main(["init", str(dest), "--prod-sim"]) == 0
    copied = sorted(
        p.relative_to(dest / "prod-sim") for p in (dest / "prod-sim").rglob("*") if p.is_file()
    )
    assert copied == sorted(bundle.source_files(ROOT / "prod-sim"))
    for f in ("rehearse.toml", "players.json", "chain/go.mod", "checks/leaderboard.py"):
        assert (dest / "prod-sim" / f).exists(), f
    assert (dest / "prod-sim" / "scripts" / "check-prereqs.sh").stat().st_mode & 0o111
    out = capsys.readouterr().out
    assert f"cd {dest}" in out
    for step in ("prod-sim/scripts/check-prereqs.sh", "REHEARSE_KEYRING_PASSWORD",
                 "rehearse kit build", "rehearse run"):  # fmt: skip
        assert step in out, step
    # The config's relative paths (the chain's sources, its players, the check
    # programs) resolve there, and so do the short profile's.
    for name in ("config.toml", "prod-sim/rehearse.toml"):
        cfg = load_config(dest / name)
        assert cfg.kit is not None
        for spec in (cfg.kit.v1, cfg.kit.v2):
            assert (cfg.path(spec.source) / "go.mod").is_file()
        assert cfg.path(cfg.kit.genesis).is_file()
        assert cfg.path(cfg.kit.dir) == dest / "prod-sim" / ".kit"
        for check in cfg.checks:
            if check.program:
                assert cfg.path(check.program[-1]).is_file()


def test_next_steps_name_scripts_that_exist() -> None:
    res = bundle.InitResult(config=Path("config.toml"), prod_sim=Path("prod-sim"))
    for line in bundle.next_steps(res, Path(".")):
        word = line.split()[0] if line.startswith("  ") else ""
        if word.startswith("prod-sim/"):
            assert (ROOT / word).is_file(), word


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.toml").write_text("# mine\n")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "config.toml") in err and "--force" in err
    assert (tmp_path / "config.toml").read_text() == "# mine\n"
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "config.toml").read_bytes() == (ROOT / "config.toml").read_bytes()


def test_init_refuses_an_existing_prod_sim_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prod-sim").mkdir()
    assert main(["init", str(tmp_path), "--prod-sim"]) == 2
    assert str(tmp_path / "prod-sim") in capsys.readouterr().err
    assert not (tmp_path / "config.toml").exists()


def test_force_updates_prod_sim_in_place_keeping_build_and_homes(tmp_path: Path) -> None:
    home = tmp_path / "prod-sim" / ".kit" / "val-alice" / "config"
    home.mkdir(parents=True)
    (home / "genesis.json").write_text("{}")
    (tmp_path / "prod-sim" / "rehearse.toml").write_text("stale")
    assert main(["init", str(tmp_path), "--prod-sim", "--force"]) == 0
    assert (home / "genesis.json").read_text() == "{}"
    assert (tmp_path / "prod-sim" / "rehearse.toml").read_bytes() == (
        ROOT / "prod-sim" / "rehearse.toml"
    ).read_bytes()


def _fake_bundle(root: Path) -> Path:
    """A bundle laid out like an installed wheel: site/agent + site/rehearse_data."""
    site = root / "site"
    data = site / bundle.DATA_DIR
    shutil.copytree(ROOT / "prod-sim", data / "prod-sim", ignore=shutil.ignore_patterns("build"))
    shutil.copyfile(ROOT / "config.toml", data / "config.toml")
    (site / "agent").mkdir()
    return site


def test_wheel_layout_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _fake_bundle(tmp_path)
    monkeypatch.setattr(bundle, "__file__", str(site / "agent" / "bundle.py"))
    assert bundle.bundle_root() == site / bundle.DATA_DIR


def test_generated_files_are_never_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _fake_bundle(tmp_path)
    src = site / bundle.DATA_DIR / "prod-sim"
    for junk in (
        "build/checkersd-v1",
        ".kit/desk-alice/keys/k.info",
        ".kit/node-carol/config/genesis.json",
        ".kit/.keyring-password",
        ".keyring-password",
        ".rehearse/journal.jsonl",
        "report.md",
        "checks/__pycache__/x.cpython-311.pyc",
    ):
        (src / junk).parent.mkdir(parents=True, exist_ok=True)
        (src / junk).write_text("x")
    monkeypatch.setattr(bundle, "__file__", str(site / "agent" / "bundle.py"))
    assert main(["init", str(tmp_path / "out"), "--prod-sim"]) == 0
    out = tmp_path / "out" / "prod-sim"
    left = {str(p.relative_to(out)) for p in out.rglob("*")}
    assert not {x for x in left if x.split("/")[0] in {"build", ".kit", ".rehearse"}}
    assert ".keyring-password" not in left and "report.md" not in left
    assert not any("__pycache__" in x for x in left)


def test_missing_bundle_is_an_environment_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agent").mkdir()
    monkeypatch.setattr(bundle, "__file__", str(tmp_path / "agent" / "bundle.py"))
    monkeypatch.setattr(bundle, "_candidates", lambda: [tmp_path / bundle.DATA_DIR, tmp_path])
    assert main(["init", str(tmp_path / "out")]) == 2
    assert "bundled config.toml" in capsys.readouterr().err


def test_the_copied_tree_is_what_git_tracks() -> None:
    """What init copies from a checkout = the tracked prod-sim files (no generated ones)."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        [git, "ls-files", "prod-sim"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    shipped = {f"prod-sim/{p}" for p in bundle.source_files(ROOT / "prod-sim")}
    # Untracked new files may exist in a working tree; tracked ones must all ship.
    assert set(tracked) <= shipped
