"""Fakes for the runtime's unit tests: one fake chain shared by RPC, REST, CLI and Compose.

``FakeChain`` holds what a tiny Cosmos chain would: per-node heights (blocks advance
only when the test calls ``advance``), accounts with sequences, a mempool whose
transactions are included at the next block, proposals, votes, balances, the checkers
store and the Cosmovisor links. ``FakeRPC``/``FakeRest``/``FakeCLI``/``FakeCompose``
are views onto it, so a transaction signed by the fake CLI and broadcast over one fake
RPC is found over any other.

Transactions are modelled as the chain treats signed bytes: the fake CLI signs
deterministically (the bytes are JSON of the ``tx`` arguments, the signer, its account
number and sequence), so signing the same thing at the same sequence gives the same
bytes and hash. The chain accepts given bytes at most once: bytes already in the
mempool are a duplicate (the node's cache, code 0), bytes at a sequence the account
has moved past are refused with code 32 (a duplicate to the agent: "look it up"), and
every answer goes through the real ``parse_broadcast``/``broadcast_error``.

``FakeChain.kill_at`` arms one-shot hooks at named points (``signed``, ``recorded``,
``broadcast``, ``tx_lookup``, ``block``) so a test can kill (raise) or cancel the
executor exactly there.

For the daemon: ``ScriptedExecutor`` answers each action with its fact (and can be
told to hang or fail), ``FakeReads`` answers the two chain reads, ``FakeSource``
pushes the chain's ``NewBlock`` observations into the stream the Runner hands to the
source factory, ``RecordingJournal`` keeps every saved state, and ``SteppedClock``
is a ``FakeClock`` whose ``sleep`` waits until the test advances time (deadlines fire
exactly when the test says so).

The fakes are split by what they fake (``config``, ``chain``, ``clients``,
``docker``, ``world``, ``daemon``) and re-exported here: tests import ``fakes``.
"""

from __future__ import annotations

from fakes.chain import (
    KILL_POINTS,
    FakeChain,
    FakeProposal,
    FakeTx,
    encode_kv_pairs,
    leaderboard_doc,
)
from fakes.clients import FakeCLI, FakeLedger, FakeRest, FakeRPC, RecordingBoxes, hook_ledger
from fakes.config import (
    DEPOSIT,
    GENESIS,
    LEADERBOARD_KEY,
    LEADERBOARD_PROGRAM,
    OK,
    PASSED,
    PLAYER_PREFIX,
    PROFILE,
    REPO,
    VOTING,
    PlayerInfo,
    SimulatedCrash,
    make_config,
    profile_sections,
    rfc3339,
)
from fakes.daemon import (
    FakeReads,
    FakeSource,
    RecordingJournal,
    ScriptedExecutor,
    SteppedClock,
    drive_blocks,
    settle,
    source_factory,
)
from fakes.docker import CommandRecorder, FakeCompose
from fakes.world import World, make_world

__all__ = [
    "KILL_POINTS",
    "CommandRecorder",
    "DEPOSIT",
    "FakeCLI",
    "FakeChain",
    "FakeCompose",
    "FakeLedger",
    "FakeProposal",
    "FakeRPC",
    "FakeReads",
    "FakeRest",
    "FakeSource",
    "FakeTx",
    "GENESIS",
    "LEADERBOARD_KEY",
    "LEADERBOARD_PROGRAM",
    "OK",
    "PASSED",
    "PLAYER_PREFIX",
    "PROFILE",
    "PlayerInfo",
    "REPO",
    "RecordingBoxes",
    "RecordingJournal",
    "ScriptedExecutor",
    "SimulatedCrash",
    "SteppedClock",
    "VOTING",
    "World",
    "drive_blocks",
    "encode_kv_pairs",
    "hook_ledger",
    "leaderboard_doc",
    "make_config",
    "make_world",
    "profile_sections",
    "rfc3339",
    "settle",
    "source_factory",
]
