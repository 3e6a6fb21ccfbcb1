"""A profile's ``[kit]`` and ``[topology]``: the two binaries and the network shape
from which the kit builds everything else."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from agent.validation import OptionalText, Schema, Text, problems

__all__ = ["BinarySpec", "KitConfig", "TopologyConfig"]


class BinarySpec(Schema):
    """One of: ``binary`` (a static binary's path), ``image`` (+ ``path`` inside it),
    ``module`` + ``version`` (+ ``package``) from the Go module proxy, or ``source``
    (a local Go module directory, + ``package``)."""

    binary: OptionalText = ""
    image: OptionalText = ""
    path: OptionalText = Field(default="", description="image: the binary's path inside it")
    module: OptionalText = ""
    version: OptionalText = ""
    package: OptionalText = Field(default="", description="module/source: the main package")
    source: OptionalText = ""
    tags: list[Text] = Field(default_factory=list, description="Go build tags")

    @model_validator(mode="after")
    def _one_source(self) -> BinarySpec:
        given = [k for k in ("binary", "image", "module", "source") if getattr(self, k)]
        if len(given) != 1:
            raise problems(
                [((), given, "give exactly one of binary, image, module (+ version), source")]
            )
        if self.module and not self.version:
            raise problems([(("version",), self.version, "a module needs a version")])
        if self.image and not self.path:
            raise problems([(("path",), self.path, "an image needs the binary's path in it")])
        return self

    def anchored(self, base: Path) -> BinarySpec:
        """This spec with its local paths absolute: what an image tag is derived from,
        so two profiles whose ``source = "chain"`` name different directories never
        share a tag."""
        update = {
            k: os.path.normpath(base / Path(v).expanduser())
            for k in ("binary", "source")
            if (v := getattr(self, k))
        }
        return self.model_copy(update=update)

    def describe(self) -> str:
        if self.binary:
            return self.binary
        if self.image:
            return f"{self.image}:{self.path}"
        if self.module:
            return f"{self.module}/{self.package}@{self.version}".replace("/@", "@")
        return f"{self.source}/{self.package}".rstrip("/")

    def program_name(self) -> str:
        """The binary's own name (what the images and CLI call it)."""
        if self.binary:
            return self.binary.rstrip("/").rsplit("/", 1)[-1]
        if self.image:
            return self.path.rstrip("/").rsplit("/", 1)[-1]
        pkg = self.package.strip("./") or (self.module or self.source).rstrip("/")
        return pkg.rsplit("/", 1)[-1]


Duration = Annotated[str, Field(pattern=r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s)?$", min_length=2)]


class KitConfig(Schema):
    v1: BinarySpec
    v2: BinarySpec
    v2_divergent: BinarySpec | None = Field(
        default=None,
        description="a v2 that computes another state under transactions: the last "
        "validator runs it in the mixed-binary scenario (none: that scenario is unavailable)",
    )
    name: Annotated[str, Field(pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})?$")] = Field(
        default="", description="the binary's name; \"\" = v1's own"
    )
    dir: Text = Field(default=".kit", description="where homes, Compose files and contexts go")
    genesis: OptionalText = Field(
        default="",
        description="a JSON file merged into v1's genesis (objects key by key, anything "
        'else replaced), e.g. {"app_state": {"mymodule": {...}}}: state as genesis records',
    )
    voting_period: Duration = "20s"
    max_deposit_period: Duration = "60s"
    block_time: Duration = "1s"
    account_funds: int = Field(default=1_000_000_000_000, gt=0)
    self_delegation: int = Field(default=100_000_000_000, gt=0)
    min_deposit: int = Field(default=10_000_000, gt=0)
    port_base: int = Field(default=26800, ge=1024, le=65000)
    busybox: OptionalText = Field(default="", description='a static busybox; "" = found/fetched')

    @property
    def program(self) -> str:
        return self.name or self.v1.program_name()


class TopologyConfig(Schema):
    validators: int = Field(default=2, ge=1, le=50)
    sentries: bool = Field(default=False, description="each validator behind its own sentry")
    full_nodes: int = Field(default=1, ge=0, le=20)
    tx_node: OptionalText = Field(default="", description='"" = the first full node or sentry')
    # Keys for [traffic], funded in genesis; they sign nothing unless traffic is on.
    traffic_accounts: int = Field(default=3, ge=0, le=50)
