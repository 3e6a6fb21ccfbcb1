"""Capped, jittered exponential backoff for reconnect loops.

Jitter spreads the reconnects of five sources (and five nodes coming back after an
upgrade) so they do not hit a restarting node in lockstep. Model: stamina ``_core.py``,
AWS "Exponential Backoff And Jitter" (full and equal jitter).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

__all__ = ["Backoff", "Jitter"]

Jitter = Literal["full", "equal", "none"]


class Backoff:
    """Delays ``initial * factor**n`` capped at ``cap``, with jitter.

    - ``full``: uniform in ``[0, d]`` (best spread; a retry may come at once);
    - ``equal``: uniform in ``[d/2, d]`` (keeps a floor, so a dead peer is not hammered);
    - ``none``: exactly ``d`` (for tests and logs that want determinism).

    ``random`` returns a float in ``[0, 1)``; inject one for deterministic tests.
    """

    def __init__(
        self,
        initial: float = 0.2,
        cap: float = 5.0,
        factor: float = 2.0,
        jitter: Jitter = "equal",
        random: Callable[[], float] = random.random,
    ) -> None:
        if initial <= 0 or cap < initial or factor < 1:
            raise ValueError(f"bad backoff: initial={initial} cap={cap} factor={factor}")
        if jitter not in ("full", "equal", "none"):
            raise ValueError(f"bad jitter: {jitter!r}")
        self.initial = initial
        self.cap = cap
        self.factor = factor
        self.jitter: Jitter = jitter
        self._random = random
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def ceiling(self) -> float:
        """The un-jittered delay the next call is based on."""
        # Past the cap the exponent only risks float overflow, so stop growing it.
        ceiling = self.initial
        for _ in range(self._attempt):
            ceiling *= self.factor
            if ceiling >= self.cap:
                return self.cap
        return min(ceiling, self.cap)

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self._attempt += 1
        if self.jitter == "full":
            return ceiling * self._random()
        if self.jitter == "equal":
            return ceiling / 2 + (ceiling / 2) * self._random()
        return ceiling

    def reset(self) -> None:
        """Call after a success, so the next failure starts small again."""
        self._attempt = 0
