"""The configuration's field types: what a value must look like, and the clear
error a wrong one gets (it names the rule; the loader adds the field and the value).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PlainValidator

from agent.validation import HttpUrl, MaybeHttpUrl, OptionalText, Text, bad

__all__ = [
    "Bech32Prefix",
    "ChainId",
    "Coin",
    "ComposeCommand",
    "ContainerPath",
    "Denom",
    "Desk",
    "OptionalDesk",
    "Gas",
    "Program",
    "ProjectName",
    "RestUrl",
    "RpcUrl",
    "SdkLineSetting",
    "UpgradeInfo",
]


def _project(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_" for c in name) or not name.isascii():
        raise bad("must be letters, digits, '-' or '_'")
    if name != name.lower():
        raise bad("Compose needs a lowercase name")
    return name


def _compose_command(value: Any) -> str | list[str]:
    # "auto" or an argv prefix; a plain validator so a bad value is one error, not
    # one per member of a str | list union.
    if value == "auto":
        return "auto"
    if isinstance(value, list) and value and all(isinstance(a, str) and a.strip() for a in value):
        return list(value)
    raise bad('must be "auto" or a non-empty argv array of non-empty strings')


def _base_url(value: str) -> str:
    # Paths are appended to it: a query or a fragment would swallow them.
    if value and (urlsplit(value).query or urlsplit(value).fragment or "?" in value):
        raise bad("must be a base URL: no query string or fragment")
    return value


def _desk(value: str) -> str:
    # The desk is mounted into a CLI container: "/" or a top-level directory would
    # hand it the host's root, /etc or /home.
    parts = [p for p in Path(value).expanduser().parts if p not in ("/", ".")]
    if Path(value).expanduser().is_absolute() and len(parts) < 2:
        raise bad("must be a directory of its own, not / or a top-level directory")
    if ".." in Path(value).parts:
        raise bad('must not climb out with ".."')
    return value


def _coin(value: str) -> str:
    digits = len(value) - len(value.lstrip("0123456789"))
    if not (0 < digits < len(value) and value[digits:].isalnum() and value.isascii()):
        raise bad("must be <amount><denom>, e.g. 10000000stake")
    return value


def _gas(value: str) -> str:
    if value != "auto" and not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise bad('must be "auto" or a non-negative integer (as a string)')
    return value


ChainId = Annotated[Text, Field(max_length=50, pattern=r"^[A-Za-z0-9._-]+$")]
Denom = Annotated[Text, Field(max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9/:._-]*$")]


def _upgrade_info(value: str) -> str:
    """Cosmovisor's auto-download JSON must pin every binary by checksum; any other
    info (a plain string, JSON without ``binaries``) is the chain's business."""
    try:
        doc = json.loads(value)
    except ValueError:
        return value
    if not isinstance(doc, dict) or "binaries" not in doc:
        return value
    binaries = doc["binaries"]
    if not isinstance(binaries, dict) or not binaries:
        raise bad('"binaries" must map "os/arch" to a download URL')
    for platform, url in binaries.items():
        if not isinstance(url, str) or not url.strip():
            raise bad(f'binaries["{platform}"] must be a URL string')
        if "checksum=" not in urlsplit(url).query:
            raise bad(
                f'binaries["{platform}"] has no checksum: append '
                '"?checksum=sha256:<hex>" so Cosmovisor verifies the download'
            )
    return value


def _program(value: str) -> str:
    if any(c.isspace() for c in value) or value.startswith("-"):
        raise bad("must be a program name (on the image's PATH) or an absolute path")
    return value


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise bad("must be an absolute path inside the container")
    return value


SdkLineSetting = Literal["auto", "v0.45", "v0.46", "v0.47", "v0.50"]
Bech32Prefix = Annotated[str, Field(min_length=1, max_length=83, pattern=r"^[a-z][a-z0-9]*$")]


# The constrained types the sections use; each names the rule it enforces.
ProjectName = Annotated[str, AfterValidator(_project)]
ComposeCommand = Annotated[str | list[str], PlainValidator(_compose_command)]
Coin = Annotated[Text, AfterValidator(_coin)]
Program = Annotated[Text, AfterValidator(_program)]
UpgradeInfo = Annotated[OptionalText, AfterValidator(_upgrade_info)]
ContainerPath = Annotated[Text, AfterValidator(_absolute)]
Gas = Annotated[str, AfterValidator(_gas)]
RpcUrl = Annotated[HttpUrl, AfterValidator(_base_url)]
RestUrl = Annotated[MaybeHttpUrl, AfterValidator(_base_url)]
Desk = Annotated[Text, AfterValidator(_desk)]
# "" when the section is off (the kit fills it where it is on).
OptionalDesk = Annotated[OptionalText, AfterValidator(lambda v: _desk(v) if v else v)]
