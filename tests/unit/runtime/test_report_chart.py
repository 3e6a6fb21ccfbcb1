"""The height chart: a real PNG, and the halt gap visible in what was plotted."""

from __future__ import annotations

import builtins
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakes.reports import HALT_S, NODES, U, records, restarted, write_log

from agent.core.timeline import timeline_facts
from agent.runtime.chart import ChartData, ChartUnavailable, render_chart
from agent.runtime.report import write_report

pytestmark = pytest.mark.anyio

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def halt_gap(data: ChartData, node: str, u: int) -> float | None:
    """The break the line shows between the node's last v1 block and its first v2
    block: their distance in seconds, when a NaN point separates them (else None)."""
    xs, ys = data.lines[node]
    before = max(i for i, y in enumerate(ys) if not math.isnan(y) and y < u)
    after = min(i for i, y in enumerate(ys) if not math.isnan(y) and y >= u)
    broken = any(math.isnan(y) for y in ys[before + 1 : after])
    return xs[after] - xs[before] if broken else None


def draw(tmp_path: Path, **kw: Any) -> ChartData:
    tl = timeline_facts(restarted(), records(), NODES)
    return render_chart(tl, tmp_path / "report.png", **kw)


async def test_png_exists_and_shows_the_halt_gap(tmp_path: Path) -> None:
    data = await anyio.to_thread.run_sync(lambda: draw(tmp_path))
    png = await anyio.Path(tmp_path / "report.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000
    assert sorted(data.lines) == sorted(NODES)
    for node in NODES:
        gap = halt_gap(data, node, U)
        assert gap is not None and gap == pytest.approx(HALT_S), node
        xs, ys = data.lines[node]
        assert xs[0] >= 0 and max(y for y in ys if not math.isnan(y)) == 45
    assert [label for label, _, _ in data.spans] == ["upgrade halt 12.0 s", "restart gap 20.0 s"]
    assert [label for label, _ in data.markers] == [
        "proposal submitted",
        "voting end",
        f"upgrade height {U} reached",
        "restart",
    ]
    assert data.upgrade_height == U


async def test_the_gap_check_fails_on_a_chart_drawn_without_the_gap(tmp_path: Path) -> None:
    """The check above can fail: a line drawn straight through the halt has no gap."""
    data = await anyio.to_thread.run_sync(lambda: draw(tmp_path, break_gaps=False))
    assert halt_gap(data, "val-alice", U) is None


async def test_no_gap_when_the_chain_never_halted(tmp_path: Path) -> None:
    tl = timeline_facts(restarted(), records(halt=False, last=40))
    data = await anyio.to_thread.run_sync(render_chart, tl, tmp_path / "c.png")
    assert halt_gap(data, "val-alice", U) is None


async def test_nothing_recorded_is_no_chart(tmp_path: Path) -> None:
    tl = timeline_facts(restarted(), [])
    with pytest.raises(ChartUnavailable, match="no blocks recorded"):
        render_chart(tl, tmp_path / "c.png")


async def test_report_without_matplotlib_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    log = await write_log(tmp_path / "b.jsonl", records())
    await write_report(restarted(), tmp_path / "r.json", tmp_path / "r.md", block_log=log)
    md = await anyio.Path(tmp_path / "r.md").read_text()
    assert "chart unavailable: matplotlib not installed" in md
    assert not await anyio.Path(tmp_path / "r.png").exists()


async def test_a_stale_chart_is_removed_when_none_is_drawn(tmp_path: Path) -> None:
    await anyio.Path(tmp_path / "r.png").write_bytes(PNG_MAGIC + b"old")
    log = await write_log(tmp_path / "b.jsonl", [])
    await write_report(restarted(), tmp_path / "r.json", tmp_path / "r.md", block_log=log)
    md = await anyio.Path(tmp_path / "r.md").read_text()
    assert "chart unavailable: no blocks recorded" in md
    assert not await anyio.Path(tmp_path / "r.png").exists()


async def test_write_report_draws_the_png_next_to_report_md(tmp_path: Path) -> None:
    log = await write_log(tmp_path / "b.jsonl", records())
    out = tmp_path / "out"
    await write_report(restarted(), out / "report.json", out / "report.md", block_log=log)
    png = await anyio.Path(out / "report.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    names = sorted([p.name async for p in anyio.Path(out).iterdir()])
    assert names == ["report.json", "report.md", "report.png"]  # no temporary file left


def test_importing_the_report_does_not_import_matplotlib() -> None:
    code = (
        "import sys, agent.runtime.report, agent.runtime.wiring; print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
