"""``[traffic]``: transactions sent through the upgrade, as users would send them.

From the proposal until after the restart on v2 the agent sends transactions at
``rate`` per second from the ``accounts`` (keys in the ``desk``'s test keyring,
funded in genesis; the kit makes and fills them), each account with its own
sequence, never a voter's. Each is one of the ``txs`` templates, taken in turn
by weight; the default is a bank send to the next account. The report counts,
per phase and across the halt, what was sent, included, rejected and lost, and
what the mempool held at the halt. Placeholders: ``{from}`` and ``{to}`` (the
sending account and the next one) and ``{i}`` (the transaction's number).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from agent.config.fields import OptionalDesk
from agent.config.state import check_reserved_flags
from agent.validation import SafeName, Schema, Text, problems

__all__ = ["TrafficConfig", "TrafficTxConfig", "DEFAULT_TEMPLATE"]

# Bank send is in every SDK line with this form: `tx bank send FROM TO AMOUNT`.
DEFAULT_TEMPLATE = ("bank", "send", "{from}", "{to}", "1{denom}")


class TrafficTxConfig(Schema):
    """One template: `<binary> tx <tx...>`, signed by the traffic account in turn."""

    name: Annotated[Text, Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    tx: Annotated[list[Text], Field(min_length=1, max_length=64)] = Field(
        description='arguments after "tx", e.g. ["bank", "send", "{from}", "{to}", "1stake"]'
    )
    weight: int = Field(default=1, ge=1, le=100, description="taken this often per round")

    @model_validator(mode="after")
    def _flags(self) -> TrafficTxConfig:
        check_reserved_flags(self.tx)
        return self


class TrafficConfig(Schema):
    rate: float = Field(
        default=0.0, ge=0.0, le=20.0, allow_inf_nan=False,
        description="transactions per second, all accounts together; 0 sends none",
    )  # fmt: skip
    desk: OptionalDesk = Field(
        default="", description="the directory whose keys/ test keyring holds the accounts"
    )
    accounts: list[SafeName] = Field(default_factory=list, max_length=50)
    txs: list[TrafficTxConfig] = Field(default_factory=list, max_length=20)
    # A rehearsal fails when a transaction CheckTx accepted is in no block by the end.
    require_none_lost: bool = True
    settle_blocks: int = Field(
        default=12, ge=1, le=1000, description="after the restart: blocks to wait for the last"
    )
    resend_blocks: int = Field(
        default=4, ge=1, le=1000,
        description="an accepted transaction in no block this many blocks later is sent again",
    )  # fmt: skip

    @model_validator(mode="after")
    def _accounts(self) -> TrafficConfig:
        if self.rate > 0 and not self.accounts:
            raise problems([(("accounts",), [], "traffic needs accounts (the kit fills them)")])
        if self.rate > 0 and not self.desk:
            raise problems([(("desk",), "", "traffic needs the accounts' desk")])
        if len(set(self.accounts)) != len(self.accounts):
            raise problems([(("accounts",), self.accounts, "names an account twice")])
        return self

    @property
    def on(self) -> bool:
        return self.rate > 0

    def templates(self, denom: str) -> list[TrafficTxConfig]:
        if self.txs:
            return list(self.txs)
        tx = [a.replace("{denom}", denom) for a in DEFAULT_TEMPLATE]
        return [TrafficTxConfig(name="bank-send", tx=tx)]
