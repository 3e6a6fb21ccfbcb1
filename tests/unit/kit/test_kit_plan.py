"""The kit's plan: a topology's nodes and peering, the configuration it implies, the
Compose files it generates; a profile's kit sections validated by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.errors import ConfigError
from agent.kit import plan
from agent.kit.spec import BinarySpec, KitConfig, TopologyConfig

SIMD45 = {"module": "github.com/cosmos/cosmos-sdk", "version": "v0.45.16", "package": "simapp/simd"}
SIMD46 = {**SIMD45, "version": "v0.46.16"}


def kit(**kw: Any) -> KitConfig:
    return KitConfig.model_validate({"v1": SIMD45, "v2": SIMD46, **kw})


def test_the_tutorial_topology_comes_out_of_two_numbers_and_a_flag() -> None:
    nodes = plan.plan_nodes(TopologyConfig(validators=2, sentries=True, full_nodes=1), 27000)
    assert [(n.name, n.role) for n in nodes] == [
        ("val-alice", "validator"), ("sentry-alice", "sentry"),
        ("val-bob", "validator"), ("sentry-bob", "sentry"), ("node-carol", "full"),
    ]  # fmt: skip
    by = {n.name: n for n in nodes}
    assert by["val-alice"].peers == ("sentry-alice",) and not by["val-alice"].pex
    assert by["sentry-alice"].peers == ("val-alice", "sentry-bob", "node-carol")
    assert by["sentry-alice"].private == ("val-alice",)
    assert by["node-carol"].peers == ("sentry-alice", "sentry-bob")
    assert [n.rpc_port for n in nodes] == [27000, 27001, 27002, 27003, 27004]
    # Validators behind sentries publish no REST; sentries and full nodes do.
    assert [n.rest_port for n in nodes] == [0, 27101, 0, 27103, 27104]


def test_without_sentries_validators_mesh_with_the_full_nodes() -> None:
    nodes = plan.plan_nodes(TopologyConfig(validators=3, full_nodes=2), 26800)
    by = {n.name: n for n in nodes}
    assert list(by) == ["val-alice", "val-bob", "val-carol", "node-dave", "node-erin"]
    assert by["val-alice"].peers == ("val-bob", "val-carol", "node-dave", "node-erin")
    assert by["node-dave"].peers == ("val-alice", "val-bob", "val-carol", "node-erin")
    lone = plan.plan_nodes(TopologyConfig(validators=1, full_nodes=0), 26800)
    assert lone[0].rest_port == 26900  # someone must serve REST


def test_a_profile_of_two_binaries_gets_every_section(tmp_path: Path) -> None:
    raw = {"kit": {"v1": SIMD45, "v2": SIMD46, "port_base": 26830},
           "chain": {"upgrade_name": "v045-to-v046"}}  # fmt: skip
    cfg = parse_config(raw, tmp_path)
    assert cfg.stack.compose_dir == str(tmp_path / ".kit")
    assert cfg.stack.reset_command[-2:] == ["reset", str(tmp_path / ".kit")]
    assert cfg.chain.binary == "simd" and cfg.chain.tx_node == "node-carol"
    assert cfg.chain.cli_image_v1.startswith("rehearse-kit/simd:v1-")
    assert cfg.chain.upgrade_name == "v045-to-v046" and cfg.chain.deposit == "10000000stake"
    assert [n.name for n in cfg.nodes] == ["val-alice", "val-bob", "node-carol"]
    assert cfg.rest_url == "http://127.0.0.1:26932"
    assert [v.desk for v in cfg.voters] == [str(tmp_path / ".kit" / f"desk-{w}")
                                            for w in ("alice", "bob")]  # fmt: skip
    assert cfg.scenarios.validators == ["val-alice", "val-bob"]
    assert cfg.scenarios.lone_peer == ""  # no sentries: sentry-lost does not apply
    assert cfg.topology == TopologyConfig()
    # The traffic accounts are made and funded; the traffic itself is the profile's.
    assert cfg.traffic.desk == str(tmp_path / ".kit" / "desk-traffic")
    assert cfg.traffic.accounts == ["traffic-1", "traffic-2", "traffic-3"]
    assert not cfg.traffic.on
    # The kit's block time (timeout_commit) bounds the planner's pace from below.
    assert cfg.timing.min_block_interval_s == 1.0
    raw["kit"]["block_time"] = "2s"  # type: ignore[index]
    assert parse_config(raw, tmp_path).timing.min_block_interval_s == 2.0


def test_a_profile_turns_traffic_on_with_one_number(tmp_path: Path) -> None:
    raw = {"kit": {"v1": SIMD45, "v2": SIMD46}, "topology": {"traffic_accounts": 1},
           "traffic": {"rate": 2.0}}  # fmt: skip
    cfg = parse_config(raw, tmp_path)
    assert cfg.traffic.on and cfg.traffic.accounts == ["traffic-1"]
    assert [t.tx for t in cfg.traffic.templates("stake")] == [
        ["bank", "send", "{from}", "{to}", "1stake"]
    ]


def test_the_last_validators_sentry_is_the_lone_peer(tmp_path: Path) -> None:
    raw = {"kit": {"v1": SIMD45, "v2": SIMD46, "port_base": 26830},
           "topology": {"sentries": True}}  # fmt: skip
    assert parse_config(raw, tmp_path).scenarios.lone_peer == "sentry-bob"


def test_what_the_profile_sets_wins(tmp_path: Path) -> None:
    raw = {
        "kit": {"v1": SIMD45, "v2": SIMD46},
        "stack": {"project": "mine"},
        "chain": {"tx_node": "val-bob", "denom": "ustake"},
    }
    cfg = parse_config(raw, tmp_path)
    assert cfg.stack.project == "mine" and cfg.stack.base_file == plan.BASE_FILE
    assert cfg.chain.tx_node == "val-bob" and cfg.chain.deposit == "10000000ustake"


@pytest.mark.parametrize(
    ("kit_section", "key"),
    [
        ({"v1": {}, "v2": SIMD46}, "kit.v1"),
        ({"v1": {"module": "m"}, "v2": SIMD46}, "kit.v1.version"),
        ({"v1": {"binary": "a", "source": "b"}, "v2": SIMD46}, "kit.v1"),
        ({"v1": {"image": "x:1"}, "v2": SIMD46}, "kit.v1.path"),
        ({"v1": SIMD45, "v2": SIMD46, "voting_period": "soon"}, "kit.voting_period"),
        ({"v1": SIMD45, "v2": SIMD46, "port_base": 80}, "kit.port_base"),
        ({"v1": SIMD45}, "kit.v2"),
    ],
)
def test_a_bad_kit_is_named(kit_section: dict[str, Any], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"kit": kit_section}, tmp_path)
    assert err.value.key == key


def test_a_bad_topology_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"kit": {"v1": SIMD45, "v2": SIMD46}, "topology": {"validators": 0}},
                     tmp_path)  # fmt: skip
    assert err.value.key == "topology.validators"


def test_compose_files_put_every_node_under_cosmovisor_then_on_v2(tmp_path: Path) -> None:
    k, t = kit(port_base=27000), TopologyConfig(validators=2, sentries=True, full_nodes=1)
    files = plan.compose_files(k, t, "v045-to-v046", tmp_path)
    tags = plan.images(k, "v045-to-v046")
    base = files[plan.BASE_FILE]["services"]
    assert set(base) == {"val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"}
    carol = base["node-carol"]
    assert carol["image"] == tags["v1"] and carol["command"] == ["start", "--home", "/root/.simd"]
    assert carol["ports"] == ["127.0.0.1:27004:26657", "127.0.0.1:27104:1317"]
    assert carol["volumes"] == [f"{tmp_path}/node-carol:/root/.simd"]
    assert base["val-alice"]["ports"] == ["127.0.0.1:27000:26657"]
    cosmovisor = files[plan.COSMOVISOR_FILE]["services"]
    assert {s["image"] for s in cosmovisor.values()} == {tags["cosmovisor"]}
    assert cosmovisor["val-bob"]["command"][0] == "run"
    assert {s["image"] for s in files[plan.V2_FILE]["services"].values()} == {tags["v2"]}
    assert set(files[plan.plain_overlay("node-carol")]["services"]) == {"node-carol"}


def test_a_divergent_v2_stages_under_the_last_validators_cosmovisor(tmp_path: Path) -> None:
    """mixed-binary: the kit builds a second Cosmovisor image, with the divergent v2
    staged, and an overlay that gives it to the last validator alone."""
    bad = {**SIMD46, "tags": ["divergent"]}
    k, t = kit(v2_divergent=bad), TopologyConfig(validators=3, full_nodes=1)
    tags = plan.images(k, "up")
    assert tags["divergent"].startswith("rehearse-kit/simd-cosmovisor:divergent-")
    assert tags["divergent"] != tags["cosmovisor"]
    assert (
        plan.images(kit(v2_divergent={**bad, "tags": []}), "up")["divergent"] != tags["divergent"]
    )
    files = plan.compose_files(k, t, "up", tmp_path)
    overlay = files[plan.divergent_overlay("val-carol")]["services"]
    run = ["run", "start", "--home", "/root/.simd"]
    assert overlay == {"val-carol": {"image": tags["divergent"], "command": run}}
    raw = {"kit": {"v1": SIMD45, "v2": SIMD46, "v2_divergent": bad}, "topology": {"validators": 3}}
    cfg = parse_config(raw, tmp_path)
    assert cfg.scenarios.divergent_overlay == "docker-compose-divergent-val-carol.json"
    # late-validator: the last validator on plain v1, from the overlay every node has.
    assert cfg.scenarios.late_overlay == plan.plain_overlay("val-carol")
    assert plan.plain_overlay("val-carol") in files
    # Without one, neither the image, the overlay nor the scenario's file exists.
    assert "divergent" not in plan.images(kit(), "up")
    assert not [f for f in plan.compose_files(kit(), t, "up", tmp_path) if "divergent" in f]
    raw["kit"].pop("v2_divergent")  # type: ignore[attr-defined]
    assert parse_config(raw, tmp_path).scenarios.divergent_overlay == ""


def test_a_download_overlay_serves_v2_and_unstages_the_last_validator(tmp_path: Path) -> None:
    k, t = kit(port_base=27000), TopologyConfig(validators=2, sentries=True, full_nodes=1)
    files = plan.compose_files(k, t, "up", tmp_path)
    tags = plan.images(k, "up")
    services = files[plan.download_overlay("val-bob")]["services"]
    assert set(services) == {"downloads", "val-bob"}
    server = services["downloads"]
    assert server["image"] == tags["v2"] and server["entrypoint"] == ["httpd"]
    assert server["command"] == ["-f", "-p", "8080", "-h", "/usr/local/bin"]
    assert "ports" not in server  # reached on the stack's network only
    bob = services["val-bob"]
    assert bob["environment"] == {"DAEMON_ALLOW_DOWNLOAD_BINARIES": "true"}
    assert bob["entrypoint"][:2] == ["/bin/sh", "-c"]
    # $$: Compose interpolates a bare $@ ("Invalid interpolation format", the first run).
    assert bob["entrypoint"][2] == (
        'rm -rf /root/.simd-upgrade/cosmovisor/upgrades/up && exec cosmovisor "$$@"'
    )
    cfg = parse_config({"kit": {"v1": SIMD45, "v2": SIMD46}}, tmp_path)
    assert cfg.scenarios.download_overlay == plan.download_overlay("val-bob")
    assert cfg.scenarios.download_url == "http://downloads:8080/simd"


def test_image_tags_follow_what_goes_into_them() -> None:
    a = plan.images(kit(), "up")
    assert plan.images(kit(), "up") == a
    assert plan.images(kit(), "other")["cosmovisor"] != a["cosmovisor"]
    moved = plan.images(kit(v2={**SIMD46, "version": "v0.46.15"}), "up")
    assert moved["v1"] == a["v1"] and moved["v2"] != a["v2"]


def test_program_names() -> None:
    assert BinarySpec(binary="build/mychaind-v1").program_name() == "mychaind-v1"
    assert BinarySpec(image="x:1", path="/usr/bin/gaiad").program_name() == "gaiad"
    assert BinarySpec(source="chain", package="./cmd/checkersd").program_name() == "checkersd"
    assert kit(name="simd2").program == "simd2"


def test_a_kit_name_that_is_no_program_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"kit": {"v1": SIMD45, "v2": SIMD46, "name": "<appd>"}}, tmp_path)
    assert err.value.key == "kit.name"
