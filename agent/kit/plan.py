"""The network a profile's ``[topology]`` describes, and the configuration and Compose
files that follow from it. Pure: no file, process or Docker call.

Names follow the tutorial's: validators ``val-alice``, ``val-bob``, ... (their
owners ``alice``, ``bob`` vote from ``desk-alice``, ``desk-bob``), their sentries
``sentry-alice``, ..., and full nodes taking the next names (``node-carol`` after two
validators). Peering is production-like: a validator behind a sentry talks to it
alone; sentries and full nodes mesh. Every node's RPC is published on 127.0.0.1 at
``port_base + i``, REST (full nodes and sentries) at ``port_base + 100 + i``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.kit.genesis import duration_seconds
from agent.kit.spec import KitConfig, TopologyConfig

__all__ = [
    "BASE_FILE",
    "COSMOVISOR_FILE",
    "KitNode",
    "NETWORK",
    "V2_FILE",
    "compose_files",
    "derived_sections",
    "images",
    "plain_overlay",
    "plan_nodes",
]

NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "uma", "victor",
         "walter")  # fmt: skip
NETWORK = "net"
# The traffic accounts' keys: a test keyring (throwaway keys, no password to pass).
TRAFFIC_DESK = "desk-traffic"
BASE_FILE = "docker-compose.json"
COSMOVISOR_FILE = "docker-compose-cosmovisor.json"
V2_FILE = "docker-compose-v2.json"
RPC, P2P, REST, GRPC = 26657, 26656, 1317, 9090
DOWNLOADS, DOWNLOADS_PORT = "downloads", 8080  # auto-download's server

Role = Literal["validator", "sentry", "full"]


def _name(i: int) -> str:
    return NAMES[i] if i < len(NAMES) else f"n{i}"


@dataclass(frozen=True, slots=True)
class KitNode:
    name: str
    role: Role
    owner: str  # the validator's owner (voter); "" for full nodes
    rpc_port: int
    rest_port: int  # 0: no REST published
    peers: tuple[str, ...]
    private: tuple[str, ...]  # peer ids not gossiped (a sentry's validator)
    pex: bool


def plan_nodes(t: TopologyConfig, port_base: int) -> list[KitNode]:
    owners = [_name(i) for i in range(t.validators)]
    vals = [f"val-{o}" for o in owners]
    sentries = [f"sentry-{o}" for o in owners] if t.sentries else []
    fulls = [f"node-{_name(t.validators + j)}" for j in range(t.full_nodes)]
    order: list[tuple[str, Role, str]] = []
    for i, o in enumerate(owners):
        order.append((vals[i], "validator", o))
        if sentries:
            order.append((sentries[i], "sentry", o))
    order += [(f, "full", "") for f in fulls]
    nodes = []
    for i, (name, role, owner) in enumerate(order):
        peers: tuple[str, ...]
        private: tuple[str, ...]
        if role == "validator" and sentries:
            peers, private, pex = (f"sentry-{owner}",), (), False
        elif role == "validator":
            peers, private, pex = tuple(n for n in (*vals, *fulls) if n != name), (), True
        elif role == "sentry":
            others = tuple(s for s in sentries if s != name)
            peers, private, pex = (f"val-{owner}", *others, *fulls), (f"val-{owner}",), True
        else:
            front = sentries or vals
            peers, private, pex = (*front, *(f for f in fulls if f != name)), (), True
        rest = port_base + 100 + i if role != "validator" or not (sentries or fulls) else 0
        nodes.append(KitNode(name, role, owner, port_base + i, rest, peers, private, pex))
    return nodes


def tx_node(t: TopologyConfig, nodes: list[KitNode]) -> str:
    if t.tx_node:
        return t.tx_node
    for role in ("full", "sentry", "validator"):
        for n in nodes:
            if n.role == role:
                return n.name
    raise ValueError("no nodes")


def traffic_accounts(t: TopologyConfig) -> list[str]:
    return [f"traffic-{i}" for i in range(1, t.traffic_accounts + 1)]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def images(kit: KitConfig, upgrade: str) -> dict[str, str]:
    """Image names, tagged by what goes into them (the two binaries' sources)."""
    prog = kit.program.lower()
    v1, v2 = kit.v1.describe(), kit.v2.describe()
    out = {
        "v1": f"rehearse-kit/{prog}:v1-{_digest(v1)}",
        "v2": f"rehearse-kit/{prog}:v2-{_digest(v2)}",
        "cosmovisor": f"rehearse-kit/{prog}-cosmovisor:{_digest(v1, v2, upgrade)}",
    }
    if kit.v2_divergent is not None:
        bad = kit.v2_divergent.describe() + " " + " ".join(kit.v2_divergent.tags)
        out["divergent"] = f"rehearse-kit/{prog}-cosmovisor:divergent-{_digest(v1, bad, upgrade)}"
    return out


def homes(kit: KitConfig) -> dict[str, str]:
    prog = kit.program
    return {"node": f"/root/.{prog}", "daemon": f"/root/.{prog}-upgrade"}


def derived_sections(raw: dict[str, Any], kit: KitConfig, t: TopologyConfig,
                     kit_dir: Path) -> dict[str, Any]:  # fmt: skip
    """The profile with every section the kit knows filled in where the profile left
    it out: a key the profile sets always wins."""
    nodes = plan_nodes(t, kit.port_base)
    chain_raw = dict(raw.get("chain") or {})
    upgrade = str(chain_raw.get("upgrade_name", "v1tov2"))
    denom = str(chain_raw.get("denom", "stake"))
    img = images(kit, upgrade)
    home = homes(kit)
    kit_cmd = [sys.executable, "-m", "agent.kit"]
    stack = {
        # Two profiles of one chain must not share a Compose project (or take each
        # other's stack down): the kit's directory tells them apart.
        "project": f"rehearse-{kit.program.lower()}-{_digest(str(kit_dir))[:6]}",
        "compose_dir": str(kit_dir),
        "base_file": BASE_FILE,
        "cosmovisor_file": COSMOVISOR_FILE,
        "v2_file": V2_FILE,
        "testnet_dir": str(kit_dir),
        "reset_command": [*kit_cmd, "reset", str(kit_dir)],
        "ports_check_command": [*kit_cmd, "ports-check", str(kit_dir)],
    }
    chain = {
        "chain_id": f"{kit.program.lower()}-rehearsal",
        "denom": denom,
        "deposit": f"{kit.min_deposit}{denom}",
        "binary": kit.program,
        "cli_image_v1": img["v1"],
        "cli_image_v2": img["v2"],
        "cli_home": home["node"],
        "node_home": home["node"],
        "daemon_home": home["daemon"],
        "cli_network": NETWORK,
        "tx_node": tx_node(t, nodes),
    }
    full = [n.name for n in nodes if n.role == "full"]
    plain = full[-1] if full else nodes[-1].name
    validators = [n for n in nodes if n.role == "validator"]
    lone = [n.name for n in nodes if n.role == "sentry" and validators
            and n.owner == validators[-1].owner]  # fmt: skip
    scenarios = {
        "validators": [n.name for n in validators],
        "lone_peer": lone[0] if lone else "",
        "no_cosmovisor_node": plain,
        "no_cosmovisor_overlay": plain_overlay(plain),
        "late_overlay": plain_overlay(validators[-1].name) if validators else "",
        "download_overlay": download_overlay(validators[-1].name) if validators else "",
        "download_url": f"http://{DOWNLOADS}:{DOWNLOADS_PORT}/{kit.program}",
        "divergent_overlay": (
            divergent_overlay(validators[-1].name)
            if kit.v2_divergent is not None and validators
            else ""
        ),
    }
    traffic = {
        "desk": str(kit_dir / TRAFFIC_DESK),
        "accounts": traffic_accounts(t),
    }
    out = dict(raw)
    # The kit set the chain's block time: blocks never come faster than that.
    timing = {"min_block_interval_s": duration_seconds(kit.block_time)}
    out["timing"] = {**timing, **(raw.get("timing") or {})}
    out["traffic"] = {**traffic, **(raw.get("traffic") or {})}
    out["stack"] = {**stack, **(raw.get("stack") or {})}
    out["chain"] = {**chain, **chain_raw}
    out["scenarios"] = {**scenarios, **(raw.get("scenarios") or {})}
    if "nodes" not in raw:
        out["nodes"] = [
            {"name": n.name, "rpc": f"http://127.0.0.1:{n.rpc_port}"}
            | ({"rest": f"http://127.0.0.1:{n.rest_port}"} if n.rest_port else {})
            for n in nodes
        ]
    if "voters" not in raw:
        out["voters"] = [
            {"name": n.owner, "key": n.owner, "desk": str(kit_dir / f"desk-{n.owner}")}
            for n in nodes if n.role == "validator"
        ]  # fmt: skip
    return out


def _service(
    node: KitNode, image: str, command: list[str], home: str, homes_dir: str
) -> dict[str, Any]:
    ports = [f"127.0.0.1:{node.rpc_port}:{RPC}"]
    if node.rest_port:
        ports.append(f"127.0.0.1:{node.rest_port}:{REST}")
    return {
        "image": image,
        "command": command,
        "labels": {"rehearse.node": node.name},
        "volumes": [f"{homes_dir}/{node.name}:{home}"],
        "networks": [NETWORK],
        "ports": ports,
    }


def compose_files(kit: KitConfig, t: TopologyConfig, upgrade: str,
                  kit_dir: Path) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The generated Compose files: the nodes on plain v1, and the overlays that put
    them under Cosmovisor or on plain v2 (Compose merges ``-f`` files by service)."""
    nodes = plan_nodes(t, kit.port_base)
    img = images(kit, upgrade)
    home = homes(kit)["node"]
    start = ["start", "--home", home]
    base = {
        "version": "3.7",
        "services": {n.name: _service(n, img["v1"], start, home, str(kit_dir)) for n in nodes},
        "networks": {NETWORK: {}},
    }

    def overlay(image: str, command: list[str]) -> dict[str, Any]:
        return {
            "version": "3.7",
            "services": {n.name: {"image": image, "command": command} for n in nodes},
        }

    files = {
        BASE_FILE: base,
        COSMOVISOR_FILE: overlay(img["cosmovisor"], ["run", *start]),
        V2_FILE: overlay(img["v2"], start),
    }
    for n in nodes:
        files[plain_overlay(n.name)] = {
            "version": "3.7",
            "services": {n.name: {"image": img["v1"], "command": start}},
        }
    validators = [n for n in nodes if n.role == "validator"]
    if validators:
        last = validators[-1].name
        daemon = homes(kit)["daemon"]
        # auto-download: v2 served from the v2 image by busybox httpd on the stack's
        # network (no port published), and the last validator's Cosmovisor with
        # nothing staged (removed as its container starts: the image stages v2) and
        # downloads allowed, so it fetches v2 at the halt from the plan's info.
        # ($$: Compose would read $@ as a variable of its own.)
        unstage = f'rm -rf {daemon}/cosmovisor/upgrades/{upgrade} && exec cosmovisor "$$@"'
        files[download_overlay(last)] = {
            "version": "3.7",
            "services": {
                DOWNLOADS: {
                    "image": img["v2"],
                    "entrypoint": ["httpd"],
                    "command": ["-f", "-p", str(DOWNLOADS_PORT), "-h", "/usr/local/bin"],
                    "labels": {"rehearse.role": DOWNLOADS},
                    "networks": [NETWORK],
                },
                last: {
                    "entrypoint": ["/bin/sh", "-c", unstage, "cosmovisor"],
                    "environment": {"DAEMON_ALLOW_DOWNLOAD_BINARIES": "true"},
                },
            },
        }
    if "divergent" in img and validators:
        # Over the Cosmovisor file: the last validator's Cosmovisor stages the
        # divergent v2 (mixed-binary); every other node keeps the real one.
        last = validators[-1].name
        files[divergent_overlay(last)] = {
            "version": "3.7",
            "services": {last: {"image": img["divergent"], "command": ["run", *start]}},
        }
    return files


def plain_overlay(name: str) -> str:
    return f"docker-compose-plain-{name}.json"


def download_overlay(name: str) -> str:
    return f"docker-compose-download-{name}.json"


def divergent_overlay(name: str) -> str:
    return f"docker-compose-divergent-{name}.json"


def manifest(kit: KitConfig, t: TopologyConfig, chain: dict[str, Any]) -> dict[str, Any]:
    """What reset and the port check need, written beside the homes (kit.json)."""
    nodes = plan_nodes(t, kit.port_base)
    return {
        "nodes": [n.name for n in nodes],
        "ports": [
            {"node": n.name, "what": what, "port": port}
            for n in nodes
            for what, port in (("rpc", n.rpc_port), ("rest", n.rest_port))
            if port
        ],
        "chain": chain,
    }


def stable_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
