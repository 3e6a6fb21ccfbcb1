"""Lossless JSON encoding of the machine's state (for the journal and reports).

Dataclasses, enums, tuples and frozensets are tagged so that ``decode(encode(x))
== x`` for every state the machine can produce. Only classes registered here
can be decoded, so a tampered journal cannot instantiate arbitrary types.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from agent.core import actions, facts, machine, policy

__all__ = ["encode", "decode"]

_CLASSES: dict[str, type] = {}
for _mod in (actions, facts, machine, policy):
    for _name in getattr(_mod, "__all__", ()):
        _obj = getattr(_mod, _name)
        if isinstance(_obj, type) and (
            dataclasses.is_dataclass(_obj) or issubclass(_obj, enum.Enum)
        ):
            _CLASSES[_obj.__name__] = _obj


def encode(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return {"__enum__": type(obj).__name__, "value": obj.value}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"__dc__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = encode(getattr(obj, f.name))
        return out
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(x) for x in obj]}
    if isinstance(obj, frozenset):
        return {"__frozenset__": sorted(encode(x) for x in obj)}
    if isinstance(obj, list):
        return [encode(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__}")


def decode(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(x) for x in data]
    if not isinstance(data, dict):
        return data
    if "__enum__" in data:
        return _lookup(data["__enum__"])(data["value"])
    if "__dc__" in data:
        cls = _lookup(data["__dc__"])
        kwargs = {k: decode(v) for k, v in data.items() if k != "__dc__"}
        return cls(**kwargs)
    if "__tuple__" in data:
        return tuple(decode(x) for x in data["__tuple__"])
    if "__frozenset__" in data:
        return frozenset(decode(x) for x in data["__frozenset__"])
    return {k: decode(v) for k, v in data.items()}


def _lookup(name: str) -> type:
    try:
        return _CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown type {name!r} in journal") from None
