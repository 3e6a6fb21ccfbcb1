"""Adapters that talk to a process or a socket, tested without Docker: a stand-in
``docker`` program on PATH records its argv and answers as Docker would; the
stream proxy forwards real loopback connections."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import anyio
import pytest
from fakes import World, make_world
from rich.console import Console

from agent.adapters.compose import Compose, detect_compose
from agent.adapters.cutproxy import CutProxy
from agent.adapters.docker import Docker
from agent.core.actions import ExplainExit
from agent.core.facts import ExitExplained
from agent.core.machine import Params, initial_state
from agent.runtime.executors.exits import explain_exit
from agent.ui.live import LiveView, Session

pytestmark = pytest.mark.anyio

# A stand-in for docker (and docker-compose): logs its argv as a JSON line, prints
# what $FAKE_OUT holds, exits $FAKE_CODE. PATH and FAKE_* reach it through the
# minimal child environment only because the test puts them in os.environ.
FAKE = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
sys.stdout.write(os.environ.get("FAKE_OUT", ""))
sys.exit(int(os.environ.get("FAKE_CODE", "0")))
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "docker-compose"):
        p = bin_dir / name
        p.write_text(FAKE)
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(log))
    # run_command hands children the minimal environment: FAKE_* must be let through.
    monkeypatch.setattr(
        "agent.adapters.process.INHERITED",
        (*__import__("agent.adapters.process", fromlist=["INHERITED"]).INHERITED,
         "FAKE_LOG", "FAKE_OUT", "FAKE_CODE"),
    )  # fmt: skip
    return log


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)  # outside the loop: the loader reads the cwd
    w.ctx.docker = Docker()  # the real adapter, running the fake docker program on PATH
    return w


async def calls(log: Path) -> list[list[str]]:
    text = await anyio.Path(log).read_text() if await anyio.Path(log).exists() else ""
    return [json.loads(line) for line in text.splitlines()]


# --- Compose -------------------------------------------------------------------------


async def test_compose_builds_argv_lists_for_each_verb(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    c = Compose(["docker-compose"], "proj", tmp_path, timeout=30)
    await c.up(["a.yml", "b.yml"])
    await c.up(["a.yml"], services=["val-bob"], remove_orphans=True)
    await c.down(["a.yml"])
    got = await calls(fake_docker)
    base = ["--project-name", "proj", "--file", str(tmp_path / "a.yml")]
    assert got[0] == [*base, "--file", str(tmp_path / "b.yml"), "up", "--detach", "--no-build"]
    assert got[1] == [*base, "up", "--detach", "--no-build", "--remove-orphans",
                      "--no-deps", "val-bob"]  # fmt: skip
    assert got[2] == [*base, "down", "--volumes", "--remove-orphans", "--timeout", "20"]


async def test_compose_reads_container_ids_by_service(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_OUT", "abc val-alice\ndef node-carol\n\n")
    c = Compose(["docker-compose"], "proj", tmp_path)
    assert await c.container_ids() == {"val-alice": "abc", "node-carol": "def"}
    assert await c.has_containers()
    monkeypatch.setenv("FAKE_OUT", "")
    assert not await c.has_containers()
    label = "label=com.docker.compose.project=proj"
    assert (await calls(fake_docker))[0][:3] == ["ps", "--filter", label]


async def test_detect_compose_prefers_the_plugin(fake_docker: Path) -> None:
    assert await detect_compose() == ["docker", "compose"]
    assert (await calls(fake_docker))[0] == ["compose", "version"]


# --- why a node exited ---------------------------------------------------------------


async def test_an_exit_is_explained_from_the_containers_last_lines(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    w = world
    monkeypatch.setenv("FAKE_OUT", "INF halt\nERR upgrade binary not found: v2\nINF bye\n")
    state = initial_state("r", Params())
    fact = await explain_exit(w.ctx, ExplainExit("val-bob", "cid9", 1), state)
    assert isinstance(fact, ExitExplained)
    assert (fact.node, fact.exit_code) == ("val-bob", 1)
    assert fact.reason == "ERR upgrade binary not found: v2"
    assert (await calls(fake_docker))[0] == ["logs", "--tail", "40", "cid9"]


async def test_logs_that_cannot_be_read_are_the_reason(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch, world: World, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no docker at all
    state = initial_state("r", Params())
    fact = await explain_exit(world.ctx, ExplainExit("val-bob", "cid9", None), state)
    assert isinstance(fact, ExitExplained) and fact.reason.startswith("its logs could not be read")


# --- the stream proxy ----------------------------------------------------------------


async def _echo(stream: anyio.abc.ByteStream) -> None:
    async with stream:
        try:
            while True:
                await stream.send(await stream.receive())
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            pass


# TCP only: anyio's unix listener stats its path on the loop, which blockbuster refuses.
async def test_the_proxy_forwards_and_cut_drops_every_live_connection() -> None:
    upstream = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = int(upstream.extra(anyio.abc.SocketAttribute.local_port))
    proxy = CutProxy("ws", ("tcp", "127.0.0.1", port))
    async with upstream, anyio.create_task_group() as tg:
        tg.start_soon(upstream.serve, _echo)
        await tg.start(proxy.run)
        assert proxy.address == f"127.0.0.1:{proxy.port}"
        async with await anyio.connect_tcp("127.0.0.1", proxy.port) as client:
            await client.send(b"ping")
            assert await client.receive() == b"ping"
            assert proxy.cut() == 1
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                with anyio.fail_after(5):
                    await client.receive()
        tg.cancel_scope.cancel()


# --- the live view -------------------------------------------------------------------


async def test_the_live_view_draws_until_cancelled_and_prints_headlines() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    session = Session("watch")
    assert session.snapshot() is None  # nothing started yet
    view = LiveView(session.snapshot, console)
    view.print_line("\x1b[1mrehearsal begins\x1b[0m")
    with anyio.move_on_after(0.7):
        await view.run()
    text = out.getvalue()
    assert "rehearsal begins" in text and "starting" in text


# --- the kit's children get no secret -------------------------------------------------

DUMP_ENV = f"""#!{sys.executable}
import json, os, sys
with open(os.environ.get("FAKE_LOG") or "/dev/null", "a") as f:
    f.write(json.dumps(dict(os.environ)) + "\\n")
"""


def test_the_kits_children_get_the_minimal_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the e2e's argv/env spy once `rehearse run` built a kit network: the kit
    ran docker build, the chain binary and go build with the agent's whole
    environment, REHEARSE_KEYRING_PASSWORD included."""
    from agent.kit import gobuild, images, testnet

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "chaind"):
        (bin_dir / name).write_text(DUMP_ENV)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "env.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("REHEARSE_KEYRING_PASSWORD", "KEYRING-SECRET")
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:1/proxy")
    # The dump script finds its log through a variable children inherit: HOME.
    monkeypatch.setenv("HOME", str(tmp_path))
    (bin_dir / "docker").write_text(DUMP_ENV.replace('os.environ.get("FAKE_LOG") or "/dev/null"',
                                                     f'"{log}"'))  # fmt: skip
    (bin_dir / "chaind").write_text((bin_dir / "docker").read_text())
    images.build_image("x:y", tmp_path)
    testnet.ChainBinary(bin_dir / "chaind").run("version")
    envs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(envs) == 2
    for env in envs:
        assert "REHEARSE_KEYRING_PASSWORD" not in env and "KEYRING-SECRET" not in json.dumps(env)
    go = gobuild._go_env()
    assert go["GOPROXY"] == "http://127.0.0.1:1/proxy" and go["CGO_ENABLED"] == "0"
    assert "REHEARSE_KEYRING_PASSWORD" not in go


async def test_boxes_a_killed_agent_left_are_swept_by_label(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19 L5: a desk box left by a killed agent (a keyring mounted) went only when
    a box of the very same spec replaced it. Every box of the project and tag goes."""
    from agent.adapters.clibox import Boxes

    monkeypatch.setenv("FAKE_OUT", "p-cli-aaaa\np-cli-bbbb\np-doctor-cccc\nother\n")
    boxes = Boxes("p")
    assert await boxes.sweep() == ["p-cli-aaaa", "p-cli-bbbb"]  # not doctor's, not others
    got = await calls(fake_docker)
    assert got[0][:2] == ["ps", "--all"] and "label=rehearse.cli=p" in got[0]
    assert got[1] == ["rm", "--force", "p-cli-aaaa", "p-cli-bbbb"]


# --- Docker down ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("program", "says"),
    [
        ("docker", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                   "Is the docker daemon running?"),
        ("docker-compose", "Couldn't connect to Docker daemon at http+docker://localhost "
                           "- is it running?"),
    ],
)  # fmt: skip
async def test_a_daemon_that_does_not_answer_is_an_environment_problem(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch, program: str, says: str
) -> None:
    # Issue 19 L7: met at a resume, it failed the rehearsal (exit 1) for good.
    from agent.adapters.process import run_command
    from agent.errors import DockerUnavailable, is_environment_failure

    monkeypatch.setenv("FAKE_OUT", says + "\n")
    monkeypatch.setenv("FAKE_CODE", "1")
    with pytest.raises(DockerUnavailable) as info:
        await run_command([program, "ps"], deadline=10)
    assert "Docker daemon is unreachable" in str(info.value)
    assert "resumes" in str(info.value) and is_environment_failure(str(info.value))


async def test_other_docker_failures_stay_command_failures(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.adapters.process import run_command
    from agent.errors import CommandFailed, DockerUnavailable

    monkeypatch.setenv("FAKE_OUT", "Error: No such container: abc\n")
    monkeypatch.setenv("FAKE_CODE", "1")
    with pytest.raises(CommandFailed) as info:
        await run_command(["docker", "logs", "abc"], deadline=10)
    assert not isinstance(info.value, DockerUnavailable)


def test_a_kit_image_build_without_docker_says_so(
    fake_docker: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The kit's build runs before a rehearsal resumes: it must name Docker too.
    from agent.kit.images import ImageError, build_image

    monkeypatch.setenv("FAKE_OUT", "Cannot connect to the Docker daemon at unix:///x.sock.\n")
    monkeypatch.setenv("FAKE_CODE", "1")
    with pytest.raises(ImageError, match="the Docker daemon is unreachable") as info:
        build_image("rehearse-kit/x:v1", tmp_path)
    assert "resumes" in str(info.value)
