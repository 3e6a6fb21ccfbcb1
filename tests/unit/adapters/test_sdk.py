"""SDK lines: version mapping, detection from each line's node, REST shapes per line,
the proposal command form per line, the address prefix check.

Fixtures (tests/fixtures/README.md): every one recorded from a real node of its line;
sdk045 and sdk046 (simd v0.45.16, v0.46.16) by scripts/record_fixtures.py, as
``{"status", "body"}`` documents (``rec``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import RecordingBoxes

from agent.adapters.chaincli import DOCUMENT, ChainCLI, check_address, proposal_args, vote_args
from agent.adapters.failover import RestPool
from agent.adapters.process import CommandResult
from agent.adapters.rest import RestClient, UpgradePlan
from agent.adapters.sdk import (
    LazyLine,
    SdkLine,
    detect,
    gov_api,
    line_of_gov_v1_params,
    line_of_version,
    module_address,
)
from agent.config import Config, parse_config
from agent.errors import ConfigError, ProtocolError, TransientError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

FIX = Path(__file__).resolve().parents[2] / "fixtures"
NODE_INFO = "/cosmos/base/tendermint/v1beta1/node_info"
V1_PARAMS = "/cosmos/gov/v1/params/voting"


# Read once at import: the tests run in an event loop that forbids blocking file reads.
_FIXTURES = {str(p.relative_to(FIX)): p.read_text() for p in FIX.rglob("*.json")}


def fx(name: str) -> Any:
    return json.loads(_FIXTURES[name])


def rec(line: str, name: str) -> Any:
    """The body of a recorded answer (``tests/fixtures/<line>/<name>.json``)."""
    return fx(f"{line}/{name}.json")["body"]


def rec_response(line: str, name: str) -> httpx.Response:
    """A recorded answer as the node gave it: its HTTP status and its body."""
    doc = fx(f"{line}/{name}.json")
    return httpx.Response(doc["status"], json=doc["body"])


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("v0.45.16", "v0.45"),
        ("v0.45.16-ics", "v0.45"),
        ("0.44.5", "v0.45"),
        ("v0.46.16", "v0.46"),
        ("v0.46.0-beta2.0.20230614103911-b3da8bb4e801", "v0.46"),  # pseudo-version
        ("v0.47.17", "v0.47"),
        ("0.47.17", "v0.47"),
        ("v0.47.0-rc1", "v0.47"),
        ("v0.50.15", "v0.50"),
        ("v0.50.15-rc.1", "v0.50"),
        ("v0.50.13-lsm", "v0.50"),  # a replaced fork
        ("v0.50.0+incompatible", "v0.50"),
        ("v0.53.8", "v0.50"),
        ("v0.54.0-alpha.0.20250101000000-abcdef123456", "v0.50"),
        (" v0.53.0 ", "v0.50"),
        ("v0.42.11", None),  # too old for any form we know
        ("v0.55.0", None),
        ("v1.0.0", None),
        ("(devel)", None),
        ("", None),
        ("v0.x", None),
        ("cosmos-sdk v0.47.1", None),
    ],
)
def test_line_of_version(version: str, line: SdkLine | None) -> None:
    assert line_of_version(version) == line


def test_line_of_gov_v1_params_per_recorded_and_derived_shape() -> None:
    assert line_of_gov_v1_params(None) == "v0.45"
    assert line_of_gov_v1_params(rec("sdk046", "rest/gov_v1_params_voting")) == "v0.46"
    assert line_of_gov_v1_params(fx("sdk047/gov_params_v1_voting.json")) == "v0.47"
    assert line_of_gov_v1_params(fx("sdk050/gov_params_v1_voting.json")) == "v0.50"
    assert line_of_gov_v1_params(fx("sdk053/gov_v1_params_voting.json")) == "v0.50"
    assert [gov_api(x) for x in ("v0.45", "v0.46", "v0.47", "v0.50")] == [
        "v1beta1", "v1", "v1", "v1"
    ]  # fmt: skip


def rest_with(routes: dict[str, Any], *, gov: str = "v1") -> RestClient:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = routes.get(request.url.path)
        if answer is None:
            return httpx.Response(404, json={"code": 5, "message": "Not Found", "details": []})
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return RestClient("http://n:1317", client=client, gov_api=gov)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("node_info", "params", "line"),
    [
        ("sdk045/rest/node_info.json", "sdk045/rest/gov_v1_params_voting.json", "v0.45"),
        ("sdk046/rest/node_info.json", "sdk046/rest/gov_v1_params_voting.json", "v0.46"),
        ("sdk047/node_info.json", "sdk047/gov_params_v1_voting.json", "v0.47"),  # recorded
        ("sdk050/node_info.json", "sdk050/gov_params_v1_voting.json", "v0.50"),  # recorded
        ("sdk053/node_info.json", "sdk053/gov_v1_params_voting.json", "v0.50"),  # recorded
    ],
)
async def test_detect_from_node_info(node_info: str, params: str | None, line: str) -> None:
    def answer(name: str) -> Any:
        doc = fx(name)  # a recording keeps the node's status (501: no gov v1 on v0.45)
        return httpx.Response(doc["status"], json=doc["body"]) if "/rest/" in name else doc

    routes = {NODE_INFO: answer(node_info)}
    if params:
        routes[V1_PARAMS] = answer(params)
    info = fx(node_info)["body"] if "/rest/" in node_info else fx(node_info)
    async with rest_with(routes) as rest:
        # simd v0.45.16 and v0.46.16 report "" (their version package reads no SDK
        # version from the build), so the gov v1 params decide.
        reported = info["application_version"]["cosmos_sdk_version"].strip()
        assert await rest.sdk_version() == (reported or None)
        assert await detect(rest) == line


def _without_version(name: str) -> Any:
    doc = fx(name)
    doc["application_version"]["cosmos_sdk_version"] = "(devel)"
    return doc


@pytest.mark.parametrize(
    ("routes", "line"),
    [
        # 0.45: no gov v1 route at all (the gateway's 404 / 501 Unimplemented)
        (
            {
                NODE_INFO: rec("sdk045", "rest/node_info"),
                V1_PARAMS: rec_response("sdk045", "rest/gov_v1_params_voting"),
            },
            "v0.45",
        ),
        (
            {
                NODE_INFO: {"application_version": {}},
                V1_PARAMS: httpx.Response(501, json={"code": 12, "message": "Not Implemented"}),
            },
            "v0.45",
        ),
        ({NODE_INFO: {}, V1_PARAMS: rec("sdk046", "rest/gov_v1_params_voting")}, "v0.46"),
        (
            {
                NODE_INFO: _without_version("sdk047/node_info.json"),
                V1_PARAMS: fx("sdk047/gov_params_v1_voting.json"),
            },
            "v0.47",
        ),
        (
            {
                NODE_INFO: {"application_version": {"cosmos_sdk_version": "v9.9.9"}},
                V1_PARAMS: fx("sdk053/gov_v1_params_voting.json"),
            },
            "v0.50",
        ),
    ],
)
async def test_detect_falls_back_to_the_gov_api(routes: dict[str, Any], line: str) -> None:
    async with rest_with(routes) as rest:
        assert await detect(rest) == line


async def test_detect_through_a_pool_fails_over_a_halted_node() -> None:
    down = rest_with({NODE_INFO: httpx.Response(503, json=fx("sdk047/node_info.json"))})
    up = rest_with({NODE_INFO: fx("sdk047/node_info.json")})
    async with down, up:
        assert await detect(RestPool([("a", down), ("b", up)])) == "v0.47"


async def test_lazy_line_retries_transients_and_settles_once() -> None:
    applied: list[str] = []
    calls = 0

    class Probe:
        async def sdk_version(self) -> str | None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise TransientError("node not up yet")
            return "v0.45.16"

        async def gov_v1_voting_params(self) -> dict[str, Any] | None:
            raise AssertionError("not needed")

    lazy = LazyLine(Probe(), applied.append, deadline=5)
    with pytest.raises(TransientError):
        await lazy()
    assert applied == [] and lazy.line is None
    assert await lazy() == "v0.45" and await lazy() == "v0.45"
    assert applied == ["v0.45"] and calls == 2


async def test_lazy_line_falls_back_to_050_on_a_definite_failure() -> None:
    class Probe:
        async def sdk_version(self) -> str | None:
            raise ProtocolError("garbage")

        async def gov_v1_voting_params(self) -> dict[str, Any] | None:
            return None

    applied: list[str] = []
    assert await LazyLine(Probe(), applied.append, deadline=5)() == "v0.50"
    assert applied == ["v0.50"]


async def test_pool_settles_the_line_before_the_first_gov_read() -> None:
    # A v0.45 node: gov v1 unrouted; the pool detects, switches to v1beta1, then reads.
    routes = {
        NODE_INFO: rec("sdk045", "rest/node_info"),
        V1_PARAMS: rec_response("sdk045", "rest/gov_v1_params_voting"),
        "/cosmos/gov/v1beta1/proposals/1": rec("sdk045", "rest/gov_v1beta1_proposal_voting"),
    }
    async with rest_with(routes) as rest:
        pool = RestPool([("n", rest)])
        lines: list[str] = []

        def use(line: SdkLine) -> None:
            lines.append(line)
            pool.gov_api = gov_api(line)

        pool.before_gov = LazyLine(pool, use, deadline=5)
        p = await pool.proposal(1)
        assert lines == ["v0.45"] and rest.gov_api == "v1beta1"
        assert p is not None and p.upgrade_plan is not None
        assert (p.upgrade_plan.name, p.upgrade_plan.info) == ("v1tov2", "{}")


# --- REST shapes per line ---------------------------------------------------------


def _recorded_routes(line: str, gov: str) -> dict[str, Any]:
    """A REST node answering the paths the recording took, as the real node did."""
    index = fx(f"{line}/recorded.json")
    routes: dict[str, Any] = {}
    for name, meta in index.items():
        if name.startswith("rest/") and "path" in meta:
            path = meta["path"].split("?")[0]
            if name.endswith(("_voting", "_vote")) or path not in routes:
                routes[path] = rec_response(line, name)
    return routes


@pytest.mark.parametrize(("line", "gov"), [("sdk045", "v1beta1"), ("sdk046", "v1")])
async def test_recorded_gov_shapes_of_045_and_046(line: str, gov: str) -> None:
    routes = _recorded_routes(line, gov)
    voting = rec(line, f"rest/gov_{gov}_proposal_voting")["proposal"]
    account = rec(line, "rest/auth_account")["account"]
    address = account["address"]
    async with rest_with(routes, gov=gov) as rest:
        p = await rest.proposal(1)
        assert p is not None
        assert (p.id, p.status, p.title, p.expedited) == (
            1, "PROPOSAL_STATUS_VOTING_PERIOD", "v1tov2", False
        )  # fmt: skip
        assert p.voting_end_time == voting["voting_end_time"]
        assert p.upgrade_plan is not None and p.upgrade_plan.name == "v1tov2"
        assert p.upgrade_plan.info == "{}" and p.upgrade_plan.height > 1000
        assert [q.id for q in await rest.proposals()] == [1]
        assert await rest.vote(1, address) == "VOTE_OPTION_YES"
        assert await rest.vote(99, address) is None  # the recorded "not found"
        assert (await rest.gov_params()).voting_period == 20.0  # the recorder's period
        assert await rest.account(address) == (
            int(account["account_number"]), int(account["sequence"])
        )  # fmt: skip


@pytest.mark.parametrize("gov", ["v1", "v1beta1"])
async def test_v047_recorded_shapes_on_both_gov_apis(gov: str) -> None:
    suffix = "v1" if gov == "v1" else "v1beta1"
    routes = {
        f"/cosmos/gov/{gov}/proposals/1": fx(f"sdk047/proposal_{suffix}.json"),
        f"/cosmos/gov/{gov}/proposals": fx(f"sdk047/proposals_{suffix}.json"),
        f"/cosmos/gov/{gov}/proposals/1/votes/bump1v": fx(f"sdk047/vote_{suffix}.json"),
        f"/cosmos/gov/{gov}/params/voting": fx(f"sdk047/gov_params_{suffix}_voting.json"),
    }
    async with rest_with(routes, gov=gov) as rest:
        p = await rest.proposal(1)
        assert p is not None and p.status == "PROPOSAL_STATUS_PASSED" and p.title == "v2-sdk50"
        assert p.upgrade_plan == UpgradePlan("v2-sdk50", 34, "{}")
        assert p.voting_end_time == "2026-11-29T22:58:58.293698945Z"
        assert [q.upgrade_plan.name for q in await rest.proposals() if q.upgrade_plan] == [
            "v2-sdk50"
        ]
        assert await rest.vote(1, "bump1v") == "VOTE_OPTION_YES"
        assert (await rest.gov_params()).voting_period == 20.0


@pytest.mark.parametrize("gov", ["v1", "v1beta1"])
async def test_v050_recorded_legacy_and_msg_proposals(gov: str) -> None:
    suffix = "v1" if gov == "v1" else "v1beta1"
    routes = {
        f"/cosmos/gov/{gov}/proposals": fx(f"sdk050/proposals_{suffix}_with_msg.json"),
        f"/cosmos/gov/{gov}/params/voting": fx(f"sdk050/gov_params_{suffix}_voting.json"),
    }
    async with rest_with(routes, gov=gov) as rest:
        found = {p.id: p.upgrade_plan for p in await rest.proposals()}
        assert set(found) == {1, 2} and all(found.values())
        assert (await rest.gov_params()).voting_period > 0


@pytest.mark.parametrize("gov", ["v1", "v1beta1"])
async def test_v053_recorded_shapes_on_both_gov_apis(gov: str) -> None:
    addr = "cosmos1ce4hx3veaer6d2atn35nf0ff7ta0ctyjxd37jd"
    routes = {
        f"/cosmos/gov/{gov}/proposals/1": fx(f"sdk053/gov_{gov}_proposal_upgrade.json"),
        f"/cosmos/gov/{gov}/proposals/1/votes/{addr}": fx(f"sdk053/gov_{gov}_vote.json"),
        f"/cosmos/gov/{gov}/proposals/2/votes/{addr}": httpx.Response(
            400, json=fx(f"sdk053/gov_{gov}_vote_missing.json")
        ),
        f"/cosmos/gov/{gov}/params/voting": fx(f"sdk053/gov_{gov}_params_voting.json"),
    }
    async with rest_with(routes, gov=gov) as rest:
        p = await rest.proposal(1)
        assert p is not None and p.upgrade_plan is not None
        assert p.upgrade_plan.name == "v1tov2" and p.upgrade_plan.height == 100000
        assert "checksum=sha256:" in p.upgrade_plan.info
        assert await rest.vote(1, addr) == "VOTE_OPTION_YES"
        assert await rest.vote(2, addr) is None
        assert await rest.proposal(99) is None
        assert (await rest.gov_params()).voting_period == 172800.0


# --- command forms per line -------------------------------------------------------

H = ["--upgrade-height", "1234", "--upgrade-info", "{}"]


def test_v045_form() -> None:
    # v0.45.16 x/upgrade/client/cli/tx.go NewCmdSubmitUpgradeProposal (flags title,
    # description, deposit, upgrade-height, upgrade-info; no no-validate), a subcommand
    # of `gov submit-proposal` (x/gov/client/cli/tx.go: cmdSubmitProp.AddCommand).
    assert proposal_args("v2", 1234, "sum", "10stake", line="v0.45") == [
        "gov", "submit-proposal", "software-upgrade", "v2", *H,
        "--title", "v2", "--description", "sum", "--deposit", "10stake",
    ]  # fmt: skip


@pytest.mark.parametrize("line", ["v0.46", "v0.47"])
def test_v046_v047_legacy_form(line: SdkLine) -> None:
    # v0.46.16 / v0.47.17 x/upgrade/client/cli/tx.go NewCmdSubmitLegacyUpgradeProposal
    # (title, description, deposit, upgrade-height, upgrade-info, no-validate, daemon-name)
    # under `gov submit-legacy-proposal` (x/gov/client/cli/tx.go cmdSubmitLegacyProp);
    # x/upgrade's GetTxCmd has no subcommands at either tag.
    assert proposal_args("v2", 1234, "sum", "10stake", line=line) == [
        "gov", "submit-legacy-proposal", "software-upgrade", "v2", *H,
        "--title", "v2", "--description", "sum", "--deposit", "10stake", "--no-validate",
    ]  # fmt: skip


def test_v050_form_is_the_default() -> None:
    # cosmossdk.io/x/upgrade v0.1.4 (SDK 0.50) and v0.2.0 (0.53) client/cli/tx.go
    # NewCmdSubmitUpgradeProposal + x/gov AddGovPropFlagsToCmd (deposit, metadata, title,
    # summary); identical flags at both.
    expected = [
        "upgrade", "software-upgrade", "v2", *H,
        "--title", "v2", "--summary", "sum", "--deposit", "10stake", "--no-validate",
    ]  # fmt: skip
    assert proposal_args("v2", 1234, "sum", "10stake") == expected
    assert proposal_args("v2", 1234, "sum", "10stake", line="v0.50") == expected
    assert proposal_args("v2", 1234, "sum", "10stake").document == ""


def test_v050_expedited_is_a_proposal_file() -> None:
    # No --expedited on the upgrade command (x/gov/client/cli/util.go at v0.50.15/v0.53.8:
    # commented out); `gov submit-proposal FILE` reads util.go's proposal struct.
    info = '{"binaries":{"linux/amd64":"https://h/a?checksum=sha256:00"}}'
    args = proposal_args("v2", 1234, "sum", "50ubump", info=info, expedited=True, prefix="bump")
    assert list(args) == ["gov", "submit-proposal", DOCUMENT]
    doc = json.loads(args.document)
    assert doc == {
        "messages": [
            {
                "@type": "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade",
                "authority": "bump10d07y265gmmuvt4z0w9aw880jnsr700jf0r0cf",  # recorded 0.47
                "plan": {"name": "v2", "height": "1234", "info": info},
            }
        ],
        "metadata": "",
        "deposit": "50ubump",
        "title": "v2",
        "summary": "sum",
        "expedited": True,
    }


@pytest.mark.parametrize("line", ["v0.45", "v0.46", "v0.47"])
def test_expedited_needs_050(line: SdkLine) -> None:
    with pytest.raises(ConfigError) as info:
        proposal_args("v2", 1, "s", "1stake", line=line, expedited=True)
    assert info.value.key == "chain.expedited"


def test_vote_form_on_every_line() -> None:
    assert vote_args(3, "no_with_veto") == ["gov", "vote", "3", "no_with_veto"]


def test_module_address() -> None:
    assert module_address("gov", "cosmos") == "cosmos10d07y265gmmuvt4z0w9aw880jnsr700j6zn9kn"


def test_cli_uses_its_line_and_the_configured_chain(tmp_path: Path) -> None:
    cfg = parse_config(
        {"chain": {"deposit": "7uatom", "upgrade_info": "v2 notes", "sdk_line": "v0.45"}},
        tmp_path,
    )
    cli = ChainCLI.for_config(cfg, "pw")
    assert cli.sdk_line == "v0.45"
    assert cli.proposal_args("v2", 9, "s")[:3] == ["gov", "submit-proposal", "software-upgrade"]
    assert "v2 notes" in cli.proposal_args("v2", 9, "s")
    cli.sdk_line = "v0.47"
    assert cli.proposal_args("v2", 9, "s")[1] == "submit-legacy-proposal"
    assert cli.proposal_args("v2", 9, "s", line="v0.50")[0] == "upgrade"
    assert (
        ChainCLI.for_config(parse_config({}, tmp_path), "pw").sdk_line == "v0.50"
    )  # auto, undetected


# --- the address prefix ------------------------------------------------------------


def test_check_address() -> None:
    good = "bump1z29fga3hqcn293edhkkdyxlmzd45pxfqfhqzkc"
    assert check_address(good, "bump", "x") == good
    for bad in (good, "bump1short", "", "Error: key not found"):
        with pytest.raises(ProtocolError):
            check_address(bad, "cosmos" if bad == good else "bump", "x")


@pytest.fixture
def configs(tmp_path: Path) -> tuple[Config, Config]:
    # Built outside the event loop: validation reads the working directory.
    chain = {"bech32_prefix": "bump", "binary": "bumpd", "cli_home": "/root/.bump"}
    return parse_config({"chain": chain}, tmp_path), parse_config(
        {"chain": {"binary": "bumpd"}}, tmp_path
    )


async def test_address_checks_the_configured_prefix(configs: tuple[Config, Config]) -> None:
    out = "bump1z29fga3hqcn293edhkkdyxlmzd45pxfqfhqzkc\n"
    calls: list[list[str]] = []

    async def fake_run(argv: Sequence[str], **kw: Any) -> CommandResult:
        calls.append(list(argv))
        return CommandResult(tuple(argv), 0, out, "")

    cfg, cosmos = configs
    voter = cfg.voters[0]
    boxes = RecordingBoxes()
    cli = ChainCLI.for_config(cfg, "pw", boxes=boxes, run=fake_run)  # type: ignore[arg-type]
    assert await cli.address(voter) == out.strip()
    argv = calls[0]
    assert argv[4:7] == ["bumpd", "keys", "show"]
    assert boxes.used[0].home == "/root/.bump" and boxes.used[0].network == "none"
    assert argv[-6:] == ["--keyring-backend", "file", "--keyring-dir", "/root/.bump/keys",
                         "--home", "/root/.bump"]  # fmt: skip
    assert "pw" not in " ".join(argv)
    with pytest.raises(ProtocolError, match="cosmos1"):
        cosmos_cli = ChainCLI.for_config(cosmos, "pw", boxes=RecordingBoxes(), run=fake_run)  # type: ignore[arg-type]
        await cosmos_cli.address(voter)
