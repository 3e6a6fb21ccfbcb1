"""Declared checks: what a chain's profile says must hold, judged without I/O.

A profile declares *reads* (a REST or RPC query, a raw store query, a chain
CLI query: each gives one JSON document) and *checks* on them at a stage
(``upgraded``: after the upgrade, ``restarted``: after the restart on v2). A
check compares a JSON path of a read with an expectation: equals a value,
equals the baseline (the same read before the upgrade), equals what it was
after the upgrade, changed since the baseline, a number within bounds, or
merely exists. A *program* check hands the baseline and current reads to a
program of the profile, which answers pass/fail with evidence (that part runs
in the runtime; its verdict is parsed here).

JSON paths are a small, strict subset: ``$``, ``.key``, ``[index]``,
``["key with dots"]``; parsed when the configuration is loaded, so a path
that does not parse is a configuration error, never a failed rehearsal.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from agent.core.facts import Check

__all__ = [
    "EXPECTATIONS",
    "CheckSpec",
    "ReadSpec",
    "evaluate",
    "extract",
    "parse_json_path",
    "parse_program_verdict",
    "reads_needed",
]

EXPECTATIONS = (
    "exists",
    "equals",
    "equals_baseline",
    "equals_upgraded",
    "changed",
    "within",
)
STAGES = ("upgraded", "restarted")

Path = tuple[str | int, ...]

_TOKEN = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]""")


def parse_json_path(text: str) -> Path:
    """``$.a.b[0]["c.d"]`` -> ("a", "b", 0, "c.d"); ValueError naming the spot."""
    if not text.startswith("$"):
        raise ValueError("must start with $")
    out: list[str | int] = []
    pos = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot parse at offset {pos}: {text[pos : pos + 20]!r}")
        key, index, quoted = m.groups()
        if key is not None:
            out.append(key)
        elif index is not None:
            out.append(int(index))
        else:
            out.append(json.loads(f'"{quoted}"'))
        pos = m.end()
    return tuple(out)


_MISSING = object()


def extract(doc: Any, path: Path) -> Any:
    """The value at ``path``, or ``_MISSING`` (a module sentinel) when absent."""
    cur = doc
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return _MISSING
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                return _MISSING
            cur = cur[step]
    return cur


@dataclass(frozen=True, slots=True)
class ReadSpec:
    """One named read; ``kind``: rest (GET path), rpc (CometBFT method path),
    abci (raw store query: path + data), cli (chain CLI query args, v1 or v2 binary)."""

    name: str
    kind: str
    path: str = ""
    data: str = ""
    args: tuple[str, ...] = ()
    binary: str = "v2"


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    stage: str
    read: str = ""
    json_path: str = "$"
    expect: str = "exists"
    value: Any = None
    min: float | None = None
    max: float | None = None
    program: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # a program's reads at its stage
    baseline_reads: tuple[str, ...] = ()  # a program's reads before the upgrade
    upgraded_reads: tuple[str, ...] = ()  # at "restarted": its reads after the upgrade

    @property
    def uses(self) -> tuple[str, ...]:
        return self.reads if self.program else (self.read,)


def reads_needed(checks: tuple[CheckSpec, ...], stage: str) -> tuple[str, ...]:
    """Reads to take at ``stage`` (``baseline``, ``upgraded`` or ``restarted``)."""
    names: list[str] = []

    def add(*ns: str) -> None:
        names.extend(n for n in ns if n and n not in names)

    for c in checks:
        if c.stage == stage:
            add(*c.uses)
        if stage == "baseline":
            add(*c.baseline_reads)
            if not c.program and c.expect in ("equals_baseline", "changed"):
                add(c.read)
        if stage == "upgraded" and c.stage == "restarted":
            add(*c.upgraded_reads)
            if not c.program and c.expect == "equals_upgraded":
                add(c.read)
    return tuple(names)


def _show(v: Any) -> str:
    if v is _MISSING:
        return "(absent)"
    text = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
    return text if len(text) <= 200 else text[:197] + "..."


def evaluate(
    spec: CheckSpec,
    current: dict[str, Any],
    baseline: dict[str, Any],
    upgraded: dict[str, Any],
) -> Check:
    """Judge a JSON check; the dicts map read names to their documents at each stage.

    A document too deep to compare or show, or a number too large for a float, fails
    this one check with the reason: never the whole stage as an internal error."""
    try:
        return _evaluate(spec, current, baseline, upgraded)
    except (RecursionError, OverflowError) as exc:
        what = "nested too deeply" if isinstance(exc, RecursionError) else "a number out of range"
        return Check(spec.name, False, f"{spec.read} {spec.json_path}: cannot judge it ({what})")


def _evaluate(
    spec: CheckSpec,
    current: dict[str, Any],
    baseline: dict[str, Any],
    upgraded: dict[str, Any],
) -> Check:
    name = f"{spec.name}"
    if spec.read not in current:
        return Check(name, False, f"read {spec.read!r} was not taken at {spec.stage}")
    path = parse_json_path(spec.json_path)
    now = extract(current[spec.read], path)
    at = f"{spec.read} {spec.json_path}"
    if spec.expect == "exists":
        return Check(name, now is not _MISSING, f"{at} = {_show(now)}")
    if now is _MISSING:
        return Check(name, False, f"{at} is absent")
    if spec.expect == "equals":
        return Check(name, now == spec.value, f"{at} = {_show(now)}, expected {_show(spec.value)}")
    if spec.expect in ("equals_baseline", "changed", "equals_upgraded"):
        ref_docs = upgraded if spec.expect == "equals_upgraded" else baseline
        which = "after the upgrade" if spec.expect == "equals_upgraded" else "before the upgrade"
        if spec.read not in ref_docs:
            return Check(name, False, f"{spec.read} was not read {which}")
        ref = extract(ref_docs[spec.read], path)
        same = ref == now
        ok = not same if spec.expect == "changed" else same
        return Check(name, ok, f"{at} = {_show(now)}; {which} {_show(ref)}")
    if spec.expect == "within":
        try:
            number = float(now)
        except (TypeError, ValueError):
            return Check(name, False, f"{at} = {_show(now)} is not a number")
        ok = math.isfinite(number)
        ok = ok and (spec.min is None or number >= spec.min)
        ok = ok and (spec.max is None or number <= spec.max)
        return Check(name, ok, f"{at} = {_show(now)}, bounds [{spec.min}, {spec.max}]")
    return Check(name, False, f"unknown expectation {spec.expect!r}")


def parse_program_verdict(name: str, returncode: int, stdout: str, stderr: str) -> Check:
    """A check program answers one JSON object ``{"pass": bool, "evidence": str}``."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            continue
        if isinstance(doc, dict) and isinstance(doc.get("pass"), bool):
            raw = doc.get("evidence", "")
            try:
                evidence = (raw if isinstance(raw, str) else json.dumps(raw))[:2000]
            except (RecursionError, ValueError):
                evidence = "(evidence nested too deeply to show)"
            return Check(name, doc["pass"] and returncode == 0, evidence)
    tail = (stderr.strip().splitlines() or ["no output"])[-1][:500]
    return Check(name, False, f"the check program gave no verdict (exit {returncode}): {tail}")
