"""The Cosmos SDK REST API (gRPC gateway): governance, upgrade, bank, auth.

Governance is read from gov v1 (SDK 0.46+) or gov v1beta1 (0.45), per ``gov_api``
(set from the detected SDK line, ``agent.adapters.sdk``); either parses into the same
``Proposal`` / ``GovParams``. A proposal's upgrade plan is found in a
``MsgSoftwareUpgrade``, a legacy ``SoftwareUpgradeProposal`` content, or a
``MsgExecLegacyContent`` wrapping one. Needs ``[api] enable = true`` in app.toml.

The gateway maps gRPC codes onto HTTP statuses and answers errors as
``{"code": <grpc code>, "message": ..., "details": []}``. 5xx (but 501, Unimplemented)
is transient (the app may be halted at the upgrade height); "not found" answers
become ``None`` where the question allows it; anything else is ``RestError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx

from agent.adapters.httpjson import JsonHttpClient, as_dict, as_int, as_str, clip, get_json
from agent.adapters.sdk import GovApi
from agent.errors import FatalError, ProtocolError, TransientError

__all__ = ["AccountState", "GovParams", "Proposal", "RestClient", "RestError", "UpgradePlan"]

# A server that keeps handing out next_key is broken; stop instead of looping forever.
MAX_PAGES = 1000

_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)s$")
# A bech32 account address: human-readable part, "1", data in the bech32 alphabet. The
# gateway answers a malformed one with HTTP 500 (gRPC Unknown), which is no blip.
_BECH32 = re.compile(r"^[a-z][a-z0-9]{0,82}1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{38,}$")


class RestError(FatalError):
    """The REST API refused the request (4xx other than a tolerated "not found")."""

    def __init__(self, path: str, status: int, grpc_code: int | None, message: str) -> None:
        self.path = path
        self.status = status
        self.grpc_code = grpc_code
        self.message = message
        super().__init__(f"GET {path}: HTTP {status} (grpc code {grpc_code}): {message}")


@dataclass(frozen=True, slots=True)
class UpgradePlan:
    name: str
    height: int
    info: str = ""


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    status: str  # PROPOSAL_STATUS_{DEPOSIT_PERIOD,VOTING_PERIOD,PASSED,REJECTED,FAILED}
    title: str
    expedited: bool
    submit_time: str | None
    voting_start_time: str | None
    voting_end_time: str | None
    # The first MsgSoftwareUpgrade's plan, if the proposal carries one.
    upgrade_plan: UpgradePlan | None
    messages: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)


class AccountState(NamedTuple):
    """What signing offline needs to know about the signer's account."""

    account_number: int
    sequence: int  # of the next transaction the account signs


@dataclass(frozen=True, slots=True)
class GovParams:
    voting_period: float  # seconds
    expedited_voting_period: float | None
    max_deposit_period: float | None
    min_deposit: Mapping[str, int] = field(default_factory=dict, compare=False)
    expedited_min_deposit: Mapping[str, int] = field(default_factory=dict, compare=False)
    quorum: str = ""
    threshold: str = ""


class RestClient(JsonHttpClient):
    """GETs against one node's REST API, each under ``timeout`` seconds.

    ``gov_api``: which gov query API to read ("v1": SDK 0.46+, "v1beta1": 0.45); may be
    set after construction, once the SDK line is known."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        gov_api: GovApi = "v1",
    ) -> None:
        super().__init__(base_url, timeout=timeout, client=client)
        self.gov_api: GovApi = gov_api

    @property
    def _gov(self) -> str:
        return f"/cosmos/gov/{self.gov_api}"

    async def get_path(self, path: str) -> dict[str, Any]:
        """Any GET path's JSON object (a profile's declared read)."""
        return await self._get(path)

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        response = await get_json(
            self._client, self.base_url + path, params=params, deadline=self.timeout
        )
        # 501 is gRPC Unimplemented (a service the node does not run): a definite answer.
        if response.status_code >= 500 and response.status_code != 501:
            raise TransientError(f"GET {path}: HTTP {response.status_code}: {response.text}")
        if response.status_code != 200:
            body = response.body if isinstance(response.body, dict) else {}
            code = body.get("code")
            raise RestError(
                path,
                response.status_code,
                code if isinstance(code, int) else None,
                str(body.get("message", response.text)),
            )
        return as_dict(response.body, f"GET {path}")

    async def proposals(self) -> list[Proposal]:
        """Every proposal, following ``pagination.next_key``."""
        out: list[Proposal] = []
        key: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params = {"pagination.key": key} if key else None
            body = await self._get(f"{self._gov}/proposals", params)
            proposals = body.get("proposals") or []
            if not isinstance(proposals, list):
                raise ProtocolError("proposals: not a list")
            out.extend(parse_proposal(p) for p in proposals)
            pagination = as_dict(body.get("pagination") or {}, "pagination")
            next_key = pagination.get("next_key") or None
            key = None if next_key is None else as_str(next_key, "pagination next_key")
            if key is None:
                return out
            if key in seen:
                raise ProtocolError(f"proposals: pagination repeats next_key {key!r}")
            seen.add(key)
        raise ProtocolError(f"proposals: more than {MAX_PAGES} pages")

    async def proposal(self, proposal_id: int) -> Proposal | None:
        try:
            body = await self._get(f"{self._gov}/proposals/{proposal_id}")
        except RestError as exc:
            if _is_not_found(exc):
                return None
            raise
        return parse_proposal(body.get("proposal"))

    async def vote(self, proposal_id: int, voter: str) -> str | None:
        """The voter's option (e.g. ``VOTE_OPTION_YES``), or None if they did not vote."""
        try:
            body = await self._get(f"{self._gov}/proposals/{proposal_id}/votes/{voter}")
        except RestError as exc:
            # Every line answers a missing vote with InvalidArgument (HTTP 400), not NotFound.
            if _is_not_found(exc):
                return None
            raise
        return parse_vote(body.get("vote"))

    async def sdk_version(self) -> str | None:
        """``application_version.cosmos_sdk_version`` of ``node_info`` ("v0.47.17"), or
        None when the node does not say."""
        body = await self._get("/cosmos/base/tendermint/v1beta1/node_info")
        app = body.get("application_version")
        version = app.get("cosmos_sdk_version") if isinstance(app, dict) else None
        if not isinstance(version, str) or not version.strip():
            return None
        return version.strip()

    async def gov_v1_voting_params(self) -> dict[str, Any] | None:
        """The raw body of ``/cosmos/gov/v1/params/voting``; None when the node has no
        gov v1 (SDK 0.45: the gateway has no such route)."""
        try:
            return await self._get("/cosmos/gov/v1/params/voting")
        except RestError as exc:
            if exc.status in (404, 501) or exc.grpc_code in (5, 12):
                return None
            raise

    async def current_plan(self) -> UpgradePlan | None:
        body = await self._get("/cosmos/upgrade/v1beta1/current_plan")
        plan = body.get("plan")
        return None if plan is None else parse_plan(plan)

    async def applied_plan(self, name: str) -> int:
        """The height the named upgrade was applied at; 0 if it was not (yet)."""
        body = await self._get(f"/cosmos/upgrade/v1beta1/applied_plan/{name}")
        return as_int(body.get("height", 0), "applied_plan height")

    async def balance(self, address: str, denom: str) -> int:
        body = await self._get(
            f"/cosmos/bank/v1beta1/balances/{address}/by_denom", {"denom": denom}
        )
        balance = body.get("balance")
        if balance is None:
            return 0
        return as_int(as_dict(balance, "balance").get("amount", 0), "balance amount")

    async def account(self, address: str) -> AccountState:
        """The account's number and next sequence (``/cosmos/auth/v1beta1/accounts``).

        An account exists once it received funds; a missing one is a ``ProtocolError``
        (nothing it signs could pay or be accepted), as is a malformed address.
        """
        if not _BECH32.match(address):
            raise ProtocolError(f"account: not a bech32 address: {clip(address)}")
        try:
            body = await self._get(f"/cosmos/auth/v1beta1/accounts/{address}")
        except RestError as exc:
            if _is_not_found(exc):
                raise ProtocolError(
                    f"account {address} does not exist on chain (never funded?)"
                ) from exc
            raise
        return parse_account(body.get("account"))

    async def gov_params(self) -> GovParams:
        body = await self._get(f"{self._gov}/params/voting")
        # v0.47+ (gov v1) fills ``params`` with everything; ``voting_params`` is the
        # deprecated view.
        params = body.get("params")
        if params is None:
            legacy = as_dict(body.get("voting_params"), "gov voting_params")
            # gov v1 on 0.46, and gov v1beta1 on every line, answer only this.
            return GovParams(
                voting_period=parse_duration(legacy.get("voting_period"), "voting_period"),
                expedited_voting_period=None,
                max_deposit_period=None,
            )
        p = as_dict(params, "gov params")
        return GovParams(
            voting_period=parse_duration(p.get("voting_period"), "voting_period"),
            expedited_voting_period=_optional_duration(p, "expedited_voting_period"),
            max_deposit_period=_optional_duration(p, "max_deposit_period"),
            min_deposit=parse_coins(p.get("min_deposit"), "min_deposit"),
            expedited_min_deposit=parse_coins(
                p.get("expedited_min_deposit"), "expedited_min_deposit"
            ),
            quorum=str(p.get("quorum", "")),
            threshold=str(p.get("threshold", "")),
        )


def _weight(option: object) -> float:
    weight = as_dict(option, "vote option").get("weight", "0")
    try:
        return float(as_str(weight, "vote option weight"))
    except ValueError as exc:
        raise ProtocolError(f"vote option weight: not a decimal: {weight[:100]!r}") from exc


def _optional_str(value: object, what: str) -> str | None:
    return None if value is None else as_str(value, what)


def _is_not_found(exc: RestError) -> bool:
    return exc.status == 404 or exc.grpc_code == 5 or "not found" in exc.message.lower()


def _optional_duration(params: dict[str, Any], key: str) -> float | None:
    value = params.get(key)
    return None if value is None else parse_duration(value, key)


# Longer than any governance period a chain would set: a bigger one is not a plan.
MAX_DURATION_S = 10 * 366 * 86_400.0


def parse_duration(value: object, what: str) -> float:
    """A protobuf JSON Duration ("172800s", "0.5s") in seconds: finite, not negative,
    at most ``MAX_DURATION_S`` (a 401-digit one parsed to infinity and ended the run)."""
    match = _DURATION.match(value) if isinstance(value, str) and len(value) <= 64 else None
    if match is None:
        raise ProtocolError(f"{what}: not a duration: {clip(value)}")
    seconds = float(match.group(1))
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DURATION_S:
        raise ProtocolError(f"{what}: duration out of range (0 to 10 years): {clip(value)}")
    return seconds


def parse_coins(value: object, what: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ProtocolError(f"{what}: expected a list of coins, got {clip(value)}")
    coins: dict[str, int] = {}
    for coin in value:
        c = as_dict(coin, what)
        coins[as_str(c.get("denom"), f"{what} denom")] = as_int(c.get("amount"), f"{what} amount")
    return coins


def parse_account(value: object) -> AccountState:
    """A BaseAccount, or an account type wrapping one (module, vesting accounts)."""
    account = as_dict(value, "account")
    for _ in range(4):  # BaseAccount sits at most a few ``base_*`` levels down
        if "account_number" in account:
            return AccountState(
                account_number=as_int(account.get("account_number"), "account_number"),
                sequence=as_int(account.get("sequence", 0), "account sequence"),
            )
        inner = account.get("base_account") or account.get("base_vesting_account")
        if inner is None:
            break
        account = as_dict(inner, "account")
    raise ProtocolError(f"account: no account_number in {clip(value)}")


def parse_plan(value: object) -> UpgradePlan:
    plan = as_dict(value, "plan")
    return UpgradePlan(
        name=as_str(plan.get("name"), "plan name"),
        height=as_int(plan.get("height"), "plan height"),
        info=str(plan.get("info") or ""),
    )


UPGRADE_MSG = "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade"
UPGRADE_CONTENT = "/cosmos.upgrade.v1beta1.SoftwareUpgradeProposal"
EXEC_LEGACY = "/cosmos.gov.v1.MsgExecLegacyContent"


def _plan_and_title(message: object) -> tuple[UpgradePlan | None, str]:
    """The upgrade plan (if any) and the legacy content's title (if any) of one gov v1
    message or one v1beta1 content: ``MsgSoftwareUpgrade``, ``SoftwareUpgradeProposal``,
    or ``MsgExecLegacyContent`` wrapping a ``SoftwareUpgradeProposal``."""
    m = as_dict(message, "proposal message")
    kind = str(m.get("@type", ""))
    if kind == EXEC_LEGACY or (kind.endswith(".MsgExecLegacyContent") and "content" in m):
        return _plan_and_title(m.get("content"))
    title = str(m.get("title") or "")
    if (kind.endswith(".MsgSoftwareUpgrade") or kind.endswith(".SoftwareUpgradeProposal")) and (
        m.get("plan") is not None
    ):
        return parse_plan(m["plan"]), title
    return None, title


def parse_proposal(value: object) -> Proposal:
    """A gov v1 proposal (``id``, ``messages``; 0.46 has no ``title``) or a gov v1beta1
    one (``proposal_id``, ``content``)."""
    p = as_dict(value, "proposal")
    if "proposal_id" in p and "id" not in p:
        content = p.get("content")
        messages: list[Any] = [] if content is None else [content]
        pid = as_int(p.get("proposal_id"), "proposal id")
    else:
        raw = p.get("messages") or []
        if not isinstance(raw, list):
            raise ProtocolError("proposal: messages is not a list")
        messages = raw
        pid = as_int(p.get("id"), "proposal id")
    plan: UpgradePlan | None = None
    title = str(p.get("title") or "")
    for message in messages:
        found, content_title = _plan_and_title(message)
        title = title or content_title
        if found is not None:
            plan = found
            break
    return Proposal(
        id=pid,
        status=as_str(p.get("status"), "proposal status"),
        title=title,
        expedited=bool(p.get("expedited", False)),
        submit_time=_optional_str(p.get("submit_time"), "proposal submit_time"),
        voting_start_time=_optional_str(p.get("voting_start_time"), "proposal voting_start_time"),
        voting_end_time=_optional_str(p.get("voting_end_time"), "proposal voting_end_time"),
        upgrade_plan=plan,
        messages=tuple(messages),
    )


def parse_vote(value: object) -> str:
    """The option of a vote (gov v1 or v1beta1): the weightiest of ``options``, else the
    deprecated single ``option`` (v1beta1 sets it only for a plain vote)."""
    vote = as_dict(value, "vote")
    options = vote.get("options") or []
    if not isinstance(options, list):
        raise ProtocolError(f"vote: options is not a list in {clip(vote)}")
    if options:
        # A weighted vote: report the option with the most weight.
        best = max(options, key=_weight)
        return as_str(as_dict(best, "vote option").get("option"), "vote option")
    option = vote.get("option")
    if isinstance(option, str) and option and option != "VOTE_OPTION_UNSPECIFIED":
        return option
    raise ProtocolError(f"vote: no options in {clip(vote)}")
