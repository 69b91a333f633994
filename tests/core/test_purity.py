"""The core stays sans-IO: no asyncio, sockets, gRPC, clocks or module-level random.

The brief's central decision: the same core runs under the asyncio runtime and the simulator.
One stray ``time.monotonic()`` or ``random.random()`` would break the simulator's determinism.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import chordial.core

CORE = Path(chordial.core.__file__).parent
FORBIDDEN = {"asyncio", "grpc", "socket", "selectors", "time", "threading", "datetime", "os", "uvloop", "ssl"}


def imports_of(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, tuple(a.name for a in node.names)))
    return found


def test_core_imports_nothing_that_does_io_or_reads_clocks() -> None:
    offences = []
    for path in sorted(CORE.glob("*.py")):
        for module, names in imports_of(path):
            top = module.split(".")[0]
            if top in FORBIDDEN:
                offences.append(f"{path.name}: {module}")
            if top == "random" and set(names) != {"Random"}:
                offences.append(f"{path.name}: random {names or '(module)'} — take a seeded Random instead")
            if top == "chordial" and not module.startswith("chordial.core"):
                offences.append(f"{path.name}: {module}")
    assert offences == []


def test_importing_the_core_loads_no_io_module() -> None:
    probe = "import sys, chordial.core.node, chordial.core.invariants; print(','.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split(",")
    )
    assert not loaded & {"asyncio", "grpc", "socket", "chordial.runtime", "chordial.transport"}


def test_the_checker_notices_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom random import random\n")
    assert [m for m, _ in imports_of(bad)] == ["time", "random"]
