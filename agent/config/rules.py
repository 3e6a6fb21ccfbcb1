"""Rules across sections of the configuration: names unique, references that name
something, state files distinct. Each returns every violation, keyed from the root,
so one check-config lists them all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config.checks import BUILTIN_CHECKS
from agent.config.state import state_problems
from agent.validation import Problem

if TYPE_CHECKING:
    from agent.config.schema import Config

__all__ = ["cross_field_problems"]


def cross_field_problems(cfg: Config) -> list[Problem]:
    return [*_unique(cfg), *_references(cfg), *_distinct_files(cfg)]


def _unique(cfg: Config) -> list[Problem]:
    found: list[Problem] = []
    seen: dict[tuple[str, str], str | int] = {}
    for i, n in enumerate(cfg.nodes):
        for what, value in (("name", n.name), ("service", n.service or n.name)):
            if (what, value) in seen:
                found.append((("nodes", i, what), value, f"duplicated node {what}"))
            seen[(what, value)] = i
    voters: set[str] = set()
    for i, v in enumerate(cfg.voters):
        if v.name in voters:
            found.append((("voters", i, "name"), v.name, "duplicated voter name"))
        voters.add(v.name)
    groups: tuple[tuple[str, list[str]], ...] = (
        ("reads", [r.name for r in cfg.reads]),
        ("checks", [c.name for c in cfg.checks]),
        ("state.txs", [t.name for t in cfg.state.txs]),
    )
    for section, item_names in groups:
        names: set[str] = set()
        for i, name in enumerate(item_names):
            if name in names:
                found.append(((section, i, "name"), name, f"duplicated {section[:-1]} name"))
            names.add(name)
    taken = set(BUILTIN_CHECKS)
    for i, c in enumerate(cfg.checks):
        if c.name in taken:
            found.append((("checks", i, "name"), c.name, "is a built-in check's name"))
    return found


def _references(cfg: Config) -> list[Problem]:
    found: list[Problem] = []
    names = [n.name for n in cfg.nodes]
    read_names = {r.name for r in cfg.reads}
    for i, c in enumerate(cfg.checks):
        named: list[tuple[tuple[str | int, ...], str]] = []
        if c.program:
            for field, rs in (
                ("reads", c.reads),
                ("baseline_reads", c.baseline_reads),
                ("upgraded_reads", c.upgraded_reads),
            ):
                named += [(("checks", i, field, j), r) for j, r in enumerate(rs)]
        else:
            named.append((("checks", i, "read"), c.read))
        for key, r in named:
            if r not in read_names:
                found.append((key, r, "names no [[reads]] entry"))
    read_values: list[tuple[tuple[str | int, ...], str]] = []
    for i, rd in enumerate(cfg.reads):
        read_values.append((("reads", i, "path"), rd.path))
        read_values += [(("reads", i, "args", j), a) for j, a in enumerate(rd.args)]
    found += state_problems(cfg.state, {v.name for v in cfg.voters}, read_values)
    if cfg.chain.tx_node not in names:
        found.append(
            (("chain", "tx_node"), cfg.chain.tx_node, f"names no node; one of {', '.join(names)}")
        )
    return found


def _distinct_files(cfg: Config) -> list[Problem]:
    # Two writers on one file corrupt both (the journal is rewritten atomically,
    # the log appended): every state/output file must be its own.
    a, w = cfg.agent, cfg.watch_tuning
    files: list[tuple[tuple[str | int, ...], str, Path]] = [
        (("agent", "state_dir"), a.state_dir, cfg.state_dir / "journal.json"),
        (("agent", "state_dir"), a.state_dir, cfg.state_dir / "txs.jsonl"),
        (("agent", "report_json"), a.report_json, cfg.path(a.report_json)),
        (("agent", "report_md"), a.report_md, cfg.path(a.report_md)),
        (("agent", "log_file"), a.log_file, cfg.path(a.log_file)),
        (("watch", "heartbeat_file"), str(w.heartbeat_file), cfg.path(str(w.heartbeat_file))),
        (("watch", "alert_state_file"), str(w.alert_state_file), cfg.path(str(w.alert_state_file))),
    ]
    found: list[Problem] = []
    state_dir = os.path.normpath(cfg.state_dir)
    owner: dict[str, tuple[str | int, ...]] = {}
    for key, shown, path in files:
        norm = os.path.normpath(path)
        if norm == state_dir:
            found.append((key, shown, "is the state_dir directory"))
        elif norm in owner and owner[norm] != key:
            other = ".".join(str(k) for k in owner[norm])
            found.append((key, shown, f"is the same file as {other} ({norm})"))
        owner.setdefault(norm, key)
    return found
