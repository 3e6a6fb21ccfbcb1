"""Declared checks: JSON paths, expectations, which reads each stage takes, config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.core.checks import (
    CheckSpec,
    evaluate,
    extract,
    parse_json_path,
    parse_program_verdict,
    reads_needed,
)
from agent.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("$", ()),
        ("$.a", ("a",)),
        ("$.pool.bonded_tokens", ("pool", "bonded_tokens")),
        ("$.winners[0].wonCount", ("winners", 0, "wonCount")),
        ('$["a.b"][2]', ("a.b", 2)),
    ],
)
def test_json_paths_parse(text: str, path: tuple[Any, ...]) -> None:
    assert parse_json_path(text) == path


@pytest.mark.parametrize("text", ["", "a.b", "$.", "$[x]", "$.a[", "$..a", '$["unterminated]'])
def test_bad_json_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_json_path(text)


def test_extract_reports_absence() -> None:
    doc = {"a": [{"b": 1}]}
    assert extract(doc, ("a", 0, "b")) == 1
    assert extract(doc, ("a", 1, "b")) is not None  # the sentinel, not None
    assert extract(doc, ("a", 1, "b")) != 1


def spec(**kw: Any) -> CheckSpec:
    return CheckSpec(**{"name": "c", "stage": "upgraded", "read": "r", **kw})


NOW = {"r": {"v": 5, "s": "x"}}
BASE = {"r": {"v": 4, "s": "x"}}
UPG = {"r": {"v": 5, "s": "y"}}


@pytest.mark.parametrize(
    ("kw", "passed"),
    [
        ({"json_path": "$.v"}, True),
        ({"json_path": "$.missing"}, False),
        ({"json_path": "$.v", "expect": "equals", "value": 5}, True),
        ({"json_path": "$.v", "expect": "equals", "value": 6}, False),
        ({"json_path": "$.s", "expect": "equals_baseline"}, True),
        ({"json_path": "$.v", "expect": "equals_baseline"}, False),
        ({"json_path": "$.v", "expect": "changed"}, True),
        ({"json_path": "$.s", "expect": "changed"}, False),
        ({"json_path": "$.v", "expect": "equals_upgraded", "stage": "restarted"}, True),
        ({"json_path": "$.s", "expect": "equals_upgraded", "stage": "restarted"}, False),
        ({"json_path": "$.v", "expect": "within", "min": 1, "max": 5}, True),
        ({"json_path": "$.v", "expect": "within", "max": 4.5}, False),
        ({"json_path": "$.s", "expect": "within", "min": 0}, False),  # not a number
    ],
)
def test_expectations(kw: dict[str, Any], passed: bool) -> None:
    check = evaluate(spec(**kw), NOW, BASE, UPG)
    assert check.passed is passed, check.evidence
    assert check.evidence


def test_a_read_not_taken_fails_with_evidence() -> None:
    check = evaluate(spec(read="other"), NOW, BASE, UPG)
    assert not check.passed and "other" in check.evidence


def test_reads_needed_per_stage() -> None:
    checks = (
        spec(name="a", read="supply", expect="equals_baseline"),
        spec(name="b", stage="restarted", read="store", expect="equals_upgraded"),
        CheckSpec("p", "upgraded", program=("prog",), reads=("cli",), baseline_reads=("raw",)),
        CheckSpec("q", "restarted", program=("prog",), reads=("st",), upgraded_reads=("st",)),
    )
    assert set(reads_needed(checks, "baseline")) == {"supply", "raw"}
    assert set(reads_needed(checks, "upgraded")) == {"supply", "cli", "store", "st"}
    assert set(reads_needed(checks, "restarted")) == {"store", "st"}


@pytest.mark.parametrize(
    ("rc", "out", "err", "passed"),
    [
        (0, '{"pass": true, "evidence": "ok"}', "", True),
        (0, 'noise\n{"pass": false, "evidence": "bad"}', "", False),
        (1, '{"pass": true, "evidence": "ok"}', "", False),  # a crash is not a pass
        (0, "not json", "Traceback ...\nValueError: x", False),
    ],
)
def test_program_verdicts(rc: int, out: str, err: str, passed: bool) -> None:
    assert parse_program_verdict("p", rc, out, err).passed is passed


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"reads": [{"name": "r", "kind": "graphql", "path": "/x"}]}, "reads[0].kind"),
        ({"reads": [{"name": "r", "kind": "rest", "path": "x"}]}, "reads[0].path"),
        ({"reads": [{"name": "r", "kind": "cli"}]}, "reads[0].args"),
        (
            {
                "reads": [{"name": "r", "kind": "rest", "path": "/x"}],
                "checks": [{"name": "c", "stage": "upgraded", "read": "r", "json_path": "$.a["}],
            },
            "checks[0].json_path",
        ),
        ({"checks": [{"name": "c", "stage": "upgraded", "read": "nope"}]}, "checks[0].read"),
        (
            {"checks": [{"name": "c", "stage": "later", "read": "r"}]},
            "checks[0].stage",
        ),
        (
            {
                "checks": [
                    {"name": "app_hash_agree", "stage": "upgraded", "program": ["x"], "reads": []}
                ]
            },  # fmt: skip
            "checks[0].reads",
        ),
        ({"verify": {"disable": ["no_such_check"]}}, "verify.disable[0]"),
    ],
)
def test_a_profile_error_names_the_key(raw: dict[str, Any], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, tmp_path)
    keys = [e.key for e in info.value.errors]
    assert any(k.startswith(key) for k in keys), keys


def test_a_check_that_cannot_be_judged_fails_alone() -> None:
    """Issue 19 L7: a 401-digit number in a `within` check, or a document nested too
    deeply, raised out of the stage ("internal error"); now that one check fails."""
    from agent.core.checks import CheckSpec, evaluate, parse_program_verdict

    spec = CheckSpec("big", "restarted", "r", "$.n", "within", None, 0.0, 10.0)
    c = evaluate(spec, {"r": {"n": 10**400}}, {}, {})
    assert not c.passed and "number out of range" in c.evidence
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    eq = CheckSpec("deep", "restarted", "r", "$", "equals", [1])
    c = evaluate(eq, {"r": deep}, {}, {})
    assert not c.passed and "nested too deeply" in c.evidence
    verdict = '{"pass": true, "evidence": ' + "[" * 100_000 + "]" * 100_000 + "}"
    c = parse_program_verdict("prog", 0, verdict, "")
    assert not c.passed and "no verdict" in c.evidence
