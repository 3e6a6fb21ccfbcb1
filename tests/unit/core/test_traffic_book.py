"""The traffic book: fates, phases, latencies and the halt's mempool, from events."""

from __future__ import annotations

from agent.core.traffic import (
    HALT,
    MempoolSeen,
    TrafficBook,
    TxChecked,
    TxIncluded,
    TxResent,
    TxSent,
    traffic_phase,
)


def sent(h: str, seq: int, phase: str = "proposed", at: float = 100.0, acct: str = "t1") -> TxSent:
    return TxSent(h, acct, seq, "bank-send", phase, 10, at, "AAAA")


def test_the_halt_is_the_last_v1_block_while_the_upgrade_is_under_way() -> None:
    assert traffic_phase("passed", 19, 20) == HALT
    assert traffic_phase("upgraded", 19, 20) == HALT
    assert traffic_phase("passed", 18, 20) == "passed"
    assert traffic_phase("upgraded", 20, 20) == "upgraded"
    assert traffic_phase("voted", 19, 20) == "voted"  # not passed yet: no halt coming
    assert traffic_phase("passed", 19, None) == "passed"


def test_fates_and_counts_per_phase() -> None:
    b = TrafficBook()
    for e in (
        sent("A", 0), TxChecked("A", 0), TxIncluded("A", 11, 0, 101.5),
        sent("B", 1), TxChecked("B", 0), TxIncluded("B", 12, 5, 102.0),  # failed in its block
        sent("C", 2, "passed"), TxChecked("C", 13, "insufficient fee"),  # refused by CheckTx
        sent("D", 2, "passed"), TxChecked("D", 0),  # accepted, in no block yet
    ):  # fmt: skip
        b.apply(e)
    s = b.summary(final=False)
    assert s["phases"]["proposed"] | {"latency_s": None} == {
        "sent": 2, "included": 1, "failed": 1, "rejected": 0, "pending": 0, "lost": 0,
        "resent": 0, "rejected_codes": {}, "failed_codes": {"5": 1}, "latency_s": None,
        "refused_again_codes": {},
    }  # fmt: skip
    assert s["phases"]["proposed"]["latency_s"] == {"median": 1.5, "p95": 1.5, "max": 1.5}
    assert s["phases"]["passed"]["rejected_codes"] == {"13": 1}
    assert s["total"]["pending"] == 1 and s["total"]["lost"] == 0
    final = b.summary(final=True)
    assert final["total"]["lost"] == 1 and final["total"]["pending"] == 0
    assert [x.hash for x in b.lost()] == ["D"]


def test_a_refused_sequence_is_free_again_and_an_open_one_is_not() -> None:
    b = TrafficBook()
    for e in (sent("A", 4), TxChecked("A", 0), sent("B", 5), TxChecked("B", 32, "mismatch")):
        b.apply(e)
    assert b.next_sequence("t1") == 5
    assert b.next_sequence("t2") == 0


def test_a_mismatch_after_a_send_again_leaves_the_lookup_to_decide() -> None:
    b = TrafficBook()
    for e in (
        sent("A", 0), TxChecked("A", -1, error="connection refused"),  # may have arrived
        TxResent("A", 14, 105.0), TxChecked("A", 32, "expected 1, got 0"),
    ):  # fmt: skip
        b.apply(e)
    assert [s.hash for s in b.open_txs()] == ["A"]  # not refused: maybe in a block
    b.apply(TxIncluded("A", 13, 0, 106.0))
    assert b.summary(final=True)["total"]["included"] == 1


def test_what_to_send_again_is_old_enough_and_in_sequence_order() -> None:
    b = TrafficBook()
    for e in (sent("B", 1), TxChecked("B", 0), sent("A", 0), TxChecked("A", 0)):
        b.apply(e)
    assert b.to_resend(13, 4) == []  # sent at 10: three blocks ago
    assert [s.hash for s in b.to_resend(14, 4)] == ["A", "B"]
    b.apply(TxResent("A", 14, 110.0))
    assert [s.hash for s in b.to_resend(14, 4)] == ["B"]


def test_the_halt_mempool_lists_ours_with_their_fates() -> None:
    b = TrafficBook()
    for e in (
        sent("A", 0, "passed"), TxChecked("A", 0),
        sent("B", 1, HALT), TxChecked("B", 0),
        MempoolSeen(19, 120.0, ("A", "B", "FOREIGN")),
        TxIncluded("A", 20, 0, 130.0), TxResent("B", 22, 131.0),
    ):  # fmt: skip
        b.apply(e)
    halt = b.summary(final=True)["halt_mempool"]
    assert (halt["height"], halt["size"], halt["ours"]) == (19, 3, 2)
    assert halt["fates"] == {"included at 20": 1, "lost": 1}
    assert halt["txs"][1] == {"hash": "B", "fate": "lost", "resent": 1}
    assert list(b.summary(final=True)["phases"]) == ["passed", HALT]


def test_a_refusal_of_a_send_again_does_not_close_an_accepted_transaction() -> None:
    # stream-cuts under traffic: seq 8 accepted, dropped by the restart, sent again to
    # a node just up on v2 (code 4: its CheckTx reads height 0 until its first
    # commit). Closing it left seq 9 waiting for 8 until the end: lost.
    b = TrafficBook()
    for e in (
        sent("S8", 8), TxChecked("S8", 0), sent("S9", 9), TxChecked("S9", 0),
        TxResent("S8", 18, 110.0), TxChecked("S8", 4, "signature verification failed"),
        TxResent("S9", 18, 110.0), TxChecked("S9", 32, "expected 8, got 9"),
    ):  # fmt: skip
        b.apply(e)
    assert [s.hash for s in b.open_txs()] == ["S8", "S9"]  # both still to land
    assert b.next_sequence("t1") == 10
    b.apply(TxIncluded("S8", 20, 0, 120.0))
    b.apply(TxIncluded("S9", 20, 0, 120.0))
    total = b.summary(final=True)["total"]
    assert (total["included"], total["rejected"], total["lost"]) == (2, 0, 0)
    assert total["refused_again_codes"] == {"32": 1, "4": 1}
