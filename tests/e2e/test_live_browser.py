"""The web client on the live world: ~10 real node processes started by the conductor, watched
in the browser (drawn ring, a crash from the UI, a get's path), then stopped from the UI with
no process left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from .conftest import Conductor, count_pixels, shot
from .test_browser import (
    CRASH_RED,
    LAST_PATH,
    NODE_BLUE,
    PATH_PINK,
    act_on_node,
    key_result,
    node_ids,
    open_page,
    page_errors,
    point_of,
    start_from_ui,
)

pytestmark = pytest.mark.timeout(180)

NODES = 10


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_live_world(browser: Browser, conductor: Conductor) -> None:
    page = open_page(browser, conductor)
    start_from_ui(page, world="live", nodes=str(NODES), id_bits="32", workload_rate="2")
    page.wait_for_function(
        "(n) => { const c = window.chordial.store.chord; return c.world === 'live' && c.status === 'running'"
        " && [...c.nodes.values()].filter(v => v.state === 'live').length >= n; }",
        arg=NODES,
        timeout=90_000,
    )
    assert descendants(conductor.proc.pid), "the live world runs no worker process"
    page.wait_for_timeout(1000)
    live = node_ids(page, "live")
    hits = count_pixels(page, *NODE_BLUE, points=[point_of(page, n) for n in live], radius=3)
    assert all(h > 0 for h in hits), hits

    # A put and a get through the key box on real nodes; the path is drawn.
    page.fill("[data-testid=key-input]", "live-key")
    page.fill("[data-testid=value-input]", '"live-value"')
    page.click("[data-testid=btn-put]")
    key_result(page, "put live-key", 30_000)
    page.click("[data-testid=btn-get]")
    key_result(page, "get live-key", 30_000)
    assert '"live-value"' in (page.text_content("[data-testid=key-result]") or "")
    path: list[str] = page.evaluate(LAST_PATH)
    page.wait_for_timeout(450 * max(1, len(path) - 1) + 400)
    if len(path) > 1:
        assert count_pixels(page, *PATH_PINK)[0] > 40
    shot(page, "10-live-get")

    # Crash a real node process from the UI.
    target = live[len(live) // 2]
    act_on_node(page, target, "crash", 30_000)
    if target in node_ids(page, "crashed"):
        page.wait_for_timeout(300)
        assert count_pixels(page, *CRASH_RED, points=[point_of(page, target)], radius=8)[0] >= 10
    shot(page, "11-live-crash")

    # Stop from the UI: every node process ends.
    page.click("[data-testid=btn-stop]")
    page.wait_for_function("() => window.chordial.store.chord.status === 'stopped'", timeout=30_000)
    deadline = 20_000
    while descendants(conductor.proc.pid) and deadline > 0:
        page.wait_for_timeout(250)
        deadline -= 250
    left = descendants(conductor.proc.pid)
    assert left == [], f"processes left after stop: {[(p, _cmdline(p)) for p in left]}"
    assert page_errors(page) == []
    page.close()


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


assert os.name == "posix"
