"""A profile's reads and declared checks ([[reads]], [[checks]], [verify]): what the
upgrade must preserve or change, and how each is read from the chain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from agent.core.checks import parse_json_path
from agent.validation import OptionalText, Schema, Text, problems

__all__ = ["BUILTIN_CHECKS", "CheckConfig", "ReadConfig", "VerifyConfig"]

BUILTIN_CHECKS = (
    "cosmovisor_current",
    "applied_plan_height",
    "app_version_changed",
    "app_hash_agree",
    "blocks_resumed",
    "balances_kept",
)


class ReadConfig(Schema):
    """A named chain read (one JSON document) the declared checks use."""

    name: Text
    kind: Literal["rest", "rpc", "abci", "cli"] = Field(
        description="rest: GET path; rpc: CometBFT method path; abci: raw store query "
        "(path + data); cli: chain CLI query (args, binary v1 or v2)"
    )
    path: OptionalText = ""
    data: OptionalText = Field(default="", description="abci: the store key or prefix, as text")
    args: list[Text] = Field(default_factory=list, description="cli: the query's arguments")
    binary: Literal["v1", "v2"] = "v2"

    @model_validator(mode="after")
    def _complete(self) -> ReadConfig:
        if self.kind in ("rest", "rpc", "abci") and not self.path:
            raise problems([(("path",), self.path, f"a {self.kind} read needs a path")])
        if self.kind == "rest" and not self.path.startswith("/"):
            raise problems([(("path",), self.path, "must start with /")])
        if self.kind == "cli" and not self.args:
            raise problems([(("args",), self.args, "a cli read needs args")])
        return self


class CheckConfig(Schema):
    """A declared check: a read's JSON path against an expectation, or a program."""

    name: Text
    stage: Literal["upgraded", "restarted"]
    read: OptionalText = ""
    json_path: Text = "$"
    expect: Literal[
        "exists", "equals", "equals_baseline", "equals_upgraded", "changed", "within"
    ] = "exists"
    value: Any = None
    min: Annotated[float, Field(allow_inf_nan=False)] | None = None
    max: Annotated[float, Field(allow_inf_nan=False)] | None = None
    program: list[Text] = Field(
        default_factory=list,
        description="argv of a program given {stage, baseline, current} JSON on stdin; "
        'it prints {"pass": bool, "evidence": "..."}',
    )
    reads: list[Text] = Field(default_factory=list, description="program: reads at its stage")
    baseline_reads: list[Text] = Field(
        default_factory=list, description="program: reads taken before the upgrade"
    )
    upgraded_reads: list[Text] = Field(
        default_factory=list, description='program at "restarted": reads after the upgrade'
    )

    @model_validator(mode="after")
    def _complete(self) -> CheckConfig:
        try:
            parse_json_path(self.json_path)
        except ValueError as exc:
            raise problems([(("json_path",), self.json_path, f"does not parse: {exc}")]) from None
        if self.program and not self.reads:
            raise problems([(("reads",), self.reads, "a program check names its reads")])
        if not self.program and not self.read:
            raise problems([(("read",), self.read, "name a read (or give a program)")])
        if self.expect == "within" and self.min is None and self.max is None:
            raise problems([(("min",), None, "within needs min and/or max")])
        if self.expect == "equals" and self.value is None:
            raise problems([(("value",), None, "equals needs a value")])
        if self.expect == "equals_upgraded" and self.stage != "restarted":
            raise problems([(("expect",), self.expect, "only at stage restarted")])
        return self


class VerifyConfig(Schema):
    disable: list[Literal[BUILTIN_CHECKS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="built-in checks switched off"
    )
