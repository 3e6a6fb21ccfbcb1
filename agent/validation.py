"""The building blocks of the configuration schema, and the one translation of
pydantic's ``ValidationError`` into ``ConfigError``.

Shared by ``agent.config`` and ``agent.config.watch`` (which must not import
each other's parsers). Models are strict (TOML already has types: ``"90"`` is
not a number), refuse unknown keys (a typo must not fall back to a default) and
refuse NaN and infinities.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from agent.errors import ConfigError
from agent.redact import redact_url

__all__ = [
    "DAY_S",
    "Argv",
    "ArgvTuple",
    "ArgvValue",
    "SafeName",
    "Count",
    "HttpUrl",
    "MaybeHttpUrl",
    "OptionalText",
    "Problem",
    "ResolvedPath",
    "Schema",
    "Seconds",
    "SecondsOrZero",
    "Text",
    "bad",
    "problems",
    "validate",
]

# Upper bound of any duration: a longer one is a unit mistake (ms for s).
DAY_S = 86_400.0
_MAX_TEXT = 4096

M = TypeVar("M", bound=BaseModel)
# (key below the failing model, offending value, reason)
Problem = tuple[tuple[str | int, ...], object, str]


class Schema(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        # Defaults are trusted; resolving paths needs validate_default per field.
        validate_default=False,
    )


def bad(reason: str) -> PydanticCustomError:
    """A field's own error: pydantic adds the key and the value."""
    return PydanticCustomError("invalid", reason)


def problems(found: Sequence[Problem]) -> PydanticCustomError:
    """Cross-field errors of one model, each naming its own key below it."""
    return PydanticCustomError("config", "invalid combination", {"problems": list(found)})


def _text(value: str) -> str:
    if not value.strip():
        raise bad("must not be empty")
    if "\x00" in value:
        raise bad("must not contain a NUL character")
    return value


def _list_to_tuple(value: Any) -> Any:
    # TOML has arrays only; strict tuples would refuse every one of them.
    return tuple(value) if isinstance(value, list) else value


def _http_url(value: str) -> str:
    try:
        u = urlsplit(value)
        port = u.port
    except ValueError:
        raise bad("is not a valid URL") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise bad("must be an http(s) URL with a host")
    if any(c.isspace() for c in value):
        raise bad("must not contain whitespace")
    if port == 0:
        raise bad("has an invalid port")
    return value


def _maybe_http_url(value: str) -> str:
    return _http_url(value) if value else value


def _resolve(value: Any, info: ValidationInfo) -> Any:
    # Relative paths are relative to the config file's directory, given as context.
    if not isinstance(value, str):
        return value
    if not value.strip() or "\x00" in value:
        raise bad("must be a non-empty path")
    p = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    return p if p.is_absolute() or base is None else Path(base) / p


def _argv_value(value: str) -> str:
    # It reaches a command line as one argument: one starting with "-" would be
    # read as an option (``cli_image_v1 = "--privileged"``).
    if value.startswith("-"):
        raise bad('must not start with "-" (it would be read as an option)')
    return value


Text = Annotated[str, Field(min_length=1, max_length=_MAX_TEXT), AfterValidator(_text)]
# A name that reaches argv, a path segment or a log line: letters, digits and ._-+,
# not starting with "-" or "."; no whitespace, no "/", no newline.
SafeName = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$"),
]
ArgvValue = Annotated[Text, AfterValidator(_argv_value)]
OptionalText = Annotated[str, Field(max_length=_MAX_TEXT)]
Argv = Annotated[list[Text], Field(min_length=1, max_length=256)]
ArgvTuple = Annotated[
    tuple[Text, ...], BeforeValidator(_list_to_tuple), Field(min_length=1, max_length=256)
]
HttpUrl = Annotated[str, Field(min_length=1, max_length=_MAX_TEXT), AfterValidator(_http_url)]
MaybeHttpUrl = Annotated[str, Field(max_length=_MAX_TEXT), AfterValidator(_maybe_http_url)]
Seconds = Annotated[float, Field(gt=0, le=DAY_S)]
SecondsOrZero = Annotated[float, Field(ge=0, le=DAY_S)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
ResolvedPath = Annotated[Path, BeforeValidator(_resolve)]


# --- ValidationError -> ConfigError ----------------------------------------

# Keys whose values may hold a token: errors show them redacted.
_SECRET_LEAVES = frozenset({"url"})


def validate(model: type[M], raw: object, base_dir: Path) -> M:
    """``model`` from ``raw``, or a ``ConfigError`` listing every problem."""
    try:
        return model.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise translate(exc) from None


def translate(exc: ValidationError) -> ConfigError:
    found = list(_problems(exc))
    first, *rest = [_error(loc, value, reason) for loc, value, reason in found]
    return ConfigError(first.key, first.value, first.reason, more=rest)


def _problems(exc: ValidationError) -> Iterable[Problem]:
    for e in exc.errors(include_url=False):
        loc = tuple(e["loc"])
        if e["type"] == "config":
            for where, value, reason in e["ctx"]["problems"]:
                yield (*loc, *where), value, reason
            continue
        if loc and loc[-1] == "[key]":  # a bad table key: the key is the value
            loc = loc[:-1]
        value = None if e["type"] == "missing" else e["input"]
        yield loc, value, _reason(e["type"], e["msg"])


def _reason(kind: str, msg: str) -> str:
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "model_type":
        return "must be a table"
    return msg[:1].lower() + msg[1:]


def _error(loc: tuple[str | int, ...], value: object, reason: str) -> ConfigError:
    key = dotted(loc)
    if isinstance(value, dict | list | tuple) and value and (_under_alerts(loc) or _has_url(value)):
        # A table where a list was meant (``[alerts.sinks]``) may hold a token:
        # name its shape, never echo it.
        value = _shape(value)
    elif isinstance(value, str) and (
        (loc and loc[-1] in _SECRET_LEAVES) or (_under_alerts(loc) and "://" in value)
    ):
        # Under any key, misspelled ones too (``URL`` for ``url``).
        value = redact_url(value)
    return ConfigError(key, value, reason)


def _under_alerts(loc: tuple[str | int, ...]) -> bool:
    return bool(loc) and loc[0] == "alerts"


def _has_url(value: object) -> bool:
    if isinstance(value, str):
        return "://" in value
    if isinstance(value, dict):
        return any(_has_url(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_url(v) for v in value)
    return False


def _shape(value: object) -> str:
    if isinstance(value, dict):
        return f"(a table of {len(value)} keys)"
    return f"(an array of {len(value) if isinstance(value, list | tuple) else '?'})"


def dotted(loc: Sequence[str | int]) -> str:
    """``("nodes", 2, "rpc")`` -> ``nodes[2].rpc``, the form config.toml readers know."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(config)"
