"""Browser end-to-end fixtures: the real conductor as a subprocess, Debian's chromium through
Python Playwright, and helpers that read what the page actually drew (canvas pixels).

Chromium comes from Debian (``make test`` installs it; ``npx playwright install`` downloads a
browser build and cannot work here). The web client must be built (``make web``). When chromium
is missing and cannot be installed, or the client is not built, the tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = ROOT / "web" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1500, "height": 900}


def _install_chromium() -> str | None:
    """Try Debian's package (root only); None when it worked, else why not."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium is not installed and apt-get is not available to root here (make chromium)"
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, timeout=600, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"chromium is not installed and could not be installed: {exc}"
    return None if CHROMIUM.exists() else "apt-get installed no /usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    reason = _install_chromium()
    if reason is not None:
        pytest.skip(reason)
    if not (WEB_DIST / "index.html").is_file():
        pytest.skip("the web client is not built: run `make web` (make test does)")
    return str(CHROMIUM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Conductor:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())


def start_conductor(port: int, log: Path) -> Conductor:
    """``chordial conductor --port PORT`` as a subprocess, serving the built client; waits for it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chordial", "conductor", "--port", str(port), "--web-dist", str(WEB_DIST)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    conductor = Conductor(f"http://127.0.0.1:{port}", port, proc, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the conductor exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            conductor.get_json("/api/state")
            return conductor
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    stop_conductor(conductor)
    raise RuntimeError(f"the conductor did not answer within 30 s:\n{log.read_text(errors='replace')}")


def stop_conductor(conductor: Conductor) -> None:
    """Ctrl-C first (it stops the simulation and its workers), then the whole process group."""
    proc = conductor.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # Nothing the conductor started may outlive it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def conductor() -> Iterator[Conductor]:
    c = start_conductor(free_port(), ARTIFACTS / "conductor.log")
    try:
        yield c
    finally:
        stop_conductor(c)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page: Page, name: str, element: Locator | None = None) -> Path:
    """Save a screenshot under test-artifacts/e2e/ (kept after the run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if element is not None:
        element.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))
    return path


# In-page pixel readers: what the canvas really shows, in device pixels.
PIXELS_JS = """
([cssPoints, radius, rgbMin, rgbMax]) => {
  const canvas = document.querySelector('[data-testid=ring-canvas]');
  const ctx = canvas.getContext('2d');
  const rect = canvas.getBoundingClientRect();
  const sx = canvas.width / rect.width, sy = canvas.height / rect.height;
  const inRange = (d, i) => d[i] >= rgbMin[0] && d[i] <= rgbMax[0] && d[i+1] >= rgbMin[1] && d[i+1] <= rgbMax[1]
    && d[i+2] >= rgbMin[2] && d[i+2] <= rgbMax[2];
  if (cssPoints === null) {
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (inRange(d, i)) n++;
    return [n];
  }
  return cssPoints.map(([x, y]) => {
    const px = Math.round((x - rect.left) * sx), py = Math.round((y - rect.top) * sy);
    const r = Math.ceil(radius * sx);
    const d = ctx.getImageData(px - r, py - r, 2 * r + 1, 2 * r + 1).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (inRange(d, i)) n++;
    return n;
  });
}
"""


def count_pixels(
    page: Page,
    rgb_min: tuple[int, int, int],
    rgb_max: tuple[int, int, int],
    points: list[tuple[float, float]] | None = None,
    radius: float = 4,
) -> list[int]:
    """Pixels of the ring canvas within a colour box: over the whole canvas (points None) or
    in a square of ``radius`` CSS pixels around each point (page coordinates)."""
    pts = None if points is None else [[x, y] for x, y in points]
    result: list[int] = page.evaluate(PIXELS_JS, [pts, radius, list(rgb_min), list(rgb_max)])
    return result
