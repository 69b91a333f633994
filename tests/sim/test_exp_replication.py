"""The ``replication-throughput`` experiment at small scale: checks pass, files are real, seeded."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from chordial.sim import exp_replication
from chordial.sim.experiments import Experiment, ExperimentResult, read_csv_rows


def test_small_scale_passes_its_checks(tmp_path: Path) -> None:
    experiment = exp_replication.REPLICATION_THROUGHPUT
    assert isinstance(experiment, Experiment)
    assert experiment.name == "replication-throughput" and experiment.description
    result = experiment.run("small", 0, tmp_path)
    assert isinstance(result, ExperimentResult)
    failed = [str(check) for check in result.checks if not check.passed]
    assert result.checks and not failed, "\n".join(failed)
    assert result.seconds < 20
    assert result.summary and all(isinstance(line, str) and line for line in result.summary)

    assert result.csv_path == tmp_path / "replication-throughput.csv"
    assert result.csv_path.read_text().startswith("# ")
    rows = read_csv_rows(result.csv_path)
    assert len(rows) == len(exp_replication.KS) * 2 * 2  # k × mode × (put, get), virtual world only
    for row in rows:
        assert row["part"].startswith("virtual ")
        assert all(math.isfinite(float(value)) for key, value in row.items() if key != "part")
    by = {(row["part"], int(row["k"])): row for row in rows}
    for k in exp_replication.KS:
        lin, ev = by[("virtual linearizable put", k)], by[("virtual eventual put", k)]
        assert float(lin["replicate_per_op"]) == float(ev["replicate_per_op"]) == k - 1
        for op in ("put", "get"):
            for mode in ("linearizable", "eventual"):
                done = by[(f"virtual {mode} {op}", k)]
                assert int(done["ok"]) == int(done["ops"]), (mode, op, k)
    slow, fast = by[("virtual linearizable put", 5)], by[("virtual eventual put", 5)]
    assert float(slow["lat_mean_ms"]) > float(fast["lat_p99_ms"])  # four round trips up and down the chain

    png = result.png_path.read_bytes()
    assert result.png_path == tmp_path / "replication-throughput.png"
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30_000


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    first = exp_replication.virtual_rows(3, "linearizable", 16, 50, 10.0, seed=5)
    again = exp_replication.virtual_rows(3, "linearizable", 16, 50, 10.0, seed=5)
    other = exp_replication.virtual_rows(3, "linearizable", 16, 50, 10.0, seed=6)
    assert first == again
    assert first != other


def test_imports_in_either_order() -> None:
    """The experiments registry may import this module while it is itself being imported."""
    for first, second in (("exp_replication", "experiments"), ("experiments", "exp_replication")):
        code = (
            f"import chordial.sim.{first}, chordial.sim.{second}; "
            "from chordial.sim.exp_replication import REPLICATION_THROUGHPUT as e; "
            "from chordial.sim.experiments import Experiment; assert isinstance(e, Experiment)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
