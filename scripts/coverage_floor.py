#!/usr/bin/env python3
"""Enforce the coverage floors of `make check` on the data the unit tests left.

A floor on the total alone hides a deleted test: the modules other tests also touch
keep it up. So every module of the pure core has its own floor, and agent/ as a
whole has one. Usage: coverage_floor.py [CORE_FLOOR] [TOTAL_FLOOR]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    core_floor = float(sys.argv[1]) if len(sys.argv) > 1 else 95.0
    total_floor = float(sys.argv[2]) if len(sys.argv) > 2 else 85.0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        subprocess.run([sys.executable, "-m", "coverage", "json", "-q", "-o", str(out)],
                       check=True)  # fmt: skip
        data = json.loads(out.read_text())
    low = []
    for name, f in sorted(data["files"].items()):
        pct = f["summary"]["percent_covered"]
        if name.startswith("agent/core/") and f["summary"]["num_statements"] and pct < core_floor:
            low.append(f"{name}: {pct:.1f} % < {core_floor:g} %")
    total = data["totals"]["percent_covered"]
    if total < total_floor:
        low.append(f"agent/ in all: {total:.1f} % < {total_floor:g} %")
    for line in low:
        print(f"coverage floor: {line}", file=sys.stderr)
    if not low:
        print(f"coverage floors met: each agent/core module >= {core_floor:g} %, "
              f"agent/ {total:.1f} % >= {total_floor:g} %")  # fmt: skip
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
