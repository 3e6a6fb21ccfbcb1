"""The unit tests mirror the package (tests/unit/core for agent/core, ...); their
shared fakes stay here, importable as ``fakes`` from every folder."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
