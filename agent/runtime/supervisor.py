"""Scenario ``agent-crash``: the agent killed with SIGKILL and restarted, for real.

The supervisor runs ``rehearse run`` as a child process, follows its JSON log
and kills it (the whole process group, SIGKILL) at moments chosen at random
around the risky points: while the proposal is being signed and broadcast,
right after a vote is broadcast, and after the proposal passed. Each time it
starts the agent again, which resumes from its journal. At the end it counts
on chain, over RPC, the proposals and the votes: exactly one proposal and one
vote per voter, or the scenario failed. Blocking by design: the supervisor is
the CLI's process and runs no event loop.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import Config

__all__ = ["CrashPlan", "supervise_agent_crash"]

# (log event that opens the window, extra match, max random delay in seconds)
KILL_POINTS: tuple[tuple[str, dict[str, str], float], ...] = (
    ("action_start", {"action": "submit_proposal"}, 2.5),  # inside sign/broadcast
    ("tx_broadcast", {"kind": "vote"}, 0.5),  # a vote out, not yet in a block
    ("phase_changed", {"phase": "passed"}, 3.0),
)
DEADLINE_S = 900.0


@dataclass
class CrashPlan:
    seed: int
    kills: list[str] = field(default_factory=list)


def _events(log: Path, pos: tuple[int, int]) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """The whole new lines of ``log`` after ``pos`` (inode, offset), and the new ``pos``.

    The log rotates by size: when ``log`` is a new file, the rest of the old
    one (now ``log.1``) is read first, then the new one from its start.
    """
    ino, offset = pos
    before = b""
    try:
        with open(log, "rb") as fh:
            st = os.fstat(fh.fileno())
            if ino and st.st_ino != ino:
                before = _rest_of(log.with_name(f"{log.name}.1"), ino, offset)
                offset = 0
            elif st.st_size < offset:  # emptied (rotation without backups)
                offset = 0
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], pos
    end = data.rfind(b"\n") + 1  # a torn last line is read next time
    out = []
    for line in (before + data[:end]).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out, (st.st_ino, offset + end)


def _rest_of(path: Path, ino: int, offset: int) -> bytes:
    """What follows ``offset`` in ``path`` when it is still the file ``ino``."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_ino != ino:
                return b""
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return b""
    return data[: data.rfind(b"\n") + 1]


def _matches(event: dict[str, Any], name: str, match: dict[str, str]) -> bool:
    if event.get("event") != name:
        return False
    return all(str(event.get(k, "")).startswith(v) for k, v in match.items())


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _rpc(url: str, path: str, **params: str) -> dict[str, Any]:
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url.rstrip('/')}/{path}?{q}", timeout=10) as r:  # noqa: S310
        doc = json.loads(r.read())
    result = doc.get("result")
    return result if isinstance(result, dict) else {}


def count_on_chain(cfg: Config) -> tuple[int, dict[str, int]]:
    """(proposal transactions, vote transactions per voter address) on chain."""
    rpc = next(n.rpc for n in cfg.nodes if n.name == cfg.chain.tx_node)
    subs = _rpc(rpc, "tx_search", query='"submit_proposal.proposal_id>0"', per_page="100")
    votes = _rpc(rpc, "tx_search", query='"proposal_vote.proposal_id>0"', per_page="100")
    voters: dict[str, int] = {}
    for t in votes.get("txs", []):
        for e in t.get("tx_result", {}).get("events", []):
            if e.get("type") == "proposal_vote":
                for a in e.get("attributes", []):
                    if a.get("key") == "voter":
                        voters[str(a.get("value"))] = voters.get(str(a.get("value")), 0) + 1
    return int(subs.get("total_count", 0)), voters


def supervise_agent_crash(
    cfg: Config, config_path: Path | None, fresh: bool, seed: int | None = None
) -> tuple[int, list[str]]:
    """Run the scenario; return (exit code of the last agent, findings)."""
    plan = CrashPlan(seed if seed is not None else random.SystemRandom().randrange(2**32))
    rng = random.Random(plan.seed)
    base = [sys.executable, "-m", "agent", "run", "--scenario", "agent-crash", "--supervised"]
    if config_path is not None:
        base += ["--config", str(config_path)]
    log = cfg.path(cfg.agent.log_file)
    st = log.stat() if log.exists() else None
    pos = (st.st_ino, st.st_size) if st is not None else (0, 0)
    proc = _spawn(base + (["--fresh"] if fresh else []))
    points = list(KILL_POINTS)
    deadline = time.monotonic() + DEADLINE_S
    kill_at: float | None = None
    findings = [f"seed {plan.seed}"]
    while True:
        if time.monotonic() > deadline:
            _kill(proc)
            return 1, [*findings, f"no end within {DEADLINE_S:.0f} s"]
        events, pos = _events(log, pos)
        if points and kill_at is None:
            name, match, spread = points[0]
            if any(_matches(e, name, match) for e in events):
                kill_at = time.monotonic() + rng.uniform(0.0, spread)
        if kill_at is not None and time.monotonic() >= kill_at and proc.poll() is None:
            name, match, _ = points.pop(0)
            _kill(proc)
            what = f"SIGKILL after {name} {' '.join(match.values())}"
            findings.append(what)
            plan.kills.append(what)
            print(f"rehearse: agent-crash: {what}; restarting the agent", file=sys.stderr)
            kill_at = None
            proc = _spawn(base)
            continue
        code = proc.poll()
        if code is not None:
            break
        time.sleep(0.1)
    proposals, votes = count_on_chain(cfg)
    ok = code == 0 and proposals == 1 and len(votes) == len(cfg.voters)
    ok = ok and all(n == 1 for n in votes.values())
    findings.append(f"on chain: {proposals} proposal transaction(s); votes per voter {votes}")
    if not ok and code == 0:
        code = 1
    return code, findings
