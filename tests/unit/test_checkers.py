from __future__ import annotations

import json

import pytest

from agent.checkers import (
    PlayerInfo,
    decode_kv_pairs,
    expected_leaderboard,
    parse_leaderboard,
    parse_players,
)
from agent.errors import ProtocolError


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
    cli = {"Leaderboard": {"winners": [{"playerAddress": "a", "wonCount": 3}]}}
    assert parse_leaderboard(store) == parse_leaderboard(cli) == [("a", 3)]
    with pytest.raises(ProtocolError):
        parse_leaderboard({"nope": 1})


def test_command_failed_names_the_cli_error_not_its_usage() -> None:
    from agent.errors import CommandFailed

    before = "Error: integrity check failed.\nUsage:\n  checkersd tx ...\n" + "x" * 900
    assert "integrity check failed" in str(CommandFailed(["docker"], 1, before))
    after = "Usage:\n  --home string   dir\n\nfailed: too many failed passphrase attempts\n"
    assert str(CommandFailed(["docker"], 1, after)).endswith("too many failed passphrase attempts")
