"""Scenario faults and remediation (agent/runtime/executors/faults.py) on the fake world,
with a recorder given to the Docker adapter: every ``docker`` argv is recorded
and answered."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakes import World, make_world

from agent.adapters.docker import Docker as AgentDocker
from agent.adapters.process import CommandResult
from agent.core.actions import InjectFault, RemediateNodes
from agent.core.facts import ActionFailed, FaultInjected, NodesRemediated
from agent.core.machine import Params, State, initial_state
from agent.errors import CommandFailed, ProtocolError, TransientError
from agent.runtime.executors import Executor
from agent.runtime.executors.faults import inject_fault, remediate

pytestmark = pytest.mark.anyio

NETS = {"rehearse_net-public": {"IPAddress": "10.0.0.5"}, "rehearse_net-alice": {}}


class Docker:
    """Records each argv; answers ``docker inspect`` with ``networks``; ``fail`` may
    refuse an argv (it returns the exception to raise, or None)."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []
        self.networks: Any = NETS
        self.fail: Callable[[list[str]], Exception | None] = lambda _argv: None

    async def __call__(self, argv: Any, **_kw: Any) -> CommandResult:
        args = [str(a) for a in argv]
        self.argvs.append(args)
        await anyio.lowlevel.checkpoint()
        exc = self.fail(args)
        if exc is not None:
            raise exc
        out = json.dumps(self.networks) if args[1:2] == ["inspect"] else ""
        return CommandResult(tuple(args), 0, out, "")


class HangingClock:
    """A clock whose sleep never ends (the fault is cancelled during it)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sleeping = anyio.Event()

    def wall(self) -> float:
        return float(self.real.wall())

    async def sleep(self, _seconds: float) -> None:
        self.sleeping.set()
        await anyio.sleep_forever()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(tmp_path)


@pytest.fixture
def docker(world: World) -> Docker:
    d = Docker()
    world.ctx.docker = AgentDocker(d)
    return d


def state(**kw: Any) -> State:
    return replace(initial_state("r1", Params()), started=True, **kw)


def fault(kind: str, node: str = "val-alice", seconds: float = 35.0) -> InjectFault:
    return InjectFault(f"f-{kind}", kind, node, seconds)


async def test_pause_pauses_sleeps_then_unpauses(world: World, docker: Docker) -> None:
    fact = await inject_fault(world.ctx, fault("pause"), state())
    assert docker.argvs == [
        ["docker", "pause", "cid-val-alice"],
        ["docker", "unpause", "cid-val-alice"],
    ]
    assert world.clock.sleeps == [35.0]
    assert isinstance(fact, FaultInjected)
    assert fact.name == "f-pause" and fact.absent == ()
    assert fact.detail == "val-alice paused for 35 s"


async def test_a_pause_cancelled_mid_sleep_still_unpauses(world: World, docker: Docker) -> None:
    clock = HangingClock(world.clock)
    world.ctx.clock = clock  # type: ignore[assignment]
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(inject_fault, world.ctx, fault("pause"), state())
            await clock.sleeping.wait()
            tg.cancel_scope.cancel()
    assert docker.argvs == [
        ["docker", "pause", "cid-val-alice"],
        ["docker", "unpause", "cid-val-alice"],
    ]


async def test_disconnect_cuts_every_network_then_reconnects_them(
    world: World, docker: Docker
) -> None:
    fact = await inject_fault(world.ctx, fault("disconnect", "node-carol", 20.0), state())
    cid = "cid-node-carol"
    assert docker.argvs == [
        ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", cid],
        ["docker", "network", "disconnect", "rehearse_net-alice", cid],
        ["docker", "network", "disconnect", "rehearse_net-public", cid],
        ["docker", "network", "connect", "rehearse_net-alice", cid],
        ["docker", "network", "connect", "rehearse_net-public", cid],
    ]
    assert world.clock.sleeps == [20.0]
    assert isinstance(fact, FaultInjected)
    assert fact.detail == "node-carol cut from rehearse_net-alice, rehearse_net-public for 20 s"


async def test_a_disconnect_cancelled_mid_sleep_reconnects_every_network(
    world: World, docker: Docker
) -> None:
    clock = HangingClock(world.clock)
    world.ctx.clock = clock  # type: ignore[assignment]
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(inject_fault, world.ctx, fault("disconnect", "node-carol"), state())
            await clock.sleeping.wait()
            tg.cancel_scope.cancel()
    connects = [a[3] for a in docker.argvs if a[1:3] == ["network", "connect"]]
    assert connects == ["rehearse_net-alice", "rehearse_net-public"]


@pytest.mark.parametrize("answer", [None, [], "null"], ids=["empty", "list", "null"])
async def test_a_container_without_networks_is_cut_from_nothing(
    world: World, docker: Docker, answer: Any
) -> None:
    docker.networks = answer
    fact = await inject_fault(world.ctx, fault("disconnect", "node-carol"), state())
    assert isinstance(fact, FaultInjected)
    assert [a[1] for a in docker.argvs] == ["inspect"]


async def test_a_failed_disconnect_reconnects_the_networks_already_cut(
    world: World, docker: Docker
) -> None:
    def refuse_second(argv: list[str]) -> Exception | None:
        if argv[1:4] == ["network", "disconnect", "rehearse_net-public"]:
            return CommandFailed(argv, 1, "Error response from daemon: busy")
        return None

    docker.fail = refuse_second
    fact = await Executor(world.ctx).run(fault("disconnect", "node-carol"), state())
    assert isinstance(fact, ActionFailed)
    connects = [a[3] for a in docker.argvs if a[1:3] == ["network", "connect"]]
    assert connects == ["rehearse_net-alice"]


async def test_stop_stops_the_container_and_marks_the_node_absent(
    world: World, docker: Docker
) -> None:
    fact = await inject_fault(world.ctx, fault("stop", "val-bob"), state())
    assert docker.argvs == [["docker", "stop", "--time", "5", "cid-val-bob"]]
    assert isinstance(fact, FaultInjected)
    assert fact.absent == ("val-bob",)
    assert world.clock.sleeps == []  # lasts until the restart


async def test_an_unseen_stop_leaves_the_machine_waiting_for_the_node(
    world: World, docker: Docker
) -> None:
    fact = await inject_fault(world.ctx, fault("stop_unseen", "node-carol"), state())
    assert docker.argvs == [["docker", "stop", "--time", "5", "cid-node-carol"]]
    assert isinstance(fact, FaultInjected) and fact.absent == ()


async def test_remove_upgrade_binary_removes_the_plans_upgrade_dirs(
    world: World, docker: Docker
) -> None:
    s = state(params=Params(upgrade_name="V1toV2"))
    fact = await inject_fault(world.ctx, fault("remove_upgrade_binary", "val-bob"), s)
    home = world.cfg.chain.daemon_home
    assert docker.argvs == [
        [
            "docker",
            "exec",
            "cid-val-bob",
            "rm",
            "-rf",
            f"{home}/cosmovisor/upgrades/V1toV2",
            f"{home}/cosmovisor/upgrades/v1tov2",
        ]
    ]
    assert isinstance(fact, FaultInjected) and fact.absent == ()
    # A lower-case plan name gives one directory, not the same one twice.
    docker.argvs.clear()
    await inject_fault(world.ctx, fault("remove_upgrade_binary", "val-bob"), state())
    assert docker.argvs[0][5:] == [f"{home}/cosmovisor/upgrades/v1tov2"]


@pytest.mark.parametrize(
    ("link", "side"),
    [
        ("/h/cosmovisor/genesis", "inside the window, before the swap"),
        ("/h/cosmovisor/upgrades/v1tov2", "after the swap"),
    ],
)
async def test_kill_in_window_waits_for_the_halt_then_kills_and_starts(
    world: World, docker: Docker, link: str, side: str
) -> None:
    looks = iter(["", "", f"current -> {link}"])  # the halt comes on the third look

    async def answer(argv: Any, **_kw: Any) -> CommandResult:
        args = [str(a) for a in argv]
        docker.argvs.append(args)
        await anyio.lowlevel.checkpoint()
        out = next(looks) if args[1] == "exec" else ""
        return CommandResult(tuple(args), 0, out + "\n", "")

    world.ctx.docker = AgentDocker(answer)
    fact = await inject_fault(world.ctx, fault("kill_in_window", "val-bob"), state())
    chain = world.cfg.chain
    assert [a[1] for a in docker.argvs] == ["exec", "exec", "exec", "kill", "start"]
    look = docker.argvs[0][-1]
    assert f"test -f {chain.node_home}/data/upgrade-info.json" in look
    assert f"readlink {chain.daemon_home}/cosmovisor/current" in look
    assert docker.argvs[-2:] == [
        ["docker", "kill", "cid-val-bob"],
        ["docker", "start", "cid-val-bob"],
    ]
    assert world.clock.sleeps == [0.1, 0.1]
    assert isinstance(fact, FaultInjected) and fact.absent == ()
    assert fact.detail == (
        f"val-bob killed and started again at the halt ({side}: upgrade-info.json, "
        f"current -> {link})"
    )


async def test_kill_in_window_gives_up_when_the_halt_never_comes(
    world: World, docker: Docker
) -> None:
    with pytest.raises(TransientError, match="val-bob wrote no .*upgrade-info.json within 90 s"):
        await inject_fault(world.ctx, fault("kill_in_window", "val-bob"), state())
    assert all(a[1] == "exec" for a in docker.argvs)  # never killed


async def test_cut_streams_calls_the_contexts_callback(world: World, docker: Docker) -> None:
    calls: list[int] = []

    async def cut() -> int:
        calls.append(1)
        return 6

    world.ctx.cut_streams = cut
    fact = await inject_fault(world.ctx, InjectFault("cut", "cut_streams"), state())
    assert calls == [1] and docker.argvs == []
    assert isinstance(fact, FaultInjected) and fact.detail == "6 stream connections closed"


async def test_cut_streams_without_a_proxy_fails(world: World, docker: Docker) -> None:
    fact = await Executor(world.ctx).run(InjectFault("cut", "cut_streams"), state())
    assert isinstance(fact, ActionFailed)
    assert fact.reason == "this run has no stream proxy to cut"


async def test_an_unknown_fault_kind_fails_and_touches_nothing(
    world: World, docker: Docker
) -> None:
    fact = await Executor(world.ctx).run(fault("melt"), state())
    assert isinstance(fact, ActionFailed) and fact.reason == "unknown fault kind 'melt'"
    assert docker.argvs == []
    with pytest.raises(ProtocolError):
        await inject_fault(world.ctx, fault("melt"), state())


async def test_a_fault_on_an_unknown_node_fails(world: World, docker: Docker) -> None:
    fact = await Executor(world.ctx).run(fault("pause", "val-zed"), state())
    assert isinstance(fact, ActionFailed)
    assert fact.reason == "fault names no configured node: 'val-zed'"
    assert docker.argvs == []


async def test_a_fault_on_a_node_without_a_container_fails(world: World, docker: Docker) -> None:
    del world.chain.containers["val-alice"]
    with pytest.raises(TransientError, match="no running container for val-alice"):
        await inject_fault(world.ctx, fault("pause"), state())
    assert docker.argvs == []


async def test_remediate_recreates_only_the_named_services_on_v2(
    world: World, docker: Docker
) -> None:
    s = world.cfg.stack
    fact = await remediate(world.ctx, RemediateNodes(("val-bob", "node-carol")), state())
    assert isinstance(fact, NodesRemediated) and fact.nodes == ("val-bob", "node-carol")
    assert world.compose.calls == [
        ("up", [s.base_file, s.v2_file, "service:val-bob", "service:node-carol"])
    ]
    assert docker.argvs == []


async def test_remediate_of_an_unknown_node_fails_before_compose(
    world: World, docker: Docker
) -> None:
    fact = await Executor(world.ctx).run(RemediateNodes(("val-zed",)), state())
    assert isinstance(fact, ActionFailed) and "val-zed" in fact.reason
    assert world.compose.calls == []
