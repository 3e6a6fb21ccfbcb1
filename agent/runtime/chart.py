"""The report's chart: each node's height against time, with the halt gap visible.

matplotlib is optional (the ``report`` extra) and imported only when a chart is
drawn, so importing the report does not import it. Drawing is blocking (fonts,
the PNG file): call ``render_chart`` from a worker thread.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from agent.core.timeline import Timeline

__all__ = ["ChartData", "ChartUnavailable", "break_threshold", "render_chart", "series"]

MIN_BREAK_S = 3.0  # a silence longer than this (and than a few block intervals) breaks the line


class ChartUnavailable(Exception):
    """No chart: ``str()`` says why, for the report."""


@dataclass
class ChartData:
    """What was plotted (x: seconds since the rehearsal began), for the report's tests."""

    path: Path
    lines: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    markers: list[tuple[str, float]] = field(default_factory=list)
    spans: list[tuple[str, float, float]] = field(default_factory=list)
    upgrade_height: int | None = None


def break_threshold(xs: list[float]) -> float:
    deltas = [b - a for a, b in zip(xs, xs[1:], strict=False) if b > a]
    return max(MIN_BREAK_S, 4 * statistics.median(deltas)) if deltas else MIN_BREAK_S


def series(tl: Timeline, *, break_gaps: bool = True) -> dict[str, tuple[list[float], list[float]]]:
    """Per node, (seconds since start, height), in receive order; a silence longer
    than ``break_threshold`` becomes a NaN point, so the line shows a gap."""
    origin = tl.origin or 0.0
    raw: dict[str, list[tuple[float, int]]] = {}
    for b in tl.blocks:
        raw.setdefault(b.node, []).append((b.at - origin, b.height))
    out: dict[str, tuple[list[float], list[float]]] = {}
    for node in sorted(raw):
        pts = sorted(raw[node])
        limit = break_threshold([x for x, _ in pts])
        xs: list[float] = []
        ys: list[float] = []
        for x, y in pts:
            if break_gaps and xs and x - xs[-1] > limit:
                xs.append((x + xs[-1]) / 2)
                ys.append(math.nan)
            xs.append(x)
            ys.append(float(y))
        out[node] = (xs, ys)
    return out


def _spans(tl: Timeline) -> list[tuple[str, float, float]]:
    out: list[tuple[str, float, float]] = []
    halts = [n.halt_at for n in tl.nodes if n.halt_at is not None]
    resumes = [n.resume_at for n in tl.nodes if n.resume_at is not None]
    origin = tl.origin or 0.0
    if halts and resumes:
        start, end = min(halts) - origin, min(resumes) - origin
        if end > start:
            out.append((f"upgrade halt {end - start:.1f} s", start, end))
    r = tl.restart
    if r is not None and r.before_at is not None and r.after_at is not None:
        out.append(
            (f"restart gap {r.after_at - r.before_at:.1f} s", r.before_at - origin,
             r.after_at - origin)
        )  # fmt: skip
    return out


def render_chart(tl: Timeline, path: Path, *, break_gaps: bool = True) -> ChartData:
    """Draw the chart to ``path`` (PNG) and return what was plotted (blocking).

    Raises ``ChartUnavailable`` when matplotlib is missing or nothing was recorded."""
    if not tl.blocks:
        raise ChartUnavailable("no blocks recorded")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartUnavailable("matplotlib not installed") from None
    origin = tl.origin or 0.0
    data = ChartData(
        path=path,
        lines=series(tl, break_gaps=break_gaps),
        markers=[(label, t - origin) for label, t in tl.markers],
        spans=_spans(tl) if break_gaps else [],
        upgrade_height=tl.upgrade_height,
    )
    fig = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    for node, (xs, ys) in data.lines.items():
        ax.plot(xs, ys, marker=".", markersize=3, linewidth=1.2, label=node)
    for (label, x0, x1), color in zip(data.spans, ["tab:red", "tab:orange"], strict=False):
        ax.axvspan(x0, x1, color=color, alpha=0.12, label=label)
    colors = ["tab:gray", "tab:purple", "tab:red", "tab:green", "tab:brown"]
    for i, (label, x) in enumerate(data.markers):
        ax.axvline(x, linestyle="--", linewidth=1, color=colors[i % len(colors)], label=label)
    if tl.upgrade_height is not None:
        ax.axhline(
            tl.upgrade_height, linestyle=":", linewidth=1, color="black",
            label=f"upgrade height {tl.upgrade_height}",
        )  # fmt: skip
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the rehearsal began")
    ax.set_ylabel("block height")
    ax.set_title("Block height per node")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return data
