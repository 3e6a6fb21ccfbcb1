"""The kit's pure parts: command forms read from each line's recorded help, genesis
edits per line, the replace directives a module build copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.kit.forms import commands_of, forms_from_help
from agent.kit.genesis import (
    GenesisError,
    bond_denom,
    duration_seconds,
    gov_periods,
    set_denom,
    set_gov,
)
from agent.kit.gobuild import module_replaces

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def helps(line: str) -> tuple[str, str, str]:
    def text(name: str) -> str:
        body: str = json.loads((FIX / line / "cli" / f"help_{name}.json").read_text())["body"]
        return body

    return text("top"), text("genesis"), text("init")


@pytest.mark.parametrize("line", ["sdk045", "sdk046"])
def test_forms_of_the_tendermint_034_lines(line: str) -> None:
    forms = forms_from_help(*helps(line))
    assert forms.add_genesis_account() == ["add-genesis-account"]
    assert forms.gentx() == ["gentx"]
    assert forms.collect_gentxs() == ["collect-gentxs"]
    assert forms.validate_genesis() == ["validate-genesis"]
    assert forms.show_node_id() == ["tendermint", "show-node-id"]
    assert forms.unsafe_reset_all() == ["tendermint", "unsafe-reset-all"]


@pytest.mark.parametrize(
    ("line", "validate", "consensus"),
    [
        ("sdk047", ["genesis", "validate-genesis"], "tendermint"),
        ("sdk050", ["genesis", "validate"], "comet"),
        ("sdk053", ["genesis", "validate"], "comet"),
    ],
)
def test_forms_of_the_genesis_group_lines(line: str, validate: list[str], consensus: str) -> None:
    forms = forms_from_help(*helps(line))
    assert forms.add_genesis_account() == ["genesis", "add-genesis-account"]
    assert forms.gentx() == ["genesis", "gentx"]
    assert forms.validate_genesis() == validate
    assert forms.show_node_id() == [consensus, "show-node-id"]
    assert forms.default_denom_flag


def test_default_denom_flag_arrived_after_045() -> None:
    assert not forms_from_help(*helps("sdk045")).default_denom_flag
    assert "add-genesis-account" in commands_of(helps("sdk045")[0])


def test_forms_of_a_genesis_group_and_comet() -> None:
    top = (
        "Available Commands:\n  comet       CometBFT\n  genesis     Genesis\n  init  x\n\nFlags:\n"
    )
    genesis = "Available Commands:\n  add-genesis-account x\n  validate    v\n\nFlags:\n"
    forms = forms_from_help(top, genesis, "      --default-denom string")
    assert forms.add_genesis_account() == ["genesis", "add-genesis-account"]
    assert forms.validate_genesis() == ["genesis", "validate"]
    assert forms.show_node_id() == ["comet", "show-node-id"]
    assert forms.default_denom_flag
    older = forms_from_help(top, genesis.replace("validate ", "validate-genesis "), "")
    assert older.validate_genesis() == ["genesis", "validate-genesis"]


def test_a_binary_without_genesis_commands_is_refused() -> None:
    with pytest.raises(ValueError, match="neither `genesis`"):
        forms_from_help("Available Commands:\n  start  s\n\n")


def _genesis(gov: dict[str, Any]) -> dict[str, Any]:
    return {"app_state": {"gov": gov, "staking": {"params": {"bond_denom": "stake"}},
                          "mint": {"params": {"mint_denom": "stake"}}}}  # fmt: skip


def test_gov_periods_are_set_where_each_line_keeps_them() -> None:
    v045 = _genesis({
        "voting_params": {"voting_period": "172800s"},
        "deposit_params": {"max_deposit_period": "172800s", "min_deposit": []},
    })  # fmt: skip
    v047 = _genesis({"params": {"voting_period": "172800s", "max_deposit_period": "172800s"},
                     "voting_params": None, "deposit_params": None})  # fmt: skip
    v050 = _genesis({"params": {"voting_period": "172800s", "expedited_voting_period": "86400s",
                                "max_deposit_period": "172800s"}})  # fmt: skip
    for doc in (v045, v047, v050):
        out = set_gov(doc, voting_period="20s", max_deposit_period="1m",
                      min_deposit="10", denom="ustake")  # fmt: skip
        periods = gov_periods(out)
        assert periods["voting_period"] == 20 and periods["max_deposit_period"] == 60
        assert doc != out  # a new document; the input is untouched
    assert gov_periods(set_gov(v050, voting_period="20s"))["expedited_voting_period"] == 10


def test_genesis_without_gov_is_named() -> None:
    with pytest.raises(GenesisError, match="app_state.gov"):
        set_gov({"app_state": {}}, voting_period="10s")
    with pytest.raises(GenesisError, match="neither params nor voting_params"):
        set_gov(_genesis({}), voting_period="10s")


def test_set_denom_moves_stake_and_mint() -> None:
    out = set_denom(_genesis({"params": {"min_deposit": [{"denom": "stake", "amount": "1"}]}}),
                    "ustake")  # fmt: skip
    assert bond_denom(out) == "ustake"
    assert out["app_state"]["mint"]["params"]["mint_denom"] == "ustake"
    assert out["app_state"]["gov"]["params"]["min_deposit"][0]["denom"] == "ustake"


@pytest.mark.parametrize(("text", "seconds"), [("20s", 20), ("1m30s", 90), ("2h", 7200),
                                                ("0.5s", 0.5)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "20", "1d", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        duration_seconds(text)


def test_module_replaces_keeps_module_targets_only() -> None:
    go_mod = """module github.com/cosmos/cosmos-sdk

replace (
\t// use cosmos fork of keyring
\tgithub.com/99designs/keyring => github.com/cosmos/keyring v1.2.0
\tgithub.com/gogo/protobuf => github.com/regen-network/protobuf v1.3.3-alpha.regen.1
\tgithub.com/cosmos/cosmos-sdk/api => ./api
)

replace github.com/tendermint/tendermint => github.com/cometbft/cometbft v0.34.27
"""
    assert module_replaces(go_mod) == [
        "github.com/99designs/keyring => github.com/cosmos/keyring v1.2.0",
        "github.com/gogo/protobuf => github.com/regen-network/protobuf v1.3.3-alpha.regen.1",
        "github.com/tendermint/tendermint => github.com/cometbft/cometbft v0.34.27",
    ]


def test_a_genesis_patch_merges_objects_and_replaces_the_rest() -> None:
    from agent.kit.genesis import merge

    doc: dict[str, Any] = {
        "app_state": {"bank": {"params": {"x": 1}}, "checkers": {"playerInfoList": []}},
        "chain_id": "c",
    }
    patch = {"app_state": {"checkers": {"playerInfoList": [{"index": "p1"}]}, "new": {"a": 1}}}
    out = merge(doc, patch)
    assert out["app_state"]["checkers"]["playerInfoList"] == [{"index": "p1"}]
    assert out["app_state"]["bank"] == {"params": {"x": 1}} and out["app_state"]["new"] == {"a": 1}
    assert doc["app_state"]["checkers"]["playerInfoList"] == []  # the input is untouched
    with pytest.raises(GenesisError, match=r"app_state\.bank: the genesis has an object there"):
        merge(doc, {"app_state": {"bank": [1]}})
    with pytest.raises(GenesisError, match=r"^chain_id: the genesis has str there"):
        merge(doc, {"chain_id": {"x": 1}})


def test_the_kit_reads_its_genesis_patch_and_names_a_bad_one(tmp_path: Path) -> None:
    from agent.config import parse_config
    from agent.kit.build import KitError, genesis_patch

    simd = {"module": "github.com/cosmos/cosmos-sdk", "version": "v0.45.16",
            "package": "simapp/simd"}  # fmt: skip
    raw = {"kit": {"v1": simd, "v2": simd, "genesis": "patch.json"}}
    cfg = parse_config(raw, tmp_path)
    with pytest.raises(KitError, match=r"kit.genesis = 'patch.json': cannot read"):
        genesis_patch(cfg)
    (tmp_path / "patch.json").write_text("[1]")
    with pytest.raises(KitError, match="is not a JSON object"):
        genesis_patch(cfg)
    (tmp_path / "patch.json").write_text("{nope")
    with pytest.raises(KitError, match="is not JSON"):
        genesis_patch(cfg)
    (tmp_path / "patch.json").write_text('{"app_state": {}}')
    assert genesis_patch(cfg) == {"app_state": {}}
    assert genesis_patch(parse_config({"kit": {"v1": simd, "v2": simd}}, tmp_path)) == {}
