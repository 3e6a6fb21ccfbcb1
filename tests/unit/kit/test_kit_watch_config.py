"""`rehearse kit watch-config`: a watcher's config for the network a profile makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.config import load_config, parse_config
from agent.kit.watch_config import watch_config

ROOT = Path(__file__).resolve().parents[3]
PROFILE = ROOT / "prod-sim" / "rehearse.toml"


def test_the_watcher_watches_the_profiles_nodes_and_project(tmp_path: Path) -> None:
    profile = load_config(PROFILE)
    written = tmp_path / "watch.toml"
    written.write_text(watch_config(profile, "/var/lib/w", metrics_port=9999))
    watcher = load_config(written)
    assert watcher.stack.project == profile.stack.project
    assert watcher.chain.tx_node == profile.chain.tx_node
    assert [(n.name, n.rpc, n.rest) for n in watcher.nodes] == [
        (n.name, n.rpc, n.rest) for n in profile.nodes
    ]
    assert watcher.state_dir == Path("/var/lib/w")
    assert watcher.watch.watch.alert_state_file == Path("/var/lib/w/alerts.json")
    assert watcher.watch.metrics.enabled and watcher.watch.metrics.port == 9999


def test_names_are_quoted_as_toml_strings(tmp_path: Path) -> None:
    cfg = parse_config(
        {"nodes": [{"name": "n1", "rpc": 'http://127.0.0.1:1/"x'}], "chain": {"tx_node": "n1"}},
        tmp_path,
    )  # a quote in a URL must not end the string
    written = tmp_path / "watch.toml"
    written.write_text(watch_config(cfg))
    assert load_config(written).nodes[0].rpc == cfg.nodes[0].rpc


def test_the_command_prints_it_and_refuses_a_relative_state_dir(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["kit", "watch-config", "--config", str(PROFILE)]) == 0
    assert capsys.readouterr().out == watch_config(load_config(PROFILE))
    assert main(["kit", "watch-config", "--config", str(PROFILE), "--state-dir", "st"]) == 2
    assert "--state-dir" in capsys.readouterr().err
