#!/usr/bin/env python3
"""The checkers profile's leaderboard check: a check program for `rehearse`.

The agent knows no chain; this program knows checkers. It is declared in the
bundled profile (config.toml, `[[checks]]` with `program = [...]`) and gets, on
stdin, the declared reads as JSON: the raw store of player infos before the
upgrade (`players`, base64 of a /store/checkers/subspace answer), the v2 CLI's
`show-leaderboard` after it (`leaderboard_cli`), and the stored leaderboard
(`leaderboard_store`). It prints one JSON line: {"pass": bool, "evidence": "..."}.

Stages:
- upgraded: the leaderboard the migration computed (as the v2 CLI shows it)
  equals the one computed here from the baseline's player infos;
- restarted: the stored leaderboard is unchanged by the restart.

The leaderboard rule is re-implemented here from its documentation (not
shared with the chain's code), so the check compares two independent
computations: the chain's migration and this one. Standard library only.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from typing import cast


class ProtocolError(Exception):
    """The chain's answer is not what the checkers module writes."""


__all__ = [
    "PlayerInfo",
    "PLAYER_PREFIX",
    "LEADERBOARD_KEY",
    "LEADERBOARD_SIZE",
    "expected_leaderboard",
    "decode_kv_pairs",
    "parse_players",
    "parse_leaderboard",
]

STORE = "checkers"
PLAYER_PREFIX = b"PlayerInfo/value/"
LEADERBOARD_KEY = b"Leaderboard/value/"
LEADERBOARD_SIZE = 10


@dataclass(frozen=True, slots=True)
class PlayerInfo:
    index: str
    won: int
    lost: int
    forfeited: int


def expected_leaderboard(
    players: list[PlayerInfo], size: int = LEADERBOARD_SIZE
) -> list[tuple[str, int]]:
    """Players with at least one win, most wins first, ties by index (byte order), top ``size``."""
    winners = [(p.index, p.won) for p in players if p.won > 0]
    winners.sort(key=lambda w: (-w[1], w[0].encode()))
    return winners[:size]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ProtocolError("truncated varint in kv pairs")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, bytes]]:
    """Length-delimited fields of a protobuf message (others skipped)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        num, wire = tag >> 3, tag & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ProtocolError("truncated field in kv pairs")
            out.append((num, buf[pos : pos + n]))
            pos += n
        elif wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtocolError(f"unsupported wire type {wire} in kv pairs")
    return out


def decode_kv_pairs(buf: bytes) -> list[tuple[bytes, bytes]]:
    """Decode a /store/<name>/subspace answer (kv.Pairs: repeated Pair{key=1, value=2})."""
    pairs: list[tuple[bytes, bytes]] = []
    for num, msg in _fields(buf):
        if num != 1:
            continue
        key = value = b""
        for n, v in _fields(msg):
            if n == 1:
                key = v
            elif n == 2:
                value = v
        pairs.append((key, value))
    return pairs


def parse_players(pairs: list[tuple[bytes, bytes]]) -> list[PlayerInfo]:
    out: list[PlayerInfo] = []
    for key, value in pairs:
        try:
            d = json.loads(value)
            out.append(
                PlayerInfo(
                    str(d["index"]),
                    int(d.get("wonCount", 0)),
                    int(d.get("lostCount", 0)),
                    int(d.get("forfeitedCount", 0)),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"player info {key!r}: {exc}") from exc
    return out


def parse_leaderboard(raw: bytes | dict[str, object]) -> list[tuple[str, int]]:
    """A stored leaderboard (raw JSON bytes) or the CLI's JSON output."""
    doc = json.loads(raw) if isinstance(raw, bytes) else raw
    if isinstance(doc, dict) and "Leaderboard" in doc:
        doc = doc["Leaderboard"]
    if not isinstance(doc, dict) or not isinstance(doc.get("winners"), list):
        raise ProtocolError(f"not a leaderboard: {str(doc)[:200]}")
    out: list[tuple[str, int]] = []
    rows = cast(list[object], doc["winners"])
    for w in rows:
        if not isinstance(w, dict):
            raise ProtocolError(f"bad leaderboard row {w!r}")
        out.append((str(w["playerAddress"]), int(w["wonCount"])))
    return out


def _reads(doc: dict[str, object], stage: str) -> dict[str, object]:
    reads = doc.get(stage)
    return reads if isinstance(reads, dict) else {}


def judge(doc: dict[str, object]) -> tuple[bool, str]:
    stage = doc.get("stage")
    if stage == "upgraded":
        raw = _reads(doc, "baseline").get("players")
        value = raw.get("value") if isinstance(raw, dict) else None
        pairs = decode_kv_pairs(base64.b64decode(value)) if isinstance(value, str) else []
        expected = expected_leaderboard(parse_players(pairs))
        shown = _reads(doc, "current").get("leaderboard_cli")
        if not isinstance(shown, dict):
            return False, "show-leaderboard gave no JSON"
        got = parse_leaderboard(shown)
        return (
            got == expected,
            f"show-leaderboard {got}; computed from {len(pairs)} players {expected}",
        )
    if stage == "restarted":
        before = _stored(_reads(doc, "upgraded").get("leaderboard_store"))
        after = _stored(_reads(doc, "current").get("leaderboard_store"))
        return before == after and before is not None, f"before the restart {before}, after {after}"
    return False, f"no rule for stage {stage!r}"


def _stored(read: object) -> list[tuple[str, int]] | None:
    value = read.get("value") if isinstance(read, dict) else None
    if not isinstance(value, str):
        return None
    return parse_leaderboard(base64.b64decode(value))


def main() -> int:
    try:
        ok, evidence = judge(json.load(sys.stdin))
    except (ProtocolError, ValueError, KeyError, TypeError) as exc:
        ok, evidence = False, f"cannot judge: {exc}"
    print(json.dumps({"pass": ok, "evidence": evidence}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
