"""``[state]``: what v1's chain holds before the proposal.

``[[state.txs]]`` are transactions the agent signs and sends after the launch
and before the proposal, so the upgrade's migration has state to move
(delegations, transfers, a chain's own records). Each is sent like a vote:
signed offline at a voter's desk, recorded, then broadcast, so a kill -9 never
sends one twice. Placeholders: ``agent.core.templates``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from agent.core.templates import placeholders
from agent.validation import Problem, Schema, Text, problems

__all__ = [
    "RESERVED_TX_FLAGS",
    "StateConfig",
    "StateTxConfig",
    "check_reserved_flags",
    "state_problems",
]

# The agent sets these itself (sign-first, offline, at the recorded sequence): a
# declared transaction that set one would sign something other than what is recorded.
RESERVED_TX_FLAGS = (
    "--from",
    "--chain-id",
    "--sequence",
    "--account-number",
    "--home",
    "--keyring-backend",
    "--keyring-dir",
    "--generate-only",
    "--offline",
    "--gas",
    "--output",
    "--node",
    "--yes",
    "-y",
)

_READ_FORMS = "{voter}, {voter.valoper}"
_TX_FORMS = _READ_FORMS + ", {i}"

Name = Annotated[Text, Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class StateTxConfig(Schema):
    """One declared transaction: `<binary> tx <tx...>` signed by voter ``from``."""

    name: Name
    from_: Text = Field(alias="from", description="the voter whose key signs it")
    tx: Annotated[list[Text], Field(min_length=1, max_length=64)] = Field(
        description='arguments after "tx", e.g. ["bank", "send", "{alice}", "{bob}", "5stake"]'
    )
    repeat: int = Field(default=1, ge=1, le=1000, description="send it this many times; {i}")

    @model_validator(mode="after")
    def _flags(self) -> StateTxConfig:
        check_reserved_flags(self.tx)
        return self


def check_reserved_flags(tx: list[str]) -> None:
    """Refuse a flag the agent sets itself in a transaction's ``tx`` arguments."""
    for j, arg in enumerate(tx):
        if arg.split("=", 1)[0] in RESERVED_TX_FLAGS:
            raise problems([(("tx", j), arg, "is set by the agent; leave it out")])


class StateConfig(Schema):
    txs: list[StateTxConfig] = Field(default_factory=list, max_length=100)


def state_problems(
    state: StateConfig, voters: set[str], reads: list[tuple[tuple[str | int, ...], str]]
) -> list[Problem]:
    """Each declared tx's signer and placeholder, and each read's placeholder (its
    path or CLI argument, keyed by the caller), that names no voter."""
    found: list[Problem] = []
    known = ", ".join(sorted(voters))
    for i, t in enumerate(state.txs):
        if t.from_ not in voters:
            found.append((("state", "txs", i, "from"), t.from_, f"names no voter; one of {known}"))
        for j, arg in enumerate(t.tx):
            for p in placeholders([arg]):
                if (p.name != "i" or p.valoper) and p.name not in voters:
                    found.append(
                        (
                            ("state", "txs", i, "tx", j),
                            arg,
                            f"{p.text} names no voter ({_TX_FORMS})",
                        )
                    )
    for key, value in reads:
        for p in placeholders([value]):
            if p.name not in voters:
                found.append(
                    (key, value, f"{p.text} names no voter ({{voter}}, {{voter.valoper}})")
                )
    return found
