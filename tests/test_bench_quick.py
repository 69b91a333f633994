"""The issue 6 benchmarks still run: ``bench/ceiling.py --quick`` end to end (both carriers, a
small ring, the route cache), as a smoke test; the full runs are ``make bench``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ceiling_quick_runs_and_prints_its_ratios() -> None:
    result = subprocess.run(
        [sys.executable, "bench/ceiling.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for row in ("tcp ceiling seq", "grpc ceiling c32", "cached-route get c32", "routed get seq"):
        assert row in result.stdout
    assert "cached get =" in result.stdout and "of the tcp ceiling" in result.stdout
