"""Same seed, same run: event for event, figure for figure, byte for byte on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chordial.core.config import ChordConfig
from chordial.sim import LatencyModel, Simulation
from chordial.sim.metrics import summarize
from chordial.sim.models import PoissonChurn, Workload

WALL_CLOCK = ("wall_seconds", "events_per_second", "virtual_per_wall")


def churny(seed: int) -> tuple[Simulation, dict[str, Any]]:
    config = ChordConfig(
        id_bits=64,
        successors=4,
        stabilize_period=5.0,
        fix_fingers_period=5.0,
        check_predecessor_period=5.0,
        rpc_timeout=0.5,
    )
    sim = Simulation(config, seed=seed, latency=LatencyModel.wan(), loss=0.01)
    sim.build_ideal(40)
    churn = PoissonChurn(sim, join_rate=0.1, leave_rate=0.05, crash_rate=0.05, min_nodes=20)
    load = Workload(sim, 4.0, {"lookup": 2, "get": 2, "put": 1, "delete": 0.2}, "zipf", preload=True)
    sim.check_every(10.0)
    sim.run(300)
    summary = summarize(sim, load, wall_seconds=1.0, churn=churn)
    for name in WALL_CLOCK:
        summary["simulator"].pop(name)
    assert churn.counts["crash"] and churn.counts["leave"] and churn.counts["join"], churn.counts
    return sim, summary


def test_same_seed_same_run() -> None:
    first, first_summary = churny(11)
    second, second_summary = churny(11)
    assert first.digest() == second.digest()
    assert len(first.events) == len(second.events) > 1000
    assert first.scheduler.events_run == second.scheduler.events_run
    assert json.dumps(first_summary, sort_keys=True) == json.dumps(second_summary, sort_keys=True)
    assert first_summary["workload"]["issued"] > 1000
    assert first_summary["messages"]["dropped"] > 0  # the 1% loss did something


def test_other_seed_other_run() -> None:
    one, one_summary = churny(11)
    other, other_summary = churny(12)
    assert one.digest() != other.digest()
    assert one_summary != other_summary


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chordial", "sim", "run", *args], capture_output=True, text=True, timeout=60
    )


def test_events_out_is_byte_identical(tmp_path: Path) -> None:
    args = (
        "--nodes", "30", "--seed", "5", "--duration", "200", "--id-bits", "32", "--stabilize", "5",
        "--fix-fingers", "5", "--check-predecessor", "5", "--latency", "wan", "--loss", "0.01",
        "--churn", "poisson", "--join-rate", "0.05", "--leave-rate", "0.03", "--crash-rate", "0.03",
        "--workload-rate", "2", "--mix", "lookup=1,get=1,put=1", "--json",
    )  # fmt: skip
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        done = run_cli(*args, "--events-out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        outs.append(json.loads(done.stdout))
    a, b = (tmp_path / "a.jsonl").read_bytes(), (tmp_path / "b.jsonl").read_bytes()
    assert a == b
    lines = a.decode().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "chordial-sim-events" and header["seed"] == 5
    assert header["params"]["crash_rate"] == 0.03
    assert header["command"].startswith("chordial sim run --nodes 30 --seed 5")
    events = [json.loads(line) for line in lines[1:]]
    assert len(events) == outs[0]["simulator"]["recorded_events"] > 100
    assert {"kind", "time", "node"} <= set(events[0])
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert outs[0]["digest"] == outs[1]["digest"]
    # The header's command replays the run: same digest.
    replay = run_cli(*header["command"].split()[3:], "--json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["digest"] == outs[0]["digest"]
