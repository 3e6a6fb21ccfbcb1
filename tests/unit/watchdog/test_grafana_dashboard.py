"""deploy/grafana/rehearse.json: valid JSON whose every query names a metric the
agent really exposes (scraped from a real WatchMetrics registry)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.exposition import generate_latest

from agent.core.observations import ContainerEvent, NewBlock, StreamStatus
from agent.watchdog import Notification, Watchdog, WatchMetrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "rehearse.json"
METRIC = re.compile(r"\b((?:rehearse|process)_[a-z0-9_]+)\b")
T0 = 1_700_000_000.0


def exprs(node: Any) -> list[str]:
    """Every PromQL expression in the dashboard (panels, rows, variables)."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("expr", "definition") and isinstance(v, str)]
        return found + [e for v in node.values() for e in exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in exprs(v)]
    return []


def exposed() -> set[str]:
    """Sample names of a registry fed one of everything (so each series exists)."""
    dog = Watchdog(["a"])
    m = WatchMetrics()
    m.attach(dog, lambda: T0 + 10, phase=lambda: "watching", alerts_firing=lambda: 1)
    for obs in (
        NewBlock("a", 10, "2023-11-14T22:13:20Z", T0),
        NewBlock("a", 11, "2023-11-14T22:13:22Z", T0 + 2),
        StreamStatus("ws:a", False, "closed", T0),
        StreamStatus("ws:a", True, "subscribed", T0 + 3),
        ContainerEvent("a", "start", "id", None, 0, T0),
    ):
        dog.observe(obs)
        m.observe(obs)
    m.observe(Notification("firing", "stall:a:-", "warning", "s", "m", "a", "stall", None, T0))
    text = generate_latest(m.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def test_dashboard_is_json_with_panels_and_queries() -> None:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert doc["uid"] and doc["title"]
    queries = exprs(doc["panels"])
    assert len(queries) >= 10
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_every_metric_in_the_dashboard_is_exposed() -> None:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used = {name for e in exprs(doc) for name in METRIC.findall(e)}
    have = exposed()
    assert "rehearse_node_height" in used and "rehearse_alerts_fired_total" in used
    assert used - have == set(), f"not exposed by the agent: {sorted(used - have)}"
