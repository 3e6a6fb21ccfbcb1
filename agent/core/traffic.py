"""The traffic's book: what each transaction became, per phase and across the halt.

Pure: the sender (``agent.runtime.traffic``) records what it did and saw as
events; the book folds them into one record per transaction and answers what
is still pending, what to send again, and the summary the report shows. The
phase a transaction belongs to is the rehearsal's phase when it was sent, or
``halt`` while the chain stands at the upgrade height (after the last v1 block,
before the first v2 one).

Fates: ``included`` (in a block, code 0), ``failed`` (in a block, non-zero
code), ``rejected`` (refused by CheckTx, with its code), ``pending`` (neither
yet), and at the end ``lost``: accepted, or never answered, and in no block.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HALT",
    "PHASES",
    "MempoolSeen",
    "TrafficBook",
    "TxChecked",
    "TxIncluded",
    "TxResent",
    "TxSent",
    "TrafficEvent",
    "traffic_phase",
]

HALT = "halt"
PHASES = ("launched", "proposed", "voted", "passed", HALT, "upgraded", "restarted")
# CheckTx's "account sequence mismatch" (the SDK's ErrWrongSequence, code 32).
WRONG_SEQUENCE = 32


def traffic_phase(phase: str, height: int, upgrade_height: int | None) -> str:
    """The phase a transaction sent now belongs to: the rehearsal's, but ``halt``
    from the last v1 block (upgrade height - 1) until a block at the upgrade height."""
    if upgrade_height and phase in ("passed", "upgraded") and height == upgrade_height - 1:
        return HALT
    return phase


@dataclass(frozen=True, slots=True)
class TxSent:
    """Signed and recorded, about to be broadcast (``tx``: its bytes, base64)."""

    hash: str
    account: str
    sequence: int
    template: str
    phase: str
    height: int
    at: float
    tx: str = ""


@dataclass(frozen=True, slots=True)
class TxChecked:
    """The broadcast's answer: CheckTx's code (0: in the mempool), or ``error``
    when no node answered (the transaction may or may not have arrived)."""

    hash: str
    code: int
    log: str = ""
    at: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class TxIncluded:
    hash: str
    height: int
    code: int
    at: float


@dataclass(frozen=True, slots=True)
class TxResent:
    """Sent again, the same bytes: it was in no block ``resend_blocks`` after it was
    accepted (a restart empties the mempool), or its broadcast reached no node."""

    hash: str
    height: int
    at: float


@dataclass(frozen=True, slots=True)
class MempoolSeen:
    """The tx node's mempool, read while the chain stood at the upgrade height."""

    height: int
    at: float
    hashes: tuple[str, ...]


TrafficEvent = TxSent | TxChecked | TxIncluded | TxResent | MempoolSeen


@dataclass
class _Tx:
    sent: TxSent
    check_code: int | None = None  # None: not answered (or not yet)
    check_log: str = ""
    included: TxIncluded | None = None
    resent: int = 0
    last_send_height: int = 0
    refused_again: Counter[str] = field(default_factory=Counter)  # codes, sends again

    @property
    def rejected(self) -> bool:
        return self.included is None and self.check_code not in (None, 0)

    @property
    def open(self) -> bool:
        return self.included is None and not self.rejected

    def fate(self, final: bool) -> str:
        if self.included is not None:
            return "included" if self.included.code == 0 else "failed"
        if self.rejected:
            return "rejected"
        return "lost" if final else "pending"


@dataclass
class TrafficBook:
    txs: dict[str, _Tx] = field(default_factory=dict)
    mempool: MempoolSeen | None = None

    def apply(self, event: TrafficEvent) -> None:
        if isinstance(event, TxSent):
            if event.hash not in self.txs:
                self.txs[event.hash] = _Tx(event, last_send_height=event.height)
            return
        if isinstance(event, MempoolSeen):
            self.mempool = event
            return
        tx = self.txs.get(event.hash)
        if tx is None:
            return
        if isinstance(event, TxChecked):
            if event.error:
                return  # no answer: its fate is still open
            if tx.check_code == 0 and event.code != 0:
                # Accepted once: a refusal of the same bytes later does not undo that.
                # A node just restarted on v2 refused them (code 4: its CheckTx reads
                # height 0 until its first commit, so account number 0), and closing
                # them left every later sequence of the account waiting forever.
                tx.refused_again[str(event.code)] += 1
            elif event.code == WRONG_SEQUENCE and tx.resent:
                # Never answered, then "sequence past": the first send may be in a
                # block (or another took its sequence): the lookup decides.
                tx.refused_again[str(event.code)] += 1
            else:
                tx.check_code, tx.check_log = event.code, event.log[:300]
        elif isinstance(event, TxIncluded):
            tx.included = event
        elif isinstance(event, TxResent):
            tx.resent += 1
            tx.last_send_height = event.height

    # --- what the sender asks ---------------------------------------------------

    def open_txs(self) -> list[TxSent]:
        """Transactions not in a block and not refused, oldest sequence first."""
        found = [t.sent for t in self.txs.values() if t.open]
        return sorted(found, key=lambda s: (s.account, s.sequence))

    def to_resend(self, height: int, resend_blocks: int) -> list[TxSent]:
        """Open transactions last sent ``resend_blocks`` or more blocks ago, in the
        order their sequences need (a gap makes every later one wait)."""
        due = height - resend_blocks
        return [s for s in self.open_txs() if self.txs[s.hash].last_send_height <= due]

    def next_sequence(self, account: str) -> int:
        """One past the highest sequence of ``account`` this book holds in a block or
        on its way (0: none). A refused transaction's sequence is free again."""
        seqs = [
            t.sent.sequence
            for t in self.txs.values()
            if t.sent.account == account and not t.rejected
        ]
        return max(seqs) + 1 if seqs else 0

    # --- what the report shows ------------------------------------------------------

    def summary(self, *, final: bool) -> dict[str, Any]:
        per_phase: dict[str, dict[str, Any]] = {}
        for phase in PHASES:
            txs = [t for t in self.txs.values() if t.sent.phase == phase]
            if txs:
                per_phase[phase] = _counts(txs, final)
        totals = _counts(list(self.txs.values()), final)
        out: dict[str, Any] = {"final": final, "phases": per_phase, "total": totals}
        if self.mempool is not None:
            ours = [h for h in self.mempool.hashes if h in self.txs]
            out["halt_mempool"] = {
                "height": self.mempool.height,
                "size": len(self.mempool.hashes),
                "ours": len(ours),
                "fates": dict(Counter(self._fate_text(h, final) for h in ours)),
                "txs": [
                    {"hash": h, "fate": self._fate_text(h, final), "resent": self.txs[h].resent}
                    for h in ours
                ],
            }
        return out

    def lost(self) -> list[TxSent]:
        return [t.sent for t in self.txs.values() if t.fate(final=True) == "lost"]

    def _fate_text(self, tx_hash: str, final: bool) -> str:
        t = self.txs[tx_hash]
        if t.included is not None:
            return f"{t.fate(final)} at {t.included.height}"
        return t.fate(final)


def _counts(txs: list[_Tx], final: bool) -> dict[str, Any]:
    fates = Counter(t.fate(final) for t in txs)
    latencies = sorted(
        t.included.at - t.sent.at for t in txs if t.included is not None and t.included.code == 0
    )
    rejected = Counter(str(t.check_code) for t in txs if t.rejected)
    failed = Counter(str(t.included.code) for t in txs if t.included and t.included.code != 0)
    again: Counter[str] = Counter()
    for t in txs:
        again.update(t.refused_again)
    return {
        "sent": len(txs),
        "included": fates["included"],
        "failed": fates["failed"],
        "rejected": fates["rejected"],
        "pending": fates["pending"],
        "lost": fates["lost"],
        "resent": sum(1 for t in txs if t.resent),
        "rejected_codes": dict(sorted(rejected.items())),
        "failed_codes": dict(sorted(failed.items())),
        "refused_again_codes": dict(sorted(again.items())),
        "latency_s": _latency(latencies),
    }


def _latency(sorted_s: list[float]) -> dict[str, float] | None:
    if not sorted_s:
        return None

    def rank(q: float) -> float:
        # Nearest rank: a value that was measured, never an interpolation.
        i = max(0, math.ceil(q * len(sorted_s)) - 1)
        return round(sorted_s[i], 3)

    return {"median": rank(0.5), "p95": rank(0.95), "max": round(sorted_s[-1], 3)}
