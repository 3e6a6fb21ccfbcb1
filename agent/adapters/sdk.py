"""Cosmos SDK release lines: which one a node runs, and what that changes for us.

A *line* groups the releases whose CLI commands and REST shapes the agent treats
alike:

* ``v0.45`` (0.43-0.45): gov v1beta1 only; the upgrade is a legacy content proposal
  (``tx gov submit-proposal software-upgrade``).
* ``v0.46``, ``v0.47``: gov v1 (``MsgExecLegacyContent`` wraps legacy content); the
  upgrade is still submitted through ``tx gov submit-legacy-proposal software-upgrade``
  (x/upgrade has no msg-based ``tx upgrade`` command before 0.50).
* ``v0.50`` (0.50-0.54): ``tx upgrade software-upgrade`` builds a gov v1 proposal
  carrying ``MsgSoftwareUpgrade``; expedited proposals exist.

``detect`` asks a node: ``node_info``'s ``cosmos_sdk_version`` first, then the
shape of its gov v1 voting params (or that there are none).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, Literal, Protocol, get_args

import anyio
import structlog

from agent.errors import AgentError, TransientError

log = structlog.get_logger("agent.adapters.sdk")

__all__ = [
    "DEFAULT_LINE",
    "LazyLine",
    "LINES",
    "GovApi",
    "SdkLine",
    "SdkProbe",
    "detect",
    "gov_api",
    "line_of_gov_v1_params",
    "line_of_version",
    "bech32_decode",
    "bech32_encode",
    "valoper_address",
    "module_address",
]

SdkLine = Literal["v0.45", "v0.46", "v0.47", "v0.50"]
GovApi = Literal["v1", "v1beta1"]
LINES: tuple[SdkLine, ...] = get_args(SdkLine)
DEFAULT_LINE: SdkLine = "v0.50"

# "v0.47.17", "0.47.17", "v0.50.15-rc.1", "v0.50.13-lsm", pseudo-versions such as
# "v0.46.0-beta2.0.20230614103911-b3da8bb4e801", with or without "+incompatible".
_VERSION = re.compile(r"^v?0\.(\d+)(?:\.\d+)?(?:[-+.].*)?$")


def line_of_version(version: str) -> SdkLine | None:
    """The line of a cosmos-sdk module version string; None when it says nothing usable
    (empty, "(devel)", a major other than 0, a minor outside 0.43-0.54)."""
    m = _VERSION.match(version.strip())
    if m is None:
        return None
    minor = int(m.group(1))
    if 43 <= minor <= 45:
        return "v0.45"
    if minor == 46:
        return "v0.46"
    if minor == 47:
        return "v0.47"
    if 50 <= minor <= 54:  # 0.48/0.49 were never released
        return "v0.50"
    return None


def gov_api(line: SdkLine) -> GovApi:
    """The gov query API a node of ``line`` serves: v1 from 0.46 on."""
    return "v1beta1" if line == "v0.45" else "v1"


class SdkProbe(Protocol):
    async def sdk_version(self) -> str | None: ...

    async def gov_v1_voting_params(self) -> dict[str, Any] | None: ...


def line_of_gov_v1_params(body: dict[str, Any] | None) -> SdkLine:
    """The line told by ``/cosmos/gov/v1/params/voting`` (None: not served, v0.45).

    0.46 answers only the per-kind views (``voting_params``); 0.47 adds ``params``;
    0.50 adds ``expedited_voting_period`` to it."""
    if body is None:
        return "v0.45"
    params = body.get("params")
    if not isinstance(params, dict):
        return "v0.46"
    return "v0.50" if "expedited_voting_period" in params else "v0.47"


async def detect(rest: SdkProbe) -> SdkLine:
    """The node's line: from its reported SDK version, else from the shape of its gov
    v1 voting params (or their absence).

    Transport errors propagate (the caller decides on a deadline and a fallback)."""
    version = await rest.sdk_version()
    if version:
        line = line_of_version(version)
        if line is not None:
            return line
    return line_of_gov_v1_params(await rest.gov_v1_voting_params())


class LazyLine:
    """Detects the line once, on first need (the chain may not be up when the agent
    starts), and hands it to ``apply`` (the CLI's form, the REST clients' gov API).

    A transient failure (node not up, timeout) is raised and retried on the next need;
    any other failure settles on ``DEFAULT_LINE`` with a warning."""

    def __init__(self, probe: SdkProbe, apply: Callable[[SdkLine], None], deadline: float) -> None:
        self._probe = probe
        self._apply = apply
        self._deadline = deadline
        self._lock = anyio.Lock()
        self.line: SdkLine | None = None

    async def __call__(self) -> SdkLine:
        async with self._lock:
            if self.line is None:
                self.line = await self._detect()
                self._apply(self.line)
            return self.line

    async def _detect(self) -> SdkLine:
        try:
            with anyio.fail_after(self._deadline):
                line = await detect(self._probe)
        except TimeoutError as exc:
            raise TransientError("SDK line detection: no answer in time") from exc
        except TransientError:
            raise
        except AgentError as exc:
            log.warning("sdk_line_undetected", error=str(exc)[:300], assumed=DEFAULT_LINE)
            return DEFAULT_LINE
        log.info("sdk_line_detected", line=line)
        return line


# --- bech32 (BIP-173), for module account addresses --------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_encode(prefix: str, data: bytes) -> str:
    """``data`` (bytes) as a bech32 string with human-readable part ``prefix``."""
    acc, bits, five = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]
    polymod = _polymod(expanded + five + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return prefix + "1" + "".join(_CHARSET[d] for d in five + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(prefix, data) of a bech32 string; ValueError if it is not one."""
    text = text.lower()
    prefix, sep, rest = text.rpartition("1")
    if not sep or not prefix or len(rest) < 7 or any(c not in _CHARSET for c in rest):
        raise ValueError(f"not a bech32 string: {text[:100]!r}")
    five = [_CHARSET.index(c) for c in rest]
    expanded = [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]
    if _polymod(expanded + five) != 1:
        raise ValueError(f"bad bech32 checksum: {text[:100]!r}")
    acc, bits, out = 0, 0, bytearray()
    for d in five[:-6]:
        acc = (acc << 5) | d
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return prefix, bytes(out)


def valoper_address(account: str) -> str:
    """The validator operator address of an account address (same key bytes, the
    ``<prefix>valoper`` part), as `keys show --bech val` prints it."""
    prefix, data = bech32_decode(account)
    return bech32_encode(prefix + "valoper", data)


def module_address(module: str, prefix: str) -> str:
    """A module account's address (``address.Module(name)``: the first 20 bytes of
    SHA-256 of the name), e.g. gov's ``cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn``."""
    return bech32_encode(prefix, hashlib.sha256(module.encode()).digest()[:20])
