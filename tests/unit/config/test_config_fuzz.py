"""A config fuzzer: mutations of the shipped config.toml never escape as anything
but ConfigError, and whatever is accepted is sane.

Starts from the documented default (so most examples are one or two mutations
away from valid, which is where validation bugs hide) and applies hostile values:
non-finite and absurd numbers, wrong types, empty or huge strings, unknown keys,
duplicated names, broken URLs, colliding state files.
"""

from __future__ import annotations

import copy
import math
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agent.config import Config, parse_config
from agent.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
BASE_DIR = Path("/srv/rehearse")
SECRET = "T0KEN-SECRET"

BASE: dict[str, Any] = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
# The documented sinks are commented out; fuzz them too.
BASE["alerts"] = {
    "sinks": [
        {"type": "slack", "url": f"https://hooks.example.com/services/{SECRET}"},
        {"type": "command", "argv": ["notify", "--team", "chain"], "timeout_s": 10.0},
    ]
}

FILE_KEYS: list[tuple[str | int, ...]] = [
    ("agent", "report_json"),
    ("agent", "report_md"),
    ("agent", "log_file"),
    ("agent", "state_dir"),
    ("watch", "heartbeat_file"),
    ("watch", "alert_state_file"),
]

BAD_SCALARS: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    -1,
    -0.5,
    0,
    0.0,
    1,
    2**63,
    -(2**63),
    True,
    False,
    "",
    " ",
    "x" * 5000,
    "\x00",
    "auto",
    "http://[::1",
    "http://[::1]:26657",
    "http://h:99999",
    "http://h:0",
    "ftp://x",
    "ws://127.0.0.1:26657",
    "https:///nohost",
    "10000000upawn",
    "-5upawn",
    "-5",
    "node-carol",
    "val-alice",
    # issue 19 L4: values that would run, escape or break a line
    "--privileged",
    "--home=/x",
    "../../etc",
    "/",
    "/etc",
    "a\nb",
    "http://127.0.0.1:1/x y",
    "http://127.0.0.1:1/?q=1",
    ".rehearse/agent.log",
    ".rehearse",
    [],
    [""],
    ["a", ""],
    ["ok"],
    [1, 2],
    {},
    {"lag": math.nan},
    {"lagg": 1.0},
    {"stall": -1.0},
]


HOSTILE = ["--privileged", "--home=/x", "../../etc", "/", "/etc", "a\nb", "-rf", "a b"]
HOSTILE_LEAVES: list[tuple[str | int, ...]] = [
    ("chain", "upgrade_name"),
    ("chain", "cli_image_v1"),
    ("chain", "cli_image_v2"),
    ("nodes", 0, "name"),
    ("nodes", 1, "service"),
    ("voters", 0, "name"),
    ("voters", 1, "key"),
    ("voters", 0, "desk"),
]


def _leaves(obj: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list) and obj and all(isinstance(i, dict) for i in obj):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _tables(obj: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(obj, dict):
        yield path
        for k, v in obj.items():
            yield from _tables(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, dict):
                yield from _tables(v, (*path, i))


BAD_URLS: list[Any] = [
    "http://[::1",
    "http://[::1]:26657",
    "http://h:99999",
    "http://h:0",
    "http://h:-1",
    "ftp://x",
    "ws://127.0.0.1:26657",
    "https:///nohost",
    "127.0.0.1:26657",
    "",
    "http://",
    "http://h:abc",
]
# Webhook URLs hold tokens: only these (in sinks) must never show in an error.
SECRET_URLS: list[Any] = [
    f"https://hooks.example.com/services/{SECRET}",
    f"https://hooks.example.com:99999/{SECRET}",
    f"hooks.example.com/{SECRET}",
    f"http://[::1/{SECRET}",
    f"ftp://hooks.example.com/{SECRET}",
    f"https://user:{SECRET}@hooks.example.com/",
    f"https:///{SECRET}",
]

LEAVES = list(_leaves(BASE))
TABLES = list(_tables(BASE))


def _get(raw: Any, path: tuple[str | int, ...]) -> Any:
    for p in path:
        raw = raw[p]
    return raw


def _set(raw: Any, path: tuple[str | int, ...], value: Any) -> None:
    _get(raw, path[:-1])[path[-1]] = value


values = st.one_of(
    st.sampled_from(BAD_SCALARS),
    st.floats(),
    st.integers(),
    st.text(max_size=30),
    st.lists(st.text(max_size=5), max_size=3),
)


@st.composite
def mutation(draw: st.DrawFn, raw: dict[str, Any]) -> None:
    kind = draw(
        st.sampled_from(
            [
                "set",
                "set",
                "set",
                "delete",
                "unknown",
                "dup",
                "tx_node",
                "collide",
                "sink",
                "url",
                "hostile",
            ]  # fmt: skip
        )
    )
    if kind == "set":
        path = draw(st.sampled_from(LEAVES))
        secret = path[0] == "alerts" and path[-1] == "url"
        _set(raw, path, draw(st.sampled_from(SECRET_URLS) if secret else values))
    elif kind == "delete":
        path = draw(st.sampled_from(LEAVES + TABLES[1:]))
        try:
            del _get(raw, path[:-1])[path[-1]]
        except (KeyError, IndexError, TypeError):
            pass
    elif kind == "unknown":
        table = _get(raw, draw(st.sampled_from(TABLES)))
        table[draw(st.text(min_size=1, max_size=8))] = draw(values)
    elif kind == "url":
        path = draw(st.sampled_from([p for p in LEAVES if p[-1] in ("rpc", "rest")]))
        _set(raw, path, draw(st.sampled_from(BAD_URLS)))
    elif kind == "dup":
        nodes = raw["nodes"]
        i, j = draw(st.integers(0, len(nodes) - 1)), draw(st.integers(0, len(nodes) - 1))
        field = draw(st.sampled_from(["name", "service"]))
        nodes[i][field] = nodes[j].get("name")
        voters = raw["voters"]
        voters[-1]["name"] = voters[0].get("name")
    elif kind == "hostile":  # issue 19 L4: into the leaves that reach argv or paths
        path = draw(st.sampled_from(HOSTILE_LEAVES))
        _set(raw, path, draw(st.sampled_from(HOSTILE)))
    elif kind == "tx_node":
        raw["chain"]["tx_node"] = draw(st.sampled_from(["", "node-caro", "val-bob", "x" * 300]))
    elif kind == "collide":
        a, b = draw(st.sampled_from(FILE_KEYS)), draw(st.sampled_from(FILE_KEYS))
        target = draw(st.sampled_from(["", "./", "sub/../"])) + str(_get(BASE, b))
        _set(raw, a, target)
    else:
        sink = draw(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["webhook", "slack", "discord", "command", "pager"])},
                optional={
                    "url": st.sampled_from(SECRET_URLS + BAD_SCALARS),
                    "argv": st.sampled_from(BAD_SCALARS),
                    "timeout_s": values,
                    "retries": values,
                },
            )
        )
        raw.setdefault("alerts", {}).setdefault("sinks", []).append(sink)


def _walk(obj: Any) -> Iterator[Any]:
    yield obj
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _walk(getattr(obj, name))
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            yield from _walk(getattr(obj, f.name))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(k)
            yield from _walk(v)
    elif isinstance(obj, list | tuple | frozenset | set):
        for v in obj:
            yield from _walk(v)


def _check_accepted(cfg: Config) -> None:
    every = [*_walk(cfg), *_walk(cfg.watch), cfg.watch.watch.thresholds]
    every += list(_walk(cfg.watch.watch.thresholds))
    for v in every:
        if isinstance(v, float):
            assert math.isfinite(v) and abs(v) <= 1e9, v
    required = [
        cfg.chain.chain_id,
        cfg.chain.denom,
        cfg.chain.upgrade_name,
        cfg.chain.cli_image_v1,
        cfg.chain.cli_image_v2,
        cfg.chain.cli_network,
        cfg.chain.tx_node,
        cfg.chain.daemon_home,
        cfg.chain.node_home,
        cfg.stack.project,
        cfg.stack.compose_dir,
        cfg.stack.base_file,
        cfg.stack.cosmovisor_file,
        cfg.stack.v2_file,
        cfg.agent.state_dir,
        cfg.agent.report_json,
        cfg.agent.report_md,
        cfg.agent.log_file,
        *cfg.stack.reset_command,
        *cfg.stack.ports_check_command,
    ]
    required += [x for n in cfg.nodes for x in (n.name, n.rpc)]
    required += [x for v in cfg.voters for x in (v.name, v.key, v.desk)]
    for s in cfg.watch.sinks:
        required += list(s.argv) if s.type == "command" else [s.url]
    assert all(isinstance(r, str) and r.strip() for r in required), required
    assert cfg.stack.reset_command and cfg.stack.ports_check_command
    # Issue 19 L4: what reaches argv, a path segment or a log line is refused at load.
    safe = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
    for name in [cfg.chain.upgrade_name, *(n.name for n in cfg.nodes),
                 *(v.name for v in cfg.voters), *(v.key for v in cfg.voters)]:  # fmt: skip
        assert safe.fullmatch(name), name
    assert not cfg.chain.cli_image_v1.startswith("-")
    assert not cfg.chain.cli_image_v2.startswith("-")
    for n in cfg.nodes:
        for url in (n.rpc, n.rest):
            assert not any(c.isspace() for c in url) and "?" not in url and "#" not in url
    for v in cfg.voters:
        desk = os.path.normpath(str(cfg.path(v.desk)))
        assert desk.count(os.sep) >= 2 or not os.path.isabs(v.desk), v.desk
    names = [n.name for n in cfg.nodes]
    assert len(set(names)) == len(names)
    services = [n.service or n.name for n in cfg.nodes]
    assert len(set(services)) == len(services)
    assert len({v.name for v in cfg.voters}) == len(cfg.voters)
    assert cfg.chain.tx_node in names
    files = [
        cfg.path(cfg.agent.report_json),
        cfg.path(cfg.agent.report_md),
        cfg.path(cfg.agent.log_file),
        cfg.state_dir / "journal.json",
        cfg.state_dir / "txs.jsonl",
        cfg.watch.watch.heartbeat_file,
        cfg.watch.watch.alert_state_file,
    ]
    norm = [os.path.normpath(f) for f in files]
    assert len(set(norm)) == len(norm), norm
    assert os.path.normpath(cfg.state_dir) not in norm


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
def test_fuzzed_configs_fail_cleanly_or_are_sane(data: st.DataObject) -> None:
    raw = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        try:
            data.draw(mutation(raw))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation replaced the table this one aimed at
    try:
        cfg = parse_config(raw, BASE_DIR)
    except ConfigError as exc:
        event("refused")
        text = str(exc)
        assert exc.key and exc.key in text
        for problem in getattr(exc, "errors", [exc]):
            assert problem.key and problem.key in text
        assert SECRET not in text
        return
    event("accepted")
    _check_accepted(cfg)
