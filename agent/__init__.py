"""rehearse: an event-driven agent that rehearses a Cosmos SDK chain upgrade.

The package is laid out by what each module holds:

- ``machine``, ``events``, ``actions``: the pure rehearsal state machine (no I/O).
- ``rpc``, ``ws``, ``docker_events``: the outside world's sources, each behind a
  small interface with errors translated where they enter (``errors``).
- ``compose``, ``chaincli``, ``executor``: how actions touch the world.
- ``journal``, ``report``, ``config``, ``logs``: persistence and configuration.
- ``daemon``: the one task group that owns every task.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
