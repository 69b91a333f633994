"""The papers' figures reproduced at small scale: every check passes, the files are real."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from chordial.sim.experiments import EXPERIMENTS, Check, Experiment, ExperimentResult, read_csv_rows

# rows each small-scale CSV holds: N = 2^3…2^10; ten key counts + five virtual-node settings;
# p = 0…0.5; two churn rates; two modes × (all reads + six read-delay bins)
EXPECTED_ROWS = {
    "path-length": 8,
    "load-balance": 15,
    "mass-failure": 6,
    "churn": 2,
    "staleness": 14,
    "replication-throughput": 12,
}
LOOKUP_EXPERIMENTS = {"path-length", "mass-failure", "churn"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_registry_names_and_descriptions() -> None:
    assert set(EXPERIMENTS) == set(EXPECTED_ROWS)
    for name, experiment in EXPERIMENTS.items():
        assert isinstance(experiment, Experiment)
        assert experiment.name == name
        assert experiment.description


def test_unknown_scale_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        EXPERIMENTS["path-length"].run("huge", 0, tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_small_scale_reproduces_the_paper(name: str, tmp_path: Path) -> None:
    result = EXPERIMENTS[name].run("small", 0, tmp_path / name)
    assert isinstance(result, ExperimentResult)
    assert result.name == name

    failed = [str(check) for check in result.checks if not check.passed]
    assert result.checks and not failed, "\n".join(failed)
    assert result.passed
    assert result.summary and all(isinstance(line, str) and line for line in result.summary)

    assert result.csv_path == tmp_path / name / f"{name}.csv"
    text = result.csv_path.read_text()
    assert text.startswith("# "), "the CSV starts with comment lines saying what is counted"
    if name in LOOKUP_EXPERIMENTS:
        assert "hops - 1" in text, "lookup experiments say which hop count they report"
    rows = read_csv_rows(result.csv_path)
    assert len(rows) == EXPECTED_ROWS[name]
    for row in rows:
        assert all(value != "" for value in row.values())
        numbers = [float(value) for key, value in row.items() if key != "part"]
        assert all(math.isfinite(number) for number in numbers)

    assert result.png_path == tmp_path / name / f"{name}.png"
    width, height = _png_size(result.png_path)
    assert width >= 800 and height >= 500
    assert result.png_path.stat().st_size > 30_000, "a plot with curves, labels and a legend is not tiny"


def test_path_length_rows_follow_the_reference(tmp_path: Path) -> None:
    result = EXPERIMENTS["path-length"].run("small", 3, tmp_path)
    rows = read_csv_rows(result.csv_path)
    assert [int(row["nodes"]) for row in rows] == [1 << k for k in range(3, 11)]
    for row in rows:
        # the paper's count is Chordial's hops − 1 (origin-owned keys aside), and r = 1 is what makes it comparable
        assert float(row["hops_mean"]) > float(row["fingers_mean"])
        assert float(row["default_r_fingers_mean"]) < float(row["fingers_mean"])
        assert abs(float(row["diff"])) <= 0.25


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path: Path) -> None:
    experiment = EXPERIMENTS["load-balance"]
    first = experiment.run("small", 7, tmp_path / "a").csv_path.read_text()
    again = experiment.run("small", 7, tmp_path / "b").csv_path.read_text()
    other = experiment.run("small", 8, tmp_path / "c").csv_path.read_text()
    assert first == again
    assert first != other


def test_check_rules() -> None:
    assert Check.within("x", 1.2, 1.0, 0.25).passed
    assert not Check.within("x", 1.3, 1.0, 0.25).passed
    assert Check.at_most("y", 0.01, 0.0, 0.01).passed
    assert not Check.at_most("y", 0.02, 0.0, 0.01).passed
    assert "FAIL" in str(Check.at_most("y", 0.02, 0.0, 0.01))


def test_staleness_rows_and_same_seed_same_numbers(tmp_path: Path) -> None:
    first = EXPERIMENTS["staleness"].run("small", 2, tmp_path / "a")
    again = EXPERIMENTS["staleness"].run("small", 2, tmp_path / "b")
    assert first.csv_path.read_text() == again.csv_path.read_text()
    rows = read_csv_rows(first.csv_path)
    assert [row["part"] for row in rows] == ["linearizable"] * 7 + ["eventual"] * 7
    for mode in ("linearizable", "eventual"):
        overall, *bins = [row for row in rows if row["part"] == mode]
        assert overall["all_delays"] == "1" and all(row["all_delays"] == "0" for row in bins)
        # the bins split the reads that follow an acknowledged write
        assert sum(int(row["reads"]) for row in bins) <= int(overall["reads"])
        assert int(overall["fresh"]) + int(overall["stale"]) == int(overall["reads"])
    lin = next(row for row in rows if row["part"] == "linearizable")
    assert float(lin["fresh_fraction"]) == 1.0 and lin["stale"] == "0" and lin["history_linearizable"] == "1"
