"""Configuration: the shipped config.toml is valid; bad input names key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.config import load_config, parse_config, read_password
from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_and_matches_defaults() -> None:
    cfg = load_config(ROOT / "config.toml")
    defaults = parse_config({}, ROOT)
    assert cfg.stack == defaults.stack
    assert cfg.chain == defaults.chain
    assert cfg.nodes == defaults.nodes
    assert cfg.voters == defaults.voters
    assert cfg.timing == defaults.timing
    assert cfg.node("node-carol").ws == "ws://127.0.0.1:26657/websocket"


@pytest.mark.parametrize(
    ("raw", "key", "value"),
    [
        ({"timing": {"vote_timeout": -1}}, "timing.vote_timeout", -1),
        ({"timing": {"launch_timeout": "soon"}}, "timing.launch_timeout", "soon"),
        ({"timing": {"min_blocks_ahead": 0}}, "timing.min_blocks_ahead", 0),
        ({"stack": {"projekt": "x"}}, "stack.projekt", "x"),
        ({"stack": {"project": "Bad Name"}}, "stack.project", "Bad Name"),
        ({"stack": {"compose_command": "podman"}}, "stack.compose_command", "podman"),
        ({"chain": {"deposit": "lots"}}, "chain.deposit", "lots"),
        ({"nodes": [{"name": "a", "rpc": "ftp://x"}]}, "nodes[0].rpc", "ftp://x"),
        ({"nodes": [{"name": "a", "rpc": "http://h:99999"}]}, "nodes[0].rpc", "http://h:99999"),
        ({"nodes": [{"rpc": "http://h:1"}]}, "nodes[0].name", None),
        (
            {"nodes": [{"name": "a", "rpc": "http://h:1"}, {"name": "a", "rpc": "http://h:2"}]},
            "nodes[1].name",
            "a",
        ),
        ({"voters": []}, "voters", []),
        ({"keyring": {"backend": "kwallet"}}, "keyring.backend", "kwallet"),
        ({"agent": {"log_level": "loud"}}, "agent.log_level", "loud"),
        ({"alertz": {}}, "alertz", {}),
        ({"watch": {"stall_floor_s": -1}}, "watch.stall_floor_s", -1),
        ({"watch": {"disabled": ["stal"]}}, "watch.disabled[0]", "stal"),
        ({"metrics": {"host": "0.0.0.0"}}, "metrics.host", "0.0.0.0"),
        (
            {"alerts": {"sinks": [{"type": "pager", "url": "http://h"}]}},
            "alerts.sinks[0].type",
            "pager",
        ),
    ],
)
def test_bad_values_name_the_key_and_value(raw: dict[str, object], key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, ROOT)
    assert info.value.key == key
    assert info.value.value == value
    assert key in str(info.value)


def test_password_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config({"keyring": {"password_env": "RH_TEST_PW"}}, tmp_path)
    monkeypatch.delenv("RH_TEST_PW", raising=False)
    with pytest.raises(ConfigError) as info:
        read_password(cfg)
    assert info.value.key == "keyring.password_env"
    monkeypatch.setenv("RH_TEST_PW", "s3cret")
    assert read_password(cfg) == "s3cret"
    (tmp_path / "pw").write_text("fromfile\n")
    cfg2 = parse_config({"keyring": {"password_file": "pw"}}, tmp_path)
    assert read_password(cfg2) == "fromfile"


def test_cli_exits_2_on_bad_config_and_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[timing]\nresume_budget = -5\n[agent]\nstate_dir = "st"\n')
    assert main(["run", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "timing.resume_budget" in err and "-5" in err
    assert not (tmp_path / "st").exists()


def test_cli_exits_2_when_password_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REHEARSE_KEYRING_PASSWORD", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[agent]\nstate_dir = "st"\n')
    assert main(["run", "--config", str(cfg)]) == 2
    assert "REHEARSE_KEYRING_PASSWORD" in capsys.readouterr().err
    assert not (tmp_path / "st").exists()


def test_cli_exits_2_on_malformed_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[timing\n")
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert "--config" in capsys.readouterr().err
