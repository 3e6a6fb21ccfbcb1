"""run_command with real small subprocesses: process groups, stdin, environment."""

from __future__ import annotations

from pathlib import Path

import anyio
import psutil
import pytest

from agent.adapters.process import child_env, run_command
from agent.errors import CommandFailed, DeadlineExceeded

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)  # psutil is untyped
    except psutil.NoSuchProcess:
        return True


async def _wait_gone(pid: int, polls: int = 100) -> bool:
    for _ in range(polls):
        if await anyio.to_thread.run_sync(_gone, pid):
            return True
        await anyio.sleep(0.05)
    return False


async def _read_pid(path: Path) -> int:
    with anyio.fail_after(5):
        while True:
            text = await anyio.Path(path).read_text() if await anyio.Path(path).exists() else ""
            if text.strip():
                return int(text)
            await anyio.sleep(0.02)


async def test_timeout_kills_the_grandchildren_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 100 & echo $! > {pidfile}; sleep 100"
    with pytest.raises(DeadlineExceeded):
        await run_command(["sh", "-c", script], deadline=1.0)
    pid = await _read_pid(pidfile)
    assert await _wait_gone(pid), f"grandchild {pid} survived the timeout"


async def test_cancellation_kills_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 100 & echo $! > {pidfile}; sleep 100"
    with anyio.move_on_after(1.0) as scope:
        await run_command(["sh", "-c", script], deadline=60)
    assert scope.cancelled_caught
    pid = await _read_pid(pidfile)
    assert await _wait_gone(pid), f"grandchild {pid} survived the cancellation"


async def test_child_that_does_not_read_stdin_is_its_own_failure() -> None:
    secret = "s3cret-" + "x" * 1_000_000  # more than a pipe buffer: the write breaks
    with pytest.raises(CommandFailed) as info:
        await run_command(
            ["sh", "-c", "exec 0<&-; echo 'Error: no keyring' >&2; exit 4"],
            deadline=10,
            stdin_secret=secret,
        )
    assert info.value.returncode == 4
    assert "Error: no keyring" in info.value.output
    assert "s3cret" not in str(info.value)


async def test_child_that_ignores_stdin_and_succeeds_is_a_success() -> None:
    r = await run_command(["sh", "-c", "echo ok"], deadline=10, stdin_secret="x" * 1_000_000)
    assert (r.returncode, r.stdout) == (0, "ok\n")


async def test_secret_reaches_stdin_but_not_output() -> None:
    r = await run_command(["cat"], deadline=10, stdin_secret="hunter2")
    assert r.stdout == "***\n"


async def test_missing_program_is_command_failed() -> None:
    with pytest.raises(CommandFailed) as info:
        await run_command(["/nonexistent/program"], deadline=5)
    assert info.value.returncode == 127


async def test_children_get_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHEARSE_KEYRING_PASSWORD", "hunter2")
    monkeypatch.setenv("SOME_TOKEN", "t0ken")
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/docker.sock")
    monkeypatch.setenv("REHEARSE_CAROL_RPC_PORT", "36605")
    r = await run_command(["env"], deadline=10, env={"REHEARSE_TESTNET_DIR": "/t"})
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert "hunter2" not in r.stdout and "t0ken" not in r.stdout
    assert "REHEARSE_KEYRING_PASSWORD" not in env and "SOME_TOKEN" not in env
    assert env["DOCKER_HOST"] == "unix:///tmp/docker.sock"
    # Only what the profile declares ([stack] env) reaches Compose, never a stray
    # REHEARSE_* variable of the agent's own environment.
    assert "REHEARSE_CAROL_RPC_PORT" not in env
    assert env["REHEARSE_TESTNET_DIR"] == "/t"
    assert "PATH" in env


def test_child_env_basics_and_caller_wins() -> None:
    parent = {"PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "AWS_SECRET": "x", "LC_ALL": "C"}
    assert child_env({"HOME": "/other", "X": "1"}, parent) == {
        "PATH": "/bin",
        "HOME": "/other",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "X": "1",
    }
    assert "PATH" in child_env(None, {})
