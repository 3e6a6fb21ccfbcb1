"""Boxes: long-lived CLI containers, started once, replaced when stale, removed at the end."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.adapters import clibox
from agent.adapters.clibox import Box, Boxes, gone
from agent.adapters.process import CommandResult
from agent.errors import CommandFailed

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

DESK = Box("simd_i:v1", "none", Path("/desks/alice"), "/root/.simapp")
QUERY = Box("simd_i:v2", "rehearse_public")


class Docker:
    """Answers ``docker`` commands like the daemon would, for the names it holds."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.running: dict[str, list[str]] = {}  # name -> labels

    async def run(self, argv: Sequence[str], **kw: Any) -> CommandResult:
        await anyio.lowlevel.checkpoint()
        argv = list(argv)
        self.calls.append(argv)
        verb = argv[1]
        if verb == "run":
            name = argv[argv.index("--name") + 1]
            if name in self.running:
                msg = f'Conflict. The container name "/{name}" is already in use by container'
                return CommandResult(tuple(argv), 125, "", msg)
            labels = [argv[i + 1] for i, a in enumerate(argv) if a == "--label"]
            self.running[name] = labels
            return CommandResult(tuple(argv), 0, "abc123\n", "")
        if verb == "rm":
            for n in argv[3:]:
                self.running.pop(n, None)
            return CommandResult(tuple(argv), 0, "", "")
        if verb == "ps":
            wanted = [
                argv[i + 1].removeprefix("label=") for i, a in enumerate(argv) if a == "--filter"
            ]
            names = [n for n, labels in self.running.items() if all(w in labels for w in wanted)]
            return CommandResult(tuple(argv), 0, "\n".join(names) + "\n", "")
        raise AssertionError(f"unexpected docker command {argv}")

    def verbs(self) -> list[str]:
        return [c[1] for c in self.calls]

    def boxes(self, **kw: Any) -> Boxes:
        """Boxes of project "p" whose docker calls this fake answers."""
        return Boxes("p", run=self.run, **kw)


@pytest.fixture
def docker() -> Docker:
    return Docker()


async def test_a_box_starts_once_and_every_call_execs_into_it(docker: Docker) -> None:
    boxes = docker.boxes()
    prefixes = [await boxes.exec_prefix(DESK) for _ in range(3)]
    assert docker.verbs() == ["run"]
    name = DESK.name("p")
    assert prefixes == [["docker", "exec", "-i", name]] * 3
    run = docker.calls[0]
    # No network, the desk at the CLI home, labelled for the clean-ups, only a shell that sleeps.
    assert run[run.index("--network") + 1] == "none"
    assert run[run.index("--volume") + 1] == "/desks/alice:/root/.simapp"
    assert "rehearse.cli=p" in docker.running[name]
    assert run[-5:] == ["--entrypoint", "sh", "simd_i:v1", "-c", clibox.IDLE]


async def test_concurrent_first_calls_start_one_box(docker: Docker) -> None:
    boxes = docker.boxes()
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(boxes.exec_prefix, DESK)
    assert docker.verbs() == ["run"]


async def test_a_box_left_by_a_killed_agent_is_replaced(docker: Docker) -> None:
    docker.running[DESK.name("p")] = ["rehearse.cli=p"]
    await docker.boxes().exec_prefix(DESK)
    assert docker.verbs() == ["run", "rm", "run"]


async def test_a_start_that_fails_says_why() -> None:
    async def refuse(argv: Sequence[str], **kw: Any) -> CommandResult:
        await anyio.lowlevel.checkpoint()
        return CommandResult(tuple(argv), 125, "", "Unable to find image 'simd_i:v1' locally")

    with pytest.raises(CommandFailed, match="Unable to find image"):
        await Boxes("p", run=refuse).exec_prefix(DESK)


async def test_a_warm_up_that_fails_raises_the_error_itself() -> None:
    async def refuse(argv: Sequence[str], **kw: Any) -> CommandResult:
        await anyio.lowlevel.checkpoint()
        return CommandResult(tuple(argv), 125, "", "Unable to find image 'simd_i:v2' locally")

    # Not an ExceptionGroup: the baseline's executor catches AgentError and goes on.
    with pytest.raises(CommandFailed, match="Unable to find image"):
        await Boxes("p", run=refuse).warm(DESK, QUERY)


async def test_forget_starts_the_box_again(docker: Docker) -> None:
    boxes = docker.boxes()
    await boxes.exec_prefix(DESK)
    docker.running.clear()  # removed behind the agent's back
    boxes.forget(DESK)
    await boxes.exec_prefix(DESK)
    assert docker.verbs() == ["run", "run"]


async def test_remove_on_takes_only_the_boxes_on_that_network(docker: Docker) -> None:
    boxes = docker.boxes()
    await boxes.warm(DESK, QUERY)
    await boxes.remove_on("rehearse_public")
    assert list(docker.running) == [DESK.name("p")]
    await boxes.exec_prefix(QUERY)  # forgotten, so started anew
    assert docker.verbs()[-1] == "run"


async def test_close_removes_what_it_started_even_when_cancelled(docker: Docker) -> None:
    boxes = docker.boxes()
    await boxes.warm(DESK, QUERY)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await boxes.close()
    assert docker.running == {}
    await boxes.close()  # nothing left: no command
    assert docker.verbs().count("rm") == 1


async def test_tags_keep_a_doctors_boxes_apart_from_a_rehearsals(docker: Docker) -> None:
    await docker.boxes().exec_prefix(DESK)
    await docker.boxes(tag="doctor").exec_prefix(DESK)
    assert len(docker.running) == 2 and docker.verbs() == ["run", "run"]


@pytest.mark.parametrize(
    ("output", "is_gone"),
    [
        ("Error response from daemon: No such container: p-cli-1", True),
        ("Error response from daemon: Container abc is not running", True),
        ("Error: key not found", False),
        ("", False),
    ],
)
def test_gone_tells_a_missing_box_from_a_failing_command(output: str, is_gone: bool) -> None:
    assert gone(CommandFailed(["docker", "exec"], 1, output)) is is_gone
