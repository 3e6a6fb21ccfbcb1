"""Edits of a chain's genesis document, in the shape of its SDK line. Pure: a dict
in, a new dict out.

Where the governance periods live moved between lines:

* v0.45 (gov v1beta1) and v0.46 (gov v1, per-kind views): ``voting_params``,
  ``deposit_params`` (and ``tally_params``);
* v0.47 and later: one ``params`` object (v0.47 still carries the per-kind views,
  as null); v0.50 adds ``expedited_voting_period``, which must stay shorter than
  the voting period.

Each edit sets a value wherever the document has that key, so one call serves
every line, and a document with none of the shapes is refused by name.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = [
    "GenesisError",
    "bond_denom",
    "duration_seconds",
    "gov_periods",
    "merge",
    "set_denom",
    "set_gov",
    "set_voting_period",
]


class GenesisError(ValueError):
    """The genesis lacks what an edit needs; the message names the path."""


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def duration_seconds(text: str) -> float:
    """'20s', '1m30s', '2h', '172800s' -> seconds (> 0)."""
    m = _DURATION.match(text.strip())
    if not text.strip() or m is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 20s, 1m30s)")
    h, mi, s = m.groups()
    total = int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    if total <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return total


def _go_duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _gov(genesis: dict[str, Any]) -> dict[str, Any]:
    try:
        gov = genesis["app_state"]["gov"]
    except (KeyError, TypeError):
        raise GenesisError("genesis has no app_state.gov") from None
    if not isinstance(gov, dict):
        raise GenesisError("app_state.gov is not an object")
    return gov


def _views(gov: dict[str, Any], view: str) -> list[dict[str, Any]]:
    """The objects that hold a gov ``view``'s keys: ``params`` (v0.47+) and the per-kind
    object (``voting_params`` and so on, v0.45/v0.46; null from v0.47 on)."""
    out = [gov[k] for k in ("params", view) if isinstance(gov.get(k), dict)]
    if not out:
        raise GenesisError(f"app_state.gov has neither params nor {view}")
    return out


def gov_periods(genesis: dict[str, Any]) -> dict[str, float]:
    """The voting and max-deposit periods (and the expedited one, where it exists)."""
    gov = _gov(genesis)
    out: dict[str, float] = {}
    for view, key in (
        ("voting_params", "voting_period"),
        ("deposit_params", "max_deposit_period"),
        ("params", "expedited_voting_period"),
    ):
        for holder in [gov[k] for k in ("params", view) if isinstance(gov.get(k), dict)]:
            if isinstance(holder.get(key), str):
                out[key] = duration_seconds(holder[key])
    return out


def set_gov(
    genesis: dict[str, Any],
    *,
    voting_period: str,
    max_deposit_period: str = "",
    min_deposit: str = "",
    denom: str = "",
) -> dict[str, Any]:
    """``genesis`` with the gov periods (and min deposit ``min_deposit`` of ``denom``) set
    wherever its line keeps them; an expedited period is kept below the voting one."""
    doc = copy.deepcopy(genesis)
    gov = _gov(doc)
    voting = duration_seconds(voting_period)
    for holder in _views(gov, "voting_params"):
        holder["voting_period"] = _go_duration(voting)
        if "expedited_voting_period" in holder:
            expedited = duration_seconds(str(holder["expedited_voting_period"]))
            holder["expedited_voting_period"] = _go_duration(min(expedited, voting / 2))
    if max_deposit_period or min_deposit:
        for holder in _views(gov, "deposit_params"):
            if max_deposit_period:
                holder["max_deposit_period"] = _go_duration(duration_seconds(max_deposit_period))
            if min_deposit:
                holder["min_deposit"] = [{"denom": denom, "amount": min_deposit}]
    return doc


def set_voting_period(genesis: dict[str, Any], voting_period: str) -> dict[str, Any]:
    return set_gov(genesis, voting_period=voting_period)


def bond_denom(genesis: dict[str, Any]) -> str:
    try:
        return str(genesis["app_state"]["staking"]["params"]["bond_denom"])
    except (KeyError, TypeError):
        raise GenesisError("genesis has no app_state.staking.params.bond_denom") from None


def set_denom(genesis: dict[str, Any], denom: str) -> dict[str, Any]:
    """Every module's fee/stake denom moved from the chain's default to ``denom`` (for a
    line whose ``init`` has no ``--default-denom``): staking, mint, crisis, gov."""
    doc = copy.deepcopy(genesis)
    old = bond_denom(doc)
    if old == denom:
        return doc

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (denom if k in ("denom", "bond_denom", "mint_denom") and v == old
                        else walk(v)) for k, v in node.items()}  # fmt: skip
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    app = doc["app_state"]
    for module in ("staking", "mint", "crisis", "gov"):
        if module in app:
            app[module] = walk(app[module])
    return doc


def merge(doc: dict[str, Any], patch: dict[str, Any], path: str = "") -> dict[str, Any]:
    """``doc`` with ``patch`` merged in: objects key by key, anything else (lists
    included) replaced. A patch that would replace an object with a non-object, or
    the reverse, is refused by path: it is a typo, not an intent."""
    out = copy.deepcopy(doc)
    for key, value in patch.items():
        where = f"{path}.{key}" if path else key
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = merge(old, value, where)
        elif key in out and old is not None and isinstance(old, dict) != isinstance(value, dict):
            kind = "an object" if isinstance(old, dict) else type(old).__name__
            raise GenesisError(f"{where}: the genesis has {kind} there; the patch does not")
        else:
            out[key] = copy.deepcopy(value)
    return out
