#!/usr/bin/env python3
"""Benchmarks for the rehearsal agent. Prints figures; asserts nothing.

    python bench/bench.py [--runs N] [--skip-rehearsal]
        [--watch-nodes K --watch-minutes M] [--stall-reps R] [--first-run]

1. Full rehearsal on a private five-node prod-sim (own testnet dir, project and
   ports), N runs: wall time, and its ratio to the chain-imposed lower bound
       first block after `up` + voting period
       + (upgrade height - height at PASSED) x block time
       + first block after the restart on v2.
2. Reaction latency, NewBlock received -> action dispatched: from the agent's
   own log during those runs (a handful per run), and from a synthetic
   in-process run of the observer path (ChainView + decide) over many blocks.
3. Footprint of `rehearse watch` (--watch-minutes): a real `rehearse watch`
   subprocess against K fake CometBFT nodes (bench/fake_nodes.py, one process,
   a block a second), no Docker; RSS and CPU of the agent's own process every
   5 s: RSS at start/end/max and its growth, CPU median and p90, and the alerts
   fired (0 expected: the fake nodes are healthy). --watch-prodsim measures it
   beside the real five-node stack instead.
4. Stall to alert (--stall-reps): one fake node stops producing blocks; the
   time from the stop to the stall notification at a local webhook sink, beside
   the stall threshold and the evaluation interval (target: their sum).
5. First `make rehearse` on a fresh clone (--first-run): the venv, then the kit's
   build with empty caches and the rehearsal. Long; run it on a quiet machine.

1 and 5 need Docker (the kit builds the images); 3 and 4 need only the venv.
Medians and ratios only: the machines are shared and noisy.
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
from collections.abc import Callable
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

        launch_start = at("action_start", action="launch_stack")
        up_done = at("action_done", action="launch_stack")
        first_block = at("first_block")
        restart_start = at("action_start", action="restart_on_v2")
        restart_done = at("action_done", action="restart_on_v2")
        blocks = _events(next((tmp / "state").glob("blocks-*.jsonl")))
        journal = json.loads((tmp / "state" / "journal.json").read_text())["state"]
        last_before = int(journal["restart_last_height"])
        # The chain's share of the restart: from `compose up` returning to the first
        # block above the last one before it. Blocks the old processes still sent
        # while the restart began are not it (they came before the stop), nor is a
        # backfilled one: a block a node committed as the stop began, fetched when
        # its stream came back (2026-12-06: it made the chain's share 0.6 s of 2.7).
        after_restart = min(
            (float(b["at"]) for b in blocks if int(b["height"]) > last_before
             and float(b["at"]) > restart_done and not b.get("backfilled")),
            default=restart_done,
        )  # fmt: skip
        passed = next(p for p in report["phases"] if p["phase"] == "passed")
        up = report["upgrade"]
        interval = float(up["measured_block_interval_s"])
        chain_start = first_block - up_done
        chain_upgrade = max(0, int(up["height"]) - int(passed["height"])) * interval
        chain_restart = after_restart - restart_done
        # Context, inside the bound's upgrade term: the halt (last v1 block to the
        # first v2 block: Cosmovisor's swap and the migration) and the plan's slack.
        h = int(up["height"])
        first_at = {}
        for b in blocks:
            first_at.setdefault(int(b["height"]), float(b["at"]))
        halt = first_at.get(h, float("nan")) - first_at.get(h - 1, float("nan"))
        bound = chain_start + float(up["voting_period_s"]) + chain_upgrade + chain_restart
        # Where the time above the bound goes, phase by phase (seconds above the
        # chain's own share of each phase).
        phases = {p["phase"]: p for p in report["phases"]}
        t_of = {name: _ts(p["at"]) for name, p in phases.items()}
        overhead = {
            "over_launch_s": (t_of["proposed"] - t_of["launched"]) - chain_start,
            "over_vote_s": (t_of["passed"] - t_of["proposed"]) - float(up["voting_period_s"]),
            "over_upgrade_s": (t_of["upgraded"] - t_of["passed"]) - chain_upgrade,
            "over_restart_s": (t_of["restarted"] - t_of["upgraded"]) - chain_restart,
            "halt_s": halt,
            "spare_blocks": float(up.get("spare_blocks") or 0),
            "launch_cmds_s": up_done - launch_start,
            "restart_cmds_s": restart_done - restart_start,
        }
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
            **overhead,
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


# --- `rehearse watch` against fake nodes (bench/fake_nodes.py): no Docker, no chain ---

FAKE_NODES = Path(__file__).resolve().parent / "fake_nodes.py"
SAMPLE_S = 5.0
WARMUP_S = 30.0  # growth is measured from here: imports, first connections, first polls


class FakeNodes:
    """bench/fake_nodes.py as a subprocess: K nodes, ``stop(i)``/``start(i)``."""

    def __init__(self, k: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKE_NODES), str(k)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.ports: list[int] = json.loads(self.proc.stdout.readline())["ports"]

    def command(self, line: str) -> float:
        """Send a command; the unix time at which the fake applied it."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ack = self.proc.stdout.readline().split()
        return float(ack[-1])

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class WebhookSink:
    """A tiny HTTP receiver for the agent's webhook sink: (arrival time, JSON body)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[float, dict[str, object]]] = []
        self.cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.cond:
                    sink.received.append((at, json.loads(body or b"{}")))
                    sink.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, pred: Callable[[dict[str, object]], bool], timeout: float) -> float | None:
        """Arrival time of the first received notification matching ``pred``."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, body in self.received:
                    if pred(body):
                        return at
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        self.server.shutdown()


def write_watch_config(tmp: Path, ports: list[int], sink_url: str | None) -> Path:
    """K nodes on the fake's ports, [watch] defaults, files under ``tmp``."""
    out = [
        f'[stack]\nproject = "benchwatch{os.getpid()}"\n',
        '[chain]\ntx_node = "n000"\n',
        '[agent]\nstate_dir = "state"\nlog_file = "state/agent.log"\n',
        '[watch]\nheartbeat_file = "state/heartbeat.json"\n'
        'alert_state_file = "state/alerts.json"\n',
    ]
    for i, port in enumerate(ports):
        out.append(f'[[nodes]]\nname = "n{i:03d}"\nrpc = "http://127.0.0.1:{port}"\n')
    if sink_url:
        out.append(f'[[alerts.sinks]]\ntype = "webhook"\nurl = "{sink_url}"\nretries = 0\n')
    cfg = tmp / "config.toml"
    cfg.write_text("\n".join(out))
    return cfg


def _watch_env() -> dict[str, str]:
    env = dict(os.environ)
    # A socket that does not exist: `rehearse watch` skips Docker events (and so
    # cannot raise a stream_down alert for a Docker it was never meant to watch).
    env["DOCKER_HOST"] = "unix:///nonexistent/rehearse-bench-docker.sock"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _start_watch(tmp: Path, cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "watch", "--config", str(cfg)],
        env=_watch_env(), cwd=tmp, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=open(tmp / "watch.stderr", "wb"),
    )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _alerts_fired(tmp: Path) -> list[dict[str, object]]:
    f = tmp / "state" / "alerts-history.jsonl"
    if not f.exists():
        return []
    out = []
    for line in f.read_text().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("event") == "fired":
            out.append(d)
    return out


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


def watch_fake(tmp: Path, nodes: int, minutes: float) -> dict[str, float]:
    """`rehearse watch` against ``nodes`` healthy fake nodes for ``minutes``.

    RSS and CPU (% of one core, averaged over each 5 s sample) of the agent's own
    process by pid; the fake server's CPU beside it, to show it is not the limit."""
    import psutil

    fake = FakeNodes(nodes)
    sink = WebhookSink()
    cfg = write_watch_config(tmp, fake.ports, sink.url)
    proc = _start_watch(tmp, cfg)
    p, pf = psutil.Process(proc.pid), psutil.Process(fake.proc.pid)
    p.cpu_percent(None)
    pf.cpu_percent(None)
    t0 = time.monotonic()
    rows: list[tuple[float, float, float, float]] = []  # (t, rss MB, cpu %, fake cpu %)
    try:
        while time.monotonic() - t0 < minutes * 60 and proc.poll() is None:
            time.sleep(SAMPLE_S)
            try:
                rows.append(
                    (
                        time.monotonic() - t0,
                        p.memory_info().rss / 2**20,
                        p.cpu_percent(None),
                        pf.cpu_percent(None),
                    )
                )
            except psutil.NoSuchProcess:
                break
    finally:
        _stop(proc)
        fake.close()
        sink.close()
    if not rows or proc.returncode not in (None, 0, -15):
        raise SystemExit(f"rehearse watch exited at once; see {tmp / 'watch.stderr'}")
    settled = [r for r in rows if r[0] >= WARMUP_S] or rows
    rss = [r[1] for r in settled]
    cpu = [r[2] for r in settled]
    span = max(1, len(rss) // 5)
    fired = _alerts_fired(tmp)
    for a in fired:
        print(f"  alert fired: {a.get('detector')} {a.get('node')}: {a.get('message')}")
    return {
        "nodes": float(nodes),
        "minutes": minutes,
        "samples": float(len(rows)),
        "rss_start_mb": rows[0][1],
        "rss_settled_mb": rss[0],
        "rss_end_mb": rows[-1][1],
        "rss_max_mb": max(r[1] for r in rows),
        # median of the last fifth minus median of the first fifth, after the warm-up
        "rss_growth_mb": statistics.median(rss[-span:]) - statistics.median(rss[:span]),
        "cpu_median_pct": statistics.median(cpu),
        "cpu_p90_pct": _pct(cpu, 0.9),
        "cpu_max_pct": max(cpu),
        "fake_cpu_median_pct": statistics.median(r[3] for r in settled),
        "alerts_fired": float(len(fired)),
        "webhooks_received": float(len(sink.received)),
    }


def stall_to_alert(tmp: Path, reps: int, nodes: int = 5) -> dict[str, float]:
    """Stop one fake node's blocks; time from the stop to the stall notification
    at the local webhook sink. ``reps`` times (a different node each time, the
    previous one started again and its alert resolved first)."""
    fake = FakeNodes(nodes)
    sink = WebhookSink()
    cfg = write_watch_config(tmp, fake.ports, sink.url)
    proc = _start_watch(tmp, cfg)
    from agent.config.load import load_config

    w = load_config(cfg).watch.watch
    lat: list[float] = []
    try:
        time.sleep(20.0)  # the block interval is measured from the received blocks
        for r in range(reps):
            node = f"n{r % nodes:03d}"
            stopped = fake.command(f"stop {r % nodes}")
            fired = sink.wait_for(
                lambda b, node=node: b.get("status") == "firing"  # type: ignore[misc]
                and b.get("node") == node and "stall" in str(b.get("key")),
                timeout=120,
            )  # fmt: skip
            fake.command(f"start {r % nodes}")
            if fired is None:
                print(f"  rep {r + 1}: no stall notification for {node} within 120 s")
                continue
            lat.append(fired - stopped)
            print(f"  rep {r + 1}: {node} stop -> stall notification {fired - stopped:.2f} s")
            sink.wait_for(
                lambda b, node=node: b.get("status") == "resolved"  # type: ignore[misc]
                and b.get("node") == node,
                timeout=60,
            )  # fmt: skip
    finally:
        _stop(proc)
        fake.close()
        sink.close()
    t = w.thresholds
    floor = t.stall_after_s if t.stall_after_s is not None else t.stall_floor_s
    derived = max(floor, t.stall_factor * 1.0) if t.stall_after_s is None else floor
    return {
        "reps": float(len(lat)),
        "stall_to_alert_median_s": statistics.median(lat) if lat else float("nan"),
        "stall_to_alert_max_s": max(lat) if lat else float("nan"),
        "stall_threshold_s": derived,  # stall_factor x the fake's 1 s blocks, floored
        "evaluate_interval_s": w.evaluate_interval_s,
        "target_s": derived + w.evaluate_interval_s,
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


def first_run(keep: bool = False) -> dict[str, float]:
    """The first `make rehearse` on a fresh clone, split into its two costs.

    Clones this repository's committed HEAD into a temporary directory and runs,
    timing each separately:
      1. `make venv`      the Python environment (offline from ../shared/wheels
                          when it exists, linked beside the clone).
      2. `make rehearse`  the chain kit's build with an empty Go build cache and
                          an empty kit cache (GOCACHE and XDG_CACHE_HOME in the
                          temp dir): checkersd v1 and v2, Cosmovisor, busybox, the
                          images, the homes; then the rehearsal. The module cache
                          (GOMODCACHE) stays the user's: downloads are not build
                          time, and the module proxy may be slow or far. Docker's
                          layer cache is the machine's.
    Long (minutes) and heavy: it uses the bundled profile's ports, so run it on a
    quiet machine, never beside other rehearsals or e2e tests.
    """
    tmp = Path(tempfile.mkdtemp(prefix="rh-first-run-"))
    clone = tmp / "rehearse"
    subprocess.run(["git", "clone", "-q", "--no-local", str(REPO), str(clone)], check=True)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (tmp / "shared").symlink_to(shared)  # the Makefile's ../shared/wheels
    env = dict(os.environ)
    env["GOCACHE"] = str(tmp / "gocache")
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    env.pop("VIRTUAL_ENV", None)
    out: dict[str, float] = {}
    try:
        for step in ("venv", "rehearse"):
            t0 = time.monotonic()
            r = subprocess.run(["make", "-C", str(clone), step], env=env)
            out[f"{step}_s"] = time.monotonic() - t0
            print(f"first run: make {step}: {out[f'{step}_s']:.1f} s (exit {r.returncode})")
            if r.returncode != 0:
                raise SystemExit(f"make {step} failed; the clone is kept in {clone}")
        out["total_s"] = sum(out.values())
        return out
    finally:
        if not keep and out.get("total_s"):
            subprocess.run(["chmod", "-R", "u+w", str(tmp)], check=False)  # Go's read-only cache
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip-rehearsal", action="store_true")
    ap.add_argument(
        "--watch-minutes",
        type=float,
        default=0.0,
        help="measure `rehearse watch` against --watch-nodes fake nodes for this long",
    )
    ap.add_argument("--watch-nodes", type=int, default=5, help="fake nodes for --watch-minutes")
    ap.add_argument(
        "--watch-prodsim",
        action="store_true",
        help="--watch-minutes beside the real five-node prod-sim instead of fake nodes",
    )
    ap.add_argument(
        "--stall-reps",
        type=int,
        default=0,
        help="measure stop-of-blocks -> stall notification this many times (fake nodes)",
    )
    ap.add_argument(
        "--first-run",
        action="store_true",
        help="time the first `make rehearse` on a fresh clone: Go build, images, rehearsal",
    )
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument(
        "--keep", type=Path, default=None, help="keep each rehearsal's directory under this one"
    )
    args = ap.parse_args()

    if not args.skip_synthetic:
        p50, p99 = synthetic_reaction()
        print(f"synthetic observer path per NewBlock: median {p50:.4f} ms, p99 {p99:.4f} ms")
    rows = []
    for i in range(0 if args.skip_rehearsal else args.runs):
        if args.keep is not None:
            d = args.keep / f"run{i + 1}"
            d.mkdir(parents=True, exist_ok=False)
            r = one_rehearsal(d)
        else:
            with tempfile.TemporaryDirectory(prefix="rh-bench-") as t:
                r = one_rehearsal(Path(t))
        rows.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in r.items()))
    if rows:
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print("median over runs: " + ", ".join(f"{k}={v:.2f}" for k, v in med.items()))
    if args.watch_minutes > 0 and args.watch_prodsim:
        with tempfile.TemporaryDirectory(prefix="rh-bench-w-") as d:
            w = watch_footprint(Path(d), args.watch_minutes)
        print("watch (prod-sim): " + ", ".join(f"{k}={v:.2f}" for k, v in w.items()))
    elif args.watch_minutes > 0:
        with tempfile.TemporaryDirectory(prefix="rh-bench-w-") as d:
            w = watch_fake(Path(d), args.watch_nodes, args.watch_minutes)
        print("watch (fake nodes): " + ", ".join(f"{k}={v:.2f}" for k, v in w.items()))
    if args.stall_reps > 0:
        with tempfile.TemporaryDirectory(prefix="rh-bench-s-") as d:
            s = stall_to_alert(Path(d), args.stall_reps)
        print("stall to alert: " + ", ".join(f"{k}={v:.2f}" for k, v in s.items()))
    if args.first_run:
        f = first_run()
        print("first `make rehearse`: " + ", ".join(f"{k}={v:.1f}" for k, v in f.items()))


if __name__ == "__main__":
    main()
