"""The seed tutorial's procedure, by hand, as a test: proves the prod-sim is real.

No agent here: Compose, the chain CLI in containers (password on stdin, desk
mounted), docker exec and the nodes' RPC/REST, exactly as a reader of the
seed would do it.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from .prodsim import NODES, ProdSim

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def cli(sim: ProdSim, image: str, *args: str, desk: str | None = None,
        secret: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    argv = ["docker", "run", "--rm", "-i", "--network", sim.network]
    if desk:
        argv += ["-v", f"{sim.testnet / desk}:{sim.homes['node']}"]
    argv += [sim.images[image], *args]
    r = subprocess.run(
        argv, input=(sim.password + "\n") if secret else "", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args[:3])} exited {r.returncode}: {r.stderr[-500:]}")
    return r


def tx(sim: ProdSim, who: str, *args: str) -> dict[str, Any]:
    r = cli(
        sim, "v1", "tx", *args,
        "--from", who, "--keyring-backend", "file", "--keyring-dir", f"{sim.homes['node']}/keys",
        "--chain-id", "checkers-1", "--node", "tcp://node-carol:26657",
        "--gas", "auto", "--gas-adjustment", "1.5", "--yes", "--output", "json",
        desk=f"desk-{who}", secret=True,
    )  # fmt: skip
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    assert int(out.get("code", 0)) == 0, out
    return out


def current_link(sim: ProdSim, service: str) -> str:
    cid = sim.container(service)
    return subprocess.run(
        ["docker", "exec", cid, "readlink", f"{sim.homes['daemon']}/cosmovisor/current"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip


def proposal_status(sim: ProdSim, pid: str) -> str:
    try:
        return str(sim.get(sim.rest + f"/cosmos/gov/v1/proposals/{pid}")["proposal"]["status"])
    except (OSError, KeyError, ValueError):
        return ""


def leaderboard_from_genesis(sim: ProdSim) -> list[tuple[str, int]]:
    genesis = json.loads((sim.testnet / "val-alice" / "config" / "genesis.json").read_text())
    players = genesis["app_state"]["checkers"]["playerInfoList"]
    assert len(players) > 10, "the seeded genesis must hold more players than the board"
    winners = [(p["index"], int(p["wonCount"])) for p in players if int(p["wonCount"]) > 0]
    winners.sort(key=lambda w: (-w[1], w[0].encode()))
    return winners[:10]


def test_seed_procedure_v1_to_v2_under_cosmovisor(sim: ProdSim) -> None:
    t_up = time.monotonic()
    sim.compose("up", "-d")
    sim.wait("every node past height 2", lambda: all(sim.height(n) > 2 for n in NODES), 120)
    first_blocks_s = time.monotonic() - t_up

    # On v1: the v2 CLI's show-leaderboard fails, and Cosmovisor runs genesis.
    r = cli(sim, "v2", "query", "checkers", "show-leaderboard",
            "--node", "tcp://node-carol:26657", check=False)  # fmt: skip
    assert r.returncode != 0 and "leaderboard not found" in (r.stderr + r.stdout)
    for n in NODES:
        assert current_link(sim, n).endswith("/cosmovisor/genesis"), n
    players = cli(sim, "v1", "query", "checkers", "list-player-info",
                  "--node", "tcp://node-carol:26657", "--output", "json")  # fmt: skip
    assert len(json.loads(players.stdout)["playerInfo"]) > 10

    # Alice proposes from her desk through node-carol; upgrade height ~35 blocks ahead.
    height = sim.height("node-carol")
    upgrade_height = height + 35
    tx(sim, "alice", "upgrade", "software-upgrade", "v1tov2",
       "--upgrade-height", str(upgrade_height), "--upgrade-info", "{}",
       "--title", "v1tov2", "--summary", "leaderboard", "--deposit", "10000000upawn",
       "--no-validate")  # fmt: skip
    pid = sim.wait(
        "proposal 1 on chain",
        lambda: "1" if proposal_status(sim, "1") == "PROPOSAL_STATUS_VOTING_PERIOD" else None,
        30,
    )
    tx(sim, "alice", "gov", "vote", pid, "yes")
    tx(sim, "bob", "gov", "vote", pid, "yes")
    sim.wait("PASSED", lambda: proposal_status(sim, pid) == "PROPOSAL_STATUS_PASSED", 90)
    assert sim.height("node-carol") < upgrade_height, "passed too late for the upgrade height"

    # The halt at the upgrade height, then Cosmovisor's swap: blocks above it on v2.
    sim.wait("the halt", lambda: sim.height("node-carol") >= upgrade_height - 1, 120)
    t_halt = time.monotonic()
    sim.wait("v2 blocks", lambda: all(sim.height(n) >= upgrade_height for n in NODES), 120)
    halt_to_v2_s = time.monotonic() - t_halt

    def leaderboard() -> subprocess.CompletedProcess[str] | None:
        r = cli(sim, "v2", "query", "checkers", "show-leaderboard",
                "--node", "tcp://node-carol:26657", "--output", "json", check=False)  # fmt: skip
        last_error[0] = r.stderr.strip()[-300:]
        return r if r.returncode == 0 else None

    # Carol's RPC may still be coming back from Cosmovisor's relaunch: ask on a deadline.
    last_error = [""]
    try:
        board = sim.wait("show-leaderboard on v2", leaderboard, 60, every=1.0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last_error[0]}") from None
    got = [
        (w["playerAddress"], int(w["wonCount"]))
        for w in json.loads(board.stdout)["Leaderboard"]["winners"]
    ]
    assert got == leaderboard_from_genesis(sim)
    text = cli(sim, "v2", "query", "checkers", "show-leaderboard",
               "--node", "tcp://node-carol:26657").stdout  # fmt: skip
    assert text.startswith("Leaderboard:") and "winners:" in text
    for n in NODES:
        assert current_link(sim, n).endswith("/cosmovisor/upgrades/v1tov2"), n
    applied = sim.get(sim.rest + "/cosmos/upgrade/v1beta1/applied_plan/v1tov2")
    assert int(applied["height"]) == upgrade_height

    # Stop, and start again on plain v2: blocks go on above the upgrade height, state kept.
    last = max(sim.height(n) for n in NODES)
    sim.compose("down")
    t_v2 = time.monotonic()
    sim.compose("up", "-d", overlay="docker-compose-v2.yml")
    sim.wait("blocks after restart", lambda: all(sim.height(n) > last for n in NODES), 120)
    v2_restart_s = time.monotonic() - t_v2
    board2 = cli(sim, "v2", "query", "checkers", "show-leaderboard",
                 "--node", "tcp://node-carol:26657", "--output", "json")  # fmt: skip
    assert json.loads(board2.stdout) == json.loads(board.stdout)
    sim.compose("down", overlay="docker-compose-v2.yml")
    print(f"\nfigures: up->first blocks {first_blocks_s:.1f}s, halt->v2 {halt_to_v2_s:.1f}s,"
          f" up -f v2->blocks {v2_restart_s:.1f}s")  # fmt: skip
