"""Speed of the ring renderer in the browser, on the page's offline benchmark (``?bench=N``: a
synthetic ring of N nodes with key load, crashed and joining nodes, fingers below 2,000 nodes, a
changed node and three lookup paths every 50 ms), redrawn every frame. The figures (frames per
second and the time one frame takes to draw) go to test-artifacts/e2e/render-speed.txt.

Frames per second depend on what else the machine runs, so the test holds the drawing cost to
the budgets instead: a 1,000-node frame must draw in well under a 30 fps frame (33 ms), a
10,000-node frame within it."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser

from .conftest import ARTIFACTS, VIEWPORT, Conductor, shot

pytestmark = pytest.mark.timeout(120)


def measure(browser: Browser, conductor: Conductor, nodes: int, seconds: float = 3.0) -> dict[str, float]:
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(f"{conductor.url}/?bench={nodes}")
        page.wait_for_function("(n) => window.chordial && window.chordial.renderer.stats.nodes === n", arg=nodes)
        page.wait_for_timeout(1000)  # warm up
        stats: dict[str, float] = page.evaluate(
            """async (ms) => {
              const s = window.chordial.renderer.stats;
              const f0 = s.frames, t0 = performance.now();
              await new Promise((r) => setTimeout(r, ms));
              return {
                fps: (s.frames - f0) * 1000 / (performance.now() - t0), drawMs: s.frameMs, updateMs: s.rebuildMs
              };
            }""",
            seconds * 1000,
        )
        shot(page, f"bench-{nodes}")
        return stats
    finally:
        page.close()


def test_frame_rate(browser: Browser, conductor: Conductor) -> None:
    results = {n: measure(browser, conductor, n) for n in (1000, 10000)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "render-speed.txt").write_text(json.dumps(results, indent=2) + "\n")
    print(results)
    assert results[1000]["fps"] > 0 and results[10000]["fps"] > 0, results
    assert results[1000]["drawMs"] < 10, results
    assert results[10000]["drawMs"] < 33, results
