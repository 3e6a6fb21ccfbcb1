from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "prod-sim" / "checks"))

from leaderboard import (  # noqa: E402 (the profile's program, imported from its directory)
    PlayerInfo,
    ProtocolError,
    decode_kv_pairs,
    expected_leaderboard,
    parse_leaderboard,
    parse_players,
)


def _ld(num: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([num << 3 | 2, len(payload)]) + payload


def test_decode_kv_pairs_roundtrip_of_hand_encoded_message() -> None:
    pair1 = _ld(1, b"PlayerInfo/value/a") + _ld(2, b'{"index":"a","wonCount":2}')
    pair2 = _ld(1, b"PlayerInfo/value/b") + _ld(2, b'{"index":"b","wonCount":0,"lostCount":4}')
    buf = _ld(1, pair1) + _ld(1, pair2)
    pairs = decode_kv_pairs(buf)
    assert [k for k, _ in pairs] == [b"PlayerInfo/value/a", b"PlayerInfo/value/b"]
    players = parse_players(pairs)
    assert players == [PlayerInfo("a", 2, 0, 0), PlayerInfo("b", 0, 4, 0)]


def test_decode_kv_pairs_rejects_truncation() -> None:
    with pytest.raises(ProtocolError):
        decode_kv_pairs(bytes([0x0A, 0x05, 0x01]))


def test_leaderboard_rule_ties_zero_wins_and_size() -> None:
    players = [PlayerInfo(f"p{i:02d}", i // 2, 0, 0) for i in range(25)]
    lb = expected_leaderboard(players)
    assert lb[:3] == [("p24", 12), ("p22", 11), ("p23", 11)]
    assert len(lb) == 10 and ("p15", 7) not in lb and ("p14", 7) in lb
    assert expected_leaderboard([PlayerInfo("z", 0, 3, 1)]) == []


def test_parse_leaderboard_accepts_store_and_cli_forms() -> None:
    store = json.dumps({"winners": [{"playerAddress": "a", "wonCount": 3}]}).encode()
    cli: dict[str, object] = {"Leaderboard": {"winners": [{"playerAddress": "a", "wonCount": 3}]}}
    assert parse_leaderboard(store) == parse_leaderboard(cli) == [("a", 3)]
    with pytest.raises(ProtocolError):
        parse_leaderboard({"nope": 1})


def test_command_failed_names_the_cli_error_not_its_usage() -> None:
    from agent.errors import CommandFailed

    before = "Error: integrity check failed.\nUsage:\n  checkersd tx ...\n" + "x" * 900
    assert "integrity check failed" in str(CommandFailed(["docker"], 1, before))
    after = "Usage:\n  --home string   dir\n\nfailed: too many failed passphrase attempts\n"
    assert str(CommandFailed(["docker"], 1, after)).endswith("too many failed passphrase attempts")


def run_program(doc: Mapping[str, object]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(REPO / "prod-sim" / "checks" / "leaderboard.py")],
        input=json.dumps(doc), capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    verdict = json.loads(out.stdout.strip().splitlines()[-1])
    assert isinstance(verdict, dict), verdict
    return verdict


def players_read(*players: tuple[str, int]) -> dict[str, str]:
    pairs = b"".join(
        _ld(1, _ld(1, b"PlayerInfo/value/" + i.encode())
            + _ld(2, json.dumps({"index": i, "wonCount": w}).encode()))
        for i, w in players
    )  # fmt: skip
    return {"value": base64.b64encode(pairs).decode()}


def test_the_program_passes_when_the_cli_shows_the_computed_leaderboard() -> None:
    shown = {"Leaderboard": {"winners": [{"playerAddress": "b", "wonCount": "3"},
                                         {"playerAddress": "a", "wonCount": "1"}]}}  # fmt: skip
    doc = {"stage": "upgraded", "baseline": {"players": players_read(("a", 1), ("b", 3), ("c", 0))},
           "current": {"leaderboard_cli": shown}}  # fmt: skip
    verdict = run_program(doc)
    assert verdict["pass"] is True, verdict
    shown["Leaderboard"]["winners"].reverse()  # the wrong order must fail
    assert run_program(doc)["pass"] is False


def test_the_program_compares_the_stored_leaderboard_across_the_restart() -> None:
    board = base64.b64encode(b'{"winners":[{"playerAddress":"a","wonCount":"2"}]}').decode()
    other = base64.b64encode(b'{"winners":[]}').decode()
    same = {"stage": "restarted", "upgraded": {"leaderboard_store": {"value": board}},
            "current": {"leaderboard_store": {"value": board}}}  # fmt: skip
    assert run_program(same)["pass"] is True
    changed = {**same, "current": {"leaderboard_store": {"value": other}}}
    assert run_program(changed)["pass"] is False
    assert run_program({"stage": "restarted"})["pass"] is False  # nothing read: no pass
