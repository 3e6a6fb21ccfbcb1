"""``rehearse doctor``: everything a run needs, checked before it starts.

Each check gives one line: ✓ or ✗ (or · for a note), what was found and, for a
problem, what to do about it. The probes that touch the machine are behind
``Probes`` (the real ones reuse the run's own preflight), so the logic is
tested with fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import anyio

from agent.config import Config, read_password
from agent.errors import AgentError, CommandFailed, ConfigError

__all__ = ["Check", "Probes", "RealProbes", "doctor_lines", "run_doctor"]

Status = Literal["ok", "fail", "note"]
MARK = {"ok": "✓", "fail": "✗", "note": "·"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


class Probes(Protocol):
    async def preflight(self) -> None:
        """Docker reachable and the CLI images present; ConfigError naming the first problem."""

    async def compose(self) -> list[str]:
        """The Compose argv prefix; AgentError when there is none."""
        ...

    async def compose_images(self, prefix: list[str]) -> list[str]:
        """The images the Compose files name."""
        ...

    async def image_present(self, image: str) -> bool: ...

    async def ports_check(self) -> None:
        """The configured ports check; CommandFailed when a port is busy."""

    def password(self) -> str:
        """The keyring password; ConfigError when it is not set."""
        ...

    async def keyring(self, password: str) -> None:
        """The password opens every voter's keyring; ConfigError when not."""

    async def node_height(self, name: str) -> int:
        """The node's latest height over RPC /status; AgentError/TimeoutError when down."""
        ...


FIX_DOCKER = "start the Docker daemon, or set DOCKER_HOST to reach it"
FIX_IMAGES = "build or load the images the Compose files and [chain] name"
FIX_COMPOSE = (
    "install the Compose plugin (`docker compose`) or `docker-compose`, "
    "or set stack.compose_command"
)
FIX_PORTS = "stop what holds the ports (`docker ps`, `ss -ltnp`), then run doctor again"
FIX_PASSWORD = (
    "export the password in the variable keyring.password_env names, or set keyring.password_file"  # noqa: E501
)
FIX_KEYRING = (
    "use the password the desks were made with, or remove the kit's directory to remake them"
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _fix_images(cfg: Config) -> str:
    return "build them: `rehearse kit build`" if cfg.kit is not None else FIX_IMAGES


async def _nodes(cfg: Config, probes: Probes, required: bool) -> tuple[list[Check], int]:
    heights: dict[str, int | str] = {}

    async def one(name: str) -> None:
        try:
            with anyio.fail_after(cfg.timing.node_probe_s):
                heights[name] = await probes.node_height(name)
        except (AgentError, TimeoutError, OSError) as exc:
            heights[name] = _first_line(exc) if str(exc) else "no answer"

    async with anyio.create_task_group() as tg:
        for n in cfg.nodes:
            tg.start_soon(one, n.name)
    up = sum(isinstance(h, int) for h in heights.values())
    out: list[Check] = []
    for n in cfg.nodes:
        h = heights[n.name]
        if isinstance(h, int):
            out.append(Check(f"node {n.name}", "ok", f"{n.rpc} answers, height {h}"))
        elif required:
            fix = "start the chain, or correct nodes[].rpc in the config"
            out.append(Check(f"node {n.name}", "fail", f"{n.rpc} unreachable: {h}", fix))
        else:
            out.append(Check(f"node {n.name}", "note", f"{n.rpc} down ({h}): `run` launches it"))
    return out, up


async def run_doctor(
    cfg: Config, probes: Probes, *, watch: bool = False, attach: bool = False
) -> list[Check]:
    """Every check, in the order a run meets them. ``watch``: what ``rehearse watch``
    needs; ``attach``: what ``rehearse run --attach`` needs (the network running, no
    Compose stack of ours, the CLI images and the keyrings)."""
    checks, up = await _nodes(cfg, probes, watch or attach)
    stack_up = up == len(cfg.nodes)
    docker_ok = images_ok = False
    try:
        await probes.preflight()
        docker_ok = images_ok = True
        checks.append(Check("docker", "ok", "the Docker daemon answers"))
        images = f"{cfg.chain.cli_image_v1}, {cfg.chain.cli_image_v2}"
        checks.append(Check("CLI images", "ok", f"{images} present"))
    except ConfigError as exc:
        if exc.key == "DOCKER_HOST":
            status: Status = "note" if watch else "fail"
            detail = f"{exc.reason}" + ("; watch goes on without container events" if watch else "")
            checks.append(Check("docker", status, detail, "" if watch else FIX_DOCKER))
        else:
            docker_ok = True
            checks.append(Check("docker", "ok", "the Docker daemon answers"))
            checks.append(Check("CLI images", "fail", f"{exc.key} = {exc.value}: {exc.reason}",
                                _fix_images(cfg)))  # fmt: skip
    if watch:
        return checks
    if not attach:
        checks += await _stack(cfg, probes, docker_ok, stack_up)
    return checks + await _keyring(cfg, probes, docker_ok and images_ok)


async def _stack(cfg: Config, probes: Probes, docker_ok: bool, stack_up: bool) -> list[Check]:
    """What launching our own Compose stack needs (not in attach mode)."""
    checks: list[Check] = []
    prefix: list[str] | None = None
    try:
        prefix = await probes.compose()
        checks.append(Check("compose", "ok", f"`{' '.join(prefix)}` works"))
    except (AgentError, OSError) as exc:
        checks.append(Check("compose", "fail", _first_line(exc), FIX_COMPOSE))
    if prefix is not None and docker_ok:
        try:
            wanted = await probes.compose_images(prefix)
            missing = [i for i in wanted if not await probes.image_present(i)]
            if not wanted:
                why = f"the Compose files name none (stack.compose_dir = {cfg.compose_dir})"
                fix = "point stack.compose_dir at the stack's Compose files"
                checks.append(Check("stack images", "fail", why, fix))
            elif missing:
                checks.append(Check("stack images", "fail", f"missing: {', '.join(missing)}",
                                    _fix_images(cfg)))  # fmt: skip
            else:
                checks.append(Check("stack images", "ok", f"{len(wanted)} present"))
        except (AgentError, OSError) as exc:
            checks.append(Check("stack images", "fail", f"cannot list them: {_first_line(exc)}",
                                "check the Compose files in stack.compose_dir"))  # fmt: skip
    if stack_up:
        checks.append(Check("host ports", "note", "held by the running stack (run relaunches it)"))
    elif not cfg.stack.ports_check_command:
        checks.append(Check("host ports", "note", "not checked: no stack.ports_check_command"))
    else:
        try:
            await probes.ports_check()
            checks.append(Check("host ports", "ok", "free"))
        except CommandFailed as exc:
            checks.append(Check("host ports", "fail", _first_line(exc), FIX_PORTS))
        except (AgentError, OSError) as exc:
            why = f"ports check did not run: {_first_line(exc)}"
            checks.append(Check("host ports", "fail", why, "check stack.ports_check_command"))
    return checks


async def _keyring(cfg: Config, probes: Probes, images_ok: bool) -> list[Check]:
    checks: list[Check] = []
    try:
        password = probes.password()
        checks.append(Check("keyring password", "ok", "set"))
    except ConfigError as exc:
        checks.append(Check("keyring password", "fail", exc.reason, FIX_PASSWORD))
        return checks
    if not images_ok:
        checks.append(Check("keyrings", "note", "not checked: needs Docker and the CLI images"))
        return checks
    try:
        await probes.keyring(password)
        voters = ", ".join(v.name for v in cfg.voters)
        checks.append(Check("keyrings", "ok", f"the password opens every desk ({voters})"))
    except (ConfigError, AgentError) as exc:
        reason = exc.reason if isinstance(exc, ConfigError) else _first_line(exc)
        checks.append(Check("keyrings", "fail", reason, FIX_KEYRING))
    return checks


def doctor_lines(checks: Sequence[Check]) -> list[str]:
    width = max((len(c.name) for c in checks), default=0)
    out = []
    for c in checks:
        line = f"{MARK[c.status]} {c.name:<{width}}  {c.detail}"
        if c.fix:
            line += f"  → {c.fix}"
        out.append(line)
    bad = sum(c.status == "fail" for c in checks)
    out.append("all good" if not bad else f"{bad} problem(s): fix them, then run doctor again")
    return out


class RealProbes:
    """The probes of a real machine; Docker and keyring checks are the run's own."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.env = cfg.stack_env

    async def preflight(self) -> None:
        from agent.runtime.preflight import preflight

        await preflight(self.cfg)

    async def compose(self) -> list[str]:
        from agent.adapters.compose import detect_compose
        from agent.adapters.process import run_command

        cc = self.cfg.stack.compose_command
        if cc == "auto":
            return await detect_compose()
        await run_command([*cc, "version"], deadline=20)
        return list(cc)

    async def compose_images(self, prefix: list[str]) -> list[str]:
        from agent.adapters.process import run_command

        s = self.cfg.stack
        images: dict[str, None] = {}
        for files in ([s.base_file, s.cosmovisor_file], [s.base_file, s.v2_file]):
            argv = [*prefix, "--project-name", s.project]
            for f in files:
                argv += ["--file", str(self.cfg.compose_dir / f)]
            # `config` (not `config --images`, which docker-compose v1 lacks): the
            # resolved YAML, one `image: NAME` line per service.
            r = await run_command([*argv, "config"], deadline=30, env=self.env)
            for line in r.stdout.splitlines():
                key, _, value = line.strip().partition(":")
                if key == "image" and value.strip():
                    images[value.strip().strip("'\"")] = None
        return list(images)

    async def image_present(self, image: str) -> bool:
        from agent.adapters.docker import Docker

        return await Docker().image_id(image) is not None

    async def ports_check(self) -> None:
        from agent.adapters.process import run_command

        await run_command(
            self.cfg.stack.ports_check_command, deadline=60, env=self.env, cwd=self.cfg.base_dir
        )

    def password(self) -> str:
        return read_password(self.cfg)

    async def keyring(self, password: str) -> None:
        from contextlib import aclosing

        from agent.adapters.chaincli import ChainCLI
        from agent.adapters.clibox import Boxes
        from agent.runtime.preflight import check_keyring

        boxes = Boxes(
            self.cfg.stack.project, deadline=self.cfg.timing.command_timeout, tag="doctor"
        )
        async with aclosing(ChainCLI.for_config(self.cfg, password, boxes=boxes)) as cli:
            await check_keyring(self.cfg, cli)

    async def node_height(self, name: str) -> int:
        from agent.adapters.rpc import HttpCometRPC

        node = self.cfg.node(name)
        async with HttpCometRPC(node.rpc, timeout=self.cfg.timing.rpc_timeout) as rpc:
            return (await rpc.status()).latest_height
