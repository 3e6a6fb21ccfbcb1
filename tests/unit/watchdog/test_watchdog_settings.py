"""[watch], [metrics] and [[alerts.sinks]]: defaults, the snippet, errors naming keys."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ConfigError
from agent.watchdog import Thresholds, parse_watch_settings

SNIPPET = Path(__file__).parents[3] / "agent" / "watchdog" / "config-snippet.toml"
BASE = Path("/srv/rehearse")


def test_defaults() -> None:
    s = parse_watch_settings({}, BASE)
    assert s.watch.thresholds == Thresholds()
    assert s.watch.alert_state_file == BASE / ".rehearse/alerts.json"
    assert s.watch.heartbeat_file == BASE / ".rehearse/heartbeat.json"
    assert (s.metrics.enabled, s.metrics.host) == (False, "127.0.0.1")
    assert s.sinks == ()


def test_the_snippet_parses_with_its_defaults() -> None:
    raw = tomllib.loads(SNIPPET.read_text(encoding="utf-8"))
    s = parse_watch_settings(raw, BASE)
    assert s.watch.thresholds == Thresholds()
    assert s.watch.for_s == {"lag": 10.0, "stream_down": 0.0}


def test_the_snippet_documents_every_key() -> None:
    text = SNIPPET.read_text(encoding="utf-8")
    for key in [*Thresholds.__dataclass_fields__, "evaluate_interval_s", "heartbeat_file"]:
        assert key in text, key


def test_a_full_configuration() -> None:
    raw = tomllib.loads(
        """
        [watch]
        stall_after_s = 45
        lag_blocks = 3
        disabled = ["oom"]
        heartbeat_file = "/var/run/rehearse.hb"
        [watch.for_s]
        stream_down = 5
        [metrics]
        enabled = true
        host = "localhost"
        port = 9100
        [[alerts.sinks]]
        type = "slack"
        url = "https://hooks.slack.com/services/T/B/SECRET"
        retries = 0
        [[alerts.sinks]]
        type = "command"
        argv = ["notify", "--urgent"]
        timeout_s = 2.5
        """
    )
    s = parse_watch_settings(raw, BASE)
    assert s.watch.thresholds.stall_after_s == 45.0
    assert s.watch.thresholds.lag_blocks == 3
    assert s.watch.thresholds.disabled == frozenset({"oom"})
    assert s.watch.heartbeat_file == Path("/var/run/rehearse.hb")
    assert s.watch.for_s == {"stream_down": 5.0}
    assert (s.metrics.enabled, s.metrics.host, s.metrics.port) == (True, "localhost", 9100)
    slack, command = s.sinks
    assert (slack.type, slack.retries) == ("slack", 0)
    assert (command.argv, command.timeout_s) == (("notify", "--urgent"), 2.5)


@pytest.mark.parametrize(
    ("raw", "key", "value"),
    [
        ({"watch": {"stall_floor_s": -1}}, "watch.stall_floor_s", -1),
        ({"watch": {"stall_factor": 0}}, "watch.stall_factor", 0),
        ({"watch": {"lag_blocks": 0}}, "watch.lag_blocks", 0),
        ({"watch": {"lag_blocks": 2.5}}, "watch.lag_blocks", 2.5),
        ({"watch": {"resume_budget_s": "90"}}, "watch.resume_budget_s", "90"),
        ({"watch": {"stall_floor": 15}}, "watch.stall_floor", 15),
        ({"watch": {"disabled": ["stall", "stal"]}}, "watch.disabled[1]", "stal"),
        ({"watch": {"for_s": {"lagg": 3}}}, "watch.for_s.lagg", "lagg"),
        ({"watch": {"for_s": {"lag": -3}}}, "watch.for_s.lag", -3),
        ({"watch": {"heartbeat_file": ""}}, "watch.heartbeat_file", ""),
        ({"watch": 3}, "watch", 3),
        ({"metrics": {"host": "0.0.0.0"}}, "metrics.host", "0.0.0.0"),
        ({"metrics": {"port": 70000}}, "metrics.port", 70000),
        ({"metrics": {"enabled": "yes"}}, "metrics.enabled", "yes"),
        ({"alerts": {"sink": []}}, "alerts.sink", []),
        ({"alerts": {"sinks": [{"type": "pager"}]}}, "alerts.sinks[0].type", "pager"),
        ({"alerts": {"sinks": [{"type": "webhook"}]}}, "alerts.sinks[0].url", None),
        (
            {"alerts": {"sinks": [{"type": "command", "argv": []}]}},
            "alerts.sinks[0].argv",
            [],
        ),
        (
            {"alerts": {"sinks": [{"type": "slack", "url": "https://h/x", "colour": 1}]}},
            "alerts.sinks[0].colour",
            1,
        ),
        (
            {"alerts": {"sinks": [{"type": "slack", "url": "https://h/x", "retries": -1}]}},
            "alerts.sinks[0].retries",
            -1,
        ),
        (
            {"alerts": {"sinks": [{"type": "slack", "url": "https://h/x", "timeout_s": 0}]}},
            "alerts.sinks[0].timeout_s",
            0,
        ),
    ],
)
def test_errors_name_the_key_and_value(raw: dict[str, Any], key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        parse_watch_settings(raw, BASE)
    assert info.value.key == key
    assert info.value.value == value
    assert key in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/services/SECRET",
        "hooks.slack.com/services/SECRET",
        "https:///services/SECRET",
        "http://example.com:99999/SECRET",
    ],
)
def test_malformed_webhook_url_is_named_but_redacted(url: str) -> None:
    raw = {
        "alerts": {
            "sinks": [
                {"type": "webhook", "url": "https://ok.example/"},
                {"type": "discord", "url": url},
            ]
        }
    }
    with pytest.raises(ConfigError) as info:
        parse_watch_settings(raw, BASE)
    assert info.value.key == "alerts.sinks[1].url"
    assert "SECRET" not in str(info.value)


# --- [metrics] allow_remote: the explicit opt-in for a non-loopback host --------


def test_a_non_loopback_metrics_host_needs_allow_remote() -> None:
    with pytest.raises(ConfigError) as info:
        parse_watch_settings({"metrics": {"host": "0.0.0.0"}}, BASE)
    assert info.value.key == "metrics.host"
    assert "metrics.allow_remote" in str(info.value)
    s = parse_watch_settings({"metrics": {"host": "0.0.0.0", "allow_remote": True}}, BASE)
    assert (s.metrics.host, s.metrics.allow_remote) == ("0.0.0.0", True)
    # allow_remote alone changes nothing: the default host stays the loopback.
    assert parse_watch_settings({"metrics": {"allow_remote": True}}, BASE).metrics.host == (
        "127.0.0.1"
    )


def test_check_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text('[metrics]\nenabled = true\nhost = "10.0.0.5"\n')
    assert main(["check-config", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "metrics.host" in err and "metrics.allow_remote" in err
    cfg.write_text('[metrics]\nenabled = true\nhost = "10.0.0.5"\nallow_remote = true\n')
    assert main(["check-config", "--config", str(cfg)]) == 0


def test_the_metrics_server_refuses_a_remote_host_unless_allowed() -> None:
    from prometheus_client import CollectorRegistry

    from agent.watchdog import MetricsServer

    with pytest.raises(ValueError, match="loopback"):
        MetricsServer(CollectorRegistry(), "0.0.0.0", 0)
    assert MetricsServer(CollectorRegistry(), "0.0.0.0", 0, allow_remote=True).host == "0.0.0.0"


# --- the apprise sink: urls, each a secret -------------------------------------------


def test_an_apprise_sink_takes_its_service_urls() -> None:
    raw = {"alerts": {"sinks": [{"type": "apprise", "urls": ["tgram://1:SECRET/2"]}]}}
    (sink,) = parse_watch_settings(raw, BASE).sinks
    assert sink.urls == ("tgram://1:SECRET/2",)


@pytest.mark.parametrize(
    ("sink", "key"),
    [
        ({"type": "apprise"}, "alerts.sinks[0].urls"),
        ({"type": "apprise", "urls": ["tgram://x", "SECRET"]}, "alerts.sinks[0].urls[1]"),
        ({"type": "apprise", "urls": ["tgram://x"], "url": "https://SECRET/"},
         "alerts.sinks[0].url"),
        ({"type": "webhook", "url": "https://h/x", "urls": ["tgram://SECRET"]},
         "alerts.sinks[0].urls"),
    ],
)  # fmt: skip
def test_a_bad_apprise_sink_is_named_and_its_urls_never_shown(
    sink: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_watch_settings({"alerts": {"sinks": [sink]}}, BASE)
    assert info.value.key == key
    assert "SECRET" not in str(info.value)
    assert all("SECRET" not in str(e) for e in info.value.errors)
