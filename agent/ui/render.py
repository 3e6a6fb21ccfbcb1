"""Render a ``Snapshot`` with rich; ``render_text`` gives the same as plain text."""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from agent.ui.snapshot import PHASES, Snapshot

__all__ = ["duration", "render", "render_text"]


def duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short, whole seconds (None: ``-``)."""
    if seconds is None:
        return "-"
    s = int(round(abs(seconds)))
    sign = "-" if seconds < 0 and s else ""
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    return f"{sign}{s // 3600}h{(s % 3600) // 60:02d}m"


def _phases(snap: Snapshot) -> Text:
    out = Text()
    for i, name in enumerate(PHASES):
        if i:
            out.append(" › ", style="dim")
        if name == snap.phase:
            out.append(f"▶ {name}", style="bold reverse cyan")
        elif name in snap.reached:
            out.append(f"✓ {name}", style="green")
        else:
            out.append(f"· {name}", style="dim")
    if snap.failure is not None:
        out.append(" › ", style="dim")
        out.append("✗ failed", style="bold reverse red")
    return out


def _header(snap: Snapshot) -> Text:
    if snap.mode == "watch":
        t = Text("rehearse watch", style="bold")
        t.append(f"  {len(snap.nodes)} node(s), no rehearsal: watching only", style="dim")
        return t
    t = Text("rehearse run", style="bold")
    if snap.rehearsal_id:
        t.append(f"  {snap.rehearsal_id}")
    if snap.scenario:
        t.append(f"  scenario {snap.scenario}", style="dim")
    return t


def _nodes(snap: Snapshot) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("node")
    table.add_column("height", justify="right")
    table.add_column("last block", justify="right")
    table.add_column("version")
    for n in snap.nodes:
        age = "never" if n.age_s is None else f"{duration(n.age_s)} ago"
        stale = n.age_s is None or (
            snap.block_interval_s is not None and n.age_s > 5 * max(snap.block_interval_s, 1.0)
        )
        table.add_row(
            n.name,
            str(n.height) if n.height else "-",
            Text(age, style="yellow" if stale else ""),
            n.version or "-",
        )
    return table


def _upgrade(snap: Snapshot) -> list[Text]:
    lines: list[Text] = []
    if snap.proposal_id is not None or snap.proposal_status is not None:
        t = Text("proposal   ")
        if snap.proposal_id is not None:
            t.append(f"#{snap.proposal_id} ")
        t.append(snap.proposal_status or "?", style="bold")
        if snap.voting_ends_in_s is not None and snap.proposal_status == "voting":
            if snap.voting_ends_in_s >= 0:
                t.append(f", voting ends in {duration(snap.voting_ends_in_s)}")
            else:
                t.append(f", voting ended {duration(-snap.voting_ends_in_s)} ago")
        lines.append(t)
    t = Text("upgrade    ")
    if snap.upgrade_height is None:
        none = "none scheduled on chain" if snap.mode == "watch" else "no height yet"
        t.append(f"{snap.upgrade_name + ': ' if snap.upgrade_name else ''}{none}", style="dim")
    else:
        t.append(f"{snap.upgrade_name or '?'} at height {snap.upgrade_height}")
        if snap.blocks_to_upgrade:
            t.append(f": {snap.blocks_to_upgrade} blocks to go")
            if snap.upgrade_eta_s is not None:
                t.append(f", ETA {duration(snap.upgrade_eta_s)}")
        else:
            t.append(": reached")
    lines.append(t)
    bi = snap.block_interval_s
    lines.append(Text(f"blocks     every {bi:.2f}s" if bi is not None else "blocks     -"))
    if snap.deadline_name is not None:
        t = Text(f"waiting    {snap.deadline_name}")
        if snap.deadline_left_s is not None:
            left = snap.deadline_left_s
            t.append(f": {duration(left)} left", style="bold red" if left < 15 else "")
        lines.append(t)
    return lines


def _alerts(snap: Snapshot) -> list[Text]:
    if not snap.alerts:
        return [Text("alerts     none firing", style="green")]
    out = [Text(f"alerts     {len(snap.alerts)} firing", style="bold red")]
    for a in snap.alerts:
        node = f" {a.node}" if a.node else ""
        out.append(
            Text(f"  [{a.severity}]{node}: {a.summary} (for {duration(a.for_s)})", style="red")
        )
    return out


def render(snap: Snapshot) -> RenderableType:
    parts: list[RenderableType] = [_header(snap), _phases(snap)]
    if snap.failure:
        parts.append(Text(f"failed: {snap.failure}", style="red"))
    parts += [Text(""), _nodes(snap), Text(""), *_upgrade(snap), *_alerts(snap)]
    return Group(*parts)


def render_text(snap: Snapshot, width: int = 100) -> str:
    """The rendering as plain text (no colour, no escape codes)."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(render(snap))
    return buf.getvalue()
