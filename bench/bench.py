#!/usr/bin/env python3
"""Benchmarks for the rehearsal agent. Prints figures; asserts nothing.

    python bench/bench.py [--runs N] [--skip-rehearsal]

1. Full rehearsal on a private five-node prod-sim (own testnet dir, project and
   ports), N runs: wall time, and its ratio to the chain-imposed lower bound
       first block after `up` + voting period
       + (upgrade height - height at PASSED) x block time
       + first block after the restart on v2.
2. Reaction latency, NewBlock received -> action dispatched: from the agent's
   own log during those runs (a handful per run), and from a synthetic
   in-process run of the observer path (ChainView + decide) over many blocks.
3. Footprint while the agent watches five nodes: RSS (max) and CPU (median of
   1 s samples, % of one core) of the agent process during the runs.

Needs the images (`make prod-sim`) and the venv. Medians and ratios only:
the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The tests directory is the import root of the e2e helpers, as under pytest.
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from e2e.prodsim import prod_sim  # noqa: E402


def _ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _events(log: Path) -> list[dict[str, object]]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def one_rehearsal(tmp: Path) -> dict[str, float]:
    import psutil

    with prod_sim(tmp, f"bench{os.getpid()}") as sim:
        cfg = sim.write_config(tmp / "config.toml")
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(cfg)],
            env=sim.run_env(), cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        p = psutil.Process(proc.pid)
        rss: list[int] = []
        cpu: list[float] = []
        p.cpu_percent(None)
        while proc.poll() is None:
            time.sleep(1.0)
            try:
                rss.append(p.memory_info().rss)
                cpu.append(p.cpu_percent(None))
            except psutil.NoSuchProcess:
                break
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(f"rehearsal failed (exit {proc.returncode}); see {tmp}")
        report = json.loads((tmp / "report.json").read_text())
        ev = _events(tmp / "state" / "agent.log")

        def at(name: str, **match: object) -> float:
            for e in ev:
                if e.get("event") == name and all(e.get(k) == v for k, v in match.items()):
                    return _ts(str(e["timestamp"]))
            raise KeyError(name)

        up_done = at("action_done", action="launch_stack")
        first_block = at("first_block")
        restart_done = at("action_done", action="restart_on_v2")
        last_before = next(int(e["last_height"]) for e in ev if e.get("event") == "stack_restarted")  # type: ignore[arg-type]
        after_restart = next(
            _ts(str(e["timestamp"])) for e in ev
            if e.get("event") == "height_advanced" and int(e["height"]) > last_before  # type: ignore[arg-type]
            and _ts(str(e["timestamp"])) >= restart_done
        )  # fmt: skip
        passed = next(p for p in report["phases"] if p["phase"] == "passed")
        up = report["upgrade"]
        bound = (
            (first_block - up_done)
            + float(up["voting_period_s"])
            + max(0, int(up["height"]) - int(passed["height"]))
            * float(up["measured_block_interval_s"])
            + (after_restart - restart_done)
        )
        reactions = [float(e["reaction_ms"]) for e in ev if "reaction_ms" in e]  # type: ignore[arg-type]
        watch_cpu = cpu[len(cpu) // 5 :] or cpu  # past the launch's start-up
        return {
            "wall_s": wall,
            "rehearsal_s": float(report["duration_s"]),
            "lower_bound_s": bound,
            "ratio": float(report["duration_s"]) / bound,
            "rss_max_mb": max(rss) / 2**20 if rss else 0.0,
            "cpu_median_pct": statistics.median(watch_cpu) if watch_cpu else 0.0,
            "reaction_p50_ms": statistics.median(reactions) if reactions else float("nan"),
            "reaction_max_ms": max(reactions) if reactions else float("nan"),
            "reactions": float(len(reactions)),
        }


def watch_footprint(tmp: Path, minutes: float) -> dict[str, float]:
    """`rehearse watch` beside a running five-node v1 stack: RSS and CPU over time."""
    import psutil

    with prod_sim(tmp, f"benchw{os.getpid()}") as sim:
        cfg = sim.write_config(tmp / "config.toml")
        sim.compose("up", "-d", overlay="docker-compose.yml")
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "watch", "--config", str(cfg)],
            env=sim.run_env(), cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        p = psutil.Process(proc.pid)
        p.cpu_percent(None)
        rss: list[float] = []
        cpu: list[float] = []
        end = time.monotonic() + minutes * 60
        try:
            while time.monotonic() < end and proc.poll() is None:
                time.sleep(5.0)
                rss.append(p.memory_info().rss / 2**20)
                cpu.append(p.cpu_percent(None))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        fifth = max(1, len(rss) // 5)
        return {
            "samples": float(len(rss)),
            "rss_first_fifth_mb": statistics.median(rss[:fifth]),
            "rss_last_fifth_mb": statistics.median(rss[-fifth:]),
            "rss_max_mb": max(rss),
            "rss_growth_mb": statistics.median(rss[-fifth:]) - statistics.median(rss[:fifth]),
            "cpu_median_pct": statistics.median(cpu),
            "cpu_mean_pct": statistics.fmean(cpu),
        }


def synthetic_reaction(blocks: int = 20000) -> tuple[float, float]:
    """Median and p99 of ChainView.observe + decide per NewBlock, in ms."""
    from agent.core.chainview import ChainView
    from agent.core.facts import Begin, HeightObserved, StackLaunched
    from agent.core.machine import Params, decide, initial_state
    from agent.core.observations import NewBlock

    nodes = ["val-alice", "sentry-alice", "val-bob", "sentry-bob", "node-carol"]
    view = ChainView(nodes)
    state = initial_state("bench", Params())
    state, _ = decide(state, Begin("bench"))
    state, _ = decide(state, StackLaunched())
    lat: list[float] = []
    for h in range(1, blocks + 1):
        for n in nodes:
            t0 = time.perf_counter()
            before = view.max_height
            if (
                view.observe(NewBlock(n, h, "2026-11-29T10:00:00Z", at=0.0))
                and view.max_height > before
            ):
                state, _ = decide(state, HeightObserved(view.max_height, 0.0))
            view.all_above(2)
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip-rehearsal", action="store_true")
    ap.add_argument(
        "--watch-minutes",
        type=float,
        default=0.0,
        help="also measure `rehearse watch` beside five nodes for this long",
    )
    args = ap.parse_args()

    p50, p99 = synthetic_reaction()
    print(f"synthetic observer path per NewBlock: median {p50:.4f} ms, p99 {p99:.4f} ms")
    rows = []
    for i in range(0 if args.skip_rehearsal else args.runs):
        with tempfile.TemporaryDirectory(prefix="rh-bench-") as d:
            r = one_rehearsal(Path(d))
        rows.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()))
    if rows:
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print("median over runs: " + ", ".join(f"{k}={v:.2f}" for k, v in med.items()))
    if args.watch_minutes > 0:
        with tempfile.TemporaryDirectory(prefix="rh-bench-w-") as d:
            w = watch_footprint(Path(d), args.watch_minutes)
        print("watch: " + ", ".join(f"{k}={v:.2f}" for k, v in w.items()))


if __name__ == "__main__":
    main()
