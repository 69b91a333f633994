"""Fixtures: a real conductor (uvicorn on 127.0.0.1, a free port) and a websocket "browser".

Every message the browser receives is validated against the protocol models, so each test also
checks that what the conductor sends is what ``web/src/protocol.ts`` describes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from chordial.conductor.app import create_app
from chordial.conductor.protocol import SERVER_MESSAGE
from chordial.conductor.session import Session

Message = dict[str, Any]


@dataclass
class Conductor:
    url: str
    ws_url: str
    session: Session
    http: httpx.AsyncClient


class Browser:
    """A websocket client that keeps every message it got and validates each one."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[Message] = []
        self._counter = 0

    async def recv(self, timeout: float = 10.0) -> Message:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str)
        SERVER_MESSAGE.validate_json(text)
        message: Message = json.loads(text)
        assert message["v"] == 1
        self.messages.append(message)
        return message

    async def until(self, predicate: Callable[[Message], bool], timeout: float = 15.0) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [m["type"] for m in self.messages[-20:]]
                raise AssertionError(f"no matching message within {timeout} s; last: {kinds}")
            message = await self.recv(left)
            if predicate(message):
                return message

    async def send(self, payload: Any) -> None:
        await self.ws.send(payload if isinstance(payload, str) else json.dumps(payload))

    async def command(self, action: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Message:
        """Send a command and wait for its result."""
        self._counter += 1
        request_id = f"r{self._counter}"
        await self.send({"type": "command", "v": 1, "request_id": request_id, "action": action, "args": args or {}})
        return await self.until(lambda m: m["type"] == "result" and m["request_id"] == request_id, timeout)

    async def ok(self, action: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        result = await self.command(action, args, timeout)
        assert result["ok"], result["error"]
        return result["data"]


@pytest.fixture
async def conductor() -> AsyncIterator[Conductor]:
    session = Session()
    app = create_app(session, web_dist=None)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        yield Conductor(url, f"ws://127.0.0.1:{port}/ws", session, http)
    server.should_exit = True
    await asyncio.wait_for(task, 20)


@pytest.fixture
async def browser(conductor: Conductor) -> AsyncIterator[Browser]:
    async with connect(conductor.ws_url, max_size=None, open_timeout=10, close_timeout=1) as ws:
        yield Browser(ws)
