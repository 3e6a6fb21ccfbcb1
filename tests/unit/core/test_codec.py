"""The journal's codec: lossless for every shape it encodes, closed to other types."""

from __future__ import annotations

import pytest

from agent.core import codec
from agent.core.facts import Check
from agent.core.machine import Phase


def test_every_shape_round_trips() -> None:
    value = {
        "list": [1, "two", None, True, 2.5],
        "tuple": (Check("c", True, "e"), Phase.VOTED),
        "set": frozenset({"a", "b"}),
        "nested": {"k": [(1, 2)]},
    }
    assert codec.decode(codec.encode(value)) == value


def test_an_unknown_type_is_refused_both_ways() -> None:
    with pytest.raises(TypeError, match="cannot encode bytes"):
        codec.encode(b"raw")
    with pytest.raises(ValueError, match="unknown type 'Popen' in journal"):
        codec.decode({"__dc__": "Popen", "args": []})
