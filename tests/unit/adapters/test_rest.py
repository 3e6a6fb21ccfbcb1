"""RestClient against httpx.MockTransport with the shapes checkersd (SDK v0.53) answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agent.adapters.rest import GovParams, RestClient, RestError, UpgradePlan
from agent.errors import ConnectError, ProtocolError, TransientError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

Handler = Callable[[httpx.Request], httpx.Response]


def rest_with(routes: dict[str, Any] | Handler) -> RestClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if callable(routes):
            return routes(request)
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"code": 5, "message": "not routed", "details": []})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return RestClient("http://node0:1317", client=client)


def proposal(pid: int, status: str = "PROPOSAL_STATUS_VOTING_PERIOD") -> dict[str, Any]:
    return {
        "id": str(pid),
        "messages": [
            {
                "@type": "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade",
                "authority": "cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn",
                "plan": {
                    "name": "v1tov2",
                    "time": "0001-01-01T00:00:00Z",
                    "height": "120",
                    "info": "{}",
                    "upgraded_client_state": None,
                },
            }
        ],
        "status": status,
        "final_tally_result": {
            "yes_count": "0",
            "abstain_count": "0",
            "no_count": "0",
            "no_with_veto_count": "0",
        },
        "submit_time": "2026-11-29T15:40:00Z",
        "voting_start_time": "2026-11-29T15:40:00Z",
        "voting_end_time": "2026-11-29T15:40:20Z",
        "metadata": "",
        "title": "v1tov2",
        "summary": "upgrade",
        "proposer": "cosmos1...",
        "expedited": False,
        "failed_reason": "",
    }


async def test_proposals_follow_next_key() -> None:
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.params.get("pagination.key")
        keys.append(key)
        if key is None:
            return httpx.Response(
                200,
                json={
                    "proposals": [proposal(1)],
                    "pagination": {"next_key": "AAAAAAAAAAI=", "total": "2"},
                },
            )
        return httpx.Response(
            200, json={"proposals": [proposal(2)], "pagination": {"next_key": None, "total": "0"}}
        )

    async with rest_with(handler) as rest:
        got = await rest.proposals()
    assert [p.id for p in got] == [1, 2]
    assert keys == [None, "AAAAAAAAAAI="]
    assert got[0].upgrade_plan == UpgradePlan("v1tov2", 120, "{}")
    assert got[0].status == "PROPOSAL_STATUS_VOTING_PERIOD"
    assert got[0].voting_end_time == "2026-11-29T15:40:20Z"


async def test_proposals_empty_chain() -> None:
    routes = {
        "/cosmos/gov/v1/proposals": {
            "proposals": [],
            "pagination": {"next_key": None, "total": "0"},
        }
    }
    async with rest_with(routes) as rest:
        assert await rest.proposals() == []


async def test_proposal_missing_is_none() -> None:
    missing = httpx.Response(
        404, json={"code": 5, "message": "proposal 1 doesn't exist", "details": []}
    )
    async with rest_with(
        {
            "/cosmos/gov/v1/proposals/1": missing,
            "/cosmos/gov/v1/proposals/2": {"proposal": proposal(2)},
        }
    ) as rest:
        assert await rest.proposal(1) is None
        p = await rest.proposal(2)
    assert p is not None and p.id == 2


async def test_vote_option_and_missing_vote() -> None:
    voter = "cosmos10aa2nafaxjmvvu794t3papxkdpxt3nv2jz9nyh"
    # v0.53 answers "no vote" with InvalidArgument (HTTP 400, grpc code 3), not 404.
    missing = httpx.Response(
        400, json={"code": 3, "message": f"voter: {voter} not found for proposal: 1", "details": []}
    )
    vote = {
        "vote": {
            "proposal_id": "2",
            "voter": voter,
            "metadata": "",
            "options": [{"option": "VOTE_OPTION_YES", "weight": "1.000000000000000000"}],
        }
    }
    async with rest_with(
        {
            f"/cosmos/gov/v1/proposals/1/votes/{voter}": missing,
            f"/cosmos/gov/v1/proposals/2/votes/{voter}": vote,
        }
    ) as rest:
        assert await rest.vote(1, voter) is None
        assert await rest.vote(2, voter) == "VOTE_OPTION_YES"


async def test_plan_applied_balance() -> None:
    routes = {
        "/cosmos/upgrade/v1beta1/current_plan": {
            "plan": {"name": "v1tov2", "height": "120", "info": ""}
        },
        "/cosmos/upgrade/v1beta1/applied_plan/v1tov2": {"height": "120"},
        "/cosmos/upgrade/v1beta1/applied_plan/other": {"height": "0"},
        "/cosmos/bank/v1beta1/balances/cosmos1x/by_denom": {
            "balance": {"denom": "upawn", "amount": "999900000000"}
        },
    }
    async with rest_with(routes) as rest:
        assert await rest.current_plan() == UpgradePlan("v1tov2", 120, "")
        assert await rest.applied_plan("v1tov2") == 120
        assert await rest.applied_plan("other") == 0
        assert await rest.balance("cosmos1x", "upawn") == 999900000000

    async with rest_with({"/cosmos/upgrade/v1beta1/current_plan": {"plan": None}}) as rest:
        assert await rest.current_plan() is None


async def test_gov_params_v053_shape() -> None:
    body = {
        "voting_params": {"voting_period": "172800s"},
        "deposit_params": None,
        "tally_params": None,
        "params": {
            "min_deposit": [{"denom": "upawn", "amount": "10000000"}],
            "max_deposit_period": "172800s",
            "voting_period": "20s",
            "quorum": "0.334000000000000000",
            "threshold": "0.500000000000000000",
            "expedited_voting_period": "10.5s",
            "expedited_min_deposit": [{"denom": "upawn", "amount": "50000000"}],
        },
    }
    async with rest_with({"/cosmos/gov/v1/params/voting": body}) as rest:
        params = await rest.gov_params()
    assert params == GovParams(
        voting_period=20.0,
        expedited_voting_period=10.5,
        max_deposit_period=172800.0,
        quorum="0.334000000000000000",
        threshold="0.500000000000000000",
    )
    assert params.min_deposit == {"upawn": 10000000}
    assert params.expedited_min_deposit == {"upawn": 50000000}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(503, text="unavailable"), TransientError),
        (httpx.Response(500, json={"code": 13, "message": "panic", "details": []}), TransientError),
        (httpx.Response(200, text="{not json"), ProtocolError),
        (httpx.Response(200, json={"height": "twelve"}), ProtocolError),
        (httpx.Response(403, json={"code": 7, "message": "denied", "details": []}), RestError),
    ],
)
async def test_errors_are_translated(response: httpx.Response, expected: type[Exception]) -> None:
    async with rest_with(lambda r: response) as rest:
        with pytest.raises(expected):
            await rest.applied_plan("v1tov2")


async def test_connection_refused_is_connect_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    async with rest_with(refuse) as rest:
        with pytest.raises(ConnectError):
            await rest.current_plan()


@pytest.mark.parametrize(
    "value", ["1" + "0" * 400 + "s", "-5s", "400000000s", "x" * 100 + "s", "1e400s"]
)
def test_a_duration_out_of_range_is_refused_where_it_enters(value: str) -> None:
    """Issue 19 L1: a voting period that parsed to infinity raised OverflowError in the
    height policy and ended the run (and every resume) with exit 1."""
    from agent.adapters.rest import parse_duration

    with pytest.raises(ProtocolError, match="voting_period"):
        parse_duration(value, "voting_period")


def test_durations_in_range_parse() -> None:
    from agent.adapters.rest import parse_duration

    assert parse_duration("0s", "d") == 0.0
    assert parse_duration("0.5s", "d") == 0.5
    assert parse_duration("1209600s", "d") == 1_209_600.0
