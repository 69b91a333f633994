"""The web client in a real browser against the real conductor (virtual world, 200 nodes):
the ring is drawn (read back from the canvas pixels), a node crashed from the UI is marked,
a get from the key box draws its lookup path, the inspector shows the finger table, the
classroom view works on a 6-bit ring, and the page reconnects when the conductor comes back.
Screenshots land in test-artifacts/e2e/."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page

from .conftest import ARTIFACTS, VIEWPORT, Conductor, count_pixels, free_port, shot, start_conductor, stop_conductor

pytestmark = pytest.mark.timeout(180)

BG = ((0, 0, 0), (40, 45, 70))  # the canvas background (#0f172a) and anything as dark
NODE_BLUE = ((25, 50, 125), (190, 225, 255))  # live nodes, light (#93c5fd) to dark (#1e3a8a) blue by key load
CRASH_RED = ((200, 50, 50), (255, 210, 210))  # crashed nodes (#ef4444) and their cross (#fecaca)
PATH_PINK = ((215, 140, 225), (255, 200, 255))  # the key box's lookup path (#f0abfc)


ERRORS: dict[int, list[str]] = {}


def page_errors(page: Page) -> list[str]:
    """Uncaught exceptions the page threw since it was opened."""
    return ERRORS.get(id(page), [])


LAST_PATH = "() => window.chordial.store.chord.paths.filter((p) => p.source === 'user').at(-1).path"


def open_page(browser: Browser, conductor: Conductor) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    errors: list[str] = []
    ERRORS[id(page)] = errors
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Nothing may be fetched from anywhere but the conductor (no CDN, no fonts, no analytics).
    local = (conductor.url, conductor.url.replace("http://", "ws://"), "data:")
    page.on("request", lambda req: None if req.url.startswith(local) else errors.append(f"external: {req.url}"))
    page.goto(conductor.url + "/")
    page.wait_for_selector("[data-testid=conn-status][data-state=open]", timeout=15_000)
    page.wait_for_function("() => window.chordial && window.chordial.store.chord.hasSnapshot", timeout=15_000)
    return page


def start_from_ui(page: Page, **params: str) -> None:
    """Fill the parameter form and press Start, as a person would."""
    page.wait_for_selector("[data-param=nodes] input")
    for name, value in params.items():
        field = page.locator(f"[data-param={name}] select")
        if field.count() > 0:
            field.select_option(value)
        else:
            page.fill(f"[data-param={name}] input", value)
    page.click("[data-testid=btn-start]")


def key_result(page: Page, prefix: str, timeout_ms: int = 15_000) -> str:
    """Wait for the key box's answer starting with ``prefix`` (or fail with the error toast)."""
    handle = page.wait_for_function(
        """(prefix) => {
          const text = document.querySelector('[data-testid=key-result]').textContent;
          if (text.startsWith(prefix)) return text;
          const toast = document.querySelector('[data-testid=toast].toast-error');
          return toast ? 'ERROR ' + toast.textContent : null;
        }""",
        arg=prefix,
        timeout=timeout_ms,
    )
    text = str(handle.json_value())
    assert not text.startswith("ERROR"), text
    return text


def act_on_node(page: Page, node: str, action: str, timeout_ms: int = 15_000) -> None:
    """Click ``node`` on the ring, press ``action`` (leave or crash), and wait until the node is
    no longer live (or gone from the view)."""
    x, y = point_of(page, node)
    page.mouse.click(x, y)
    page.wait_for_selector(f'[data-testid=node-actions][data-node="{node}"]')
    page.click(f"[data-testid=btn-{action}]")
    page.wait_for_function(
        "(id) => { const n = window.chordial.store.chord.nodes.get(id); return !n || n.state !== 'live'; }",
        arg=node,
        timeout=timeout_ms,
    )


def node_ids(page: Page, state: str | None = None) -> list[str]:
    ids: list[str] = page.evaluate(
        "(state) => [...window.chordial.store.chord.nodes.values()]"
        ".filter(n => state === null || n.state === state).map(n => n.id)",
        state,
    )
    return ids


def point_of(page: Page, node: str) -> tuple[float, float]:
    p = page.evaluate("(id) => window.chordial.screenPointOf(id)", node)
    assert p is not None, f"node {node} is not on the ring"
    return float(p["x"]), float(p["y"])


def wait_nodes(page: Page, count: int, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        "(n) => window.chordial.store.chord.status === 'running' && window.chordial.store.chord.nodes.size === n",
        arg=count,
        timeout=timeout_ms,
    )


def test_virtual_ring_crash_and_get(browser: Browser, conductor: Conductor) -> None:
    page = open_page(browser, conductor)
    try:
        check_virtual_ring(page)
    finally:
        shot(page, "virtual-last-state")
        page.close()


def check_virtual_ring(page: Page) -> None:
    start_from_ui(page, world="virtual", nodes="200", id_bits="32", workload_rate="5")
    wait_nodes(page, 200)
    page.wait_for_timeout(1500)  # a few deltas and frames

    # The ring is drawn: most of the canvas is background, but there is a ring of node-blue
    # pixels, and the pixels at the nodes' own positions are node-coloured.
    total = count_pixels(page, (0, 0, 0), (255, 255, 255))[0]
    blue = count_pixels(page, *NODE_BLUE)[0]
    assert blue > 2000, f"only {blue} node-coloured pixels of {total}"
    live = node_ids(page, "live")
    assert len(live) >= 190
    sample = live[:: max(1, len(live) // 40)]
    hits = count_pixels(page, *NODE_BLUE, points=[point_of(page, n) for n in sample], radius=2)
    # (a lookup animation may be passing over a few of them)
    assert sum(1 for h in hits if h > 0) >= 0.85 * len(sample), hits
    shot(page, "01-ring-200-nodes")

    # Crash a node from the UI: click it on the ring, then Crash.
    target = live[len(live) // 3]
    x, y = point_of(page, target)
    red_before = count_pixels(page, *CRASH_RED, points=[(x, y)], radius=8)[0]
    act_on_node(page, target, "crash")
    assert target in node_ids(page, "crashed")  # still shown, marked as crashed
    page.wait_for_timeout(300)
    red = count_pixels(page, *CRASH_RED, points=[point_of(page, target)], radius=8)[0]
    assert red >= red_before + 10, f"the crashed node is not marked red on the canvas ({red_before} → {red})"
    shot(page, "02-node-crashed")

    # The inspector shows the clicked node's finger table (from the `inspect` command).
    page.click("[data-testid=btn-inspect]")
    page.wait_for_selector("[data-testid=finger-table] tbody tr", timeout=15_000)
    assert page.text_content("[data-testid=inspector-id]") == target
    rows = page.locator("[data-testid=finger-table] tbody tr").count()
    assert rows >= 3
    page.click("[data-testid=inspector] button.close")

    # Put then get a key from the key box: the get's lookup path is drawn on the ring.
    before = count_pixels(page, *PATH_PINK)[0]  # no answer in the key box yet: no path
    page.fill("[data-testid=key-input]", "apple")
    page.fill("[data-testid=value-input]", '"red"')
    page.click("[data-testid=btn-put]")
    key_result(page, "put apple", 15_000)
    page.click("[data-testid=btn-get]")
    key_result(page, "get apple", 15_000)
    result = page.text_content("[data-testid=key-result]") or ""
    assert '= "red"' in result, result
    path: list[str] = page.evaluate(LAST_PATH)
    assert len(path) >= 1
    page.wait_for_timeout(450 * max(1, len(path) - 1) + 400)  # the animation draws hop by hop
    pink = count_pixels(page, *PATH_PINK)[0]
    assert pink > before + 40, f"no lookup path drawn ({before} → {pink} path pixels)"
    # Every node of the path is on the ring where the path passes.
    on_path = count_pixels(page, *PATH_PINK, points=[point_of(page, n) for n in path], radius=6)
    assert all(n > 0 for n in on_path), on_path
    shot(page, "03-get-lookup-path")

    # For the README: a stored key whose lookup takes several hops, drawn to its end.
    page.click("[data-testid=node-actions] button[title=deselect]")
    for key in ["banana", "cherry", "damson", "elder", "fig", "grape", "hazel", "kiwi", "lemon", "mango"]:
        page.fill("[data-testid=key-input]", key)
        page.fill("[data-testid=value-input]", f'"{key} pie"')
        page.click("[data-testid=btn-put]")
        key_result(page, f"put {key} (")
        page.click("[data-testid=btn-get]")
        key_result(page, f"get {key} (")
        hops: int = page.evaluate(LAST_PATH + ".length - 1")
        if hops >= 3:
            break
    page.wait_for_timeout(450 * hops + 300)
    shot(page, "03b-lookup-several-hops")
    shot(page, "ring-lookup-path", page.locator("main.ring"))

    # Inspector screenshot of the path's owner (for the README).
    owner = path[-1]
    ox, oy = point_of(page, owner)
    page.mouse.click(ox, oy)
    page.click("[data-testid=btn-inspect]")
    page.wait_for_function(
        "(id) => document.querySelector('[data-testid=inspector-id]')?.textContent === id", arg=owner, timeout=15_000
    )
    page.wait_for_selector("[data-testid=keys-held] tbody tr", timeout=15_000)
    shot(page, "04-inspector")

    # The activity log lists the crash; clicking it highlights the node (no page errors anywhere).
    page.fill("[data-testid=log-filter]", "crash")
    entry = page.locator("[data-testid=activity-log] li[data-kind=crashed]").first
    entry.wait_for(timeout=15_000)
    entry.click()
    assert page.evaluate("() => window.chordial.store.ui.highlight.length") >= 1
    charts = page.locator("[data-testid=charts] canvas").count()
    assert charts >= 4

    # Zoom with the wheel around a node: it moves away from the centre, and stays drawn where
    # the view says; a drag pans; a double-click resets.
    page.fill("[data-testid=log-filter]", "")
    node = node_ids(page, "live")[0]
    nx, ny = point_of(page, node)
    page.mouse.move(nx + 30, ny + 30)
    page.mouse.wheel(0, -600)
    page.wait_for_function("() => window.chordial.renderer.view.zoom > 2")
    zx, zy = point_of(page, node)
    assert abs(zx - nx) + abs(zy - ny) > 20, ((nx, ny), (zx, zy))
    page.wait_for_timeout(200)
    assert count_pixels(page, *NODE_BLUE, points=[(zx, zy)], radius=3)[0] > 0
    page.mouse.move(zx + 40, zy + 40)
    page.mouse.down()
    page.mouse.move(zx + 140, zy + 90, steps=5)
    page.mouse.up()
    px, py = point_of(page, node)
    assert abs(px - zx - 100) < 3 and abs(py - zy - 50) < 3, ((zx, zy), (px, py))
    page.mouse.dblclick(px + 40, py + 40)
    page.wait_for_function("() => window.chordial.renderer.view.zoom === 1")

    # A graceful leave from the UI.
    act_on_node(page, node_ids(page, "live")[5], "leave")
    assert page_errors(page) == []


def test_classroom_ring(browser: Browser, conductor: Conductor) -> None:
    """m = 6: every id position is a tick, fingers come with intervals, nodes join at a chosen id."""
    page = open_page(browser, conductor)
    start_from_ui(page, world="virtual", nodes="8", id_bits="6", workload_rate="0.5")
    wait_nodes(page, 8)
    page.wait_for_selector("[data-testid=teaching]:checked", timeout=5_000)  # on by itself for m ≤ 8
    ids = node_ids(page)
    free = next(str(i) for i in range(64) if str(i) not in ids)
    page.fill("[data-testid=add-node-id]", free)
    page.click("[data-testid=btn-add-node]")
    page.wait_for_function("(id) => window.chordial.store.chord.nodes.has(id)", arg=free, timeout=15_000)
    # Click an empty id tick on the ring, then "add a node here". Pick a slot with no node on
    # either side, so the click cannot land on a neighbour.
    taken = {int(i) for i in node_ids(page)}
    slot = next(i for i in range(64) if not {i - 1, i, i + 1} & taken and not {(i + 1) % 64, (i - 1) % 64} & taken)
    sx, sy = page.evaluate("(pos) => window.chordial.screenPointOfPos(pos)", slot / 64).values()
    page.mouse.click(sx, sy)
    page.click("[data-testid=btn-add-here]")
    page.wait_for_function("(id) => window.chordial.store.chord.nodes.has(id)", arg=str(slot), timeout=15_000)
    # Insert a key by id: the conductor names a key that hashes there, and the owner is the
    # first node at or after that id.
    page.fill("[data-testid=key-at-id]", "37")
    page.click("[data-testid=btn-put-at-id]")
    text = key_result(page, "put k")
    assert "(id 37)" in text, text
    # (a node that joined a moment ago may or may not have taken its range over yet)
    every = sorted(int(i) for i in node_ids(page))
    live = sorted(int(i) for i in node_ids(page, "live"))
    owners = {next((m for m in ids_ if m >= 37), ids_[0]) for ids_ in (every, live) if ids_}
    assert any(f"owner {o} " in text for o in owners), (text, owners)
    assert "hashes to id 37" in (page.text_content("[data-testid=key-id-hint]") or "")
    # Inspect the node holding most keys: its fingers start at n + 2^i.
    busiest: str = page.evaluate(
        "() => [...window.chordial.store.chord.nodes.values()].filter(n => n.state === 'live')"
        ".sort((a, b) => b.keys - a.keys)[0].id"
    )
    x, y = point_of(page, busiest)
    page.mouse.click(x, y)
    page.click("[data-testid=btn-inspect]")
    page.wait_for_selector("[data-testid=finger-table] tbody tr", timeout=15_000)
    starts = page.locator("[data-testid=finger-table] tbody tr td:nth-child(2)").all_text_contents()
    expected = [str((int(busiest) + 2**i) % 64) for i in range(6)]
    assert set(starts) <= set(expected) and starts, (starts, expected)

    # Pause, single-step (virtual time moves by one stabilize period), speed, resume.
    page.click("[data-testid=btn-pause]")
    page.wait_for_function("() => window.chordial.store.chord.status === 'paused'")
    before = float(page.evaluate("() => window.chordial.store.chord.time"))
    page.click("[data-testid=btn-step]")
    page.wait_for_function("(t) => window.chordial.store.chord.time >= t + 0.9", arg=before, timeout=10_000)
    page.select_option("[data-testid=speed]", "5")
    page.wait_for_function("() => String(window.chordial.store.chord.speed) === '5'", timeout=10_000)
    page.click("[data-testid=btn-pause]")  # now reads Resume
    page.wait_for_function("() => window.chordial.store.chord.status === 'running'")

    # A second page opened mid-run gets the charts from the start of the run (the CSV report).
    first: float = page.evaluate("() => window.chordial.store.chord.stats.time[0]")
    late = open_page(browser, conductor)
    try:
        late.wait_for_function(
            "(t) => { const s = window.chordial.store.chord.stats.time; return s.length > 0 && s[0] <= t + 1.5; }",
            arg=first,
            timeout=10_000,
        )
    finally:
        late.close()
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.wait_for_timeout(800)
    shot(page, "05-classroom-m6")
    shot(page, "node-inspector", page.locator("[data-testid=inspector]"))
    assert page_errors(page) == []
    page.close()


def test_reconnects_when_the_conductor_comes_back(browser: Browser, chromium_path: str) -> None:
    port = free_port()
    first = start_conductor(port, ARTIFACTS / "conductor-reconnect-1.log")
    page = None
    try:
        page = open_page(browser, first)
        stop_conductor(first)
        page.wait_for_selector("[data-testid=conn-status][data-state=closed]", timeout=15_000)
        second = start_conductor(port, ARTIFACTS / "conductor-reconnect-2.log")
        try:
            page.wait_for_selector("[data-testid=conn-status][data-state=open]", timeout=20_000)
            time.sleep(0.2)
            assert page.evaluate("() => window.chordial.store.chord.hasSnapshot")
        finally:
            stop_conductor(second)
    finally:
        stop_conductor(first)
        if page is not None:
            page.close()
