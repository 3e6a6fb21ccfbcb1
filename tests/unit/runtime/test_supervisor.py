"""The agent-crash supervisor (agent/runtime/supervisor.py): its log follower, its
event matching, the on-chain count, and the kill/restart loop with the child
processes, the clock and the chain replaced (no process is started)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import make_config

from agent.runtime import supervisor as sup


def test_events_reads_whole_lines_and_leaves_a_torn_one(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    assert sup._events(log, (0, 0)) == ([], (0, 0))  # no log yet
    log.write_bytes(b'{"event": "a"}\nnot json\n{"event": "b"}\n{"event": "c"')
    events, pos = sup._events(log, (0, 0))
    assert events == [{"event": "a"}, {"event": "b"}]
    assert pos[1] == len(b'{"event": "a"}\nnot json\n{"event": "b"}\n')
    with log.open("ab") as fh:
        fh.write(b"}\n")
    events, pos = sup._events(log, pos)
    assert events == [{"event": "c"}] and pos[1] == log.stat().st_size


def test_matches_by_event_name_and_prefixes() -> None:
    e = {"event": "action_start", "action": "submit_proposal:v1tov2"}
    assert sup._matches(e, "action_start", {"action": "submit_proposal"})
    assert not sup._matches(e, "action_done", {"action": "submit_proposal"})
    assert not sup._matches(e, "action_start", {"action": "cast_vote"})
    assert not sup._matches({"event": "tx_broadcast"}, "tx_broadcast", {"kind": "vote"})


def _vote(voter: str) -> dict[str, Any]:
    attrs = [{"key": "option", "value": "yes"}, {"key": "voter", "value": voter}]
    return {
        "tx_result": {
            "events": [{"type": "message"}, {"type": "proposal_vote", "attributes": attrs}]
        }
    }


def test_count_on_chain_asks_the_tx_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config(tmp_path)
    asked: list[tuple[str, str, dict[str, str]]] = []

    def rpc(url: str, path: str, **params: str) -> dict[str, Any]:
        asked.append((url, path, params))
        if "submit_proposal" in params["query"]:
            return {"total_count": "1", "txs": []}
        return {"txs": [_vote("cosmos1a"), _vote("cosmos1b"), _vote("cosmos1a")]}

    monkeypatch.setattr(sup, "_rpc", rpc)
    assert sup.count_on_chain(cfg) == (1, {"cosmos1a": 2, "cosmos1b": 1})
    tx_rpc = next(n.rpc for n in cfg.nodes if n.name == cfg.chain.tx_node)
    assert {a[0] for a in asked} == {tx_rpc} and {a[1] for a in asked} == {"tx_search"}


class FakeProc:
    def __init__(self, code: int | None) -> None:
        self.pid = 4242
        self.code = code
        self.polls = 0

    def poll(self) -> int | None:
        self.polls += 1
        return self.code if self.polls > 3 else None


class Rig:
    """Each spawned agent logs the next kill point's event, then (the last one) exits."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, final: int = 0) -> None:
        self.cfg = make_config(tmp_path)
        self.log = self.cfg.path(self.cfg.agent.log_file)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.spawned: list[list[str]] = []
        self.killed: list[int] = []
        self.now = 0.0
        self.final = final
        self.counts: tuple[int, dict[str, int]] = (1, {"cosmos1alice": 1, "cosmos1bob": 1})
        events = [
            {"event": "action_start", "action": "submit_proposal"},
            {"event": "tx_broadcast", "kind": "vote"},
            {"event": "phase_changed", "phase": "passed"},
        ]

        def spawn(argv: list[str]) -> FakeProc:
            i = len(self.spawned)
            self.spawned.append(argv)
            if i < len(events):
                with self.log.open("a") as fh:
                    fh.write(json.dumps(events[i]) + "\n")
                return FakeProc(None)
            return FakeProc(self.final)

        def sleep(s: float) -> None:
            self.now += s

        monkeypatch.setattr(sup, "_spawn", spawn)
        monkeypatch.setattr(sup, "_kill", lambda proc: self.killed.append(proc.pid))
        monkeypatch.setattr("agent.runtime.supervisor.time.monotonic", lambda: self.now)
        monkeypatch.setattr("agent.runtime.supervisor.time.sleep", sleep)
        monkeypatch.setattr(sup, "count_on_chain", lambda _cfg: self.counts)


def test_the_supervisor_kills_at_each_point_and_counts_on_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Rig(tmp_path, monkeypatch)
    code, findings = sup.supervise_agent_crash(r.cfg, tmp_path / "c.toml", fresh=True, seed=7)
    assert code == 0, findings
    assert findings[0] == "seed 7" and len(r.killed) == 3
    assert [f.split(" after ")[1] for f in findings[1:4]] == [
        "action_start submit_proposal",
        "tx_broadcast vote",
        "phase_changed passed",
    ]
    assert "--fresh" in r.spawned[0] and all("--fresh" not in a for a in r.spawned[1:])
    assert r.spawned[0][-3:-1] == ["--config", str(tmp_path / "c.toml")]
    assert findings[-1].startswith("on chain: 1 proposal transaction(s)")


@pytest.mark.parametrize(
    "counts",
    [(2, {"cosmos1alice": 1, "cosmos1bob": 1}), (1, {"cosmos1alice": 2, "cosmos1bob": 1}),
     (1, {"cosmos1alice": 1})],
    ids=["two-proposals", "a-double-vote", "a-missing-vote"],
)  # fmt: skip
def test_a_duplicate_or_missing_transaction_fails_the_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: Any
) -> None:
    r = Rig(tmp_path, monkeypatch)
    r.counts = counts
    code, _ = sup.supervise_agent_crash(r.cfg, None, fresh=False, seed=1)
    assert code == 1


def test_the_last_agents_exit_code_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = Rig(tmp_path, monkeypatch, final=3)
    code, _ = sup.supervise_agent_crash(r.cfg, None, fresh=False, seed=1)
    assert code == 3


def test_no_end_within_the_deadline_kills_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Rig(tmp_path, monkeypatch)
    monkeypatch.setattr(sup, "_spawn", lambda argv: FakeProc(None))  # never logs, never ends
    code, findings = sup.supervise_agent_crash(r.cfg, None, fresh=False, seed=1)
    assert code == 1 and findings[-1] == f"no end within {sup.DEADLINE_S:.0f} s"
    assert len(r.killed) == 1
