"""`rehearse init --chain`: bad input named (exit 2, nothing written); the profile it
writes parses and names the binaries and the chain's own facts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.kit.cli import init_chain
from agent.kit.probe import ChainFacts, render_profile


def facts(path: Path, version: str) -> ChainFacts:
    return ChainFacts(path, "gaiad", version, "v0.47.17", "v0.47", "/root/.gaia", "cosmos",
                      "uatom")  # fmt: skip


def test_the_written_profile_is_a_kit_profile(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    text = render_profile(facts(tmp_path / "bin/g1", "v1"), facts(tmp_path / "bin/g2", "v2"),
                          "v2", tmp_path)  # fmt: skip
    raw = tomllib.loads(text)
    assert raw["kit"]["v1"] == {"binary": "bin/g1"} and raw["kit"]["name"] == "gaiad"
    cfg = parse_config(raw, tmp_path)
    assert (cfg.chain.denom, cfg.chain.bech32_prefix, cfg.chain.binary) == ("uatom", "cosmos",
                                                                           "gaiad")  # fmt: skip
    assert cfg.chain.deposit == "10000000uatom" and cfg.chain.upgrade_name == "v2"
    assert "Cosmos SDK v0.47.17" in text


@pytest.mark.parametrize(
    ("pairs", "upgrade", "said"),
    [
        (["v1=/x", "v3=/y"], "v2", "'v3=/y' is not v1=PATH"),
        (["v1=/x", "v1=/y"], "v2", "give v1=PATH and v2=PATH"),
        (["v1=/nope", "v2=/nope"], "v2", "/nope is not a file"),
        (["v1=/x", "v2=/y"], "", "--upgrade: '' is not a plan name"),
    ],
)
def test_bad_input_is_named_and_nothing_written(
    pairs: list[str], upgrade: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init_chain(tmp_path / "out", pairs, upgrade, force=False) == 2
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_name_falls_back_to_the_root_command_when_the_build_set_none() -> None:
    from agent.kit.probe import _name

    usage = "simulation app\n\nUsage:\n  simd [command]\n\nAvailable Commands:\n"
    assert _name("<appd>", usage, Path("/x/simd-v0.45.16")) == "simd"  # CI's build: no ldflags
    assert _name("", usage, Path("/x/simd-v0.45.16")) == "simd"
    assert _name("gaiad", usage, Path("/x/y")) == "gaiad"
    assert _name("", "no usage", Path("/x/chaind")) == "chaind"
