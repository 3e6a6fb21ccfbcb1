"""Everything a kit profile's network needs, made from its two binaries: the binaries
themselves, the images, the node homes and the Compose files; and the reset and the
port check the rehearsal runs against them.

Each step is skipped when its inputs did not change: the binaries are cached by what
builds them, Docker's layer cache answers an unchanged image, and the homes are made
again only when what shapes the genesis changed (``kit.json`` records it), so a
resumed rehearsal never loses its chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.adapters.process import tool_env
from agent.bundle import bundle_root
from agent.kit import gobuild, images, plan, testnet
from agent.kit.genesis import GenesisError
from agent.kit.spec import BinarySpec, KitConfig, TopologyConfig

if TYPE_CHECKING:
    from agent.config import Config

__all__ = ["KitError", "ports_check", "prepare", "reset"]

MANIFEST = "kit.json"
Say = Callable[[str], None]


class KitError(RuntimeError):
    """The kit could not make the network; the message says what and how to fix it."""


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_binary(
    spec: BinarySpec, which: str, base: Path, program: str, say: Say, version: str = ""
) -> Path:
    """A host path of the static binary ``spec`` names (built or extracted if needed);
    ``version`` (default ``which``) goes into its version variables."""
    tag = version or which
    try:
        if spec.binary:
            p = Path(spec.binary).expanduser()
            p = p if p.is_absolute() else base / p
            if not (p.is_file() and os.access(p, os.X_OK)):
                raise KitError(f"kit.{which}.binary: {p} is not an executable file")
            return p
        if spec.image:
            out = gobuild.cache_dir() / "images" / hashlib.sha256(
                f"{spec.image}\0{spec.path}".encode()
            ).hexdigest()[:20] / program  # fmt: skip
            return images.extract_binary(spec.image, spec.path, out)
        if spec.module:
            return gobuild.build(
                gobuild.GoModule(spec.module, spec.version, spec.package, tuple(spec.tags)),
                program, spec.version or tag, log=say,
            )  # fmt: skip
        src = Path(spec.source).expanduser()
        src = src if src.is_absolute() else base / src
        if not (src / "go.mod").is_file():
            raise KitError(f"kit.{which}.source: {src} holds no go.mod")
        return gobuild.build(
            gobuild.GoSource(src, spec.package or ".", tuple(spec.tags)), program, tag, log=say
        )
    except gobuild.BuildError as exc:
        raise KitError(f"kit.{which}: {exc}") from None
    except images.ImageError as exc:
        raise KitError(f"kit.{which}.image: {exc}") from None


def busybox(given: str = "", base: Path = Path()) -> Path:
    """A static busybox for the images: ``given`` (``kit.busybox``), else the bundled
    one, else one fetched once by the bundled script into the build cache."""
    if given:
        p = Path(given)
        return p if p.is_absolute() else base / p
    bundled = bundle_root() / "prod-sim" / "build" / "busybox"
    if bundled.is_file():
        return bundled
    out = gobuild.cache_dir() / "busybox"
    if not out.is_file():
        script = bundle_root() / "prod-sim" / "scripts" / "busybox.sh"
        proc = subprocess.run(["bash", str(script)], env=tool_env({"BUSYBOX_OUT": str(out)}),
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        if proc.returncode != 0:
            raise KitError(f"no static busybox: {proc.stderr.strip()[-400:]}; "
                           "set kit.busybox to one")  # fmt: skip
    return out


def _cosmovisor(say: Say) -> Path:
    bundled = bundle_root() / "prod-sim" / "build" / "cosmovisor"
    if bundled.is_file():
        return bundled
    src = bundle_root() / "prod-sim" / "cosmovisor"
    try:
        return gobuild.build(
            gobuild.GoSource(src, "cosmossdk.io/tools/cosmovisor/cmd/cosmovisor"),
            "cosmovisor", "cosmovisor", log=say,
        )  # fmt: skip
    except gobuild.BuildError as exc:
        raise KitError(f"cosmovisor: {exc}") from None


def genesis_patch(cfg: Config) -> dict[str, Any]:
    """``[kit] genesis``: the JSON object merged into v1's genesis ({} without one)."""
    kit = cfg.kit
    if kit is None or not kit.genesis:
        return {}
    path = cfg.path(kit.genesis)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KitError(f"kit.genesis = {kit.genesis!r}: cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise KitError(f"kit.genesis = {kit.genesis!r}: {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise KitError(f"kit.genesis = {kit.genesis!r}: {path} is not a JSON object")
    return doc


def _genesis_inputs(
    cfg: Config, kit: KitConfig, topo: TopologyConfig, v1: Path, patch: dict[str, Any]
) -> str:
    c = cfg.chain
    doc = {
        "v1": _file_digest(v1),
        "genesis_patch": patch,
        "topology": topo.model_dump(),
        "chain_id": c.chain_id,
        "denom": c.denom,
        "backend": cfg.keyring.backend,
        "kit": kit.model_dump(
            include={
                "voting_period",
                "max_deposit_period",
                "block_time",
                "account_funds",
                "self_delegation",
                "min_deposit",
                "port_base",
            }
        ),  # fmt: skip
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def kit_dir(cfg: Config) -> Path:
    assert cfg.kit is not None
    return cfg.path(cfg.kit.dir)


def prepare(cfg: Config, password: str, say: Say = lambda _m: None) -> None:
    """Build what is missing or stale; idempotent."""
    kit, topo = cfg.kit, cfg.topology
    if kit is None or topo is None:
        raise KitError("the profile has no [kit]")
    root = kit_dir(cfg)
    base = cfg.base_dir
    program = kit.program
    v1 = resolve_binary(kit.v1, "v1", base, program, say)
    v2 = resolve_binary(kit.v2, "v2", base, program, say)
    v2_divergent = (
        # It says it is v2, as a badly built v2 would.
        resolve_binary(kit.v2_divergent, "v2_divergent", base, program, say, version="v2")
        if kit.v2_divergent is not None
        else None
    )
    busybox_bin = busybox(kit.busybox, base)
    cosmovisor = _cosmovisor(say)
    upgrade = cfg.chain.upgrade_name
    tags = plan.images(kit, upgrade)
    homes = plan.homes(kit)
    ctx = root / "images"
    try:
        node = images.node_dockerfile(program)
        images.stage(ctx / "v1", {"busybox": busybox_bin, "chain": v1}, node)
        images.stage(ctx / "v2", {"busybox": busybox_bin, "chain": v2}, node)
        images.stage(
            ctx / "cosmovisor",
            {"busybox": busybox_bin, "cosmovisor": cosmovisor, "chain-v1": v1, "chain-v2": v2},
            images.cosmovisor_dockerfile(program, upgrade, homes["node"], homes["daemon"]),
        )
        built = ["v1", "v2", "cosmovisor"]
        if v2_divergent is not None:
            images.stage(
                ctx / "divergent",
                {"busybox": busybox_bin, "cosmovisor": cosmovisor, "chain-v1": v1,
                 "chain-v2": v2_divergent},
                images.cosmovisor_dockerfile(program, upgrade, homes["node"], homes["daemon"]),
            )  # fmt: skip
            built.append("divergent")
        for which in built:
            say(f"image {tags[which]}")
            images.build_image(tags[which], ctx / which)
    except images.ImageError as exc:
        raise KitError(str(exc)) from None

    nodes = plan.plan_nodes(topo, kit.port_base)
    patch = genesis_patch(cfg)
    inputs = _genesis_inputs(cfg, kit, topo, v1, patch)
    manifest_path = root / MANIFEST
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    net = testnet.Network(
        nodes=nodes, chain_id=cfg.chain.chain_id, denom=cfg.chain.denom,
        voting_period=kit.voting_period, max_deposit_period=kit.max_deposit_period,
        block_time=kit.block_time, account_funds=kit.account_funds,
        self_delegation=kit.self_delegation, min_deposit=kit.min_deposit,
        backend=cfg.keyring.backend, genesis_patch=patch,
        traffic_accounts=plan.traffic_accounts(topo),
    )  # fmt: skip
    complete = all((root / h / "config" / "genesis.json").is_file() for h in net.homes)
    if old.get("inputs") != inputs or not complete:
        say(f"node homes in {root} ({len(nodes)} nodes, chain {cfg.chain.chain_id})")
        try:
            testnet.generate(root, testnet.ChainBinary(v1), net, password, say)
        except testnet.TestnetError as exc:
            raise KitError(f"node homes: {exc}") from None
        except GenesisError as exc:
            raise KitError(f"kit.genesis = {kit.genesis!r}: {exc}") from None
    for name, doc in plan.compose_files(kit, topo, upgrade, root).items():
        (root / name).write_text(plan.stable_json(doc))
    manifest = plan.manifest(kit, topo, {"chain_id": cfg.chain.chain_id, "upgrade": upgrade})
    # auto-download's checksums: v2's (right) and v1's (another build's, wrong).
    manifest |= {"inputs": inputs, "v1": str(v1), "v2": str(v2),
                 "v1_sha256": _file_digest(v1), "v2_sha256": _file_digest(v2)}  # fmt: skip
    manifest_path.write_text(plan.stable_json(manifest))


def _manifest(root: Path) -> dict[str, object]:
    path = root / MANIFEST
    if not path.is_file():
        raise KitError(f"no kit network in {root}: run `rehearse kit build`")
    doc: dict[str, object] = json.loads(path.read_text())
    return doc


def reset(root: Path) -> None:
    nodes = _manifest(root)["nodes"]
    assert isinstance(nodes, list)
    try:
        testnet.reset(root, [str(n) for n in nodes])
    except testnet.TestnetError as exc:
        raise KitError(str(exc)) from None


def ports_check(root: Path) -> list[str]:
    """Every published host port that is taken, as a sentence each."""
    taken = []
    ports = _manifest(root)["ports"]
    assert isinstance(ports, list)
    for p in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", int(p["port"])))
            except OSError as e:
                taken.append(f"127.0.0.1:{p['port']} for {p['node']} {p['what']} is taken "
                             f"({e.strerror}): free it or change kit.port_base")  # fmt: skip
    return taken


def main(argv: list[str] | None = None) -> int:
    """``python -m agent.kit reset DIR`` / ``ports-check DIR``: what the rehearsal runs
    as its stack's reset and port check."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("reset", "ports-check"):
        print("usage: python -m agent.kit reset|ports-check KIT_DIR", file=sys.stderr)
        return 2
    root = Path(args[1])
    try:
        if args[0] == "reset":
            reset(root)
            return 0
        taken = ports_check(root)
    except KitError as exc:
        print(f"kit: error: {exc}", file=sys.stderr)
        return 2
    if taken:
        print("kit: host port problem:\n  " + "\n  ".join(taken), file=sys.stderr)
        return 2
    return 0
