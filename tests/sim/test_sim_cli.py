"""``chordial sim run`` and ``chordial sim experiment`` as a user runs them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chordial.cli import run as cli_run
from chordial.sim.cli import RunSpec, build_run

SMALL = ("--nodes", "20", "--duration", "60", "--id-bits", "32", "--stabilize", "5", "--fix-fingers", "5")


def sim_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chordial", "sim", *args], capture_output=True, text=True, timeout=60)


def test_run_prints_a_summary() -> None:
    done = sim_cli("run", *SMALL, "--workload-rate", "2", "--mix", "lookup=1,get=1,put=1", "--check-invariants", "5")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = done.stdout
    for heading in ("run", "workload lookups", "ring", "messages", "right successors", "invariant checks"):
        assert heading in out, heading
    assert "replay: chordial sim run --nodes 20 --seed 0 --duration 60.0" in out


def test_run_json() -> None:
    done = sim_cli("run", *SMALL, "--seed", "3", "--workload-rate", "4", "--check-invariants", "5", "--json")
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    assert summary["seed"] == 3
    assert summary["virtual_seconds"] == 60.0
    assert summary["nodes"] == {"live": 20, "started": 20, "stopped": 0, "joining": 0}
    lookups = summary["lookups"]
    assert lookups["ok"] == lookups["total"] > 100 and lookups["failed"] == lookups["wrong_owner"] == 0
    assert sum(lookups["hops"]["histogram"].values()) == lookups["ok"]
    assert lookups["hops"]["p1"] <= lookups["hops"]["mean"] <= lookups["hops"]["p99"]
    assert summary["ring"]["successors"] == summary["ring"]["predecessors"] == 1.0 and summary["ring"]["ideal"]
    assert summary["invariants"]["checks"] == 12 and summary["invariants"]["checks_with_violations"] == 0
    assert summary["messages"]["by_type"]["FindStep"] > 0
    assert summary["simulator"]["scheduler_events"] > 0 and summary["simulator"]["virtual_per_wall"] > 1
    assert summary["command"].startswith("chordial sim run --nodes 20 --seed 3")


def test_run_from_joins_with_a_dataset_file(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"key": f"k{i}", "value": f"v{i}"}) + "\n" for i in range(50)))
    done = sim_cli(
        "run", *SMALL, "--start", "joins", "--duration", "120", "--workload-rate", "2", "--mix", "get=1",
        "--dataset", str(data), "--popularity", "zipf", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["nodes"]["live"] == 20
    assert summary["workload"]["dataset"] == {"source": str(data), "keys": 50, "preloaded": 50}
    assert summary["keys_per_node"]["total"] == 50


def test_run_with_replication_options() -> None:
    args = ("run", *SMALL, "--workload-rate", "2", "--mix", "get=1,put=1")
    done = sim_cli(*args, "--replicas", "5", "--consistency", "eventual", "--repair-period", "10", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["replication"] == {"replicas": 5, "consistency": "eventual", "repair_period": 10.0}
    assert "--replicas 5 --consistency eventual --repair-period 10.0" in summary["command"]
    assert summary["messages"]["by_type"]["Replicate"] > 0
    text = sim_cli(*args)
    assert text.returncode == 0, text.stderr
    assert "k = 3, linearizable, repair every 30 s" in text.stdout
    off = sim_cli("run", *SMALL, "--replicas", "1", "--json")
    assert json.loads(off.stdout)["replication"]["replicas"] == 1
    assert "off (k = 1)" in sim_cli("run", *SMALL, "--replicas", "1").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--replicas", "0"), "--replicas must be at least 1, got 0"),
        (("--replicas", "6"), "--replicas 6 needs --successors of at least 5, got 4"),
        (("--consistency", "strong"), "--consistency must be one of linearizable, eventual, got 'strong'"),
        (("--repair-period", "0"), "--repair-period must be positive"),
        (("--nodes", "0"), "--nodes must be at least 1"),
        (("--latency", "fast"), "--latency must be one of constant, uniform, wan"),
        (("--loss", "1.5"), "--loss must be in [0, 1)"),
        (("--join-rate", "1"), "need --churn poisson"),
        (("--workload-rate", "1", "--mix", "scan=1"), "--mix: expected op=weight"),
        (("--workload-rate", "1", "--dataset", "/no/such/file.txt"), "no such file"),
        (("--stabilize", "0"), "--stabilize must be positive"),
        (("--nodes", "many"), "'--nodes'"),
        (("--events-out", "/no/such/dir/events.jsonl"), "--events-out: cannot write"),
    ],
)
def test_bad_parameters_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    done = sim_cli("run", "--duration", "1", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_replay_command_round_trips() -> None:
    spec = RunSpec(nodes=7, seed=9, duration=12.5, latency="wan", churn="poisson", crash_rate=0.5, safe_failures=True)
    words = spec.command().split()
    assert words[:3] == ["chordial", "sim", "run"]
    assert "--safe-failures" in words and "--crash-rate" in words and "--id-bits" not in words


def test_cli_digest_matches_the_simulation_digest() -> None:
    spec = RunSpec(nodes=15, duration=40.0, id_bits=32, stabilize=5.0, churn="poisson", join_rate=0.1, crash_rate=0.1)
    run = build_run(spec, record_events=True)
    run.run()
    assert run.event_count == len(run.sim.events) > 0
    assert run.digest() == run.sim.digest()


# ------------------------------------------------------------------------------------------ experiments


@dataclass
class FakeCheck:
    name: str
    measured: float
    reference: float
    tolerance: float
    passed: bool


@dataclass
class FakeResult:
    name: str
    csv_path: Path
    png_path: Path
    summary: list[str]
    checks: list[FakeCheck] = field(default_factory=list)


@dataclass
class FakeExperiment:
    description: str
    passes: bool
    calls: list[tuple[str, int, Path]] = field(default_factory=list)

    def run(self, scale: str, seed: int, out_dir: Path) -> FakeResult:
        self.calls.append((scale, seed, out_dir))
        csv, png = out_dir / "fake.csv", out_dir / "fake.png"
        csv.write_text("x,y\n1,2\n")
        png.write_bytes(b"\x89PNG")
        check = FakeCheck("mean hops", 3.1, 3.0, 0.5, self.passes)
        return FakeResult("fake", csv, png, ["mean hops 3.1 (paper: 3.0)"], [check])


@pytest.fixture
def fake_experiments(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeExperiment]:
    registry = {"good": FakeExperiment("always passes", True), "bad": FakeExperiment("always fails", False)}
    module = types.ModuleType("chordial.sim.experiments")
    module.EXPERIMENTS = registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chordial.sim.experiments", module)
    return registry


def test_experiment_list(fake_experiments: dict[str, FakeExperiment], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["sim", "experiment", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["bad   always fails", "good  always passes"]


def test_experiment_exit_codes(
    fake_experiments: dict[str, FakeExperiment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli_run(["sim", "experiment", "good", "--scale", "paper", "--seed", "4", "--out", str(tmp_path)]) == 0
    assert fake_experiments["good"].calls == [("paper", 4, tmp_path)]
    out = capsys.readouterr().out
    assert "mean hops 3.1 (paper: 3.0)" in out and "pass" in out and "1/1 checks passed" in out
    assert str(tmp_path / "fake.csv") in out
    assert cli_run(["sim", "experiment", "bad", "--out", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "error: unknown experiment 'nope'; known: bad, good"),
        ([], "error: name an experiment, or --list; known: bad, good"),
        (["good", "--scale", "huge"], "error: --scale must be small or paper, got 'huge'"),
    ],
)
def test_experiment_bad_input(
    fake_experiments: dict[str, FakeExperiment], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli_run(["sim", "experiment", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message]


@pytest.mark.skipif(importlib.util.find_spec("chordial.sim.experiments") is None, reason="no experiments module yet")
def test_real_experiment_list_and_unknown_name() -> None:
    listed = sim_cli("experiment", "--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip()
    unknown = sim_cli("experiment", "no-such-experiment")
    assert unknown.returncode == 2
    assert len(unknown.stderr.splitlines()) == 1 and "known:" in unknown.stderr
