"""The report's traffic section: what users' transactions met, per phase and
across the halt (``agent.core.traffic`` makes the numbers)."""

from __future__ import annotations

from typing import Any

__all__ = ["traffic_lines"]


def _latency(lat: dict[str, float] | None) -> str:
    if not lat:
        return "n/a"
    return f"{lat['median']:.2f} / {lat['p95']:.2f} / {lat['max']:.2f}"


def _codes(c: dict[str, Any]) -> str:
    parts = [f"{code}: {n}" for code, n in c["rejected_codes"].items()]
    parts += [f"in block {code}: {n}" for code, n in c["failed_codes"].items()]
    parts += [f"sent again, refused {code}: {n}" for code, n in c["refused_again_codes"].items()]
    return ", ".join(parts) or "none"


def traffic_lines(report: dict[str, Any]) -> list[str]:
    t = report.get("traffic")
    if not t:
        return []
    lines = ["", "## Traffic through the upgrade", ""]
    if not t.get("final"):
        lines += ["Not settled: the rehearsal ended before the traffic's last blocks.", ""]
    lines += [
        "| phase | sent | included | rejected | failed | lost | pending | sent again "
        "| codes | latency s (median / p95 / max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    rows = [*t["phases"].items(), ("all", t["total"])]
    for phase, c in rows:
        cells = [phase, c["sent"], c["included"], c["rejected"], c["failed"], c["lost"],
                 c["pending"], c["resent"], _codes(c), _latency(c["latency_s"])]  # fmt: skip
        lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    halt = t.get("halt_mempool")
    if halt:
        lines += [
            "",
            f"At the halt (height {halt['height']}) the tx node's mempool held "
            f"{halt['size']} transactions, {halt['ours']} of them ours:",
            "",
        ]
        for tx in halt["txs"]:
            again = f", sent again {tx['resent']}x" if tx["resent"] else ""
            lines.append(f"- `{tx['hash'][:16]}`: {tx['fate']}{again}")
    return lines
