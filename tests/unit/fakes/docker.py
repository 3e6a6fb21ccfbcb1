"""Compose and raw commands, recorded instead of run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.adapters.process import CommandResult
from fakes.chain import FakeChain


class FakeCompose:
    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.calls: list[tuple[str, list[str]]] = []

    async def up(
        self, files: list[str], services: Iterable[str] = (), *, remove_orphans: bool = False
    ) -> CommandResult:
        extra = [f"service:{x}" for x in services] + (
            ["--remove-orphans"] if remove_orphans else []
        )
        self.calls.append(("up", [*files, *extra]))
        return CommandResult(("compose", "up"), 0, "", "")

    async def down(self, files: list[str]) -> CommandResult:
        self.calls.append(("down", list(files)))
        return CommandResult(("compose", "down"), 0, "", "")

    async def has_containers(self) -> bool:
        return bool(self.chain.containers)

    async def container_ids(self) -> dict[str, str]:
        return dict(self.chain.containers)


class CommandRecorder:
    """The ExecContext's ``run`` and its Docker adapter's runner in the fake world:
    records every argv; answers the staged-binary probe and the Cosmovisor link."""

    def __init__(self, chain: FakeChain) -> None:
        self.chain = chain
        self.argvs: list[list[str]] = []
        self.unstaged: set[str] = set()  # containers without v2 under the plan name
        self.fetched: dict[str, str] = {}  # container id -> SHA-256 of v2 it holds

    async def __call__(self, argv: Iterable[str], **_kw: Any) -> CommandResult:
        args = [str(a) for a in argv]
        self.argvs.append(args)
        if args[:2] == ["docker", "exec"] and "staged" in args:
            if args[2] in self.unstaged:
                home, name, binary = args[-3:]
                path = f"{home}/cosmovisor/upgrades/{name}/bin/{binary}\n"
                return CommandResult(tuple(args), 3, path, "")
            return CommandResult(tuple(args), 0, "", "")
        if args[:2] == ["docker", "exec"] and "sha256sum" in args:
            digest = self.fetched.get(args[2], "")
            return CommandResult(tuple(args), 0 if digest else 1, f"{digest}  {args[-1]}\n", "")
        if args[:2] == ["docker", "exec"]:
            link = self.chain.links.get(args[2], "")
            return CommandResult(tuple(args), 0, link + "\n", "")
        return CommandResult(tuple(args), 0, "", "")
