"""Placeholders in a profile's declared transactions and read paths: pure.

A profile cannot know its accounts' addresses (the kit makes new keys on every
build), so it names them: ``{alice}`` is voter alice's account address,
``{alice.valoper}`` its validator operator address (the same key bytes under
the ``<prefix>valoper`` part), ``{i}`` the repetition's number (1-based). Any
other brace is left as it is, so JSON in an argument needs no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Placeholder", "fill", "placeholders"]

_PATTERN = re.compile(r"\{([A-Za-z0-9_-]+)(\.valoper)?\}")


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str  # a voter's name, or "i"
    valoper: bool = False

    @property
    def text(self) -> str:
        return "{" + self.name + (".valoper" if self.valoper else "") + "}"


def placeholders(values: Iterable[str]) -> list[Placeholder]:
    """Every placeholder in ``values``, in order of appearance."""
    return [Placeholder(m.group(1), bool(m.group(2))) for v in values for m in _PATTERN.finditer(v)]


def fill(
    value: str,
    addresses: Mapping[str, str],
    *,
    index: int | None = None,
    valoper: Callable[[str], str] | None = None,
) -> str:
    """``value`` with its placeholders replaced; KeyError names an unknown one
    (the configuration refuses those before anything runs)."""

    def one(m: re.Match[str]) -> str:
        name, as_valoper = m.group(1), bool(m.group(2))
        if name == "i" and not as_valoper:
            if index is None:
                raise KeyError(m.group(0))
            return str(index)
        if name not in addresses or (as_valoper and valoper is None):
            raise KeyError(m.group(0))
        address = addresses[name]
        return valoper(address) if as_valoper and valoper is not None else address

    return _PATTERN.sub(one, value)
