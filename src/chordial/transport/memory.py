"""An in-process network for fast tests: calls are direct awaits, with real deadlines.

Nodes can be killed (calls to them fail like a crashed peer) and pairs of addresses cut,
after etcd raft's test ``network`` (drop, cut, isolate, recover).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from chordial.core.events import Event
from chordial.core.messages import Request, Response
from chordial.transport.base import Handler, TransportError, Unreachable, Watcher


class MemoryNetwork:
    """The shared medium of several :class:`MemoryTransport` endpoints."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.watchers: dict[str, Watcher] = {}
        self.cut_pairs: set[frozenset[str]] = set()
        self.calls = 0
        self._ports = itertools.count(1)

    def transport(self, local: str = "client") -> MemoryTransport:
        return MemoryTransport(self, local)

    def fresh_port(self) -> int:
        return next(self._ports)

    def kill(self, address: str) -> None:
        """Make ``address`` unreachable, as if its process died."""
        self.handlers.pop(address, None)
        self.watchers.pop(address, None)

    def cut(self, a: str, b: str) -> None:
        self.cut_pairs.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut_pairs.clear()


class _MemoryServer:
    def __init__(self, network: MemoryNetwork, address: str, handler: Handler) -> None:
        self.network = network
        self.address = address
        self.handler = handler

    async def stop(self) -> None:
        if self.network.handlers.get(self.address) is self.handler:
            self.network.kill(self.address)


class MemoryTransport:
    """One endpoint on a :class:`MemoryNetwork`; implements the Transport port."""

    def __init__(self, network: MemoryNetwork, local: str) -> None:
        self.network = network
        self.local = local

    async def call(self, address: str, request: Request, timeout: float) -> Response:
        net = self.network
        net.calls += 1
        handler = net.handlers.get(address)
        if handler is None or frozenset((self.local, address)) in net.cut_pairs:
            await asyncio.sleep(0)
            raise Unreachable(f"{address} unreachable")
        try:
            return await asyncio.wait_for(handler(request), timeout)
        except TimeoutError as exc:
            raise TransportError(f"{address} did not answer within {timeout:.3f}s") from exc

    async def serve(self, address: str, handler: Handler, watcher: Watcher | None = None) -> _MemoryServer:
        host, _, port = address.rpartition(":")
        if port == "0":
            address = f"{host}:{self.network.fresh_port()}"
        if address in self.network.handlers:
            raise OSError(f"address {address} already in use")
        self.network.handlers[address] = handler
        if watcher is not None:
            self.network.watchers[address] = watcher
        self.local = address
        return _MemoryServer(self.network, address, handler)

    async def watch(self, address: str) -> AsyncIterator[Event]:
        watcher = self.network.watchers.get(address)
        if watcher is None:
            raise Unreachable(f"{address} unreachable")
        async for event in watcher():
            yield event

    async def close(self) -> None:
        return None
