"""The stack executor: launch (v2 staged, reset, ports, Cosmovisor) and the restart on v2."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import (
    World,
)
from fakes.executors import state

from agent.core.actions import (
    LaunchStack,
    RestartOnV2,
)
from agent.core.facts import (
    ActionFailed,
    StackLaunched,
    StackRestarted,
)
from agent.core.machine import Params
from agent.errors import (
    DockerUnavailable,
    EnvironmentProblem,
    ProtocolError,
    is_environment_failure,
)
from agent.runtime.executors import Executor
from agent.runtime.executors.stack import launch, restart

pytestmark = pytest.mark.anyio


async def test_a_node_without_v2_staged_fails_the_launch_naming_it(world: World) -> None:
    assert world.commands is not None
    cid = world.chain.containers["val-bob"]
    world.commands.unstaged.add(cid)
    with pytest.raises(EnvironmentProblem) as err:
        await launch(world.ctx, LaunchStack(reset=True), state())
    text = str(err.value)
    assert "val-bob: no " in text and "/cosmovisor/upgrades/v1tov2/bin/checkersd" in text
    assert "val-alice" not in text
    assert world.chain.signed == [] and world.chain.broadcasts == []  # nothing on chain
    assert is_environment_failure(text)  # exit 2


async def test_a_node_that_downloads_v2_at_the_halt_needs_nothing_staged(world: World) -> None:
    """auto-download: val-bob's Cosmovisor fetches v2 from the plan's info."""
    assert world.commands is not None
    world.commands.unstaged.add(world.chain.containers["val-bob"])
    p = Params(download_nodes=("val-bob",))
    fact = await launch(world.ctx, LaunchStack(reset=True), state(params=p))
    assert isinstance(fact, StackLaunched)
    staged = [a for a in world.commands.argvs if "staged" in a]
    assert len(staged) == len(world.cfg.nodes) - 1  # val-bob not asked


async def test_every_node_staged_lets_the_launch_complete(world: World) -> None:
    assert world.commands is not None
    fact = await launch(world.ctx, LaunchStack(reset=True), state())
    assert isinstance(fact, StackLaunched)
    staged = [a for a in world.commands.argvs if "staged" in a]
    assert len(staged) == len(world.cfg.nodes)  # each running node asked once


async def test_an_attached_launch_asks_no_container(world: World) -> None:
    assert world.commands is not None
    await launch(world.ctx, LaunchStack(reset=False, attach=True), state())
    assert not [a for a in world.commands.argvs if "staged" in a]


async def test_launch_downs_resets_checks_ports_and_ups_with_cosmovisor(world: World) -> None:
    s = world.cfg.stack
    fact = await launch(world.ctx, LaunchStack(reset=True), state())
    assert isinstance(fact, StackLaunched)
    assert world.compose.calls == [
        ("down", [s.base_file, s.cosmovisor_file]),
        ("up", [s.base_file, s.cosmovisor_file]),
    ]
    assert world.commands is not None
    staged = [a for a in world.commands.argvs if "staged" in a]
    assert [a for a in world.commands.argvs if a not in staged] == [
        list(s.reset_command),
        list(s.ports_check_command),
    ]


async def test_launch_without_reset_only_checks_ports(world: World) -> None:
    await launch(world.ctx, LaunchStack(reset=False), state())
    assert world.commands is not None
    assert [a for a in world.commands.argvs if "staged" not in a] == [
        list(world.cfg.stack.ports_check_command)
    ]


async def test_restart_samples_balances_then_ups_on_v2(world: World) -> None:
    s = world.cfg.stack
    world.chain.balances = {"cosmos1alice": 5, "cosmos1bob": 7}
    fact = await restart(world.ctx, RestartOnV2(), state())
    assert fact == StackRestarted(
        last_height=10,
        balances=(("cosmos1alice", 5), ("cosmos1bob", 7)),
        height=10,
        at=world.clock.wall(),
    )
    # One `up` with the v2 file recreates every node in place (no down).
    assert world.compose.calls == [("up", [s.base_file, s.v2_file, "--remove-orphans"])]


async def test_launch_on_a_fresh_machine_takes_nothing_down(world: World) -> None:
    s = world.cfg.stack
    world.chain.containers.clear()
    await launch(world.ctx, LaunchStack(reset=True), state())
    assert world.compose.calls == [("up", [s.base_file, s.cosmovisor_file])]


async def test_restart_reads_no_chain_store_any_more(world: World) -> None:
    """The agent knows no chain: the restart samples balances only (no leaderboard)."""
    fact = await Executor(world.ctx).run(RestartOnV2(), state())
    assert isinstance(fact, StackRestarted)
    assert world.chain.queries == []


@pytest.mark.parametrize(
    "world",
    [{"extra": {"stack": {"restart_command": ["systemctl", "restart", "x"]}}}],
    indirect=True,
)
async def test_restart_in_attach_mode_runs_the_restart_command_only(world: World) -> None:
    w, rec = world, world.commands
    assert rec is not None
    fact = await restart(w.ctx, RestartOnV2(), state(params=Params(attach=True)))
    assert isinstance(fact, StackRestarted)
    assert rec.argvs == [["systemctl", "restart", "x"]]
    assert w.compose.calls == []


async def test_launch_in_attach_mode_touches_nothing(world: World) -> None:
    fact = await launch(world.ctx, LaunchStack(reset=False, attach=True), state())
    assert isinstance(fact, StackLaunched)
    assert world.compose.calls == [] and world.commands is not None
    assert world.commands.argvs == []


@pytest.mark.parametrize(
    "world", [{"extra": {"stack": {"reset_command": [], "ports_check_command": []}}}],
    indirect=True,
)  # fmt: skip
async def test_launch_runs_no_empty_stack_command(world: World) -> None:
    await launch(world.ctx, LaunchStack(reset=True), state())
    assert world.commands is not None
    assert [a for a in world.commands.argvs if "staged" not in a] == []
    assert [c[0] for c in world.compose.calls] == ["down", "up"]


async def test_docker_down_stops_the_run_instead_of_failing_the_action(world: World) -> None:
    # Failing the action journaled the rehearsal as failed, unresumable (L7).
    async def docker_down(ctx: Any, action: Any, state: Any) -> Any:
        raise DockerUnavailable("the Docker daemon is unreachable: gone", "start it")

    executor = Executor(world.ctx, {LaunchStack: docker_down})
    with pytest.raises(DockerUnavailable):
        await executor.run(LaunchStack(reset=True), state())

    async def other(ctx: Any, action: Any, state: Any) -> Any:
        raise EnvironmentProblem("host ports check failed", "free them")

    failed = await Executor(world.ctx, {LaunchStack: other}).run(LaunchStack(reset=True), state())
    assert isinstance(failed, ActionFailed)  # the run's own report says why (exit 2)
    assert failed.environment

    async def rehearsal(ctx: Any, action: Any, state: Any) -> Any:
        raise ProtocolError("environment problem: said by a node, not the machine's")

    plain = await Executor(world.ctx, {LaunchStack: rehearsal}).run(LaunchStack(), state())
    assert isinstance(plain, ActionFailed) and not plain.environment
