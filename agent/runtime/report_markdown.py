"""report.md: the report for people, rendered from report.json's dictionary.

Pure: a dictionary in, Markdown out. Every time is UTC and says so; a value never
reached reads "not reached", never a blank or a zone after no time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.runtime.report_data import UNKNOWN
from agent.runtime.report_traffic import traffic_lines

__all__ = ["render_markdown"]


NOT_REACHED = "not reached"
NA = "n/a"


def _num(v: float | None) -> str:
    return "unknown" if v is None else f"{v:g}"


def _secs(v: float | None, missing: str = NA) -> str:
    """Seconds for people: one decimal."""
    return missing if v is None else f"{v:.1f} s"


def _hms(iso_time: str | None, missing: str = NOT_REACHED) -> str:
    """HH:MM:SS of a report ISO time (always UTC)."""
    return iso_time[11:19] if iso_time and len(iso_time) >= 19 else missing


def _at(what: str, iso_time: str | None, missing: str = NOT_REACHED) -> str:
    """ "<what> at HH:MM:SS UTC", or "<what> <missing>": never a time zone after no time."""
    if iso_time and len(iso_time) >= 19:
        return f"{what} at {iso_time[11:19]} UTC"
    return f"{what} {missing}"


def _cell(v: object) -> str:
    return str(v).replace("|", "\\|")


def _upgrade_lines(report: dict[str, Any]) -> list[str]:
    up = report["upgrade"]
    lines: list[str] = []
    if up["proposal_id"] is None:
        lines.append(f"- Upgrade `{up['name']}`: no proposal was submitted")
    else:
        height = up["height"] if up["height"] is not None else "unknown"
        lines.append(
            f"- Upgrade `{up['name']}` at height {height}, proposal {up['proposal_id']}"
            + (" (reused after a restart)" if up["proposal_reused"] else "")
        )
    if up["measured_block_interval_s"] is not None:
        lines.append(
            f"- Measured block interval {up['measured_block_interval_s']:.2f} s;"
            f" voting period {_num(up['voting_period_s'])} s"
        )
    if up.get("spare_blocks") is not None:
        lines.append(
            f"- Passed at height {up['passed_height']}: {up['spare_blocks']} spare block(s)"
            " before the upgrade height"
        )
    lines.append(f"- Total {report['duration_s']:.1f} s")
    return lines


def _timeline_lines(report: dict[str, Any]) -> list[str]:
    tl = report.get("timeline") or {}
    u = tl.get("upgrade_height")
    lines = ["", "## Upgrade timeline", ""]
    if u is None:
        lines.append("No upgrade height: no proposal was submitted, so there was no halt.")
    elif not tl.get("upgrade_expected"):
        if tl.get("rejected"):
            lines.append(
                f"No halt expected: the proposal ended {tl['rejected']};"
                f" the chain was to run past height {u} on v1."
            )
        else:
            lines.append(f"No halt at height {u}: the proposal did not pass ({NOT_REACHED}).")
    else:
        down = tl.get("chain_downtime") or {}
        pvr = tl.get("predicted_vs_real") or {}
        err = pvr.get("error_s")
        late = NA if err is None else f"{abs(err):.1f} s {'later' if err >= 0 else 'earlier'}"
        lines += [
            f"- {_at(f'Last v1 block ({u - 1})', down.get('last_v1_block_time'))};"
            f" {_at(f'first v2 block ({u})', down.get('first_v2_block_time'))}",
            f"- **Chain downtime** (header times of {u - 1} to {u}):"
            f" {_secs(down.get('header_s'))}; as the agent received them:"
            f" {_secs(down.get('received_s'))}",
            f"- {_at('Predicted upgrade time', pvr.get('predicted'), NA)},"
            f" {_at('real', pvr.get('real'))}"
            + (f" ({late} than predicted)" if err is not None else ""),
            "",
            f"| node | halted (got block {u - 1}) | resumed (got block {u}) | gap |",
            "|---|---|---|---:|",
        ]
        for n in tl.get("nodes") or []:
            lines.append(
                f"| {n['node']} | {_hms(n['halt_at'], 'not seen')} | {_hms(n['resume_at'])}"
                f" | {_secs(n['gap_s'])} |"
            )
    r = tl.get("restart")
    lines.append("")
    if r is None:
        lines.append(f"- Restart on v2: {NOT_REACHED}")
    elif r.get("first_height_after") is None:
        began = _at("Restart on v2 began", r.get("began"), "at an unknown time")
        last = r.get("last_height_before") or "none"
        lines.append(f"- {began}; no block after it (last seen: {last})")
    else:
        before = _at(f"block {r['last_height_before']}", r.get("last_before_at"), "unseen")
        after = _at(f"block {r['first_height_after']}", r.get("first_after_at"), "unseen")
        lines.append(
            f"- **Restart gap**: {_secs(r['gap_s'])} ({before} to {after};"
            f" header times {_secs(r['header_gap_s'])})"
        )
    return lines


def _missed_lines(report: dict[str, Any]) -> list[str]:
    mb = report.get("missed_blocks") or {}
    hs = mb.get("heights")
    vals = mb.get("validators") or {}
    checked = mb.get("checked_heights") or []
    title = "## Missed blocks around the upgrade"
    if hs:
        title += f" (heights {hs[0]}-{hs[1]})"
    lines = ["", title, ""]
    if not hs:
        lines.append(f"{NA}: no upgrade height.")
        return lines
    if not vals:
        lines.append("unknown: no validator's status could be read.")
    else:
        lines += ["| validator | missed | heights |", "|---|---:|---|"]
        for name, v in vals.items():
            if v["missed"] is None:
                lines.append(f"| {name} | unknown | no commit could be read |")
            else:
                hts = ", ".join(str(h) for h in v["missed"]) or "-"
                lines.append(f"| {name} | {v['count']} of {len(checked)} | {hts} |")
    if mb.get("status_unreadable"):
        lines.append("")
        lines.append(
            f"Status unreadable (validator or not: unknown): {', '.join(mb['status_unreadable'])}"
        )
    if checked and len(checked) < hs[1] - hs[0] + 1:
        missing = [h for h in range(hs[0], hs[1] + 1) if h not in checked]
        # Past the last commit read: the chain had not got there when the report was
        # written (the report is written at once, not after the window closes).
        late = [h for h in missing if h > max(checked)]
        unread = [h for h in missing if h not in late]
        if unread:
            lines += ["", f"Commits not readable: {', '.join(str(h) for h in unread)}"]
        if late:
            lines += [
                "",
                f"Not yet committed when the report was written: {', '.join(str(h) for h in late)}",
            ]
    return lines


def _short_digest(d: str) -> str:
    return d[:19] if d.startswith("sha256:") else d


def _versions_lines(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Versions and images", ""]
    versions = report.get("versions") or {}
    digests = report.get("image_digests") or {}
    if versions:
        lines += ["| node | binary version (at report time) |", "|---|---|"]
        lines += [f"| {n} | {_cell(v or UNKNOWN)} |" for n, v in versions.items()]
    else:
        lines.append("Node versions: unknown (not collected).")
    lines.append("")
    if digests:
        lines += ["| image | ID |", "|---|---|"]
        lines += [f"| `{i}` | `{_short_digest(d or UNKNOWN)}` |" for i, d in digests.items()]
    else:
        lines.append("Image IDs: unknown (not collected).")
    return lines


def _chart_lines(report: dict[str, Any]) -> list[str]:
    ch = report.get("chart") or {}
    lines = ["", "## Heights", ""]
    if ch.get("path"):
        lines.append(f"![heights]({Path(ch['path']).name})")
    else:
        lines.append(f"chart unavailable: {ch.get('unavailable') or 'unknown reason'}")
    return lines


def _gantt_lines(report: dict[str, Any]) -> list[str]:
    spans = (report.get("timeline") or {}).get("gantt") or []
    if not spans:
        return []
    lines = [
        "",
        "```mermaid",
        "gantt",
        "    title Phases (mm:ss since the rehearsal began)",
        "    dateFormat X",
        "    axisFormat %M:%S",
        "    section rehearsal",
    ]
    for p in spans:
        start = round(p["start_s"] or 0.0)
        end = p["end_s"]
        if end is None or round(end) <= start:
            lines.append(f"    {p['phase']} : milestone, {start}, 0s")
        else:
            lines.append(f"    {p['phase']} : {start}, {round(end)}")
    lines.append("```")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Upgrade rehearsal {report['rehearsal_id']}: **{report['outcome']}**",
        "",
    ]
    if report.get("failure"):
        lines += [f"> Failed: {report['failure']}", ""]
    lines += _upgrade_lines(report)
    lines += _timeline_lines(report)
    lines += _missed_lines(report)
    lines += _versions_lines(report)
    lines += _chart_lines(report)
    lines += [
        "",
        "## Phases",
        "",
        "| phase | height | at (UTC) | after previous | why |",
        "|---|---:|---|---:|---|",
    ]
    for p in report["phases"]:
        cells = [p["phase"], p["height"], _hms(p["at"]), f"{p['since_previous_s']:.1f} s",
                 p["reason"]]  # fmt: skip
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += _gantt_lines(report)
    lines += _state_lines(report)
    lines += traffic_lines(report)
    lines += ["", "## Votes", ""]
    if not report["votes"]:
        lines.append("No vote was cast.")
    lines += [f"- {v['voter']}: `{v['tx_hash'] or '(already on chain)'}`" for v in report["votes"]]
    sc = report.get("scenario") or {}
    if sc.get("name"):
        met = sc.get("verdict_met")
        lines += ["", f"## Scenario `{sc['name']}`", ""]
        if sc.get("summary"):
            lines.append(f"- What: {sc['summary']}")
        if sc.get("injected"):
            lines.append(f"- Injected: {sc['injected']}")
        if sc.get("expected"):
            lines.append(f"- Expected: {sc['expected']}")
        for f in sc.get("faults", []):
            lines.append(f"- Fault `{f['fault']}`: {f['detail']}")
        if sc.get("remediated"):
            lines.append(f"- Remediated by the agent: {', '.join(sc['remediated'])}")
        if met is not None:
            lines.append(f"- Verdict: **{'as expected' if met else 'NOT as expected'}**: "
                         f"{sc.get('verdict', '')}")  # fmt: skip
    alerts = report.get("alerts") or []
    lines += ["", "## Alerts during the run", ""]
    if not alerts:
        lines.append("No alert fired.")
    for a in alerts:
        lines.append(
            f"- {_hms(a['at'], '')} {a['event']} `{a['detector']}` {a['node'] or ''}:"
            f" {a['message']}"
        )
    lines += ["", "## Checks", "", "| stage | check | result | evidence |", "|---|---|---|---|"]
    for c in report["checks"]:
        lines.append(f"| {c['stage']} | {c['name']} | {c['result']} | {_cell(c['evidence'])} |")
    return "\n".join(lines) + "\n"


def _state_lines(report: dict[str, Any]) -> list[str]:
    """The declared transactions before the proposal, when the profile has any."""
    st = report.get("state") or {}
    if not st.get("declared"):
        return []
    lines = ["", "## State before the upgrade", ""]
    if not st.get("txs"):
        return lines + [f"Declared ({', '.join(st['declared'])}); not all reached a block."]
    lines += [f"{len(st['txs'])} declared transactions, each in a block with code 0:", ""]
    for t in st["txs"]:
        again = " (found after a restart)" if t["reused"] else ""
        lines.append(f"- {t['name']} #{t['index']}: `{t['tx_hash']}`{again}")
    return lines
