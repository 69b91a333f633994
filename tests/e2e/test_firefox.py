"""The web client in Firefox, driven over WebDriver BiDi (Firefox's own remote protocol;
Playwright needs a patched Firefox build that cannot be downloaded here). Runs when Debian's
``firefox-esr`` is installed (``apt-get install firefox-esr``), else skips: against the real
conductor, a 200-node virtual ring must be drawn on the canvas and a get answered with its path."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from .conftest import ARTIFACTS, Conductor, free_port

pytestmark = pytest.mark.timeout(120)

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")

# Node-coloured pixels of the ring canvas (live nodes are shades of blue).
BLUE_PIXELS = """(() => {
  const c = document.querySelector('[data-testid=ring-canvas]');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] >= 25 && d[i] <= 190 && d[i+1] >= 50 && d[i+1] <= 225 && d[i+2] >= 125) n++;
  }
  return n;
})()"""


class Bidi:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == ident:
                if message.get("type") == "error":
                    raise AssertionError(f"{method}: {message.get('error')}: {message.get('message')}")
                result: dict[str, Any] = message["result"]
                return result

    async def evaluate(self, context: str, expression: str) -> Any:
        result = await self.command(
            "script.evaluate",
            {"expression": expression, "target": {"context": context}, "awaitPromise": True},
        )
        if result.get("type") == "exception":
            raise AssertionError(f"{expression[:60]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def wait_for(self, context: str, expression: str, timeout: float = 20.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(context, expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.2)


@asynccontextmanager
async def firefox() -> AsyncIterator[Bidi]:
    assert FIREFOX is not None
    port = free_port()
    profile = tempfile.mkdtemp(prefix="chordial-ff-")
    home = tempfile.mkdtemp(prefix="chordial-ff-home-")
    env = dict(os.environ, HOME=home, MOZ_HEADLESS="1")
    proc = subprocess.Popen(
        [FIREFOX, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ws: ClientConnection | None = None
        for _ in range(100):
            try:
                ws = await connect(f"ws://127.0.0.1:{port}/session", max_size=64 << 20)
                break
            except OSError:
                await asyncio.sleep(0.3)
        assert ws is not None, "Firefox did not open its WebDriver BiDi port"
        try:
            bidi = Bidi(ws)
            await bidi.command("session.new", {"capabilities": {}})
            yield bidi
        finally:
            await ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(FIREFOX is None, reason="Firefox is not installed (apt-get install firefox-esr)")
async def test_firefox_draws_the_ring(conductor: Conductor) -> None:
    request = urllib.request.Request(
        conductor.url + "/api/sim",
        data=json.dumps({"world": "virtual", "nodes": 200, "workload_rate": 5}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=60).read())
    async with firefox() as ff:
        tree = await ff.command("browsingContext.getTree", {})
        context: str = tree["contexts"][0]["context"]
        await ff.command(
            "browsingContext.setViewport", {"context": context, "viewport": {"width": 1500, "height": 900}}
        )
        await ff.command(
            "browsingContext.navigate", {"context": context, "url": conductor.url + "/", "wait": "complete"}
        )
        await ff.wait_for(context, "window.chordial?.store.ui.conn === 'open'")
        await ff.wait_for(context, "window.chordial.store.chord.nodes.size === 200")
        await ff.wait_for(context, "window.chordial.renderer.stats.frames > 3")
        assert await ff.wait_for(context, f"{BLUE_PIXELS} > 2000 && {BLUE_PIXELS}")
        answer = await ff.evaluate(
            context, "window.chordial.conn.command('get', {key: 'apple'}).then((d) => JSON.stringify(d))"
        )
        data = json.loads(answer)
        assert data["key"] == "apple" and len(data["path"]) >= 1, data
        shot = await ff.command("browsingContext.captureScreenshot", {"context": context})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "firefox-ring.png").write_bytes(base64.b64decode(shot["data"]))
