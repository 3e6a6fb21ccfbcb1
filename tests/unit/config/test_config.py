"""Configuration: the shipped config.toml is valid; bad input names key and value."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from agent.cli import main
from agent.config import Config, load_config, parse_config, read_password
from agent.config.schema import PROFILE_KEYS, ChainConfig
from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _profile(cfg: Config) -> Config:
    """``cfg`` with its [chain] PROFILE keys at the schema defaults."""
    neutral = {k: ChainConfig.model_fields[k].default for k in PROFILE_KEYS}
    return cfg.model_copy(update={"chain": cfg.chain.model_copy(update=neutral)})


PROFILE_FILE = ROOT / "prod-sim" / "rehearse.toml"


def _resolved(cfg: Config) -> dict[str, Any]:
    """``cfg`` as data, with the paths relative to its file made absolute (but the
    agent's own files, which live beside each file)."""
    doc = cfg.model_dump()
    for key in ("heartbeat_file", "alert_state_file"):
        doc["watch_tuning"].pop(key)
    assert cfg.kit is not None
    doc["kit"].update(dir=str(cfg.path(cfg.kit.dir)), genesis=str(cfg.path(cfg.kit.genesis)))
    for check in doc["checks"]:
        check["program"] = [str(cfg.path(a)) if a.endswith(".py") else a for a in check["program"]]
    return doc


def test_shipped_config_is_the_bundled_profile_in_full() -> None:
    # config.toml documents every key; prod-sim/rehearse.toml is the short form
    # `make rehearse` runs. They must describe one rehearsal: same network (kit
    # directory, Compose project, images), same chain, same checks.
    cfg = load_config(ROOT / "config.toml")
    assert _resolved(cfg) == _resolved(load_config(PROFILE_FILE))
    assert cfg.chain.binary == "checkersd" and cfg.chain.chain_id == "checkers-1"
    assert cfg.stack.compose_dir == str(ROOT / "prod-sim" / ".kit")
    assert cfg.node("node-carol").ws == "ws://127.0.0.1:26724/websocket"


def test_defaults_name_no_bundled_path(tmp_path: Path) -> None:
    # Without [kit], nothing defaults to the bundled chain's files: a hand-written
    # stack names its own reset, and the desks are beside its file.
    cfg = parse_config({}, tmp_path)
    assert cfg.stack.reset_command == [] and cfg.stack.ports_check_command == []
    assert cfg.compose_dir == tmp_path
    assert [cfg.path(v.desk) for v in cfg.voters] == [tmp_path / "desk-alice",
                                                       tmp_path / "desk-bob"]  # fmt: skip
    assert "prod-sim" not in json.dumps(cfg.model_dump(mode="json"))


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


def test_stack_env_reaches_compose_beside_the_testnet_dir(tmp_path: Path) -> None:
    cfg = parse_config({"stack": {"env": {"CHAIN_IMAGE_TAG": "rc1"}}}, tmp_path)
    assert cfg.stack_env == {"CHAIN_IMAGE_TAG": "rc1", "REHEARSE_TESTNET_DIR": str(tmp_path)}


def test_the_password_file_make_created_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make rehearse` writes .keyring-password in the kit's directory when the
    # variable is unset; doctor and run in the same checkout must find it.
    monkeypatch.delenv("REHEARSE_KEYRING_PASSWORD", raising=False)
    cfg = parse_config(
        {"kit": {"v1": {"binary": "/b/simd"}, "v2": {"binary": "/b/simd2"}, "dir": "net"}},
        tmp_path,
    )
    with pytest.raises(ConfigError, match=r"no .*net/\.keyring-password"):
        read_password(cfg)
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / ".keyring-password").write_text("made-by-make\n")
    assert read_password(cfg) == "made-by-make"
    monkeypatch.setenv("REHEARSE_KEYRING_PASSWORD", "from-env")
    assert read_password(cfg) == "from-env"  # the variable still wins


def test_the_test_keyring_needs_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It is not encrypted: the CLI never asks, so nothing is demanded.
    monkeypatch.delenv("REHEARSE_KEYRING_PASSWORD", raising=False)
    assert read_password(parse_config({"keyring": {"backend": "test"}}, tmp_path)) == ""
    with pytest.raises(ConfigError):
        read_password(parse_config({"keyring": {"backend": "file"}}, tmp_path))


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
    cfg.write_text('[agent]\nstate_dir = "st"\n[stack]\nreset_command = ["reset-homes"]\n')
    assert main(["run", "--config", str(cfg)]) == 2
    assert "REHEARSE_KEYRING_PASSWORD" in capsys.readouterr().err
    assert not (tmp_path / "st").exists()


def test_cli_exits_2_on_malformed_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[timing\n")
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert "--config" in capsys.readouterr().err


# --- config.toml is the documentation of the schema: they cannot drift -------

_EXAMPLE = re.compile(r"^# ?((?:\w+ = .*)|(?:\[\[?[\w.]+\]\]?))$")


def _documented() -> dict[str, Any]:
    """config.toml with its commented-out examples (optional keys, sinks) enabled."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    lines = [m.group(1) if (m := _EXAMPLE.match(line)) else line for line in text.splitlines()]
    return tomllib.loads("\n".join(lines))


def _schema_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every documented key path of ``model`` -> its field info (tables descended)."""
    out: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        key = prefix + (f.alias or name)
        ann = f.annotation
        optional = [a for a in get_args(ann) if a is not type(None)]
        if len(optional) == 1 and get_origin(ann) is not list:  # Model | None
            ann = optional[0]
        inner = get_args(ann)[0] if get_origin(ann) is list else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.update(_schema_keys(ann, key + "."))
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            out.update(_schema_keys(inner, key + "[]."))
        else:
            out[key] = f
    return out


def _doc_keys(raw: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = prefix + key
        if isinstance(value, dict) and not path.endswith(("for_s", "stack.env")):
            out.update(_doc_keys(value, path + "."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                out.update(_doc_keys(item, path + "[]."))
        else:
            out[path] = value
    return out


def test_config_toml_documents_exactly_the_schema() -> None:
    schema = set(_schema_keys(Config))
    documented = set(_doc_keys(_documented()))
    assert schema - documented == set(), "keys missing from config.toml"
    assert documented - schema == set(), "keys in config.toml the schema does not know"


def test_config_toml_shows_the_schema_defaults() -> None:
    # Every key shown (not commented out) has its default, except what the bundled
    # profile sets (the keys of prod-sim/rehearse.toml) and the PROFILE keys of
    # [chain], which must be present.
    schema = _schema_keys(Config)
    shown = _doc_keys(tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8")))
    own = set(_doc_keys(tomllib.loads(PROFILE_FILE.read_text(encoding="utf-8"))))
    own |= {"kit.dir", "kit.v1.package", "kit.v2.package", "kit.v1.source", "kit.v2.source"}
    assert {"chain.chain_id", "chain.denom", "chain.bech32_prefix"} <= set(shown)
    for key, value in shown.items():
        f = schema[key]
        if "[]" in key or f.is_required() or key in own:
            continue  # the profile's reads and checks have no defaults
        assert value == f.get_default(call_default_factory=True), key


def test_profile_keys_are_chain_keys_marked_in_config_toml() -> None:
    assert set(PROFILE_KEYS) <= set(ChainConfig.model_fields)
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    marked = set(re.findall(r"^(?:# )?(\w+) = .*# PROFILE$", text, flags=re.MULTILINE))
    assert marked == set(PROFILE_KEYS)


_SUM = "?checksum=sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "info",
    [
        "{}",
        "",
        "v2.0.0 from the release page",
        '{"commit": "abc"}',
        '{"binaries": {"linux/amd64": "https://h/app' + _SUM + '"}}',
        '{"binaries": {"linux/amd64": "https://h/a.tar.gz' + _SUM + '",'
        ' "linux/arm64": "https://h/b?x=1&checksum=sha512:00"}}',
    ],
)
def test_upgrade_info_accepted(info: str) -> None:
    assert parse_config({"chain": {"upgrade_info": info}}, ROOT).chain.upgrade_info == info


@pytest.mark.parametrize(
    "info",
    [
        '{"binaries": {"linux/amd64": "https://h/app"}}',
        '{"binaries": {"linux/amd64": "https://h/app' + _SUM + '", "linux/arm64": "https://h/b"}}',
        '{"binaries": {"linux/amd64": "https://h/checksum=sha256:00"}}',  # in the path only
        '{"binaries": {}}',
        '{"binaries": ["https://h/app' + _SUM + '"]}',
        '{"binaries": {"linux/amd64": 5}}',
    ],
)
def test_upgrade_info_binaries_need_checksums(
    info: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"chain": {"upgrade_info": info}}, ROOT)
    assert exc.value.key == "chain.upgrade_info"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[chain]\nupgrade_info = {json.dumps(info)}\n")
    assert main(["check-config", "--config", str(cfg)]) == 2
    assert "chain.upgrade_info" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("chain", "key"),
    [
        ({"sdk_line": "v0.48"}, "chain.sdk_line"),
        ({"bech32_prefix": "Cosmos"}, "chain.bech32_prefix"),
        ({"binary": "my d"}, "chain.binary"),
        ({"cli_home": "root/.app"}, "chain.cli_home"),
        ({"expedited": True, "sdk_line": "v0.47"}, "chain.expedited"),
    ],
)
def test_sdk_chain_keys_name_the_key(chain: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"chain": chain}, ROOT)
    assert info.value.key == key


def test_expedited_allowed_on_050_and_auto() -> None:
    for line in ("auto", "v0.50"):
        assert parse_config({"chain": {"expedited": True, "sdk_line": line}}, ROOT).chain.expedited


# --- the rules the old hand-written validation missed --------------------------


@pytest.mark.parametrize(
    ("raw", "key", "value"),
    [
        ({"timing": {"vote_timeout": math.nan}}, "timing.vote_timeout", None),
        ({"timing": {"vote_timeout": math.inf}}, "timing.vote_timeout", math.inf),
        ({"timing": {"vote_timeout": 1e308}}, "timing.vote_timeout", 1e308),
        ({"timing": {"vote_timeout": True}}, "timing.vote_timeout", True),
        ({"chain": {"chain_id": ""}}, "chain.chain_id", ""),
        ({"chain": {"cli_image_v1": "  "}}, "chain.cli_image_v1", "  "),
        ({"chain": {"gas": "-5"}}, "chain.gas", "-5"),
        ({"chain": {"tx_node": "node-caro"}}, "chain.tx_node", "node-caro"),
        ({"stack": {"reset_command": ["python3", ""]}}, "stack.reset_command[1]", ""),
        ({"nodes": [{"name": "node-carol", "rpc": "http://[::1"}]}, "nodes[0].rpc", None),
        (
            {"nodes": [{"name": "node-carol", "rpc": "http://h:1", "rest": "ws://h:2"}]},
            "nodes[0].rest",
            "ws://h:2",
        ),
        (
            {"voters": [{"name": "a", "key": "a", "desk": "d"}] * 2},
            "voters[1].name",
            "a",
        ),
        ({"agent": {"log_file": "./report.json"}}, "agent.log_file", "./report.json"),
        (
            {"watch": {"heartbeat_file": ".rehearse/alerts.json"}},
            "watch.alert_state_file",
            None,
        ),
        ({"agent": {"report_md": ".rehearse"}}, "agent.report_md", ".rehearse"),
    ],
)
def test_new_rules_name_the_key(raw: dict[str, Any], key: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, ROOT)
    assert info.value.key == key
    if value is not None:
        assert info.value.value == value
    assert key in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    raw = {"timing": {"vote_timeout": -1, "rpc_timeout": "5"}, "stack": {"projekt": "x"}}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, ROOT)
    keys = [e.key for e in info.value.errors]
    assert keys == ["stack.projekt", "timing.vote_timeout", "timing.rpc_timeout"]
    assert all(k in str(info.value) for k in keys)


def test_webhook_urls_are_redacted_in_errors() -> None:
    raw = {"alerts": {"sinks": [{"type": "slack", "url": "ftp://hooks.example/T/SECRET"}]}}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, ROOT)
    assert info.value.value == "ftp://hooks.example/***"
    assert "SECRET" not in str(info.value)


def test_check_config_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check-config"]) == 0
    assert "no config file" in capsys.readouterr().out
    assert main(["check-config", "--config", str(ROOT / "config.toml")]) == 0
    assert str(ROOT / "config.toml") in capsys.readouterr().out
    missing = tmp_path / "nope.toml"
    assert main(["check-config", "--config", str(missing)]) == 2
    assert "file not found" in capsys.readouterr().err


def test_watch_needs_no_rest_node_but_a_rehearsal_does(tmp_path: Path) -> None:
    cfg = parse_config({"nodes": [{"name": "node-carol", "rpc": "http://h:1"}],
                        "chain": {"tx_node": "node-carol"}}, tmp_path)  # fmt: skip
    with pytest.raises(ConfigError) as info:
        _ = cfg.rest_url
    assert info.value.key == "nodes[].rest"


def test_a_rehearsal_without_a_reset_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "stack.toml"
    cfg.write_text('[stack]\ncompose_dir = "."\n')
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "stack.reset_command" in err and "--attach" in err
    assert not (tmp_path / ".rehearse").exists()  # nothing started: no state, no log


def test_scenarios_lists_every_scenario_and_says_which_this_network_cannot_play(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A network without sentries (and its kit not built yet) used to stop the
    # listing at the first scenario it could not play.
    cfg = tmp_path / "config.toml"
    cfg.write_text('[scenarios]\nlone_peer = ""\nno_cosmovisor_overlay = "missing.yml"\n')
    assert main(["scenarios", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    from agent.core.scenarios import SCENARIO_NAMES

    listed = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert listed == list(SCENARIO_NAMES)
    assert "sentry-lost\n  not available here: config: scenarios.lone_peer = ''" in out
    assert "carol-without-cosmovisor\n  not available here:" in out
    assert "validator-paused\n  val-alice freezes during the vote" in out
    assert "restart-in-window\n  val-bob crashes and restarts between the halt" in out


def test_a_scenario_on_a_validator_needs_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[scenarios]\nvalidators = []\n")
    assert main(["scenarios", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    for name in ("validator-paused", "validator-missing-binary", "restart-in-window"):
        assert f"{name}\n  not available here: config: scenarios.validators = []" in out, name


@pytest.mark.parametrize(
    ("toml", "why"),
    [
        ("", "config: scenarios.divergent_overlay = '': is empty: mixed-binary needs"),
        ('[scenarios]\ndivergent_overlay = "gone.json"\n',
         "config: scenarios.divergent_overlay = 'gone.json': no such file in"),
        ('[traffic]\nrate = 0.0\n[scenarios]\ndivergent_overlay = "d.json"\n',
         "config: traffic.rate = 0.0: mixed-binary needs traffic"),
    ],
)  # fmt: skip
def test_mixed_binary_needs_a_divergent_v2_and_traffic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, why: str
) -> None:
    (tmp_path / "d.json").write_text("{}")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[stack]\ncompose_dir = "."\n{toml}')
    assert main(["scenarios", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert f"mixed-binary\n  not available here: {why}" in out


def test_mixed_binary_is_played_by_the_last_validator(tmp_path: Path) -> None:
    from agent.runtime.scenario_roles import scenario_for

    (tmp_path / "d.json").write_text("{}")
    raw = {"stack": {"compose_dir": "."}, "scenarios": {"divergent_overlay": "d.json"},
           "traffic": {"rate": 1.0, "accounts": ["t1"], "desk": "desk"}}  # fmt: skip
    sc = scenario_for(parse_config(raw, tmp_path), "mixed-binary")
    assert sc.launch_overlays == ("d.json",)
    assert sc.expectation.failure_contains == ("app hashes diverge", "val-bob diverged")


def test_late_validator_needs_four_validators_and_its_overlay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[stack]\ncompose_dir = "."\n')
    assert main(["scenarios", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert (
        "late-validator\n  not available here: config: scenarios.validators = "
        "['val-alice', 'val-bob']: late-validator needs four validators or more"
    ) in out
    four = '["val-alice", "val-bob", "sentry-alice", "node-carol"]'
    cfg.write_text(f'[stack]\ncompose_dir = "."\n[scenarios]\nvalidators = {four}\n')
    assert main(["scenarios", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "late-validator\n  not available here: config: scenarios.late_overlay = ''" in out
    (tmp_path / "late.json").write_text("{}")
    cfg.write_text(
        f'[stack]\ncompose_dir = "."\n[scenarios]\nvalidators = {four}\n'
        'late_overlay = "late.json"\nlate_blocks = 7\n'
    )
    assert main(["scenarios", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "late-validator\n  node-carol upgrades late, by hand" in out


def test_auto_download_takes_its_checksums_from_the_kits_manifest(tmp_path: Path) -> None:
    from agent.runtime.scenario_roles import scenario_for

    (tmp_path / "dl.json").write_text("{}")
    raw = {"stack": {"compose_dir": "."},
           "scenarios": {"download_overlay": "dl.json", "download_url": "http://downloads:8080/c"},
           "kit": {"v1": {"binary": "v1"}, "v2": {"binary": "v2"}, "dir": "."}}  # fmt: skip
    cfg = parse_config(raw, tmp_path)
    cfg = cfg.model_copy(
        update={"stack": cfg.stack.model_copy(update={"compose_dir": str(tmp_path)})}
    )
    with pytest.raises(ConfigError) as err:  # the kit never ran
        scenario_for(cfg, "auto-download")
    assert err.value.key == "scenarios.download_sha256" and "rehearse kit build" in str(err.value)
    (tmp_path / "kit.json").write_text(json.dumps({"v2_sha256": "b" * 64, "v1_sha256": "a" * 64}))
    sc = scenario_for(cfg, "auto-download-bad-checksum")
    assert "checksum=sha256:" + "a" * 64 in sc.upgrade_info
    assert "checksum=sha256:" + "b" * 64 in scenario_for(cfg, "auto-download").upgrade_info
    bad = cfg.model_copy(
        update={"scenarios": cfg.scenarios.model_copy(update={"download_sha256": "XYZ"})}
    )
    with pytest.raises(ConfigError) as err:
        scenario_for(bad, "auto-download")
    assert err.value.key == "scenarios.download_sha256" and "not a SHA-256" in str(err.value)
    gone = cfg.model_copy(
        update={"scenarios": cfg.scenarios.model_copy(update={"download_overlay": "x.json"})}
    )
    with pytest.raises(ConfigError) as err:
        scenario_for(gone, "auto-download")
    assert err.value.key == "scenarios.download_overlay"
