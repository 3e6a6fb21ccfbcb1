"""Issue 19 L4: values refused where they enter, with the key named, no traceback and
no secret echoed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config, parse_config, read_password
from agent.errors import ConfigError

VOTERS = [{"name": "alice", "key": "alice", "desk": "desk-alice"}]


def refused(tmp_path: Path, raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, tmp_path)
    return info.value


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"chain": {"cli_image_v1": "--privileged"}}, "chain.cli_image_v1"),
        ({"voters": [{**VOTERS[0], "key": "--home=/x"}]}, "voters[0].key"),
        ({"chain": {"upgrade_name": "../../etc"}}, "chain.upgrade_name"),
        ({"chain": {"upgrade_name": "-rf"}}, "chain.upgrade_name"),
        ({"voters": [{**VOTERS[0], "desk": "/"}]}, "voters[0].desk"),
        ({"voters": [{**VOTERS[0], "desk": "/etc"}]}, "voters[0].desk"),
        ({"voters": [{**VOTERS[0], "desk": "../../.."}]}, "voters[0].desk"),
        ({"nodes": [{"name": "a\nb", "rpc": "http://127.0.0.1:1"}]}, "nodes[0].name"),
        ({"nodes": [{"name": "a", "rpc": "http://127.0.0.1:1/x y"}]}, "nodes[0].rpc"),
        ({"nodes": [{"name": "a", "rpc": "http://127.0.0.1:1/?q=1"}]}, "nodes[0].rpc"),
        ({"nodes": [{"name": "a", "rpc": "http://127.0.0.1:1", "rest": "http://h/#f"}]},
         "nodes[0].rest"),
        ({"traffic": {"rate": -1}}, "traffic.rate"),
        ({"traffic": {"rate": 1.0, "desk": "d"}}, "traffic.accounts"),
        ({"traffic": {"rate": 1.0, "accounts": ["t1"]}}, "traffic.desk"),
        ({"traffic": {"desk": "/etc"}}, "traffic.desk"),
        ({"traffic": {"accounts": ["t1", "t1"]}}, "traffic.accounts"),
        ({"traffic": {"txs": [{"name": "s", "tx": ["bank", "send", "--from=x"]}]}},
         "traffic.txs[0].tx[2]"),
    ],
)  # fmt: skip
def test_a_value_that_would_run_or_escape_is_refused(
    tmp_path: Path, raw: dict[str, Any], key: str
) -> None:
    assert refused(tmp_path, raw).key == key


def test_usual_values_still_pass(tmp_path: Path) -> None:
    cfg = parse_config(
        {"chain": {"upgrade_name": "v7.0.0-rc1", "cli_image_v1": "reg/img:v1"},
         "voters": [{"name": "alice", "key": "alice_1", "desk": "/tmp/x/desk-alice"}]},
        tmp_path,
    )  # fmt: skip
    assert cfg.chain.upgrade_name == "v7.0.0-rc1"


TOKEN = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN"


@pytest.mark.parametrize(
    "alerts",
    [
        {"sinks": [{"type": "slack", "URL": TOKEN}]},  # a misspelled key
        {"sinks": {"type": "slack", "url": TOKEN}},  # a table, not an array
    ],
)
def test_a_webhook_token_is_never_echoed(tmp_path: Path, alerts: dict[str, Any]) -> None:
    err = refused(tmp_path, {"alerts": alerts})
    assert "SECRETTOKEN" not in str(err) and "SECRETTOKEN" not in repr(err.value)


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply|not valid TOML"):
        load_config(path)


def test_a_password_file_not_in_utf8_is_named_not_echoed(tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes("pässwörd-latin1".encode("latin-1"))
    cfg = parse_config({"keyring": {"password_file": "pw"}}, tmp_path)
    with pytest.raises(ConfigError, match="is not UTF-8 text") as info:
        read_password(cfg)
    assert "s\\xe4ssw" not in str(info.value) and "pässw" not in str(info.value)
