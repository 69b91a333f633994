"""The port between a node runtime and a carrier (memberlist's ``Transport`` shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from chordial.core.events import Event
from chordial.core.messages import Request, Response

Handler = Callable[[Request], Awaitable[Response]]
"""Serves one request; returns the reply, or an ``ErrorReply`` for requests it refuses."""

Watcher = Callable[[], AsyncIterator[Event]]
"""Opens a stream of the node's events (the server side of ``Watch``)."""


class TransportError(Exception):
    """A call that got no usable answer: the peer is down, unreachable or too slow."""


class Unreachable(TransportError):
    pass


class Server(Protocol):
    """A listening endpoint for one node."""

    address: str

    async def stop(self) -> None: ...


class Transport(Protocol):
    """Client and server sides of one carrier."""

    def call(self, address: str, request: Request, timeout: float) -> Awaitable[Response]:
        """Send ``request`` to the node at ``address``; awaiting the result gives the reply, or
        raises :class:`TransportError` when no answer arrives within ``timeout`` seconds. Remote
        refusals come back as ``ErrorReply``. (An awaitable rather than a coroutine: a carrier
        may hand back the reply's future itself.)"""
        ...

    async def serve(self, address: str, handler: Handler, watcher: Watcher | None = None) -> Server:
        """Start serving ``handler`` at ``address`` (``host:port``; port 0 picks a free one)."""
        ...

    async def close(self) -> None:
        """Close client connections."""
        ...
